"""Payment events per second through the local payments pipeline, for PaymentBatchSize 1, 5, 10.

    .venv/bin/python benchmarks/payment_throughput.py [--events 300 --time-scale 0.05]

For each batch size: deploys the shipped template with EnablePaymentPipeline=true and that
PaymentBatchSize (plus samconfig's local overrides), publishes the same sample to PaymentTopic
(about 2 % invalid and 2 % duplicates, from sample_payments), waits until PaymentPipe has drained
PaymentQueue and accounts for every event (sluice_local.jobs.payments.run_payments). Prints events/s
(publish to drained; deployment excluded), its ratio to batch size 1, executions, failed
executions, events unaccounted for, and the p50/p95 of the executions' wall times.

What the figures measure: local events/s is the pipeline's overhead in one emulator process on 2
cores: moto's Step Functions interpreter, the three step handlers, SNS, SQS and DynamoDB share
one Python process, and one poller (the PipeRunner thread) runs one batch at a time. It is not
AWS throughput, where Pipes adds pollers as the queue backs up and each Lambda invocation has a
sandbox of its own. The useful figure is the ratio between batch sizes: how much of the
per-execution cost (a receive, a synchronous start, a delete, the Map's setup) a larger batch
spreads over its events. Prints figures; asserts nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from local_runs import ROOT, local_pipeline, percentile, throughput_args

from sluice_local.jobs.payments import PaymentReport, SamplePayments, run_payments, sample_payments
from sluice_local.jobs.report import report_run

BATCH_SIZES = (1, 5, 10)


@dataclass(frozen=True)
class Result:
    batch_size: int
    report: PaymentReport
    execution_seconds: list[float]


def run(batch_size: int, sample: SamplePayments, time_scale: float) -> Result:
    with local_pipeline(
        time_scale, EnablePaymentPipeline="true", PaymentBatchSize=str(batch_size)
    ) as pipeline:
        report = run_payments(pipeline, sample, timeout=3600)
        executions = pipeline.executions("PaymentStateMachine")
        report_run(pipeline, ROOT, f"bench:payment_throughput batch {batch_size}", report)
    walls = [
        (e["stopDate"] - e["startDate"]).total_seconds() for e in executions if e.get("stopDate")
    ]
    return Result(batch_size, report, walls)


def main() -> None:
    args = throughput_args(__doc__, 300, "events published per run", 0.05)

    share = max(1, round(args.events * 0.02))  # ~2 % invalid, ~2 % duplicates
    sample = sample_payments(args.events - share, invalid=share, duplicates=share)
    print(
        f"Payments through the local runtime: {len(sample.bodies)} events ({sample.invalid}"
        f" invalid, {sample.duplicates} duplicates) per batch size, time scale {args.time_scale:g}"
    )
    print("(one emulator process, 2 cores, one poller: compare batch sizes, not with AWS)\n")
    header = (
        f"{'batch':>5} {'events/s':>9} {'vs 1':>6} {'wall s':>7} {'executions':>10}"
        f" {'failed':>6} {'unaccounted':>11} {'exec p50 ms':>11} {'exec p95 ms':>11}"
    )
    print(header)
    baseline = 0.0
    for batch_size in BATCH_SIZES:
        result = run(batch_size, sample, args.time_scale)
        report = result.report
        rate = report.events_per_second
        baseline = baseline or rate
        print(
            f"{batch_size:>5} {rate:>9.1f} {rate / baseline:>6.2f} {report.seconds:>7.1f}"
            f" {report.executions:>10} {report.failed_executions:>6}"
            f" {len(report.unaccounted):>11}"
            f" {percentile(result.execution_seconds, 0.5) * 1000:>11.0f}"
            f" {percentile(result.execution_seconds, 0.95) * 1000:>11.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
