"""The whole pipeline through the local runtime: S3 upload -> EventBridge -> SQS -> schedule ->
drain -> Lambda -> local downstream API, deployed from template.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice_local.demo import deployed, run_job, sample_objects

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


@pytest.mark.parametrize("bypass_guard", [False, True], ids=["guarded", "guard-bypassed"])
def test_overlapping_drains_never_exceed_the_bound(bypass_guard: bool) -> None:
    # Four drains start at once beside the schedule's. Guarded, all but the oldest stand down;
    # with the guard bypassed (hand-over starts), the function's reserved concurrency still
    # holds the bound and the throttled invocations are retried, so nothing is lost.
    objects = sample_objects(count=16, rows=8, failing=0)
    overrides = {"MaxConcurrency": "2", "StaggerSeconds": "0"}
    with deployed(ROOT / "template.yaml", overrides, latency_s=0.02) as (pipeline, downstream):
        report = run_job(
            pipeline, downstream, objects, timeout=240, extra_drains=4, bypass_guard=bypass_guard
        )
        peak_instances = pipeline.dispatcher.stats.peak_in_flight["ProcessObjectFunction"]
    assert report.unaccounted == [] and report.duplicate_rows == 0
    assert report.rows_received == report.rows_expected
    assert report.peak_in_flight <= 2
    assert peak_instances <= 2
    if bypass_guard:
        assert report.throttles.get("ProcessObjectFunction", 0) > 0  # the backstop did the work
    else:
        assert report.throttles.get("ProcessObjectFunction", 0) == 0  # the guard did
