"""Process one object: stream its rows and send each to the downstream API, within a time budget.

Takes its S3 client, downstream and checkpoint store as arguments (no boto3 import at module
level), so it runs the same against AWS, the emulator, or test doubles. The revision and its
bytes come from object_source, the time budget and checkpoint cadence from object_budget; this
module is the row loop between them.

An invocation works until its budget (``Budget``: Lambda's deadline, and the drain round's stop
time) no longer fits one more attempt, then saves its checkpoint and returns ``unfinished``: that
is normal progress, never an error. The next invocation takes the checkpoint and resumes with a
ranged GET of the same revision from the next record (``If-Match`` on the ETag, ``VersionId``
when there is one), so no byte before the checkpoint is read again (only what the reader had
buffered past its stop, at most one read chunk) and no delivered row is looked up again. Gzip
objects cannot be ranged: they are read again from the start and the rows already done skipped
(inflated, never sent).

The checkpoint is written every ``checkpoint_rows`` rows or ``checkpoint_seconds``, whichever
comes first, and whenever the invocation stops. After a crash the rows since the last checkpoint
are sent again, each with its same ``Idempotency-Key``: at the default of one row, at most one
row is in doubt.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from checkpoint import (
    FAILED_INLINE,
    LEGACY_LOOKAHEAD,
    Checkpoint,
    CheckpointStore,
    FailedRow,
    LegacyRecords,
)
from csv_rows import CsvLimits, CsvReader, Resume, RowError
from downstream import Downstream, RetryPolicy, send_with_retry
from key_prefix import KeyPrefix
from object_budget import Budget, CheckpointPolicy
from object_source import (
    ObjectChanged,
    Revision,
    head_object,
    named_version,
    open_range,
    revision_digest,
)
from sluice_common.errors import NoProgress, TransientError
from sluice_common.events import ObjectRef
from sluice_common.observability import logger


@dataclass
class ObjectSummary:
    """What one invocation did. ``rows_failed``/``failed_rows`` are the object's (this pass's,
    all invocations), given by the invocation that finishes it: they are what dead-letters it as
    RowsFailed (0 while unfinished). The other counts are this invocation's, so metrics and the
    drain's totals add up."""

    bucket: str
    key: str
    version_id: str | None
    rows_read: int = 0
    rows_sent: int = 0
    rows_failed: int = 0
    failed_rows: list[dict[str, Any]] = field(default_factory=list)
    failed_rows_truncated: bool = False
    retries: int = 0
    duration_ms: int = 0
    requests: int = 0  # downstream requests, retries included
    downstream_ms: int = 0  # time spent waiting for the downstream's answers
    unfinished: bool = False  # out of time: carries on from ``next_row`` in a later invocation
    next_row: int = 1  # the first data row not done yet
    revision: str = ""
    pass_number: int = 0  # 0: the whole object; 1+: a redrive sending only failed rows
    rows_failed_so_far: int = 0  # this pass's failed rows, all invocations (rows_failed: final)
    rows_skipped: int = 0  # done before: by an earlier pass, or before the upgrade

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def process_object(
    s3_client: Any,
    downstream: Downstream,
    ref: ObjectRef,
    policy: RetryPolicy,
    *,
    store: CheckpointStore | None = None,
    budget: Budget | None = None,
    checkpoints: CheckpointPolicy | None = None,
    legacy: LegacyRecords | None = None,
    correlation_id: str | None = None,
    auth_token: str | None = None,
    max_failed_rows_reported: int = 20,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    limits: CsvLimits | None = None,
    key_prefix: KeyPrefix | None = None,
) -> ObjectSummary:
    """Send the object's rows until it is done or the budget runs out; rows that still fail are
    counted and listed, not raised. Without a ``store`` the whole object is sent in one go
    (nothing remembered). A key outside ``key_prefix`` is refused before S3 is asked."""
    keys = (key_prefix or KeyPrefix()).keys_to_read(ref)
    budget = budget or Budget.unlimited(downstream.request_timeout_s)
    checkpoints = checkpoints or CheckpointPolicy()
    for _ in range(3):
        revision = head_object(s3_client, ref, keys)
        if (
            named_version(ref.version_id) is None
            and ref.etag
            and ref.etag.strip('"') != revision.etag
        ):
            logger.info(
                "the object changed since its event: the content now current is processed,"
                " from row 1 under new keys",
                extra={"event_etag": ref.etag, "etag": revision.etag},
            )
        try:
            return _Run(
                s3_client,
                downstream,
                ref,
                revision,
                policy,
                store=store,
                budget=budget,
                checkpoints=checkpoints,
                legacy=legacy,
                correlation_id=correlation_id,
                auth_token=auth_token,
                max_reported=max_failed_rows_reported,
                sleep=sleep,
                rng=rng,
                limits=limits,
            ).run()
        except ObjectChanged:
            logger.info(
                "the object was overwritten while being opened: the new content is processed"
                " from row 1 under new keys",
                extra={"etag": revision.etag},
            )
    raise TransientError(f"{ref.uri} keeps changing while it is opened: try again")


@dataclass
class _Run:
    """One invocation's work on one revision."""

    s3: Any
    downstream: Downstream
    ref: ObjectRef
    revision: Revision
    policy: RetryPolicy
    store: CheckpointStore | None
    budget: Budget
    checkpoints: CheckpointPolicy
    legacy: LegacyRecords | None
    correlation_id: str | None
    auth_token: str | None
    max_reported: int
    sleep: Callable[[float], None]
    rng: random.Random | None
    limits: CsvLimits | None

    def __post_init__(self) -> None:
        ref, revision = self.ref, self.revision
        self.started = time.monotonic()
        self.digest = revision_digest(ref, revision.revision)
        self.label = f"s3://{ref.bucket}/{revision.key}"
        self.headers = {"Content-Type": "application/json"}
        if self.correlation_id:
            self.headers["X-Correlation-Id"] = self.correlation_id
        if self.auth_token:
            self.headers["Authorization"] = f"Bearer {self.auth_token}"
        self.summary = ObjectSummary(
            bucket=ref.bucket,
            key=revision.key,
            version_id=ref.version_id,
            revision=revision.revision,
        )
        self.new_failed: list[FailedRow] = []
        self.downstream_s = 0.0
        self.legacy_until = 0  # rows up to this one were looked up in the legacy table

    def run(self) -> ObjectSummary:
        point = self._take()
        if point.done and not point.failed_count:
            self._save(point, release=True)  # give the lease back: a repeat is not busy
            return self._finish(point)  # delivered before: nothing to send
        if point.done:
            first = next(iter(point.failed), None)
            if first is None:
                self._save(point, release=True)
                return self._finish(point)
            assert self.store is not None
            self.store.start_pass(point, first=first)
            logger.info(
                "a finished object with failed rows came again (a redrive): sending only them",
                extra={"pass": point.pass_number, "rows": point.previous_failed_count},
            )
        before = (point.row, point.attempts)
        try:
            self._send_rows(point)
        except BaseException:
            self._save(point, release=True, quiet=True)
            raise
        progressed = (point.row, point.attempts) != before or point.done
        point.stalls = 0 if progressed else point.stalls + 1
        self._save(point, release=True)
        if point.stalls >= self.checkpoints.no_progress_limit:
            raise NoProgress(
                f"{self.label}: {point.stalls} invocations in a row ended without progress at"
                f" row {point.row + 1} (NoProgressLimit {self.checkpoints.no_progress_limit});"
                " each had less time than one request needs (DownstreamTimeoutSeconds"
                f" {self.budget.request_s:g} s): raise FunctionTimeout or ScaleCooldownSeconds,"
                " or lower DownstreamTimeoutSeconds, then redrive"
            )
        return self._finish(point)

    # -- the checkpoint ----------------------------------------------------------------------

    def _take(self) -> Checkpoint:
        revision = self.revision
        if self.store is None:
            return Checkpoint(self.digest, revision.revision, revision.etag, revision.size)
        return self.store.take(
            self.digest,
            revision=revision.revision,
            etag=revision.etag,
            size=revision.size,
            until=self.budget.lease_until,
        )

    def _save(self, point: Checkpoint, *, release: bool, quiet: bool = False) -> None:
        if self.store is None:
            return
        try:
            self.store.save(point, new_failed=self.new_failed, release=release)
        except Exception:
            if not quiet:
                raise
            logger.exception("the checkpoint could not be saved while stopping on an error")
        self.new_failed = []
        self.unsaved_rows = 0
        self.saved_at = time.monotonic()

    # -- the rows ----------------------------------------------------------------------------

    def _send_rows(self, point: Checkpoint) -> None:
        from botocore.exceptions import BotoCoreError

        self.unsaved_rows = 0
        self.saved_at = time.monotonic()
        if point.offset >= point.size > 0 and not point.compressed:
            point.done = True  # the last record ended exactly at the end of the object
            return
        only = (
            _Only(self.store.previous_failed_rows(point))
            if point.pass_number and self.store is not None
            else None
        )
        body = open_range(self.s3, self.ref, self.revision, 0 if point.compressed else point.offset)
        resume = (
            Resume(point.offset, point.row, point.line, point.header)
            if point.header is not None
            else None
        )
        try:
            reader = CsvReader(
                body,
                label=self.label,
                limits=self.limits,
                resume=None if point.compressed else resume,
                skip_to=resume if point.compressed else None,
            )
            if resume is None:
                # Read from the start: the cursor moves past the header now, so a stop before
                # the first row is done resumes there, never at byte 0 (the header read as data).
                position = reader.position
                point.header, point.offset, point.line = (
                    position.header,
                    position.offset,
                    position.line,
                )
                point.compressed = reader.compressed
            self._read(reader, point, only)
        except (_BrokenStream, BotoCoreError) as exc:
            raise TransientError(
                f"reading {self.label} failed after row {point.row}: {exc}: try again (it"
                " resumes from its checkpoint)"
            ) from None
        finally:
            close = getattr(body, "close", None)
            if close:
                close()

    def _read(self, reader: CsvReader, point: Checkpoint, only: _Only | None) -> None:
        from botocore.exceptions import BotoCoreError

        prefix = json.dumps({"bucket": self.ref.bucket, "key": self.revision.key})[:-1]
        prefix += ', "row": '
        encode = json.JSONEncoder().encode
        items = iter(reader)
        while True:
            if self.budget.left() <= 0:
                return  # skipping rows (gzip, a redrive) costs time too
            try:
                item = next(items)
            except StopIteration:
                point.done = True
                return
            except BotoCoreError as exc:
                raise _BrokenStream(str(exc)) from None
            start = (point.offset, point.line)
            row = item.row if isinstance(item, RowError) else item[0]
            if only is not None:
                wanted = only.wanted(row)
                if wanted is None:
                    point.done = True  # past the last row this pass sends
                    return
                if not wanted:
                    self._advance(point, reader, row, skipped=True)
                    continue
            self.summary.rows_read += 1
            if isinstance(item, RowError):
                self._fail(point, FailedRow(row, start[0], start[1], item.error))
                self._advance(point, reader, row)
                continue
            key = f"{self.digest}-{row}"
            if self._delivered_before_upgrade(point, key, row):
                self.summary.rows_skipped += 1
                point.rows_sent += 1
                self._advance(point, reader, row)
                continue
            data = item[1]
            payload = f"{prefix}{row}, "
            payload += f'"data": {encode(data)}}}'
            carried = point.attempts if point.row + 1 == row else 0
            result = send_with_retry(
                self.downstream,
                payload.encode(),
                {**self.headers, "Idempotency-Key": key},
                self.policy,
                sleep=self.sleep,
                rng=self.rng,
                attempts_made=carried,
                not_before=point.retry_at if carried else None,
                fits=self.budget.fits,
            )
            made = result.attempts - carried
            self.summary.retries += max(0, made - (0 if carried else 1))
            self.summary.requests += made
            self.downstream_s += result.latency_s
            if result.unfinished:
                # Out of time before this row's next attempt: it carries on next invocation.
                point.attempts = result.attempts
                point.retry_at = result.retry_at
                self.summary.rows_read -= 1
                return
            if result.ok:
                self.summary.rows_sent += 1
                point.rows_sent += 1
            else:
                self._fail(point, FailedRow(row, start[0], start[1], result.error or "failed"))
            self._advance(point, reader, row)

    def _advance(
        self, point: Checkpoint, reader: CsvReader, row: int, *, skipped: bool = False
    ) -> None:
        """Move the cursor past ``row``. A row a redrive pass only skips (``skipped``) is not
        read, and costs no checkpoint write: after a crash it is skipped again, never sent."""
        position = reader.position
        point.row, point.offset, point.line = row, position.offset, position.line
        point.attempts, point.retry_at = 0, None
        if not skipped:
            point.rows_read += 1
            self.unsaved_rows += 1
        if (
            self.unsaved_rows >= self.checkpoints.rows
            or time.monotonic() - self.saved_at >= self.checkpoints.seconds
        ):
            self._save(point, release=False)

    def _fail(self, point: Checkpoint, failed: FailedRow) -> None:
        point.failed_count += 1
        if self.store is not None:
            self.new_failed.append(failed)  # saved (inline, then spilled) at the next checkpoint
        elif len(point.failed) < FAILED_INLINE:
            point.failed.append(failed)

    def _delivered_before_upgrade(self, point: Checkpoint, key: str, row: int) -> bool:
        """Rows Powertools Idempotency recorded before the upgrade are not sent again. Only a
        revision begun before the upgrade has any: once a lookahead finds none, stop asking."""
        if self.legacy is None or point.legacy_checked or point.pass_number:
            return False
        if row > self.legacy_until:
            # One lookup per LEGACY_LOOKAHEAD rows: the rows in between are answered from it.
            keys = [f"{self.digest}-{n}" for n in range(row, row + LEGACY_LOOKAHEAD)]
            self.legacy_until = row + LEGACY_LOOKAHEAD - 1
            if not self.legacy.delivered(keys):
                point.legacy_checked = True
                return False
        return bool(self.legacy.delivered([key]))

    def _finish(self, point: Checkpoint) -> ObjectSummary:
        summary = self.summary
        summary.unfinished = not point.done
        summary.next_row = point.row + 1
        summary.pass_number = point.pass_number
        summary.rows_failed_so_far = point.failed_count
        if not point.done:
            # The failed rows are reported once, by the invocation that finishes the pass: a
            # drain adding up its invocations' rows_failed counts each failed row once.
            return self._timed(summary)
        summary.rows_failed = point.failed_count
        shown = point.failed[: self.max_reported]
        summary.failed_rows = [{"row": f.row, "error": f.error} for f in shown]
        summary.failed_rows_truncated = point.failed_count > len(shown)
        return self._timed(summary)

    def _timed(self, summary: ObjectSummary) -> ObjectSummary:
        summary.duration_ms = int((time.monotonic() - self.started) * 1000)
        summary.downstream_ms = int(self.downstream_s * 1000)
        return summary


class _BrokenStream(Exception):
    pass


class _Only:
    """The rows a redrive pass sends, consumed in row order alongside the reader."""

    def __init__(self, rows: Iterator[FailedRow]) -> None:
        self._rows = rows
        self._next: FailedRow | None = next(rows, None)

    def wanted(self, row: int) -> bool | None:
        """True: send this row; False: skip it; None: no row after this one is wanted."""
        while self._next is not None and self._next.row < row:
            self._next = next(self._rows, None)
        if self._next is None:
            return None
        return self._next.row == row
