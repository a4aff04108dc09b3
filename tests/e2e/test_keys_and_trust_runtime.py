"""Issue 17, items 4 and 6, on the strict local runtime: each key grant and trust condition the
template adds is needed, and without it the run fails the way AWS fails it, losing nothing.

Each test deploys a copy of template.yaml with one grant taken out (or one condition changed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sluice_local.emulator.iam.model import CreateRefused
from sluice_local.emulator.runtime import LocalPipeline
from sluice_local.jobs.demo import wait_for
from sluice_local.jobs.payments import publish, sample_payments, stored_items
from testkit.pipelines import PAYMENTS_ON
from testkit.template_copy import template_copy

pytestmark = pytest.mark.e2e


def _drop(statements: list[dict[str, Any]], sid: str) -> list[dict[str, Any]]:
    kept = [s for s in statements if s.get("Sid") != sid]
    assert len(kept) == len(statements) - 1, f"no statement {sid}"
    return kept


def test_without_the_pipe_roles_key_grant_payments_wait_in_their_queue(tmp_path: Path) -> None:
    def no_decrypt(resources: dict[str, Any]) -> None:
        document = resources["PaymentPipeRole"]["Properties"]["Policies"][0]["PolicyDocument"]
        document["Statement"] = _drop(document["Statement"], "DecryptPaymentQueue")

    template = template_copy(tmp_path, no_decrypt)
    with LocalPipeline(template, PAYMENTS_ON, time_scale=0.02) as pipeline:
        runner = pipeline.pipes["PaymentPipe"]
        publish(pipeline, sample_payments(3, seed=11).bodies)
        wait_for(lambda: runner.stats.source_errors > 0, 30, "the pipe to try to read")
        summary = pipeline.iam.summary()
        stored = stored_items(pipeline)
        waiting = sum(pipeline.queue_counts("PaymentQueueUrl"))
        key = pipeline.resources["PaymentKey"]
    assert stored == [] and runner.stats.batches == 0
    assert waiting == 3  # nothing lost: Pipes keeps polling until the grant is fixed
    assert "KMS.AccessDeniedException" in runner.stats.last_source_error
    [denied] = [d for d in summary["denied"] if d["principal"] == "PaymentPipeRole"]
    assert denied["action"] == "kms:Decrypt" and denied["resource"].endswith(f"key/{key}")
    assert "because no identity-based policy allows the kms:Decrypt action" in denied["reason"]


def test_without_the_key_policy_statement_sns_cannot_deliver_payments(tmp_path: Path) -> None:
    def no_sns(resources: dict[str, Any]) -> None:
        policy = resources["PaymentKey"]["Properties"]["KeyPolicy"]
        policy["Statement"] = _drop(policy["Statement"], "PaymentTopicDeliversToItsQueues")

    template = template_copy(tmp_path, no_sns)
    with LocalPipeline(template, PAYMENTS_ON, time_scale=0.02) as pipeline:
        publish(pipeline, sample_payments(3, seed=12).bodies)
        pipeline.wait_for_pipes(30)
        summary = pipeline.iam.summary()
        queued = sum(pipeline.queue_counts("PaymentQueueUrl"))
        dead = sum(pipeline.queue_counts("PaymentDeadLetterQueueUrl"))
    # SNS may use the key for neither queue: the subscription's dead-letter queue is under the
    # same key, so AWS drops the message after its delivery retries (SNS "delivery policies").
    assert queued == 0 and dead == 0
    refused = {(d["principal"], d["action"]) for d in summary["denied"]}
    assert ("sns.amazonaws.com", "kms:GenerateDataKey") in refused
    [reason] = {d["reason"] for d in summary["denied"] if d["principal"] == "sns.amazonaws.com"}
    assert "because no resource-based policy allows the kms:GenerateDataKey action" in reason


def test_without_the_key_grant_a_failed_alert_leaves_no_record(tmp_path: Path) -> None:
    def no_key_grant(resources: dict[str, Any]) -> None:
        for policy in resources["ExecutionAlertFunction"]["Properties"]["Policies"]:
            if "Statement" in policy and any(
                s.get("Sid") == "SendFailuresToTheEncryptedDeadLetterQueue"
                for s in policy["Statement"]
            ):
                policy["Statement"] = _drop(
                    policy["Statement"], "SendFailuresToTheEncryptedDeadLetterQueue"
                )
                return
        raise AssertionError("no SendFailuresToTheEncryptedDeadLetterQueue statement")

    def fail(name: str, event: Any) -> None:
        if name == "ExecutionAlertFunction":
            raise RuntimeError("injected failure for the on-failure destination")

    template = template_copy(tmp_path, no_key_grant)
    with LocalPipeline(template, time_scale=0.02) as pipeline:
        pipeline.dispatcher.crash_hook = fail
        pipeline.client("lambda").invoke(
            FunctionName=pipeline.resources["ExecutionAlertFunction"],
            InvocationType="Event",
            Payload=b"{}",
        )
        # After Lambda's two retries, its attempt to send the record is decided.
        wait_for(lambda: pipeline.iam.denied_calls > 0, 30, "an on-failure delivery")
        pipeline.dispatcher.crash_hook = None
        summary = pipeline.iam.summary()
        recorded = sum(pipeline.queue_counts("ObservabilityDeadLetterQueueUrl"))
    assert recorded == 0  # Lambda counts a DestinationDeliveryFailures; nothing is sent
    refused = {(d["principal"], d["action"]) for d in summary["denied"]}
    assert ("ExecutionAlertFunctionRole", "kms:GenerateDataKey") in refused


def test_a_pipe_role_that_trusts_another_pipe_cannot_be_used(tmp_path: Path) -> None:
    def other_pipe(resources: dict[str, Any]) -> None:
        [trust] = resources["PaymentPipeRole"]["Properties"]["AssumeRolePolicyDocument"][
            "Statement"
        ]
        trust["Condition"]["ArnEquals"]["aws:SourceArn"] = {
            "Fn::Sub": "arn:${AWS::Partition}:pipes:${AWS::Region}:${AWS::AccountId}:pipe/other"
        }

    template = template_copy(tmp_path, other_pipe)
    with pytest.raises(CreateRefused) as refused:
        LocalPipeline(template, PAYMENTS_ON, time_scale=0.02).start()
    assert str(refused.value) == ("PaymentPipe: pipes.amazonaws.com may not assume the pipe's role")
