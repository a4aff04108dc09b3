"""The payment events pipeline end to end on the local runtime: template.yaml with
EnablePaymentPipeline=true, events published to PaymentTopic, PaymentPipe driving
PaymentStateMachine (the real ASL) and the real step handlers, records in PaymentTable."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sluice_local.payments import (
    PaymentReport,
    SamplePayments,
    publish,
    run_payments,
    sample_payments,
    stored_items,
)
from sluice_local.runtime import LocalPipeline

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def pipeline() -> Iterator[LocalPipeline]:
    overrides = {"EnablePaymentPipeline": "true", "PaymentBatchWindowSeconds": "0"}
    with LocalPipeline(ROOT / "template.yaml", overrides, time_scale=0.02) as deployed:
        yield deployed


@pytest.fixture(scope="module")
def sample() -> SamplePayments:
    return sample_payments(60, invalid=6, duplicates=5, seed=11)


@pytest.fixture(scope="module")
def report(pipeline: LocalPipeline, sample: SamplePayments) -> PaymentReport:
    return run_payments(pipeline, sample, timeout=120)


def _item(pipeline: LocalPipeline, transaction_id: str) -> dict[str, Any] | None:
    found = pipeline.client("dynamodb").get_item(
        TableName=pipeline.outputs["PaymentTableName"],
        Key={"transactionId": {"S": transaction_id}},
        ConsistentRead=True,
    )
    return found.get("Item")


def test_published_events_are_all_stored_or_dead_lettered(
    report: PaymentReport, sample: SamplePayments
) -> None:
    assert report.published == 60 + 5
    assert report.unaccounted == [] and report.unexpected_records == []
    assert report.stored == len(sample.valid_ids) == 54
    assert len(report.dead_lettered) == 6
    # published = stored + dead-lettered + duplicates of stored events
    assert report.published == report.stored + len(report.dead_lettered) + 5


def test_each_valid_event_is_stored_exactly_once(
    pipeline: LocalPipeline, report: PaymentReport, sample: SamplePayments
) -> None:
    ids = [item["transactionId"]["S"] for item in stored_items(pipeline)]
    assert sorted(ids) == sorted(set(ids))
    assert sample.valid_ids <= set(ids)


def test_invalid_events_are_dead_lettered_with_the_step_and_an_actionable_reason(
    report: PaymentReport, sample: SamplePayments
) -> None:
    bad_bodies = {b for b in sample.bodies if _is_invalid(b, sample)}
    assert {d.body for d in report.dead_lettered} == bad_bodies
    for dead in report.dead_lettered:
        assert dead.attributes["sluice-step"] == "ValidatePayment"
        assert dead.attributes["sluice-error"] == "InvalidPayment"
        assert dead.attributes["sluice-execution"].startswith("arn:aws:states:")
        assert dead.attributes["sluice-source-message-id"]
        assert dead.reason.startswith("InvalidPayment: ")
        assert "Traceback" not in dead.reason and "stackTrace" not in dead.reason
    reasons = " | ".join(d.reason for d in report.dead_lettered)
    for expected in (
        "19.999",
        "XYZ",
        "transactionId is missing",
        "not JSON",
        "-5.00",
        "2026-13-01",
    ):
        assert expected in reasons


def _is_invalid(body: str, sample: SamplePayments) -> bool:
    try:
        event = json.loads(body)
    except ValueError:
        return True
    return event.get("transactionId") not in sample.valid_ids


def test_stored_record_carries_the_processed_and_enriched_fields(
    pipeline: LocalPipeline, report: PaymentReport
) -> None:
    for item in stored_items(pipeline):
        amount, fee = Decimal(item["amount"]["N"]), Decimal(item["fee"]["N"])
        net = Decimal(item["netAmount"]["N"])
        if item["type"]["S"] == "PAYMENT":
            assert item["status"]["S"] == "SETTLEMENT_PENDING"
            assert net == amount - fee and fee == (amount * Decimal("0.014")).quantize(fee)
        else:
            assert item["status"]["S"] == "REFUND_PENDING" and net == -amount and fee == 0
        assert item["riskLevel"]["S"] in {"LOW", "MEDIUM", "HIGH"}
        assert 0 <= int(item["riskScore"]["N"]) <= 100
        assert item["occurredAt"]["S"].endswith("Z")


def test_payments_are_queried_by_merchant_and_time(
    pipeline: LocalPipeline, report: PaymentReport
) -> None:
    page = pipeline.client("dynamodb").query(
        TableName=pipeline.outputs["PaymentTableName"],
        IndexName="ByMerchantTime",
        KeyConditionExpression="merchantId = :m AND occurredAt BETWEEN :from AND :to",
        ExpressionAttributeValues={
            ":m": {"S": "m-1001"},
            ":from": {"S": "2026-11-01T00:00:00.000Z"},
            ":to": {"S": "2026-11-30T23:59:59.999Z"},
        },
    )
    times = [item["occurredAt"]["S"] for item in page["Items"]]
    assert times and times == sorted(times)
    assert {item["merchantId"]["S"] for item in page["Items"]} == {"m-1001"}


def test_the_sample_events_store_one_record_and_dead_letter_the_invalid_one(
    pipeline: LocalPipeline, report: PaymentReport
) -> None:
    valid = (EVENTS / "payment_event.json").read_text()
    duplicate = (EVENTS / "payment_event_duplicate.json").read_text()
    invalid = (EVENTS / "payment_event_invalid.json").read_text()
    transaction_id = json.loads(valid)["transactionId"]
    assert json.loads(duplicate)["transactionId"] == transaction_id
    dead_before = len(pipeline.dead_letters("PaymentDeadLetterQueueUrl"))

    publish(pipeline, [valid])
    pipeline.wait_for_pipes(60)
    first = _item(pipeline, transaction_id)
    assert first is not None and Decimal(first["amount"]["N"]) == Decimal("42.50")
    publish(pipeline, [duplicate, invalid])
    pipeline.wait_for_pipes(60)

    assert _item(pipeline, transaction_id) == first  # no second record, nothing overwritten
    dead = pipeline.dead_letters("PaymentDeadLetterQueueUrl")
    assert len(dead) == dead_before + 1
    assert any(d.body == invalid and "19.999" in d.reason for d in dead)
    outcomes = [
        payment["outcome"]
        for execution in pipeline.executions("PaymentStateMachine")
        for payment in json.loads(
            pipeline.client("stepfunctions").describe_execution(
                executionArn=execution["executionArn"]
            )["output"]
        )["payments"]
        if payment.get("transactionId") == transaction_id
    ]
    assert sorted(outcomes) == ["duplicate", "stored"]  # one execution each


def test_a_throttled_step_is_retried_and_the_event_stored_once(
    pipeline: LocalPipeline, report: PaymentReport
) -> None:
    event = {**json.loads((EVENTS / "payment_event.json").read_text())}
    event["transactionId"] = "pay-throttled-0001"
    throttles = {"left": 2}

    def throttle_twice(logical_id: str, _event: Any) -> bool:
        if logical_id == "EnrichPaymentFunction" and throttles["left"]:
            throttles["left"] -= 1
            return True
        return False

    pipeline.dispatcher.throttle_hook = throttle_twice
    try:
        publish(pipeline, [json.dumps(event)])
        pipeline.wait_for_pipes(60)
    finally:
        pipeline.dispatcher.throttle_hook = None
    assert throttles["left"] == 0  # Lambda.TooManyRequestsException twice, then retried
    assert _item(pipeline, "pay-throttled-0001") is not None
    dead = pipeline.dead_letters("PaymentDeadLetterQueueUrl")
    assert all("pay-throttled" not in d.body for d in dead)


def test_a_failed_execution_leaves_its_batch_for_redelivery(
    pipeline: LocalPipeline, report: PaymentReport
) -> None:
    """A misconfigured step fails the execution (RedeliverBatch): nothing is dead-lettered or
    deleted, the batch comes back and is stored once the step works again."""
    event = {**json.loads((EVENTS / "payment_event.json").read_text())}
    event["transactionId"] = "pay-redelivered-0001"
    runner = pipeline.pipes["PaymentPipe"]
    failed_before = runner.stats.failed_executions
    broken = {"on": True}

    def misconfigured(logical_id: str, _event: Any) -> None:
        if logical_id == "ProcessPaymentFunction" and broken["on"]:
            raise FeeConfigurationError("PAYMENT_FEE_BASIS_POINTS is not set")

    pipeline.dispatcher.crash_hook = misconfigured
    try:
        publish(pipeline, [json.dumps(event)])
        deadline = time.monotonic() + 60
        while runner.stats.failed_executions == failed_before:
            assert time.monotonic() < deadline, "the execution never failed"
            time.sleep(0.05)
        assert _item(pipeline, "pay-redelivered-0001") is None
        broken["on"] = False
        pipeline.wait_for_pipes(60)  # redelivered after the (time-scaled) visibility timeout
    finally:
        pipeline.dispatcher.crash_hook = None
    assert _item(pipeline, "pay-redelivered-0001") is not None
    assert all(
        "pay-redelivered" not in d.body for d in pipeline.dead_letters("PaymentDeadLetterQueueUrl")
    )


class FeeConfigurationError(Exception):
    """Same name as ProcessPayment's own error: the workflow matches on the name."""


def test_a_different_event_reusing_a_transaction_id_is_dead_lettered_and_the_record_kept(
    pipeline: LocalPipeline, report: PaymentReport
) -> None:
    first = {**json.loads((EVENTS / "payment_event.json").read_text())}
    first["transactionId"] = "pay-conflict-0001"
    other = {**first, "amount": "99.00"}
    publish(pipeline, [json.dumps(first)])
    pipeline.wait_for_pipes(60)
    stored = _item(pipeline, "pay-conflict-0001")
    assert stored is not None

    publish(pipeline, [json.dumps(other)])
    pipeline.wait_for_pipes(60)

    assert _item(pipeline, "pay-conflict-0001") == stored  # the first event wins
    [dead] = [
        d for d in pipeline.dead_letters("PaymentDeadLetterQueueUrl") if d.body == json.dumps(other)
    ]
    assert dead.attributes["sluice-step"] == "StorePayment"
    assert dead.attributes["sluice-error"] == "ConflictingPayment"
    assert "pay-conflict-0001 is already stored from a different event" in dead.reason
