"""The stream pipeline on the local runtime: produce events on EventStream (the same producer as
``sluice-stream produce``), let the event source mapping run ProcessStreamFunction, and account for
every record: each valid event is an item in StreamEventTable (key eventId), each malformed one is
inside a range in StreamDeadLetterQueue; anything else is lost.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sluice_local.emulator.runtime import LocalPipeline
from sluice_local.jobs.job import job_inputs, job_pipeline, opening, verdict
from sluice_local.jobs.kinesis_producer import (
    StreamEvent,
    dead_letter_ranges,
    produce,
    read_range,
    sample_events,
)
from sluice_local.jobs.report import (
    build_report,
    summary_lines,
    write_report,
)


@dataclass
class StreamReport:
    produced: int
    stored: int
    malformed_published: int
    dead_letter_ranges: int
    dead_lettered_records: int
    invocations: int
    unaccounted: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # AWS's limits as the run met them (IAM calls checked, longest invocation vs its Timeout).
    limit_lines: list[tuple[str, str]] = field(default_factory=list)

    @property
    def records_per_second(self) -> float:
        return self.produced / self.seconds if self.seconds else 0.0


def stored_event_ids(pipeline: LocalPipeline) -> set[str]:
    ddb, table = pipeline.client("dynamodb"), pipeline.outputs["StreamEventTableName"]
    ids: set[str] = set()
    for page in ddb.get_paginator("scan").paginate(
        TableName=table, ProjectionExpression="eventId", ConsistentRead=True
    ):
        ids.update(item["eventId"]["S"] for item in page["Items"])
    return ids


def dead_lettered_data(pipeline: LocalPipeline) -> tuple[int, list[bytes]]:
    """(ranges, the data of every record inside them), read back from the stream; the messages
    stay in the queue (visible again after the read)."""
    sqs, kinesis = pipeline.client("sqs"), pipeline.client("kinesis")
    url, stream = pipeline.outputs["StreamDeadLetterQueueUrl"], pipeline.outputs["EventStreamName"]
    ranges = list(dead_letter_ranges(sqs, url))
    data = [r["Data"] for item in ranges for r in read_range(kinesis, stream, item)]
    for item in ranges:
        sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=item.receipt_handle, VisibilityTimeout=0
        )
    return len(ranges), data


def run_stream(
    pipeline: LocalPipeline,
    events: list[StreamEvent],
    *,
    rate: float | None = None,
    timeout: float = 300,
) -> StreamReport:
    [mapping] = pipeline.stream_mappings.values()
    invocations_before = mapping.stats.invocations
    started = time.monotonic()
    produce(pipeline.client("kinesis"), pipeline.outputs["EventStreamName"], events, rate=rate)
    pipeline.wait_for_streams(timeout)
    seconds = time.monotonic() - started

    stored = stored_event_ids(pipeline)
    ranges, dead_data = dead_lettered_data(pipeline)
    dead = list(dead_data)
    unaccounted = []
    for event in events:
        if event.event_id is not None and event.event_id in stored:
            continue
        if event.data in dead:
            dead.remove(event.data)
            continue
        unaccounted.append(event.event_id or event.data.decode(errors="replace"))
    return StreamReport(
        produced=len(events),
        stored=len(stored),
        malformed_published=sum(1 for e in events if e.event_id is None),
        dead_letter_ranges=ranges,
        dead_lettered_records=len(dead_data),
        invocations=mapping.stats.invocations - invocations_before,
        unaccounted=unaccounted,
        seconds=seconds,
        limit_lines=summary_lines(build_report(pipeline, job="stream")),
    )


def print_report(report: StreamReport, mapping_stats: Any) -> None:
    print("Stream")
    print(
        f"  events produced                   {report.produced}"
        f" ({report.malformed_published} malformed)"
    )
    print(f"  items stored                      {report.stored}")
    print(
        f"  dead-letter ranges                {report.dead_letter_ranges}"
        f" ({report.dead_lettered_records} records)"
    )
    print(f"  events unaccounted for            {len(report.unaccounted)}")
    print(
        f"  function invocations              {report.invocations}"
        f" (retries {mapping_stats.retries}, bisections {mapping_stats.bisections})"
    )
    print(
        f"  wall time                         {report.seconds:.1f} s"
        f" ({report.records_per_second:.0f} records/s)"
    )
    for name, value in report.limit_lines:
        print(f"  {name:<34}{value}")


def main(args: Any) -> int:
    """`sluice-local stream`: the stream pipeline end to end, locally."""
    template, overrides, report_path = job_inputs(args)
    overrides["EnableStreamPipeline"] = "true"
    events = sample_events(args.events, malformed=args.malformed, seed=args.seed)
    opening(print, "Sluice stream", template, overrides)
    print(f"  function logs: {args.log_dir}/<LogicalId>.log")
    with job_pipeline(args, template, overrides, print) as pipeline:
        rate = None if args.burst else args.rate
        print(
            f"  producing {len(events)} events on {pipeline.outputs['EventStreamName']}"
            f" ({'burst' if rate is None else f'{rate:g}/s'})"
        )
        report = run_stream(pipeline, events, rate=rate, timeout=args.timeout)
        stats = next(iter(pipeline.stream_mappings.values())).stats
        write_report(pipeline, report_path, job="stream", summary=report)
    print()
    print_report(report, stats)
    return verdict(
        print,
        report_path,
        "some events are unaccounted for" if report.unaccounted else None,
        "every event is stored once or inside a dead-letter range",
    )
