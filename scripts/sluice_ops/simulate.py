"""sluice simulate: upload many CSV objects at once, as producers would, and clean them up after.

Every key of a run lives under ``<ObjectKeyPrefix>sluice-simulate/<run-id>/`` (the stack's
ObjectKeyPrefix parameter), so the run can be found, measured and deleted as one
(``--cleanup RUN_ID``). What a run holds:

- **plain objects**: ``<n>.csv`` (the stack's ObjectKeySuffix), a header and ``--rows`` rows
  (or as many rows as make ``--size`` bytes). S3 sends their "Object Created" events to
  ObjectQueue.
- **odd keys** (``--odd-keys SHARE``): names with spaces, ``+``, ``:``, ``%``, ``=``, ``&`` and
  non-ASCII letters, the characters the pipeline tests end to end (README: "The s3_details
  contract and object keys"). They are processed like the others.
- **broken objects** (``--broken SHARE``), in turn: an empty object (dead-lettered
  ``EmptyObject``), a binary one (``NotCsv``), and a CSV with one row of the wrong field count
  (its other rows are sent, the object is dead-lettered ``RowsFailed``). Each must end in the
  dead-letter queue with that reason: ``sluice redrive list`` shows them.
- **priority objects** (``--priority SHARE``): sent through PriorityQueue as an ``s3_details``
  message (``{"s3_details": {"bucket", "key", "version_id"}}``, a ``priority`` Number attribute)
  so they go before the backlog. Their key ends in ``<ObjectKeySuffix>.priority``: inside
  ObjectKeyPrefix (ProcessObject may read only there) but outside the event rule's suffix, so no
  S3 event queues them a second time. With an empty ObjectKeySuffix every key matches the rule;
  the priority object then arrives twice, and its checkpoint keeps its rows from being sent
  twice (the run says so).

Takes a :class:`~sluice_ops.context.StackContext`; uploads run on a thread pool (boto3 clients
are thread-safe), with a rich progress bar.
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from sluice_ops.context import SluiceCliError, StackContext

RUN_FOLDER = "sluice-simulate"
HEADER = "id,name,amount,note\n"
ROW_WIDTH = 64  # bytes per generated row (padded), so --size maps to a row count
PRIORITY_SUFFIX = ".priority"
PRIORITY_VALUE = "10"
# Names the pipeline handles end to end (README "The s3_details contract and object keys").
ODD_NAMES = (
    "with space",
    "plus+sign",
    "colon:time 12:00",
    "percent%20not-encoded",
    "équipe-über-straße",
    "日本語-données",
    "a=b&c=d",
)
BROKEN_KINDS = ("EmptyObject", "NotCsv", "RowsFailed")


@dataclass
class SimulationPlan:
    objects: int = 100
    rows: int = 10
    workers: int = 16
    size: int | None = None  # bytes per object instead of --rows (rows of ROW_WIDTH bytes)
    odd_key_share: float = 0.0
    broken_share: float = 0.0
    priority_share: float = 0.0
    run_id: str = ""

    def __post_init__(self) -> None:
        if not self.run_id:
            self.run_id = new_run_id()

    def check(self) -> None:
        if self.objects < 1:
            raise SluiceCliError(f"--objects must be at least 1 (got {self.objects})")
        if self.workers < 1:
            raise SluiceCliError(f"--workers must be at least 1 (got {self.workers})")
        if self.size is None and self.rows < 1:
            raise SluiceCliError(f"--rows must be at least 1 (got {self.rows})")
        if self.size is not None and self.size < len(HEADER) + ROW_WIDTH:
            raise SluiceCliError(
                f"--size must be at least {len(HEADER) + ROW_WIDTH} bytes (a header and one row)"
            )
        for name, share in (
            ("--odd-keys", self.odd_key_share),
            ("--broken", self.broken_share),
            ("--priority", self.priority_share),
        ):
            if not 0.0 <= share <= 1.0:
                raise SluiceCliError(f"{name} is a share between 0 and 1 (got {share})")
        if self.broken_share + self.priority_share > 1.0:
            raise SluiceCliError("--broken and --priority together cannot exceed 1")
        if "/" in self.run_id or not self.run_id.strip():
            raise SluiceCliError(f"a run id has no '/' and is not blank (got {self.run_id!r})")

    @property
    def rows_per_object(self) -> int:
        if self.size is None:
            return self.rows
        return max(1, (self.size - len(HEADER)) // ROW_WIDTH)


@dataclass(frozen=True)
class Upload:
    key: str
    uploaded_at: float  # epoch seconds, when PutObject returned
    rows: int  # rows the pipeline should send for it
    broken: bool
    priority: bool
    expected_error: str | None = None  # the dead-letter reason a broken object should get


@dataclass
class SimulationRun:
    run_id: str
    prefix: str
    bucket: str
    uploads: list[Upload] = field(default_factory=list)
    started_at: float = 0.0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        broken = sum(u.broken for u in self.uploads)
        priority = sum(u.priority for u in self.uploads)
        rate = len(self.uploads) / self.seconds if self.seconds else 0.0
        return (
            f"run {self.run_id}: uploaded {len(self.uploads)} objects "
            f"({sum(u.rows for u in self.uploads)} rows; {broken} broken, {priority} through "
            f"PriorityQueue) to s3://{self.bucket}/{self.prefix} in {self.seconds:.1f} s "
            f"({rate:.0f}/s)"
        )


def new_run_id() -> str:
    """Sortable by time, unique enough for concurrent runs: 20261201T030501Z-3f9a."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(2)


def run_prefix(ctx: StackContext, run_id: str) -> str:
    return f"{ctx.parameters.get('ObjectKeyPrefix', '')}{RUN_FOLDER}/{run_id}/"


@dataclass(frozen=True)
class _Item:
    index: int
    key: str
    planned_rows: int
    broken: str | None
    priority: bool

    @property
    def rows(self) -> int:
        """The rows the pipeline sends for it."""
        if self.broken in ("EmptyObject", "NotCsv"):
            return 0
        return max(self.planned_rows, 2) if self.broken else self.planned_rows

    def body(self) -> bytes:
        """Built when it is uploaded: a run of large objects is never all in memory at once."""
        if self.broken:
            return _broken_body(self.broken, self.index, self.planned_rows)
        return _csv(self.index, self.planned_rows)


def _csv(index: int, rows: int) -> bytes:
    lines = [HEADER]
    for row in range(1, rows + 1):
        line = f"{index}-{row},item {row},{row * 1.25:.2f},"
        lines.append(line + "x" * max(0, ROW_WIDTH - len(line) - 1) + "\n")
    return "".join(lines).encode()


def _broken_body(kind: str, index: int, rows: int) -> bytes:
    if kind == "EmptyObject":
        return b""
    if kind == "NotCsv":
        return b"\x00\x01\x02PK\x03\x04" + bytes(range(256)) * 4
    # RowsFailed: one row with too many fields, after the first; every other row is sent.
    good = _csv(index, max(rows, 2)).decode().splitlines(keepends=True)
    good.insert(2, f"{index}-bad,too,many,fields,here\n")
    return "".join(good).encode()


def plan_items(plan: SimulationPlan, prefix: str, suffix: str) -> list[_Item]:
    """What to upload: which objects are odd-keyed, broken or priority is drawn with the run id
    as seed, so a run id always means the same objects."""
    rng = random.Random(plan.run_id)  # noqa: S311 - a reproducible mix, not a secret
    indexes = list(range(plan.objects))
    rng.shuffle(indexes)
    n_priority = round(plan.priority_share * plan.objects)
    n_broken = round(plan.broken_share * plan.objects)
    priority = set(indexes[:n_priority])
    broken = indexes[n_priority : n_priority + n_broken]
    broken_kind = {index: BROKEN_KINDS[n % len(BROKEN_KINDS)] for n, index in enumerate(broken)}
    odd = set(rng.sample(range(plan.objects), round(plan.odd_key_share * plan.objects)))
    rows = plan.rows_per_object
    items = []
    for index in range(plan.objects):
        name = f"{index:06d}"
        if index in odd:
            name += " " + ODD_NAMES[index % len(ODD_NAMES)]
        kind = broken_kind.get(index)
        if kind:
            name += f"-broken-{kind}"
        key = f"{prefix}{'priority/' if index in priority else ''}{name}{suffix}"
        if index in priority:
            key += PRIORITY_SUFFIX
        items.append(_Item(index, key, rows, kind, index in priority))
    return items


def run_simulation(ctx: StackContext, plan: SimulationPlan, progress: bool = True) -> SimulationRun:
    """Upload the plan's objects in parallel; priority ones are also queued on PriorityQueue."""
    plan.check()
    bucket = ctx.output("BucketName")
    priority_url = ctx.output("PriorityQueueUrl") if plan.priority_share else ""
    prefix = run_prefix(ctx, plan.run_id)
    suffix = ctx.parameters.get("ObjectKeySuffix", ".csv")
    run = SimulationRun(plan.run_id, prefix, bucket, started_at=time.time())
    if plan.priority_share and not suffix:
        run.notes.append(
            "ObjectKeySuffix is empty, so S3 events also queue the priority objects: each is "
            "processed twice, and its checkpoint keeps its rows from being sent twice"
        )
    s3, sqs = ctx.client("s3"), ctx.client("sqs")
    items = plan_items(plan, prefix, suffix)

    def upload(item: _Item) -> Upload:
        response = s3.put_object(
            Bucket=bucket, Key=item.key, Body=item.body(), ContentType="text/csv"
        )
        uploaded_at = time.time()
        if item.priority:
            details: dict[str, Any] = {"bucket": bucket, "key": item.key}
            version = response.get("VersionId")
            if version and version != "null":  # "null" names no revision (suspended versioning)
                details["version_id"] = version
            sqs.send_message(
                QueueUrl=priority_url,
                MessageBody=json.dumps({"s3_details": details}),
                MessageAttributes={
                    "priority": {"DataType": "Number", "StringValue": PRIORITY_VALUE}
                },
            )
        return Upload(
            key=item.key,
            uploaded_at=uploaded_at,
            rows=item.rows,
            broken=item.broken is not None,
            priority=item.priority,
            expected_error=item.broken,
        )

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TimeElapsedColumn,
    )

    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        disable=not progress,
        transient=False,
    )
    with bar, ThreadPoolExecutor(max_workers=plan.workers) as pool:
        task = bar.add_task(f"uploading run {plan.run_id}", total=len(items))
        futures = [pool.submit(upload, item) for item in items]
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
            for future in done:
                if future.exception() is None:
                    run.uploads.append(future.result())
                    bar.advance(task)
            failed = [f.exception() for f in done if f.exception() is not None]
            if failed:
                for future in pending:
                    future.cancel()
                run.uploads.sort(key=lambda u: u.uploaded_at)
                raise SluiceCliError(
                    f"upload failed after {len(run.uploads)} of {len(items)} objects: "
                    f"{failed[0]}. Delete what was uploaded with: sluice simulate --cleanup "
                    f"{plan.run_id}"
                )
    run.uploads.sort(key=lambda u: u.uploaded_at)
    run.seconds = time.time() - run.started_at
    return run


def cleanup(ctx: StackContext, run_id: str) -> int:
    """Delete every version and delete marker under the run's prefix: nothing of the run is left
    (a plain delete in a versioned bucket would only add delete markers, still billed).
    Returns how many versions were deleted."""
    if "/" in run_id or not run_id.strip():
        raise SluiceCliError(f"not a run id: {run_id!r}")
    bucket = ctx.output("BucketName")
    prefix = run_prefix(ctx, run_id)
    s3 = ctx.client("s3")
    deleted = 0
    batch: list[dict[str, str]] = []

    def flush() -> None:
        nonlocal deleted
        if not batch:
            return
        response = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
        if errors := response.get("Errors"):
            first = errors[0]
            raise SluiceCliError(
                f"S3 refused to delete {len(errors)} of {len(batch)} versions, first "
                f"{first.get('Key')!r}: {first.get('Code')}: {first.get('Message')}"
            )
        deleted += len(batch)
        batch.clear()

    # ListObjectVersions also lists an unversioned bucket's objects (version id "null").
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            batch.append({"Key": entry["Key"], "VersionId": entry["VersionId"]})
            if len(batch) == 1000:  # DeleteObjects takes at most 1,000 keys
                flush()
    flush()
    return deleted


EPILOG = """examples:
  sluice simulate --objects 200 --rows 50 --workers 32
  sluice simulate --objects 100 --size 1048576 --odd-keys 0.1 --broken 0.05 --priority 0.05
  sluice simulate --cleanup 20261201T030501Z-3f9a      # delete that run's objects

Keys: <ObjectKeyPrefix>sluice-simulate/<run-id>/<n>[ odd name][-broken-<reason>]<ObjectKeySuffix>;
priority objects under .../priority/, ending in <ObjectKeySuffix>.priority and queued on
PriorityQueue. Broken objects end in the dead-letter queue with the reason in their name.
"""


def add_load_arguments(parser: argparse._ActionsContainer) -> None:
    """The load's options, shared by `sluice simulate` and `sluice perf`."""
    parser.add_argument("--objects", type=int, default=100, help="how many objects (default 100)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--rows", type=int, default=10, help="rows per object (default 10)")
    size.add_argument(
        "--size",
        type=int,
        metavar="BYTES",
        help=f"bytes per object instead of --rows (rows of {ROW_WIDTH} bytes)",
    )
    parser.add_argument("--workers", type=int, default=16, help="parallel uploads (default 16)")
    parser.add_argument(
        "--odd-keys",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share of keys with spaces, '+', ':', '%%', '=', '&', non-ASCII (e.g. 0.1)",
    )
    parser.add_argument(
        "--broken",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share of broken objects: empty, binary, a bad row (they end dead-lettered)",
    )
    parser.add_argument(
        "--priority",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share of objects sent through PriorityQueue (they go before the backlog)",
    )
    parser.add_argument("--run-id", help="name the run (default: time and a random suffix)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_load_arguments(parser)
    parser.add_argument("--cleanup", metavar="RUN_ID", help="delete that run's objects, and exit")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def plan_from_args(args: argparse.Namespace) -> SimulationPlan:
    """The plan, checked: bad numbers fail before any AWS call."""
    plan = SimulationPlan(
        objects=args.objects,
        rows=args.rows,
        workers=args.workers,
        size=args.size,
        odd_key_share=args.odd_keys,
        broken_share=args.broken,
        priority_share=args.priority,
        run_id=args.run_id or "",
    )
    plan.check()
    return plan


def run(args: argparse.Namespace, ctx: StackContext) -> int:
    if args.cleanup:
        count = cleanup(ctx, args.cleanup)
        prefix = run_prefix(ctx, args.cleanup)
        if not count:
            raise SluiceCliError(
                f"no objects under s3://{ctx.output('BucketName')}/{prefix}: is the run id right?"
            )
        print(f"deleted {count} object version(s) under s3://{ctx.output('BucketName')}/{prefix}")
        return 0
    result = run_simulation(ctx, plan_from_args(args), progress=not args.no_progress)
    print(result.summary())
    for note in result.notes:
        print(f"note: {note}")
    print(f"run id: {result.run_id}")
    print(f"watch it:    sluice monitor --stack-name {ctx.stack_name}")
    print(f"clean it up: sluice simulate --stack-name {ctx.stack_name} --cleanup {result.run_id}")
    return 0
