"""Cost per million objects at list price, from counts taken in a real local run.

    .venv/bin/python benchmarks/cost_model.py [--objects 200 --rows 10]

Runs the shipped template (samconfig's local overrides, no others) through the local runtime,
then counts what AWS would bill: for the drain state machine, state transitions (Standard) or
executions and their billed duration (Express); the SQS calls each Task made (from the execution
histories); Lambda requests and billed duration (from the runtime's dispatcher); one EventBridge
-> SQS delivery and one S3 GET per object. Express duration is each execution's wall time on the
local runtime: Wait states run time-scaled there, while every service runs slower than on AWS in
one emulator process; the figure is an estimate, printed as such. The same model prices the
seeds' per-object design from its structure (see SEED_DESIGN). Prints figures; asserts nothing.

Prices: us-east-1 list prices, no free tier, checked 2026-11:
- Step Functions Standard: $0.025 per 1,000 state transitions.
  https://aws.amazon.com/step-functions/pricing/
- Step Functions Express: $1.00 per million requests; $0.00001667 per GB-second (64 MB steps,
  billed in 100 ms). https://aws.amazon.com/step-functions/pricing/
- SQS standard queues: $0.40 per million requests (a request is one API call carrying 1-10
  messages, per 64 KB chunk). https://aws.amazon.com/sqs/pricing/
- Lambda (x86): $0.20 per million requests; $0.0000166667 per GB-second.
  https://aws.amazon.com/lambda/pricing/
- EventBridge: events from AWS services (S3 "Object Created", scheduled rules) on the default bus
  are free; rule deliveries to SQS carry no EventBridge charge.
  https://aws.amazon.com/eventbridge/pricing/
- S3 GET: $0.0004 per 1,000 requests. https://aws.amazon.com/s3/pricing/
"""

from __future__ import annotations

import argparse
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sluice_local.demo import deployed, run_job, sample_objects
from sluice_local.template import samconfig_overrides

ROOT = Path(__file__).resolve().parents[1]
MILLION = 1_000_000

PRICE = {
    "sfn_transition": 0.025 / 1000,
    "sfn_express_request": 1.00 / MILLION,
    "sfn_express_gb_second": 0.00001667,  # billed per 64 MB and per 100 ms
    "sqs_request": 0.40 / MILLION,
    "lambda_request": 0.20 / MILLION,
    "lambda_gb_second": 0.0000166667,
    "s3_get": 0.0004 / 1000,
    "eventbridge_aws_event": 0.0,
}


@dataclass(frozen=True)
class Counts:
    """Billable units per object."""

    transitions: float  # Standard
    express_requests: float
    express_gb_seconds: float
    sqs_requests: float
    drain_fn_requests: float
    drain_fn_gb_seconds: float
    processor_requests: float
    processor_gb_seconds: float
    s3_gets: float

    def orchestration_and_queueing(self) -> dict[str, float]:
        """$ per million objects, per line item (per-row compute excluded)."""
        return {
            "Step Functions transitions (Standard)": (
                self.transitions * PRICE["sfn_transition"] * MILLION
            ),
            "Step Functions requests (Express)": (
                self.express_requests * PRICE["sfn_express_request"] * MILLION
            ),
            "Step Functions duration (Express, estimate)": (
                self.express_gb_seconds * PRICE["sfn_express_gb_second"] * MILLION
            ),
            "SQS requests": self.sqs_requests * PRICE["sqs_request"] * MILLION,
            "EventBridge (AWS service events)": 0.0,
            "Lambda requests (drain functions + ProcessObject)": (
                (self.drain_fn_requests + self.processor_requests)
                * PRICE["lambda_request"]
                * MILLION
            ),
            "Lambda duration (drain functions)": (
                self.drain_fn_gb_seconds * PRICE["lambda_gb_second"] * MILLION
            ),
        }

    def excluded(self) -> dict[str, float]:
        return {
            "ProcessObject duration (per-row work)": (
                self.processor_gb_seconds * PRICE["lambda_gb_second"] * MILLION
            ),
            "S3 GET per object": self.s3_gets * PRICE["s3_get"] * MILLION,
        }


# The seeds' design, per batch of 10 messages: ReceiveMessage task, Map, then per message Pass,
# Wait (per-index delay), Pass, Lambda invoke, DeleteMessage: 2 + 5 x 10 = 52 states per batch.
# Measured with such a drain on this emulator: 5.4 states per object (shared/notes/local-aws.md).
SEED_DESIGN = Counts(
    transitions=5.4,
    express_requests=0,
    express_gb_seconds=0,
    sqs_requests=1 + 0.1 + 1,  # EventBridge delivery, receive per 10, delete per message
    drain_fn_requests=0,
    drain_fn_gb_seconds=0,
    processor_requests=1,
    processor_gb_seconds=0,
    s3_gets=1,
)


def measure(objects: int, rows: int, time_scale: float) -> tuple[Counts, dict[str, object]]:
    overrides = samconfig_overrides(ROOT / "samconfig.toml", "local")
    sample = sample_objects(objects, rows, failing=0)
    with deployed(
        ROOT / "template.yaml",
        overrides,
        time_scale=time_scale,
        latency_s=0.005,
        log_dir=ROOT / ".demo" / "bench-logs",
    ) as (
        pipeline,
        downstream,
    ):
        report = run_job(pipeline, downstream, sample, timeout=3600)
        history = pipeline.history_counts("DrainStateMachine")
        executions = pipeline.executions("DrainStateMachine")
        stats = pipeline.dispatcher.stats
        memory_gb = {
            logical_id: pipeline.dispatcher.runtime_for(logical_id).memory_mb / 1024
            for logical_id in stats.invocations
        }
        assert pipeline.translated is not None
        parameters = dict(pipeline.translated.parameters)
        machine_type = pipeline.translated.cloudformation["Resources"]["DrainStateMachine"][
            "Properties"
        ].get("StateMachineType", "STANDARD")
    sqs_calls = Counter({k: v for k, v in history.items() if k.startswith("task:") and ":sqs" in k})
    n = report.uploaded
    express = machine_type == "EXPRESS"
    billed_seconds = sum(
        math.ceil((e["stopDate"] - e["startDate"]).total_seconds() * 10) / 10
        for e in executions
        if e.get("stopDate")
    )
    drain_functions = [f for f in stats.invocations if f != "ProcessObjectFunction"]
    counts = Counts(
        transitions=0 if express else history["StateEntered"] / n,
        express_requests=len(executions) / n if express else 0,
        express_gb_seconds=billed_seconds * 64 / 1024 / n if express else 0,
        sqs_requests=(n + sum(sqs_calls.values())) / n,  # + one EventBridge delivery each
        drain_fn_requests=sum(stats.invocations[f] for f in drain_functions) / n,
        drain_fn_gb_seconds=sum(stats.busy_seconds[f] * memory_gb[f] for f in drain_functions) / n,
        processor_requests=stats.invocations["ProcessObjectFunction"] / n,
        processor_gb_seconds=stats.busy_seconds["ProcessObjectFunction"]
        * memory_gb["ProcessObjectFunction"]
        / n,
        s3_gets=stats.invocations["ProcessObjectFunction"] / n,
    )
    facts: dict[str, object] = {
        "objects": n,
        "unaccounted": len(report.unaccounted),
        "drain type": machine_type,
        "executions": report.executions,
        "drain execution seconds": round(billed_seconds, 1),
        "Lambda invocations": dict(stats.invocations),
        "sqs calls by Task": dict(sqs_calls),
        "MaxConcurrency": parameters.get("MaxConcurrency"),
        "ReceiveBatchSize": parameters.get("ReceiveBatchSize"),
    }
    return counts, facts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=200)
    parser.add_argument("--rows", type=int, default=10)
    parser.add_argument("--time-scale", type=float, default=0.02)
    args = parser.parse_args()

    counts, facts = measure(args.objects, args.rows, args.time_scale)
    print("Measured on the local runtime (shipped template, samconfig 'local' overrides):")
    for name, value in facts.items():
        print(f"  {name:<22} {value}")
    print("\nPer object:")
    for name, value in vars(counts).items():
        print(f"  {name:<22} {value:.4f}")

    sluice = counts.orchestration_and_queueing()
    seed = SEED_DESIGN.orchestration_and_queueing()
    print(f"\n{'$ per million objects':<52} {'Sluice':>10} {'seed design':>12}")
    for item in sluice:
        print(f"  {item:<50} {sluice[item]:>10.2f} {seed[item]:>12.2f}")
    total, seed_total = sum(sluice.values()), sum(seed.values())
    print(f"  {'orchestration + queueing':<50} {total:>10.2f} {seed_total:>12.2f}")
    print(f"  {'ratio Sluice / seed':<50} {total / seed_total:>10.2f}")
    print("\nNot included above (per-object work, the same in any design):")
    for item, value in counts.excluded().items():
        print(f"  {item:<50} {value:>10.2f}")


if __name__ == "__main__":
    main()
