"""Issue 16: a deploy can replace ProcessObject while a drain runs the previous ASL.

The previous ASL is the drain from before ContinueLater (commit cc1b343). A drain execution
started before an upgrade keeps the definition it started with (Step Functions runs an execution
on the definition it started with; moto snapshots it the same way), but it invokes the new
ProcessObject, which answers an object it could not finish with ``unfinished`` and also
``postponed``. The previous drain reads that as "too late to start" (TooLateToStart,
ReturnUnlessLastReceive, ReturnMessage): the message goes back to the queue, visible at once,
and the next invocation resumes from the checkpoint. Executions started after the upgrade
(the schedule's, and the one a drain hands over to) run the new ASL and continue the object from
fresh messages. (ProcessObject is the new one throughout: the code from before checkpoints
cannot run against this template. What is shown is the previous drain meeting the new function.)

The window: each invocation under the previous drain spends one of the message's receives. On
its last receive (MaxReceiveCount) ReturnUnlessLastReceive dead-letters it, with the reason
"NotStarted" although rows were sent. Nothing is lost: the dead letter is the original event,
the checkpoint keeps what was delivered, and a redrive after the upgrade sends only the rest.
The window lasts until the previous drain hands over or finds the queues empty, at most one
Express execution (5 minutes): it invokes one object at most about 300 s / FunctionTimeout
times, so with the defaults (FunctionTimeout 120, MaxReceiveCount 5) only a message already
received two or more times before the upgrade can reach its last receive in it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from sluice_local.jobs import demo
from sluice_ops.redrive import copy_redrive
from testkit.drain import states_entered, stop_drains_when

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e

PREVIOUS = "cc1b343"  # the drain ASL before ContinueLater (issue 16)
SETTINGS = {
    # About 3 s of rows an invocation (about 14 rows at 0.2 s each): several invocations per
    # object, each within the real 5 s Lambda timeout the runtime enforces.
    "FunctionTimeout": "5",
    "DownstreamTimeoutSeconds": "1",
    "MaxConcurrency": "1",
    "ScaleCooldownSeconds": "2",
    "StaggerSeconds": "0",
    "MaxStaggerSeconds": "0",
}
LATENCY_S = 0.2


def _previous_asl() -> str:
    try:
        shown = subprocess.run(
            ["git", "show", f"{PREVIOUS}:statemachine/drain.asl.json"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"the previous drain ASL needs git history ({PREVIOUS}): {exc}")
    definition = json.loads(shown.stdout)
    assert "ContinueLater" not in shown.stdout  # it is the drain from before
    assert (
        "TooLateToStart"
        in definition["States"]["Workers"]["ItemProcessor"]["States"]["ProcessBatch"][
            "ItemProcessor"
        ]["States"]
    )
    return shown.stdout


def _with_previous_drain(directory: Path) -> Path:
    """template.yaml beside its code, its DefinitionUri naming the previous drain ASL."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("functions", "layers"):
        (directory / name).symlink_to(ROOT / name)
    shutil.copytree(ROOT / "statemachine", directory / "statemachine")
    (directory / "statemachine" / "drain.asl.json").write_text(_previous_asl())
    path = directory / "template.yaml"
    path.write_text(json.dumps(yaml_parse((ROOT / "template.yaml").read_text())))
    return path


def _current_asl() -> dict[str, Any]:
    definition: dict[str, Any] = json.loads((ROOT / "statemachine" / "drain.asl.json").read_text())
    return definition


def test_a_drain_started_before_an_upgrade_finishes_after_it(tmp_path: Path) -> None:
    # The previous drain returns an unfinished object's message: one receive per invocation.
    # Enough receives for the invocations it makes before it hands over (4 to 6), and the first
    # one after it.
    overrides = {**SETTINGS, "MaxReceiveCount": "10"}
    # About 8 invocations (26 s): 4 to 6 under the previous drain (it hands over after 13 s of
    # its execution, at the end of the round then under way), the rest under the new ASL.
    rows = 115
    big = demo.sample_objects(1, rows, failing=0, prefix="incoming/large/")
    key = big[0].key
    starts = demo.InvocationStarts()
    started = time.monotonic()
    with (
        demo.deployed(_with_previous_drain(tmp_path), overrides, latency_s=LATENCY_S) as (
            pipeline,
            downstream,
        ),
        # The drain hands over after about 13 s of an execution (see test_continuation.py):
        # the execution started before the upgrade ends, by its own HandOver, after it.
        demo.express_limit(pipeline, 70.0),
    ):
        pipeline.dispatcher.crash_hook = starts
        demo.upload(pipeline, big)
        pipeline.start_schedules(fire_now=True)
        demo.wait_for(
            lambda: (
                sum(1 for _, r in demo.process_results(pipeline, key) if r.get("unfinished")) >= 2
            ),
            timeout=30,
            what="two unfinished invocations under the previous drain",
        )
        # The deploy: the drain's new definition (ProcessObject is the new one throughout).
        upgraded_at, upgraded_on = time.monotonic(), datetime.now(UTC)
        demo.redefine_state_machine(pipeline, "DrainStateMachine", _current_asl())
        deployed_now = pipeline.client("stepfunctions").describe_state_machine(
            stateMachineArn=pipeline.state_machine_arns["DrainStateMachine"]
        )["definition"]
        assert "ContinueLater" in deployed_now and "${" not in deployed_now
        stop_drains_when(
            pipeline,
            lambda: (
                any(not r.get("unfinished") for _, r in demo.process_results(pipeline, key))
                or pipeline.queue_counts("ObjectDeadLetterQueueUrl")[0] > 0
            ),
            timeout=90,
            what="the object to finish (or be dead-lettered)",
        )
        report = demo.account(pipeline, downstream, big, time.monotonic() - started)
        accepted = downstream.accepted()
        results = demo.process_results(pipeline, key)
        executions = {e.get("name"): e for e in pipeline.executions("DrainStateMachine")}
        first = executions[results[0][0]["correlation"]["execution"]]
        before = Counter(states_entered(pipeline, first["executionArn"]))
        after = Counter[str]()
        for execution in executions.values():
            if execution["startDate"] > upgraded_on:
                after += Counter(states_entered(pipeline, execution["executionArn"]))
    print(report.table())
    names = [event["correlation"]["execution"] for event, _ in results]
    print(f"invocations by execution: {names}")

    # Nothing lost, nothing twice.
    assert report.unaccounted == [] and report.dead_lettered == {}
    assert report.rows_received == report.rows_expected == rows
    assert report.duplicate_rows == 0
    assert Counter(r.body["row"] for r in accepted) == Counter(range(1, rows + 1))
    assert len({r.headers["Idempotency-Key"] for r in accepted}) == rows
    assert sum(result["rows_sent"] for _, result in results) == rows

    # The drain started before the upgrade ran the previous ASL to its end, after the upgrade:
    # it put the unfinished object's message back each time (no ContinueLater in it), invoked
    # the new ProcessObject after the upgrade too, and handed over.
    assert first["startDate"] < upgraded_on < first["stopDate"], first
    assert first["status"] == "SUCCEEDED"
    assert "ContinueLater" not in before
    assert before["TooLateToStart"] == before["ReturnMessage"] >= 2
    assert before["HandOver"] == 1
    under_first = starts.of(
        "ProcessObjectFunction", lambda e: e["correlation"]["execution"] == first["name"]
    )
    assert max(under_first) > upgraded_at
    # The same message each time under the previous drain (put back, its receive count rising).
    first_ids = {
        event["correlation"]["message_id"]
        for event, _ in results
        if event["correlation"]["execution"] == first["name"]
    }
    assert len(first_ids) == 1

    # Executions started after the upgrade ran the new ASL: the object carried on from fresh
    # messages and finished there.
    assert after["ContinueLater"] >= 1 and "TooLateToStart" not in after
    assert names[-1] != first["name"]
    assert not results[-1][1].get("unfinished")
    assert {e["status"] for e in executions.values()} == {"SUCCEEDED"}


def test_on_its_last_receive_the_previous_drain_dead_letters_an_unfinished_object_never_losing_it(
    tmp_path: Path,
) -> None:
    # The window: the object needs more invocations than the previous drain has receives for.
    overrides = {**SETTINGS, "MaxReceiveCount": "2"}
    rows = 60  # about 5 invocations
    big = demo.sample_objects(1, rows, failing=0, prefix="incoming/large/")
    key = big[0].key
    started = time.monotonic()
    with demo.deployed(_with_previous_drain(tmp_path), overrides, latency_s=LATENCY_S) as (
        pipeline,
        downstream,
    ):
        demo.upload(pipeline, big)
        pipeline.start_schedules(fire_now=True)
        stop_drains_when(
            pipeline,
            lambda: pipeline.queue_counts("ObjectDeadLetterQueueUrl")[0] >= 1,
            timeout=40,
            what="the dead letter",
        )
        letters = pipeline.dead_letters()
        before = demo.process_results(pipeline, key)
        sent_before = Counter(r.body["row"] for r in downstream.accepted())

        # The upgrade, then the redrive (sluice-ops redrive's copy: the original body back to
        # the queue); drains from now on run the new ASL.
        demo.redefine_state_machine(pipeline, "DrainStateMachine", _current_asl())
        sqs = pipeline.client("sqs")
        redriven = copy_redrive(
            sqs, pipeline.outputs["ObjectDeadLetterQueueUrl"], pipeline.outputs["ObjectQueueUrl"]
        )
        assert redriven.redriven == 1
        pipeline.start_schedules(fire_now=True)
        stop_drains_when(
            pipeline,
            lambda: any(not r.get("unfinished") for _, r in demo.process_results(pipeline, key)),
            timeout=60,
            what="the redriven object to finish",
        )
        report = demo.account(pipeline, downstream, big, time.monotonic() - started)
        accepted = downstream.accepted()
        after = demo.process_results(pipeline, key)[len(before) :]
        states = pipeline.history_counts("DrainStateMachine")
    print(report.table())
    print(
        "before the redrive:",
        [(r["rows_sent"], r["next_row"]) for _, r in before],
        "after:",
        [(r["rows_sent"], r["next_row"]) for _, r in after],
    )

    # Dead-lettered on its last receive, by the previous drain, as not started (the reason
    # the previous ASL gives a postponed answer), after two unfinished invocations whose rows
    # were delivered once each; the dead letter carries the object's event, as it arrived.
    assert [letter.object_key for letter in letters] == [key]
    assert letters[0].reason.startswith("NotStarted"), letters[0].reason
    assert len(before) == 2 and all(r.get("unfinished") for _, r in before)
    delivered = before[-1][1]["next_row"] - 1
    assert 0 < delivered < rows
    assert sent_before == Counter(range(1, delivered + 1))

    # The redrive under the new ASL resumed from the checkpoint (no row sent again) and
    # finished: every row exactly once in all, nothing left dead-lettered.
    assert after[0][1]["next_row"] > before[-1][1]["next_row"]
    assert after[0][1]["rows_sent"] == after[0][1]["next_row"] - before[-1][1]["next_row"]
    assert report.unaccounted == [] and report.dead_lettered == {}
    assert report.rows_received == report.rows_expected == rows
    assert report.duplicate_rows == 0
    assert Counter(r.body["row"] for r in accepted) == Counter(range(1, rows + 1))
    assert states["state:ContinueLater"] == len(after) - 1
