"""The payment events pipeline end to end on the local runtime: template.yaml with
EnablePaymentPipeline=true, events published to PaymentTopic, PaymentPipe driving
PaymentStateMachine (the real ASL) and the real step handlers, records in PaymentTable."""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sluice_local.emulator.runtime import LocalPipeline
from sluice_local.jobs import payments
from sluice_local.jobs.demo import wait_for
from testkit.pipelines import PAYMENTS_ON, pipeline_fixture

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
pytestmark = pytest.mark.e2e


pipeline = pipeline_fixture(PAYMENTS_ON)


@pytest.fixture(scope="module")
def sample() -> payments.SamplePayments:
    return payments.sample_payments(60, invalid=6, duplicates=5, seed=11)


@pytest.fixture(scope="module")
def report(pipeline: LocalPipeline, sample: payments.SamplePayments) -> payments.PaymentReport:
    return payments.run_payments(pipeline, sample, timeout=120)


def _item(pipeline: LocalPipeline, transaction_id: str) -> dict[str, Any] | None:
    found = pipeline.client("dynamodb").get_item(
        TableName=pipeline.outputs["PaymentTableName"],
        Key={"transactionId": {"S": transaction_id}},
        ConsistentRead=True,
    )
    return found.get("Item")


def test_published_events_are_all_stored_or_dead_lettered(
    report: payments.PaymentReport, sample: payments.SamplePayments
) -> None:
    assert report.published == 60 + 5
    assert report.unaccounted == [] and report.unexpected_records == []
    assert report.stored == len(sample.valid_ids) == 54
    assert len(report.dead_lettered) == 6
    # published = stored + dead-lettered + duplicates of stored events
    assert report.published == report.stored + len(report.dead_lettered) + 5


def test_each_valid_event_is_stored_exactly_once(
    pipeline: LocalPipeline, report: payments.PaymentReport, sample: payments.SamplePayments
) -> None:
    ids = [item["transactionId"]["S"] for item in payments.stored_items(pipeline)]
    assert sorted(ids) == sorted(set(ids))
    assert sample.valid_ids <= set(ids)


def test_invalid_events_are_dead_lettered_with_the_step_and_an_actionable_reason(
    report: payments.PaymentReport, sample: payments.SamplePayments
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


def _is_invalid(body: str, sample: payments.SamplePayments) -> bool:
    try:
        event = json.loads(body)
    except ValueError:
        return True
    return event.get("transactionId") not in sample.valid_ids


def test_stored_record_carries_the_processed_and_enriched_fields(
    pipeline: LocalPipeline, report: payments.PaymentReport
) -> None:
    for item in payments.stored_items(pipeline):
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
    pipeline: LocalPipeline, report: payments.PaymentReport
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
    pipeline: LocalPipeline, report: payments.PaymentReport
) -> None:
    valid = (EVENTS / "payment_event.json").read_text()
    duplicate = (EVENTS / "payment_event_duplicate.json").read_text()
    invalid = (EVENTS / "payment_event_invalid.json").read_text()
    transaction_id = json.loads(valid)["transactionId"]
    assert json.loads(duplicate)["transactionId"] == transaction_id
    dead_before = len(pipeline.dead_letters("PaymentDeadLetterQueueUrl"))
    runner = pipeline.pipes["PaymentPipe"]
    names_before = len(runner.stats.execution_names)
    states_before = pipeline.history_counts("PaymentStateMachine")

    payments.publish(pipeline, [valid])
    pipeline.wait_for_pipes(60)
    first = _item(pipeline, transaction_id)
    assert first is not None and Decimal(first["amount"]["N"]) == Decimal("42.50")
    payments.publish(pipeline, [duplicate, invalid])
    pipeline.wait_for_pipes(60)

    assert _item(pipeline, transaction_id) == first  # no second record, nothing overwritten
    dead = pipeline.dead_letters("PaymentDeadLetterQueueUrl")
    assert len(dead) == dead_before + 1
    assert any(d.body == invalid and "19.999" in d.reason for d in dead)
    states = pipeline.history_counts("PaymentStateMachine") - states_before
    assert states["state:PaymentStored"] == 1 and states["state:DuplicatePayment"] == 1
    assert states["state:PaymentDeadLettered"] == 1 and states["state:RedeliverEvent"] == 0
    # Each execution succeeded and told the pipe to redeliver nothing.
    outputs = [
        _execution(pipeline, n)["output"] for n in runner.stats.execution_names[names_before:]
    ]
    assert outputs and all(json.loads(o) == {"batchItemFailures": []} for o in outputs)


def test_a_throttled_step_is_retried_and_the_event_stored_once(
    pipeline: LocalPipeline, report: payments.PaymentReport
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
        payments.publish(pipeline, [json.dumps(event)])
        pipeline.wait_for_pipes(60)
    finally:
        pipeline.dispatcher.throttle_hook = None
    assert throttles["left"] == 0  # Lambda.TooManyRequestsException twice, then retried
    assert _item(pipeline, "pay-throttled-0001") is not None
    dead = pipeline.dead_letters("PaymentDeadLetterQueueUrl")
    assert all("pay-throttled" not in d.body for d in dead)


def _execution(pipeline: LocalPipeline, name: str) -> dict[str, Any]:
    arns = {e["name"]: e["executionArn"] for e in pipeline.executions("PaymentStateMachine")}
    return pipeline.client("stepfunctions").describe_execution(executionArn=arns[name])


def test_a_misconfigured_step_sends_back_only_its_event_and_the_batch_is_handled_once(
    pipeline: LocalPipeline, report: payments.PaymentReport
) -> None:
    """Issue 14, defect 8. One event of a batch hits a fault that is not its own
    (FeeConfigurationError) while its siblings are valid or invalid: the execution succeeds
    with ``batchItemFailures`` naming that event's SQS messageId, so PaymentPipe deletes the
    siblings (stored once, dead-lettered once) and redelivers that event alone until the step
    works again. Before, a Fail state failed the execution and the whole batch came back."""
    base = json.loads((EVENTS / "payment_event.json").read_text())
    bodies = {
        name: json.dumps({**base, "transactionId": f"pay-partial-{name}"})
        for name in ("gate", "a", "b", "fee")
    }
    bodies["invalid"] = json.dumps({**base, "transactionId": "pay-partial-c", "amount": "19.999"})
    runner = pipeline.pipes["PaymentPipe"]
    names_before, failed_before = len(runner.stats.execution_names), runner.stats.failed_executions
    partial_before = runner.stats.partially_failed_executions
    dead_before = len(pipeline.dead_letters("PaymentDeadLetterQueueUrl"))
    gate_entered, release, broken = threading.Event(), threading.Event(), {"on": True}

    def hook(logical_id: str, event: Any) -> None:
        if logical_id == "ValidatePaymentFunction" and "pay-partial-gate" in event["body"]:
            gate_entered.set()  # holds the pipe's poller while the batch is published
            release.wait(30)
        payment = event.get("payment") or {}
        fee_event = payment.get("transactionId") == "pay-partial-fee"
        if logical_id == "ProcessPaymentFunction" and fee_event and broken["on"]:
            raise FeeConfigurationError("PAYMENT_FEE_BASIS_POINTS is not set")

    pipeline.dispatcher.crash_hook = hook
    try:
        payments.publish(pipeline, [bodies["gate"]])
        assert gate_entered.wait(30), "the gate event never reached ValidatePayment"
        payments.publish(pipeline, [bodies[n] for n in ("a", "b", "invalid", "fee")])
        wait_for(lambda: pipeline.queue_counts("PaymentQueueUrl")[0] == 4, 60, "the batch to queue")
        release.set()  # the pipe receives the four events as one batch
        wait_for(
            lambda: (
                runner.stats.partially_failed_executions + runner.stats.failed_executions
                > partial_before + failed_before
            ),
            60,
            "the batch's execution to end",
        )
        assert runner.stats.failed_executions == failed_before  # the execution succeeded
        _, batch = runner.stats.execution_names[names_before : names_before + 2]
        records = json.loads(_execution(pipeline, batch)["input"])
        assert sorted(r["body"] for r in records) == sorted(
            bodies[n] for n in ("a", "b", "invalid", "fee")
        )
        [fee_message] = [r["messageId"] for r in records if r["body"] == bodies["fee"]]
        assert json.loads(_execution(pipeline, batch)["output"]) == {
            "batchItemFailures": [{"itemIdentifier": fee_message}]
        }
        assert _item(pipeline, "pay-partial-a") is not None
        assert _item(pipeline, "pay-partial-b") is not None
        assert _item(pipeline, "pay-partial-fee") is None
        # The fee event comes back (visibility timeout, time-scaled) and, still broken, alone.
        wait_for(
            lambda: runner.stats.partially_failed_executions >= partial_before + 2,
            60,
            "the fee event to come back",
        )
        broken["on"] = False
        pipeline.wait_for_pipes(60)
    finally:
        pipeline.dispatcher.crash_hook = None
        release.set()

    assert runner.stats.failed_executions == failed_before
    assert _item(pipeline, "pay-partial-fee") is not None
    later = runner.stats.execution_names[names_before + 2 :]
    assert len(later) >= 2  # at least one failed retry, then the stored one
    for name in later:  # only the fee event ever came back, under its own messageId
        assert [r["messageId"] for r in json.loads(_execution(pipeline, name)["input"])] == [
            fee_message
        ]
    dead = pipeline.dead_letters("PaymentDeadLetterQueueUrl")
    assert len(dead) == dead_before + 1  # the invalid sibling, once: no duplicate dead letter
    [invalid] = [d for d in dead if "pay-partial" in d.body]
    assert (
        invalid.body == bodies["invalid"] and invalid.attributes["sluice-step"] == "ValidatePayment"
    )
    assert json.loads(_execution(pipeline, later[-1])["output"]) == {"batchItemFailures": []}


class FeeConfigurationError(Exception):
    """Same name as ProcessPayment's own error: the workflow matches on the name."""


def test_a_different_event_reusing_a_transaction_id_is_dead_lettered_and_the_record_kept(
    pipeline: LocalPipeline, report: payments.PaymentReport
) -> None:
    first = {**json.loads((EVENTS / "payment_event.json").read_text())}
    first["transactionId"] = "pay-conflict-0001"
    other = {**first, "amount": "99.00"}
    payments.publish(pipeline, [json.dumps(first)])
    pipeline.wait_for_pipes(60)
    stored = _item(pipeline, "pay-conflict-0001")
    assert stored is not None

    payments.publish(pipeline, [json.dumps(other)])
    pipeline.wait_for_pipes(60)

    assert _item(pipeline, "pay-conflict-0001") == stored  # the first event wins
    [dead] = [
        d for d in pipeline.dead_letters("PaymentDeadLetterQueueUrl") if d.body == json.dumps(other)
    ]
    assert dead.attributes["sluice-step"] == "StorePayment"
    assert dead.attributes["sluice-error"] == "ConflictingPayment"
    assert "pay-conflict-0001 is already stored from a different event" in dead.reason
