"""BucketVersioning=false suspends versioning: S3 then gives every write the version id "null"
(the emulator answers as S3 does, see emulator/s3_fixes.py). An object
overwritten under the same key must still have all its new rows delivered, each once."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from sluice_local.jobs.demo import SampleObject, deployed, run_job

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e

KEY = "incoming/daily totals.csv"
FIRST = b"id,amount\n1,10\n2,20\n3,30\n"
OVERWRITE = b"id,amount\n1,11\n2,21\n3,31\n4,41\n"


def test_an_overwrite_in_a_suspended_bucket_delivers_every_new_row_once() -> None:
    overrides = {"BucketVersioning": "false", "StaggerSeconds": "0"}
    with deployed(ROOT / "template.yaml", overrides, latency_s=0.001) as (pipeline, downstream):
        s3 = pipeline.client("s3")
        bucket = pipeline.outputs["BucketName"]
        assert s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Suspended"

        first = run_job(
            pipeline, downstream, [SampleObject(KEY, FIRST, 3, "processed")], timeout=120
        )
        assert s3.head_object(Bucket=bucket, Key=KEY)["VersionId"] == "null"
        second = run_job(
            pipeline, downstream, [SampleObject(KEY, OVERWRITE, 4, "processed")], timeout=120
        )
        assert s3.head_object(Bucket=bucket, Key=KEY)["VersionId"] == "null"  # as before
        summaries = [i.result for i in pipeline.dispatcher.stats.results("ProcessObjectFunction")]
        accepted = downstream.accepted()
        dead = pipeline.dead_letters()

    assert first.unaccounted == [] and second.unaccounted == [] and dead == []
    # Both writes reached the function as version "null" (what S3's events say).
    assert [s["version_id"] for s in summaries if not s.get("errorType")] == ["null", "null"]
    delivered = Counter((r.body["key"], r.body["row"], r.body["data"]["amount"]) for r in accepted)
    expected = {(KEY, 1, "10"), (KEY, 2, "20"), (KEY, 3, "30")} | {
        (KEY, 1, "11"),
        (KEY, 2, "21"),
        (KEY, 3, "31"),
        (KEY, 4, "41"),
    }
    assert set(delivered) == expected  # none of the new rows skipped as already delivered
    assert max(delivered.values()) == 1  # and nothing sent twice
    assert downstream.duplicate_keys() == {}
