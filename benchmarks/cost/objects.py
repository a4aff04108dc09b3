"""Objects (--pipeline objects): runs the shipped template (samconfig's local overrides, no others)
through the local runtime, then counts what AWS would bill: for the drain state machine, state
transitions (Standard) or executions and their billed duration (Express); the SQS calls each Task
made (from the execution histories); Lambda requests and billed duration (from the runtime's
dispatcher); one EventBridge -> SQS delivery per object; S3 HeadObject and GetObject as
ProcessObject made them (a botocore hook, see Rows below: each invocation opens the object
again). Express duration is each
execution's wall time on the local runtime: Wait states run time-scaled there, while every
service runs slower than on AWS in one emulator process; the figure is an estimate, printed as
such. The same model prices the seeds' per-object design from its structure (see SEED_DESIGN).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from local_runs import local_overrides

from sluice_local.jobs.demo import sample_objects

from .measured import (
    object_run,
    print_items,
    print_measured,
    print_versus_seed,
)
from .meters import PROCESSOR
from .prices import MILLION, PRICE


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
    s3_gets: float  # HeadObject + GetObject (billed alike)

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
            "S3 HEAD + GET per object": self.s3_gets * PRICE["s3_get"] * MILLION,
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
    sample = sample_objects(objects, rows, failing=0)
    # The meter's ProcessObject HeadObject/GetObject calls (its checkpoint writes: --pipeline rows).
    job = "bench:cost_model objects"
    with object_run(sample, local_overrides(), time_scale, job) as (pipeline, meter, report):
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
    drain_functions = [f for f in stats.invocations if f != PROCESSOR]
    counts = Counts(
        transitions=0 if express else history["StateEntered"] / n,
        express_requests=len(executions) / n if express else 0,
        express_gb_seconds=billed_seconds * 64 / 1024 / n if express else 0,
        sqs_requests=(n + sum(sqs_calls.values())) / n,  # + one EventBridge delivery each
        drain_fn_requests=sum(stats.invocations[f] for f in drain_functions) / n,
        drain_fn_gb_seconds=sum(stats.busy_seconds[f] * memory_gb[f] for f in drain_functions) / n,
        processor_requests=stats.invocations[PROCESSOR] / n,
        processor_gb_seconds=stats.busy_seconds[PROCESSOR] * memory_gb[PROCESSOR] / n,
        s3_gets=sum(meter.s3.values()) / n,
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


# -- rows: checkpoint state and waiting on the downstream ----------------------------------------


def print_objects(counts: Counts, facts: dict[str, object]) -> None:
    print_measured(
        "Measured on the local runtime (shipped template, samconfig 'local' overrides):",
        facts,
        counts,
        "object",
        ".4f",
    )
    print_versus_seed(
        "$ per million objects",
        counts.orchestration_and_queueing(),
        SEED_DESIGN.orchestration_and_queueing(),
        "orchestration + queueing",
    )
    print_items(
        "\nNot included above (per-object work, the same in any design):", counts.excluded(), 50
    )
