"""The fault-injection run: the real pipeline under a hostile downstream, crashing functions,
poison messages and objects deleted before processing, then every object and row accounted for.

Used by tests/e2e/test_faults.py (small) and benchmarks/fault_injection.py (full size).
"""

from __future__ import annotations

import json
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sluice_local.emulator.faults import crash_mid_object
from sluice_local.jobs.demo import deployed, run_job, sample_objects

POISON = [
    "this is not an event",
    json.dumps({"detail-type": "Object Deleted", "source": "aws.s3", "detail": {}}),
    json.dumps({"s3_details": {"bucket": "sluice", "key": "a/folder/"}}),
]
OVERRIDES = {
    "MaxConcurrency": "4",
    "StaggerSeconds": "0",
    "FunctionTimeout": "5",  # a crashed row's lock expires after this; PostponeMessage waits it
    "DownstreamTimeoutSeconds": "1",
    "DownstreamMaxAttempts": "5",
    "MaxReceiveCount": "3",
    "QueueVisibilityTimeoutSeconds": "60",
    "ScaleCooldownSeconds": "5",
}


@dataclass
class ChaosReport:
    uploaded: int
    deleted_before_processing: int
    poison_messages: int
    processed: int
    dead_lettered: Counter[str]  # reason (error name) -> objects and messages
    rows_total: int  # rows of the objects that still existed
    rows_delivered_once: int
    rows_delivered_twice: int
    # Of those, rows accepted again under the same Idempotency-Key: the window left to the
    # downstream (an invocation stopped at its Timeout while the row's request was in flight).
    rows_twice_same_key: int
    rows_listed_failed: int  # in a RowsFailed dead letter, with row number and error
    rows_in_dead_objects: int  # not delivered, in an object dead-lettered for another reason
    rows_unaccounted: list[tuple[str, int]]
    objects_unaccounted: list[str]
    crashes: int
    downstream_failures: int  # 429/5xx answered plus timeouts
    throttles: int
    timeouts: int  # ProcessObject invocations stopped at their Timeout (Sandbox.Timedout)
    peak_in_flight: int
    max_concurrency: int
    wall_seconds: float
    lines: list[str] = field(default_factory=list)

    @property
    def duplicates_explained(self) -> bool:
        """Every row delivered twice came again with its Idempotency-Key, and no more of them
        than invocations stopped at their Timeout (each is frozen at the deadline, so it can
        leave at most the one row whose request was in flight)."""
        return self.rows_delivered_twice == self.rows_twice_same_key <= self.timeouts

    @property
    def ok(self) -> bool:
        return (
            not self.rows_unaccounted
            and not self.objects_unaccounted
            and self.duplicates_explained
            and self.peak_in_flight <= self.max_concurrency
        )

    def table(self) -> str:
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(self.dead_lettered.items()))
        rows = [
            ("objects uploaded", self.uploaded),
            ("  deleted before processing", self.deleted_before_processing),
            ("poison messages sent", self.poison_messages),
            ("objects processed", self.processed),
            ("dead letters (with reason)", f"{sum(self.dead_lettered.values())}  ({reasons})"),
            ("objects unaccounted", len(self.objects_unaccounted)),
            ("rows of existing objects", self.rows_total),
            ("  delivered exactly once", self.rows_delivered_once),
            ("  listed as failed (RowsFailed)", self.rows_listed_failed),
            ("  in objects dead-lettered otherwise", self.rows_in_dead_objects),
            (
                "  delivered twice (same Idempotency-Key)",
                f"{self.rows_delivered_twice} ({self.rows_twice_same_key})",
            ),
            ("  unaccounted", len(self.rows_unaccounted)),
            ("injected: crashes mid-object", self.crashes),
            ("injected: downstream 429/5xx/timeouts", self.downstream_failures),
            ("throttled invocations", self.throttles),
            ("ProcessObject stopped at its Timeout", self.timeouts),
            (
                "peak downstream in flight / limit",
                f"{self.peak_in_flight} / {self.max_concurrency}",
            ),
            ("wall time", f"{self.wall_seconds:.1f} s"),
        ]
        return "\n".join(f"  {name:<40} {value}" for name, value in rows)


def _crash_plan(always: str, one_in: int) -> Any:
    def crash(key: str, attempt: int) -> bool:
        if key == always:
            return True  # a poison object: its function dies every time
        return attempt == 1 and zlib.crc32(key.encode()) % one_in == 0

    return crash


def run_chaos(
    root: Path,
    *,
    objects: int = 40,
    rows: int = 8,
    deleted: int = 3,
    failure_rate: float = 0.3,
    timeout_rate: float = 0.02,
    crash_one_in: int = 5,
    timeout: float = 600,
) -> ChaosReport:
    sample = sample_objects(objects, rows, failing=2)
    gone = {o.key for o in sample[1 : 1 + deleted]}
    always_crashing = sample[-3].key  # the last good object
    with deployed(
        root / "template.yaml",
        OVERRIDES,
        latency_s=0.005,
        failure_rate=failure_rate,
        failure_status=(429, 500, 503),
    ) as (pipeline, downstream):
        downstream.configure(timeout_rate=timeout_rate, timeout_hold_s=1.5)
        s3, sqs = pipeline.client("s3"), pipeline.client("sqs")
        bucket = pipeline.outputs["BucketName"]

        def sabotage() -> None:
            # Every version: on a versioned bucket a plain delete only adds a delete marker, and
            # the event's version id still reads the object (then it is rightly processed).
            for key in gone:
                versions = s3.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", [])
                for version in versions:
                    if version["Key"] == key:
                        s3.delete_object(Bucket=bucket, Key=key, VersionId=version["VersionId"])
            for body in POISON:
                sqs.send_message(QueueUrl=pipeline.outputs["ObjectQueueUrl"], MessageBody=body)

        with crash_mid_object(_crash_plan(always_crashing, crash_one_in)) as crashes:
            job = run_job(pipeline, downstream, sample, timeout=timeout, after_upload=sabotage)
        letters = pipeline.dead_letters()
        requests = list(downstream.requests)
        accepted = downstream.accepted()
        throttles = pipeline.dispatcher.stats.throttles.get("ProcessObjectFunction", 0)
        timeouts = pipeline.dispatcher.stats.timeouts.get("ProcessObjectFunction", 0)

    delivered = Counter(
        (r.body["key"], r.body["row"]) for r in accepted if isinstance(r.body, dict)
    )
    sent_keys: dict[tuple[str, int], set[str]] = {}
    for r in accepted:
        if isinstance(r.body, dict):
            row_id = (r.body["key"], r.body["row"])
            sent_keys.setdefault(row_id, set()).add(r.headers.get("Idempotency-Key", ""))
    same_key = sum(1 for row_id, n in delivered.items() if n > 1 and len(sent_keys[row_id]) == 1)
    failed_rows: set[tuple[str, int]] = set()
    dead_objects: dict[str, str] = {}
    reasons: Counter[str] = Counter()
    for letter in letters:
        error = letter.attributes.get("sluice-error") or "MaxReceiveCountExceeded"
        reasons[error] += 1
        key = letter.object_key
        if key is None:
            continue
        dead_objects[key] = error
        if error == "RowsFailed":
            cause = json.loads(letter.reason.split(": ", 1)[1])
            failed_rows |= {(key, f["row"]) for f in cause["failedRows"]}
    once = twice = listed = in_dead = 0
    unaccounted_rows: list[tuple[str, int]] = []
    for obj in sample:
        if obj.key in gone or obj.expect != "processed":
            continue
        for row in range(1, obj.rows + 1):
            n = delivered[(obj.key, row)]
            if n == 1:
                once += 1
            elif n > 1:
                twice += 1
            elif (obj.key, row) in failed_rows:
                listed += 1
            elif obj.key in dead_objects:
                in_dead += 1
            else:
                unaccounted_rows.append((obj.key, row))
    return ChaosReport(
        uploaded=len(sample),
        deleted_before_processing=len(gone),
        poison_messages=len(POISON),
        processed=job.processed,
        dead_lettered=reasons,
        rows_total=sum(o.rows for o in sample if o.key not in gone and o.expect == "processed"),
        rows_delivered_once=once,
        rows_delivered_twice=twice,
        rows_twice_same_key=same_key,
        rows_listed_failed=listed,
        rows_in_dead_objects=in_dead,
        rows_unaccounted=unaccounted_rows,
        objects_unaccounted=[k for k in job.unaccounted if k not in dead_objects],
        crashes=len(crashes),
        downstream_failures=sum(1 for r in requests if r.status is None or r.status >= 400),
        throttles=throttles,
        timeouts=timeouts,
        peak_in_flight=job.peak_in_flight,
        max_concurrency=job.max_concurrency,
        wall_seconds=job.wall_seconds,
    )
