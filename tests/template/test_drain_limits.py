"""Static checks that the drain stays within what AWS enforces and the emulator does not: the
Express 5-minute limit (no in-drain retry of a timed-out object, bounded retry waits), the short
poll that can miss priority messages, and the 256 KiB state and batch limits (queue message
sizes, counts-only worker state, a Catch where an unplanned failure would lose the reason)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from sluice_local.handlers import load_handler

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = yaml_parse((ROOT / "template.yaml").read_text())
DRAIN = json.loads((ROOT / "statemachine/drain.asl.json").read_text())
load_handler(ROOT / "functions/drain_lease", "app.lambda_handler", [ROOT / "layers/common"])
import lease  # noqa: E402  (importable once the handler's code dir is on the path)

# AWS reports a function timeout under either name.
TIMEOUT_ERRORS = {"Sandbox.Timedout", "Lambda.Unknown"}
NOT_RETRIED_IN_THE_DRAIN = TIMEOUT_ERRORS | {
    "Runtime.ExitError",
    "Runtime.Unknown",
    "TransientError",
}

KIB = 1024
STATE_LIMIT = 256 * KIB  # Step Functions: a state's input or output (States.DataLimitExceeded)
PIPES_BATCH_LIMIT = 256 * 1000  # EventBridge Pipes: the payload it hands a Step Functions target
EVENT_LIMIT = 256 * KIB  # the largest EventBridge event or SNS message
SQS_MAX = 1024 * KIB
JSON_ESCAPING = 2  # a body inside a JSON state: each quote, backslash or newline doubles
PER_MESSAGE = 4 * KIB  # receipt handle, ids, MD5s, attributes, the parsed key, an error cause
PIPES_RECORD = 2 * KIB  # an SQS record's metadata in a Pipes batch
WORKER_STATE = 16 * KIB  # worker spec, execution name, one batch's counts, totals
REASON = STATE_LIMIT  # a dead-letter reason is at most what one state carries


def _states(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        yield name, state
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from _states(processor["States"])


def _state(name: str) -> dict[str, Any]:
    [state] = [s for n, s in _states(DRAIN["States"]) if n == name]
    return state


def _item_states() -> dict[str, Any]:
    states: dict[str, Any] = _state("ProcessBatch")["ItemProcessor"]["States"]
    return states


def _worker_states() -> dict[str, Any]:
    states: dict[str, Any] = _state("Workers")["ItemProcessor"]["States"]
    return states


def _retry_wait(retrier: dict[str, Any]) -> float:
    """Worst case (jitter aside) of one retrier: every attempt waits its full backoff."""
    interval = retrier.get("IntervalSeconds", 1)
    rate = retrier.get("BackoffRate", 2.0)
    cap = retrier.get("MaxDelaySeconds", float("inf"))
    return sum(min(interval * rate**i, cap) for i in range(retrier.get("MaxAttempts", 3)))


def _task_retry_wait(state: dict[str, Any]) -> float:
    # Each retrier keeps its own count: errors can alternate and exhaust every one.
    return sum(_retry_wait(r) for r in state.get("Retry", []))


def _next_states(state: dict[str, Any]) -> list[str]:
    found = [state[k] for k in ("Next", "Default") if k in state]
    found += [c["Next"] for c in state.get("Choices", [])]
    found += [c["Next"] for c in state.get("Catch", [])]
    return found


def _worst_path_wait(states: dict[str, Any], name: str) -> float:
    state = states[name]
    after = [_worst_path_wait(states, n) for n in _next_states(state)]
    return _task_retry_wait(state) + max(after, default=0.0)


def _queues() -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in TEMPLATE["Resources"].items()
        if resource["Type"] == "AWS::SQS::Queue"
    }


def _size(queue: str) -> int:
    size: int = _queues()[queue]["MaximumMessageSize"]
    return size


# --- defect 5: the Express limit ---------------------------------------------------------------


def test_no_task_in_the_drain_retries_a_timed_out_or_crashed_object() -> None:
    # Each retry would be another invocation of up to FunctionTimeout inside a 300 s execution.
    for name, state in _states(DRAIN["States"]):
        for retrier in state.get("Retry", []):
            retried = set(retrier["ErrorEquals"])
            assert not retried & NOT_RETRIED_IN_THE_DRAIN, (name, retried)
            if state.get("Resource", "").endswith("lambda:invoke"):
                assert "States.ALL" not in retried, name


def test_a_timed_out_object_is_postponed_or_dead_lettered_on_its_last_receive() -> None:
    process = _state("ProcessObject")
    caught = {e: c["Next"] for c in process["Catch"] for e in c["ErrorEquals"]}
    assert set(caught) >= NOT_RETRIED_IN_THE_DRAIN
    [route] = {caught[e] for e in NOT_RETRIED_IN_THE_DRAIN}  # both timeout names, one route
    choice = _item_states()[route]
    assert choice["Type"] == "Choice"
    [rule] = choice["Choices"]
    assert (rule["Variable"], rule["BooleanEquals"], rule["Next"]) == (
        "$.item.lastReceive",
        True,
        "DeadLetter",
    )
    assert choice["Default"] == "PostponeMessage"
    # Every way a message goes back to its queue first asks whether this is its last receive.
    for name, state in _item_states().items():
        if name not in {route, "ReturnUnlessLastReceive"}:
            assert "PostponeMessage" not in _next_states(state), name
            assert "ReturnMessage" not in _next_states(state), name


def test_an_object_due_after_its_latest_start_is_returned_not_processed() -> None:
    assert _state("HoldLease")["ResultSelector"]["objectStartBy.$"] == "$.Payload.objectStartBy"
    assert _state("PlanRound")["Parameters"]["Payload"]["objectStartBy.$"] == (
        "$.lease.objectStartBy"
    )
    assert _state("ProcessBatch")["ItemSelector"]["startBy.$"] == "$.worker.objectStartBy"
    assert _state("ProcessObject")["Parameters"]["Payload"]["start_by.$"] == "$.startBy"
    [postponed] = [c for c in _state("CheckObject")["Choices"] if "postponed" in c["Variable"]]
    assert _item_states()[postponed["Next"]]["Next"] == "ReturnUnlessLastReceive"


def test_the_retry_waits_on_an_objects_path_fit_the_leases_budget() -> None:
    # From ProcessObject to the message deleted, dead-lettered (full or short reason, alert) or
    # returned: what the lease's tail allows after the last object's FunctionTimeout.
    worst = _worst_path_wait(_item_states(), "ProcessObject")
    assert worst <= lease.RETRY_WAIT_SECONDS, worst
    # Throttling used to wait up to ~107 s over 12 attempts; Lambda's own errors ~61 s.
    assert _task_retry_wait(_state("ProcessObject")) <= 15


def test_no_lambda_task_times_out_before_the_function_does() -> None:
    # A Task's TimeoutSeconds does not stop the function: a shorter one would start a retry or
    # a Catch path beside an invocation still running.
    longest = TEMPLATE["Parameters"]["FunctionTimeout"]["MaxValue"]
    for name, state in _states(DRAIN["States"]):
        if state.get("Resource", "").endswith("lambda:invoke") and "TimeoutSeconds" in state:
            assert state["TimeoutSeconds"] > longest, name


# --- defect 6: priority objects ----------------------------------------------------------------


def test_both_queue_depths_are_read_before_every_round() -> None:
    readers = {
        s["Parameters"]["QueueUrl"]: s["ResultPath"]
        for _, s in _states(DRAIN["States"])
        if s.get("Resource", "").endswith("sqs:getQueueAttributes")
    }
    assert set(readers) == {"${ObjectQueueUrl}", "${PriorityQueueUrl}"}
    payload = _state("PlanRound")["Parameters"]["Payload"]
    assert payload["queueDepth.$"] == readers["${ObjectQueueUrl}"] + ".depth"
    assert payload["priorityDepth.$"] == readers["${PriorityQueueUrl}"] + ".depth"


def test_the_priority_receive_is_not_a_fixed_short_poll() -> None:
    parameters = _state("ReceivePriority")["Parameters"]
    assert "WaitTimeSeconds" not in parameters or parameters["WaitTimeSeconds"] >= 1
    assert parameters.get("WaitTimeSeconds.$") == "$.worker.priorityWaitSeconds"
    assert "short poll" in _state("ReceivePriority")["Comment"]  # the choice is documented


# --- defect 7: 256 KiB -------------------------------------------------------------------------


def test_every_queue_has_a_maximum_message_size() -> None:
    queues = _queues()
    assert len(queues) == 7
    for logical_id, properties in queues.items():
        size = properties.get("MaximumMessageSize")
        assert isinstance(size, int) and KIB <= size <= SQS_MAX, logical_id


def test_a_workers_batch_fits_in_one_state() -> None:
    most = TEMPLATE["Parameters"]["ReceiveBatchSize"]["MaxValue"]
    message = max(_size("ObjectQueue"), _size("PriorityQueue"))
    assert most * (JSON_ESCAPING * message + PER_MESSAGE) + WORKER_STATE <= STATE_LIMIT


def test_a_payment_batch_fits_what_pipes_hands_step_functions() -> None:
    most = TEMPLATE["Parameters"]["PaymentBatchSize"]["MaxValue"]
    assert most * (JSON_ESCAPING * _size("PaymentQueue") + PIPES_RECORD) <= PIPES_BATCH_LIMIT


def test_every_dead_letter_queue_takes_what_its_sources_send_with_a_reason() -> None:
    resources = TEMPLATE["Resources"]
    # SQS redrive (and the drain's or the payment workflow's own dead-lettering, with reasons).
    for logical_id, properties in _queues().items():
        if "RedrivePolicy" in properties:
            target = properties["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
            assert _size(target) >= _size(logical_id) + REASON, (logical_id, target)
    # EventBridge targets and SNS subscriptions: whatever they could not deliver.
    targets = [t for r in resources.values() for t in r["Properties"].get("Targets", [])]
    subscriptions = [
        r["Properties"] for r in resources.values() if r["Type"] == "AWS::SNS::Subscription"
    ]
    dead_letter_arns = [t["DeadLetterConfig"]["Arn"] for t in targets if "DeadLetterConfig" in t]
    dead_letter_arns += [s["RedrivePolicy"]["deadLetterTargetArn"] for s in subscriptions]
    assert dead_letter_arns
    for arn in dead_letter_arns:
        assert _size(arn["Fn::GetAtt"][0]) >= EVENT_LIMIT + 4 * KIB, arn


def test_worker_state_carries_counts_never_failed_rows_or_finished_bodies() -> None:
    items = _item_states()
    # Every way an object's iteration ends outputs $.result, and $.result is counts only.
    for name, state in items.items():
        if state.get("End") or state["Type"] == "Succeed":
            assert state.get("OutputPath") == "$.result", name
    writers = [s for s in items.values() if s.get("ResultPath") == "$.result"]
    assert writers
    for state in writers:
        assert "failedRows" not in json.dumps(state.get("Parameters") or state["ResultSelector"])
    assert "failedRows" not in json.dumps(_state("ProcessBatch")["ItemSelector"])
    process_batch = _state("ProcessBatch")
    assert "ResultSelector" not in process_batch
    # The counts replace the items (and the message bodies they carried).
    assert process_batch["ResultPath"] == process_batch["ItemsPath"] == "$.batch.items"
    assert _state("WorkerDone")["Parameters"]["last.$"] == "$.batch.items"
    # The failed rows still reach the dead-letter reason, from the object's own path.
    assert "failedRows" in json.dumps(_state("ProcessObject")["ResultSelector"])
    assert _state("RowsFailed")["Parameters"]["Cause.$"] == "States.JsonToString($.object.summary)"


def test_a_failing_plan_batch_stops_the_worker_with_a_reason() -> None:
    plan = _state("PlanBatch")
    [catch] = plan["Catch"]
    assert catch["ErrorEquals"] == ["States.ALL"]
    stop = _worker_states()[catch["Next"]]
    assert stop["Result"] and stop["ResultPath"] == "$.batch.stopped"
    assert stop["Next"] == "WorkerDone"


def test_a_dead_letter_that_cannot_be_sent_is_sent_short_or_left_in_its_queue() -> None:
    items = _item_states()
    [catch] = items["DeadLetter"]["Catch"]
    assert catch["ErrorEquals"] == ["States.ALL"]
    short = items[catch["Next"]]
    assert short["Resource"] == items["DeadLetter"]["Resource"]
    assert short["Parameters"]["QueueUrl"] == items["DeadLetter"]["Parameters"]["QueueUrl"]
    reason = short["Parameters"]["MessageAttributes"]["sluice-reason"]["StringValue.$"]
    assert "$.error.Error" in reason and "$$.Execution.Id" in reason
    assert "$.error.Cause" not in reason
    assert [c["Next"] for c in short["Catch"]] == ["LeftInQueue"]
    assert short["Next"] == items["DeadLetter"]["Next"]


@pytest.mark.parametrize("name", ["PlanBatch", "DeadLetter", "DeadLetterShortReason"])
def test_the_states_that_lose_a_reason_when_they_fail_have_a_catch(name: str) -> None:
    assert _state(name).get("Catch"), name
