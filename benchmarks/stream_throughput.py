"""Stream events per second through the local stream pipeline, for StreamBatchSize 25, 100, 500,
and DynamoDB BatchWriteItem calls per record.

    .venv/bin/python benchmarks/stream_throughput.py [--events 3000 --time-scale 0.02]

For each batch size: deploys the shipped template with EnableStreamPipeline=true and that
StreamBatchSize (plus samconfig's local overrides; one shard, the 1 s batching window
time-scaled), puts the same sample of valid events on EventStream in one burst (PutRecords, 500
a call), waits until ProcessStreamMapping has caught up and accounts for every event
(sluice_local.jobs.stream_job.run_stream). Then once more at batch size 100 with about 1 % of the
events malformed, to show what the retries of a batch with a bad record cost. Prints records/s
(first put to caught up; deployment excluded), its ratio to batch size 25, function invocations,
the mean batch, BatchWriteItem calls and calls per record (and whether that meets the goal of at
most 1 call per 25 records), retries, bisections, records dead-lettered and records unaccounted
for.

What the figures measure: local records/s is the pipeline's overhead in one emulator process on
2 cores: moto's Kinesis and DynamoDB, the local event source mapping (sluice_local.sources.streams:
one reader thread per shard, one batch at a time per shard, ParallelizationFactor not emulated) and
ProcessStreamFunction's handler share one Python process. It is not AWS throughput, where a shard
takes 1,000 records/s in, Lambda polls each shard once a second (or at once when the batch is
full) and each invocation runs in a sandbox of its own, and where larger batches mostly trade
latency for fewer invocations. The figure that carries over to AWS is the write-calls ratio: the
function sends one BatchWriteItem per 25 distinct items of a batch, the same here as there, so
calls per record depends only on how full the batches are and how often they are retried.
BatchWriteItem calls are counted with a botocore hook on boto3's default session, which the
function's DynamoDB client comes from (registered after the pipeline starts: moto's mock_aws
replaces that session when it starts). Prints figures; asserts nothing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from local_runs import ROOT, local_pipeline, throughput_args

from sluice_local.jobs.report import report_run
from sluice_local.jobs.stream_job import StreamReport, run_stream
from sluice_local.sources.streams import StreamStats
from sluice_ops.stream import StreamEvent, sample_events

BATCH_SIZES = (25, 100, 500)
MALFORMED_RUN_BATCH_SIZE = 100
MALFORMED_SHARE = 0.01
WRITE_ITEMS_PER_CALL = 25  # BatchWriteItem's limit: the goal is 1 call per 25 records
FUNCTION = "ProcessStreamFunction"
MAPPING = "ProcessStreamMapping"


class WriteCalls:
    """BatchWriteItem calls sent (and the puts they carried), from botocore's events."""

    def __init__(self) -> None:
        self.calls = 0
        self.puts = 0
        self._lock = threading.Lock()

    def __call__(self, params: dict[str, Any], **_: Any) -> None:
        puts = sum(len(requests) for requests in params.get("RequestItems", {}).values())
        with self._lock:
            self.calls += 1
            self.puts += puts


@dataclass(frozen=True)
class Result:
    batch_size: int
    report: StreamReport
    stats: StreamStats
    write_calls: int
    write_puts: int

    @property
    def calls_per_record(self) -> float:
        return self.write_calls / self.report.produced if self.report.produced else 0.0

    @property
    def meets_goal(self) -> bool:
        return self.write_calls * WRITE_ITEMS_PER_CALL <= self.report.produced


def run(batch_size: int, sample: list[StreamEvent], time_scale: float) -> Result:
    import boto3

    writes = WriteCalls()
    with local_pipeline(
        time_scale, EnableStreamPipeline="true", StreamBatchSize=str(batch_size)
    ) as pipeline:
        # The function's boto3.client("dynamodb") is created from this session at its first
        # invocation (mock_aws replaced the default session when the pipeline started).
        boto3._get_default_session().events.register(
            "before-parameter-build.dynamodb.BatchWriteItem", writes
        )
        report = run_stream(pipeline, sample, timeout=3600)
        stats = pipeline.stream_mappings[MAPPING].stats
        invocations = pipeline.dispatcher.stats.invocations[FUNCTION]
        report_run(pipeline, ROOT, f"bench:stream_throughput batch {batch_size}", report)
    if invocations != report.invocations:  # the mapping is the function's only caller
        print(f"  (dispatcher counted {invocations} invocations, the mapping {report.invocations})")
    return Result(batch_size, report, stats, writes.calls, writes.puts)


def main() -> None:
    args = throughput_args(__doc__, 3000, "events put per run", 0.02)

    clean = sample_events(args.events, seed=7)
    malformed = max(1, round(args.events * MALFORMED_SHARE))
    dirty = sample_events(args.events, malformed=malformed, seed=7)
    print(
        f"Stream events through the local runtime: {args.events} per run, one burst, one shard,"
        f" time scale {args.time_scale:g}"
    )
    print(
        "(one emulator process, 2 cores, one batch at a time per shard: compare batch sizes,"
        " not with AWS;\n write calls per record is the figure that carries over to AWS)\n"
    )
    header = (
        f"{'batch':>5} {'malformed':>9} {'records/s':>9} {'vs 25':>6} {'wall s':>6}"
        f" {'invocations':>11} {'mean batch':>10} {'write calls':>11} {'calls/record':>17}"
        f" {'<= 1/25':>7} {'item puts':>9} {'retries':>7} {'bisections':>10} {'dead':>4}"
        f" {'unaccounted':>11}"
    )
    print(header)
    runs = [(size, clean) for size in BATCH_SIZES] + [(MALFORMED_RUN_BATCH_SIZE, dirty)]
    baseline = 0.0
    for batch_size, sample in runs:
        result = run(batch_size, sample, args.time_scale)
        report, stats = result.report, result.stats
        rate = report.records_per_second
        baseline = baseline or rate
        mean_batch = sum(stats.batch_sizes) / max(1, len(stats.batch_sizes))
        per_record = result.calls_per_record
        ratio = f"{per_record:.4f} (1/{1 / per_record:.1f})" if per_record else "0"
        print(
            f"{batch_size:>5} {report.malformed_published:>9} {rate:>9.0f}"
            f" {rate / baseline:>6.2f} {report.seconds:>6.1f} {report.invocations:>11}"
            f" {mean_batch:>10.1f} {result.write_calls:>11}"
            f" {ratio:>17} {'yes' if result.meets_goal else 'no':>7} {result.write_puts:>9}"
            f" {stats.retries:>7}"
            f" {stats.bisections:>10} {report.dead_lettered_records:>4}"
            f" {len(report.unaccounted):>11}",
            flush=True,
        )
    print(
        f"\n(<= 1/25: at most one BatchWriteItem call per {WRITE_ITEMS_PER_CALL} records put;"
        " retries rewrite the records after a failed one, so a malformed record raises it)"
    )


if __name__ == "__main__":
    main()
