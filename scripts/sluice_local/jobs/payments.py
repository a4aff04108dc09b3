"""The payment events job on the local runtime: publish to PaymentTopic, let PaymentPipe run
the events through PaymentStateMachine, and account for every one of them.

    with LocalPipeline(Path("template.yaml"), {"EnablePaymentPipeline": "true"}) as pipeline:
        report = run_payments(pipeline, sample_payments(100, invalid=5, duplicates=5))
        assert report.unaccounted == []

Accounting: every published message is stored (its transactionId is in PaymentTable), a
duplicate of a stored one, or in PaymentDeadLetterQueue with a reason; anything else is lost.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sluice_local.emulator.inspection import DeadLetter
from sluice_local.emulator.runtime import LocalPipeline
from sluice_local.jobs.job import job_inputs, job_pipeline, opening, verdict
from sluice_local.jobs.report import (
    build_report,
    summary_lines,
    write_report,
)
from sluice_local.terminal import printable

ROOT = Path(__file__).resolve().parents[3]  # scripts/sluice_local/jobs/ -> the checkout
MERCHANTS = ROOT / "functions/enrich_payment/reference/merchants.json"

# Each kind of bad event the sample mixes in, with the field ValidatePayment must name.
INVALID_KINDS: tuple[tuple[str, Any], ...] = (
    ("amount", lambda e: {**e, "amount": "19.999"}),
    ("currency", lambda e: {**e, "currency": "XYZ"}),
    ("transactionId", lambda e: {k: v for k, v in e.items() if k != "transactionId"}),
    ("amount", lambda e: {**e, "amount": "-5.00"}),
    ("occurredAt", lambda e: {**e, "occurredAt": "2026-13-01T00:00:00Z"}),
    ("JSON", lambda e: "not json {"),
)


@dataclass(frozen=True)
class SamplePayments:
    bodies: list[str]  # in publishing order, duplicates included
    valid_ids: set[str]
    invalid: int
    duplicates: int


def sample_payments(
    count: int, *, invalid: int = 0, duplicates: int = 0, seed: int = 7
) -> SamplePayments:
    """``count`` distinct events (``invalid`` of them bad in one of INVALID_KINDS) plus
    ``duplicates`` re-publications of valid ones, shuffled; deterministic for a seed."""
    rng = random.Random(seed)  # noqa: S311 - sample data, reproducible by design
    merchants = json.loads(MERCHANTS.read_text())["merchants"]
    events: list[str] = []
    valid: list[str] = []
    for n in range(count):
        merchant = merchants[n % len(merchants)]
        typical = Decimal(merchant["typicalAmount"])
        scale = -typical.as_tuple().exponent  # type: ignore[operator]
        amount = (typical * Decimal(rng.uniform(0.2, 4))).quantize(Decimal(1).scaleb(-scale))
        event: dict[str, Any] = {
            "transactionId": f"pay-local-{seed}-{n:06d}",
            "merchantId": merchant["merchantId"],
            "amount": str(max(amount, Decimal(1).scaleb(-scale))),
            "currency": merchant["currency"],
            "type": "REFUND" if n % 17 == 16 else "PAYMENT",
            "occurredAt": f"2026-11-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:00.000Z",
            "customerId": f"c-{rng.randrange(10_000, 99_999)}",
            "cardCountry": rng.choice([merchant["country"], merchant["country"], "US", "GB"]),
        }
        if n < invalid:
            body = INVALID_KINDS[n % len(INVALID_KINDS)][1](event)
            events.append(body if isinstance(body, str) else json.dumps(body))
        else:
            events.append(json.dumps(event))
            valid.append(event["transactionId"])
    valid_bodies = events[invalid:]
    repeats = (
        [valid_bodies[rng.randrange(len(valid_bodies))] for _ in range(duplicates)]
        if valid_bodies
        else []
    )
    bodies = events + repeats
    rng.shuffle(bodies)
    return SamplePayments(bodies, set(valid), invalid, len(repeats))


@dataclass
class PaymentReport:
    published: int
    stored: int
    dead_lettered: list[DeadLetter]
    duplicates_published: int
    unaccounted: list[str] = field(default_factory=list)  # bodies neither stored nor dead-lettered
    unexpected_records: list[str] = field(default_factory=list)  # stored but never published
    seconds: float = 0.0
    executions: int = 0
    failed_executions: int = 0
    # AWS's limits as the run met them (IAM calls checked, longest invocation vs its Timeout).
    limit_lines: list[tuple[str, str]] = field(default_factory=list)

    @property
    def events_per_second(self) -> float:
        return self.published / self.seconds if self.seconds else 0.0


def publish(pipeline: LocalPipeline, bodies: list[str]) -> None:
    """PublishBatch to PaymentTopic, ten at a time, as a producer would."""
    sns, topic = pipeline.client("sns"), pipeline.outputs["PaymentTopicArn"]
    for start in range(0, len(bodies), 10):
        chunk = bodies[start : start + 10]
        sns.publish_batch(
            TopicArn=topic,
            PublishBatchRequestEntries=[
                {"Id": str(n), "Message": body} for n, body in enumerate(chunk)
            ],
        )


def stored_items(pipeline: LocalPipeline) -> list[dict[str, Any]]:
    ddb, table = pipeline.client("dynamodb"), pipeline.outputs["PaymentTableName"]
    items: list[dict[str, Any]] = []
    for page in ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        items.extend(page["Items"])
    return items


def _transaction_id(body: str) -> str | None:
    try:
        event = json.loads(body)
    except ValueError:
        return None
    value = event.get("transactionId") if isinstance(event, dict) else None
    return value if isinstance(value, str) else None


def run_payments(
    pipeline: LocalPipeline, sample: SamplePayments, *, timeout: float = 300
) -> PaymentReport:
    """Publish the sample, wait until PaymentPipe has drained PaymentQueue, account for all."""
    runner = pipeline.pipes["PaymentPipe"]
    batches_before, failed_before = runner.stats.batches, runner.stats.failed_executions
    started = time.monotonic()
    publish(pipeline, sample.bodies)
    pipeline.wait_for_pipes(timeout)
    seconds = time.monotonic() - started

    items = stored_items(pipeline)
    stored_ids = Counter(item["transactionId"]["S"] for item in items)
    dead = pipeline.dead_letters("PaymentDeadLetterQueueUrl")
    dead_bodies = Counter(d.body for d in dead)
    unaccounted = []
    for body in sample.bodies:
        if dead_bodies[body]:
            dead_bodies[body] -= 1
        elif _transaction_id(body) not in stored_ids:
            unaccounted.append(body)
    published_ids = {_transaction_id(b) for b in sample.bodies}
    return PaymentReport(
        published=len(sample.bodies),
        stored=len(items),
        dead_lettered=dead,
        duplicates_published=len(sample.bodies) - len(set(sample.bodies)),
        unaccounted=unaccounted,
        unexpected_records=sorted(i for i in stored_ids if i not in published_ids),
        seconds=seconds,
        executions=runner.stats.batches - batches_before,
        failed_executions=runner.stats.failed_executions - failed_before,
        limit_lines=summary_lines(build_report(pipeline, job="payments")),
    )


def print_report(report: PaymentReport) -> None:
    reasons = Counter(d.attributes.get("sluice-step", "SQS redrive") for d in report.dead_lettered)
    print("Payments")
    print(f"  events published                  {report.published}")
    print(f"  records stored                    {report.stored}")
    print(f"  events dead-lettered              {len(report.dead_lettered)}  ({dict(reasons)})")
    print(f"  duplicates published              {report.duplicates_published} (no second record)")
    print(f"  events unaccounted for            {len(report.unaccounted)}")
    print(
        f"  workflow executions (batches)     {report.executions}"
        f" ({report.failed_executions} failed)"
    )
    print(
        f"  wall time                         {report.seconds:.1f} s"
        f" ({report.events_per_second:.1f} events/s)"
    )
    for name, value in report.limit_lines:
        print(f"  {name:<34}{value}")
    # Reasons quote the rejected payment fields, which publishers choose: printed escaped.
    for dead in report.dead_lettered[:5]:
        step = printable(dead.attributes.get("sluice-step", "?"))
        print(f"    dead letter: {step} -> {printable(dead.reason)}")


def main(args: Any) -> int:
    """`sluice-local payments`: the payment events pipeline end to end, locally."""
    template, overrides, report_path = job_inputs(args)
    overrides["EnablePaymentPipeline"] = "true"
    if args.event:
        bodies = [Path(path).read_text() for path in args.event]
        sample = SamplePayments(bodies, {i for b in bodies if (i := _transaction_id(b))}, 0, 0)
    else:
        sample = sample_payments(args.events, invalid=args.invalid, duplicates=args.duplicates)
    opening(print, "Sluice payments", template, overrides)
    print(f"  function logs: {args.log_dir}/<LogicalId>.log")
    with job_pipeline(args, template, overrides, print) as pipeline:
        print(f"  publishing {len(sample.bodies)} events to {pipeline.outputs['PaymentTopicArn']}")
        report = run_payments(pipeline, sample, timeout=args.timeout)
        write_report(pipeline, report_path, job="payments", summary=report)
    print()
    print_report(report)
    failed = report.unaccounted or report.unexpected_records
    return verdict(
        print,
        report_path,
        "some events are unaccounted for" if failed else None,
        "every event is stored once or dead-lettered with a reason",
    )
