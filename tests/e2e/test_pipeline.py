"""The whole pipeline through the local runtime: S3 upload -> EventBridge -> SQS -> schedule ->
drain -> Lambda -> local downstream API, deployed from template.yaml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sluice_local.emulator.faults import lease_always_held
from sluice_local.jobs.demo import deployed, run_job, sample_objects

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def test_uploaded_objects_are_all_processed_or_dead_lettered_with_reasons() -> None:
    objects = sample_objects(count=12, rows=15, failing=2)
    with deployed(ROOT / "template.yaml", {"MaxConcurrency": "3"}, latency_s=0.005) as (
        pipeline,
        downstream,
    ):
        report = run_job(pipeline, downstream, objects, timeout=180)

        assert pipeline.queue_counts("ObjectQueueUrl") == (0, 0)
    assert report.unaccounted == []
    assert report.processed == 12
    assert {k.rsplit("/", 1)[-1]: r.split(":")[0] for k, r in report.dead_lettered.items()} == {
        "binary.csv": "NotCsv",
        "empty.csv": "EmptyObject",
    }
    assert report.rows_received == report.rows_expected == 12 * 15
    assert report.duplicate_rows == 0
    assert 1 <= report.peak_in_flight <= 3


@pytest.mark.parametrize("max_concurrency", [1, 4])
def test_max_concurrency_parameter_bounds_downstream_load(max_concurrency: int) -> None:
    # The same code, two template parameters: the bound follows the template.
    objects = sample_objects(count=10, rows=6, failing=0)
    overrides = {"MaxConcurrency": str(max_concurrency), "StaggerSeconds": "0"}
    with deployed(ROOT / "template.yaml", overrides, latency_s=0.02) as (pipeline, downstream):
        report = run_job(pipeline, downstream, objects, timeout=180)
    assert report.unaccounted == []
    assert report.peak_in_flight <= max_concurrency
    if max_concurrency == 1:
        assert report.peak_in_flight == 1
    else:
        assert report.peak_in_flight >= 2


@pytest.mark.parametrize("lease_broken", [False, True], ids=["lease", "lease-broken"])
def test_overlapping_drains_never_exceed_the_bound(lease_broken: bool) -> None:
    # Four drains start at once beside the schedule's. With the lease, all but one stand down;
    # with the lease broken, the function's reserved concurrency still holds the bound and the
    # throttled invocations are retried, so nothing is lost.
    # With the lease broken the work churns (every throttled object goes back and comes again),
    # and the churn grows with the objects and the machine's load: half as many objects show
    # the same bound in a bounded time.
    objects = sample_objects(count=8 if lease_broken else 16, rows=8, failing=0)
    overrides = {"MaxConcurrency": "2", "StaggerSeconds": "0"}
    if lease_broken:
        # Every schedule tick adds a drain that thinks it holds the lease; each throttled or
        # not-started object goes back to the queue at once and counts a receive (five drains
        # churn them: one object was received 50 times in a run), and on its last receive it is
        # dead-lettered with the reason. This test is about the bound and about loss: the most
        # receives SQS allows.
        overrides["MaxReceiveCount"] = "1000"
    with deployed(ROOT / "template.yaml", overrides, latency_s=0.02) as (pipeline, downstream):
        if lease_broken:
            pipeline.dispatcher.result_hook = lease_always_held
        report = run_job(pipeline, downstream, objects, timeout=240, extra_drains=4)
        peak_instances = pipeline.dispatcher.stats.peak_in_flight["ProcessObjectFunction"]
        # Read only with the lease: every history of a churning run takes minutes to read.
        stood_down = None if lease_broken else pipeline.history_counts("DrainStateMachine")
    assert report.unaccounted == [] and report.duplicate_rows == 0
    assert report.rows_received == report.rows_expected
    assert report.peak_in_flight <= 2
    assert peak_instances <= 2
    throttles = report.throttles.get("ProcessObjectFunction", 0)
    if lease_broken:
        assert throttles > 0  # the backstop did the work
    else:
        assert throttles == 0  # the lease did
        assert stood_down is not None and stood_down["state:AnotherDrainIsRunning"] >= 4


def test_the_downstream_rate_limit_holds_across_all_instances() -> None:
    objects = sample_objects(count=8, rows=12, failing=0)
    overrides = {"MaxConcurrency": "3", "StaggerSeconds": "0", "DownstreamRateLimitPerSecond": "30"}
    with deployed(ROOT / "template.yaml", overrides, latency_s=0.001) as (pipeline, downstream):
        report = run_job(pipeline, downstream, objects, timeout=240)
        starts = sorted(r.started for r in downstream.requests)
    assert report.unaccounted == [] and report.rows_received == 8 * 12
    # Each instance paces at 30 / 3 per second, so no second-long window holds more than 30.
    busiest = max(sum(1 for t in starts[i:] if t < start + 1.0) for i, start in enumerate(starts))
    assert busiest <= 30
    assert report.peak_in_flight <= 3


def test_a_429_storm_slows_the_pace_and_nothing_is_lost() -> None:
    objects = sample_objects(count=40, rows=5, failing=0)
    overrides = {
        "MaxConcurrency": "4",
        "StaggerSeconds": "0",
        "ReceiveBatchSize": "5",
        "DownstreamMaxAttempts": "10",
        "ScaleCooldownSeconds": "2",  # short rounds, so the round-level pace acts within the job
    }
    with deployed(
        ROOT / "template.yaml", overrides, latency_s=0.002, failure_rate=0.3, failure_status=429
    ) as (pipeline, downstream):
        report = run_job(pipeline, downstream, objects, timeout=300)
        plans = [i.result for i in pipeline.dispatcher.stats.results("PlanBatchFunction")]
    assert report.unaccounted == [] and report.duplicate_rows == 0
    assert report.rows_received == 40 * 5
    rounds = [plan for plan in plans if "workers" in plan]
    batches = [plan for plan in plans if "items" in plan]
    # A worker whose batch was pushed back stops at once; the next round runs fewer workers.
    assert any(b["stopped"].startswith("backpressure") for b in batches), batches
    reasons = [plan["pace"]["reason"] for plan in rounds]
    assert any(reason.startswith("backpressure") for reason in reasons), reasons
    assert min(plan["concurrency"] for plan in rounds[1:]) < 4
    assert report.peak_in_flight <= 4


def test_priority_objects_finish_before_the_backlog() -> None:
    objects = sample_objects(count=40, rows=3, failing=0)
    overrides = {"MaxConcurrency": "3", "StaggerSeconds": "0", "ReceiveBatchSize": "5"}
    with deployed(ROOT / "template.yaml", overrides, latency_s=0.005) as (pipeline, downstream):
        s3, sqs = pipeline.client("s3"), pipeline.client("sqs")
        bucket = pipeline.outputs["BucketName"]
        urgent = [f"urgent/{n}.csv" for n in range(3)]  # outside the watched prefix: no event
        for key in urgent:
            s3.put_object(Bucket=bucket, Key=key, Body=b"id\n1\n2\n")

        def prioritise() -> None:
            for key in urgent:
                sqs.send_message(
                    QueueUrl=pipeline.outputs["PriorityQueueUrl"],
                    MessageBody=json.dumps({"s3_details": {"bucket": bucket, "key": key}}),
                )

        report = run_job(pipeline, downstream, objects, timeout=240, after_upload=prioritise)
        finished = [
            i.result["key"]
            for i in pipeline.dispatcher.stats.results("ProcessObjectFunction")
            if not i.errored
        ]
    assert report.unaccounted == []
    positions = sorted(finished.index(key) for key in urgent)
    assert positions[-1] < 15, positions  # done within the first batches, not after 40 objects
