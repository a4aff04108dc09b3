"""One checkpoint item per object revision: the owner lease, the cursor, the failed rows, a TTL.

Replaces the two idempotency records a row used to cost. The item is keyed by the revision's
digest (the prefix of every row's ``Idempotency-Key``), so every event that reads the same
content, old or new, ends on the same item, and an overwritten object gets a new one.

- **Lease**: ``owner`` and ``leaseUntil``, taken with a conditional update at the start of an
  invocation and given back when it stops. ``leaseUntil`` is never later than the holder's own
  deadline, so a holder that Lambda stopped at its timeout never blocks its own retry.
- **Cursor**: the last data row done, the byte offset and physical line of the next record, the
  header, and the attempts made on the next row (its retries carry over to the next invocation).
- **Failed rows**: kept in order, ``FAILED_INLINE`` in the item and the rest on spill items of
  ``SPILL_PAGE_ROWS`` each (an item is capped at 400 KB), so a redrive can send exactly them.
- **Passes**: pass 0 reads the whole object; a message for a finished revision whose rows failed
  starts the next pass, which sends only the previous pass's failed rows.

Writes are conditional on holding the lease: a holder that lost it (it cannot, while it runs
within its deadline) stops instead of overwriting another's progress. Takes its DynamoDB client as
an argument; no boto3 import at module level.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sluice_common.errors import ObjectBusy, TransientError

FAILED_INLINE = 100  # failed rows kept in the checkpoint item itself
SPILL_PAGE_ROWS = 1000  # failed rows per spill item (errors cut to ERROR_CHARS: < 400 KB)
ERROR_CHARS = 200
LEGACY_LOOKAHEAD = 25  # rows looked up at once in a pre-upgrade IdempotencyTable


@dataclass
class FailedRow:
    row: int
    offset: int  # where its record starts (a redrive reads from the first one)
    line: int  # physical lines before its record
    error: str

    def to_item(self) -> dict[str, Any]:
        return {
            "M": {
                "row": {"N": str(self.row)},
                "offset": {"N": str(self.offset)},
                "line": {"N": str(self.line)},
                "error": {"S": self.error[:ERROR_CHARS]},
            }
        }

    @classmethod
    def from_item(cls, value: dict[str, Any]) -> FailedRow:
        m = value["M"]
        return cls(
            row=int(m["row"]["N"]),
            offset=int(m["offset"]["N"]),
            line=int(m["line"]["N"]),
            error=m["error"]["S"],
        )


@dataclass
class Checkpoint:
    """What the item says about one revision, as read when the lease was taken."""

    digest: str
    revision: str
    etag: str
    size: int
    pass_number: int = 0
    row: int = 0  # last data row done in this pass (sent, failed or skipped)
    offset: int = 0  # byte offset of the next record
    line: int = 0  # physical lines consumed before the next record
    header: tuple[str, ...] | None = None
    attempts: int = 0  # attempts already made on the next row
    retry_at: float | None = None  # the next row's next attempt may not start before this
    done: bool = False
    rows_read: int = 0  # over the whole revision, all passes
    rows_sent: int = 0
    failed_count: int = 0  # this pass's failed rows so far
    failed: list[FailedRow] = field(default_factory=list)  # this pass's first FAILED_INLINE
    previous_failed_count: int = 0  # what the pass before left (what this pass sends)
    previous_failed: list[FailedRow] = field(default_factory=list)
    stalls: int = 0  # invocations in a row that made no progress
    legacy_checked: bool = False  # the pre-upgrade IdempotencyTable has been consulted
    compressed: bool = False  # gzip: offsets are in the inflated stream, a resume re-reads
    new: bool = False  # the item did not exist before this invocation

    @property
    def resumed(self) -> bool:
        return self.offset > 0


class CheckpointStore:
    """Reads and writes the checkpoint items of one table."""

    def __init__(
        self,
        dynamodb: Any,
        table: str,
        *,
        ttl_days: int,
        owner: str,
        clock: Any = time.time,
    ) -> None:
        self._db = dynamodb
        self._table = table
        self._ttl_s = ttl_days * 86400
        self.owner = owner
        self._clock = clock

    # -- the lease -------------------------------------------------------------------------

    def take(self, digest: str, *, revision: str, etag: str, size: int, until: float) -> Checkpoint:
        """Take the lease on ``digest`` until ``until`` (epoch s, the holder's deadline) and
        return the checkpoint; ObjectBusy while another invocation holds it."""
        now = self._clock()
        try:
            response = self._call(
                "update_item",
                TableName=self._table,
                Key={"object": {"S": digest}},
                UpdateExpression=(
                    "SET #owner = :me, leaseUntil = :until, revision = :revision, etag = :etag,"
                    " #size = :size, #ttl = :ttl, createdAt = if_not_exists(createdAt, :now)"
                ),
                ConditionExpression=(
                    "attribute_not_exists(#owner) OR leaseUntil < :now OR #owner = :me"
                ),
                ExpressionAttributeNames={
                    "#owner": "owner",
                    "#size": "size",
                    "#ttl": "ttl",
                },
                ExpressionAttributeValues={
                    ":me": {"S": self.owner},
                    ":until": {"N": _n(until)},
                    ":now": {"N": _n(now)},
                    ":revision": {"S": revision},
                    ":etag": {"S": etag},
                    ":size": {"N": str(size)},
                    ":ttl": {"N": str(int(now + self._ttl_s))},
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._db.exceptions.ConditionalCheckFailedException as exc:
            held = exc.response.get("Item", {}) if hasattr(exc, "response") else {}
            until_s = float(held.get("leaseUntil", {}).get("N", "0") or 0)
            raise ObjectBusy(
                "another invocation is processing this object revision (its lease ends in "
                f"{max(0.0, until_s - now):.0f} s): the message is postponed"
            ) from None
        item = response["Attributes"]
        checkpoint = _from_item(digest, item)
        checkpoint.new = "passNumber" not in item  # no invocation has saved progress yet
        return checkpoint

    def save(
        self,
        checkpoint: Checkpoint,
        *,
        new_failed: list[FailedRow],
        release: bool,
        until: float | None = None,
    ) -> None:
        """Write the cursor and append ``new_failed`` (their count is already in
        ``checkpoint.failed_count``); give the lease back when ``release``."""
        # ``checkpoint.failed`` is what the item holds: it grows only once the write succeeded,
        # so a save tried again (after an error) splits the same rows the same way.
        inline_room = max(0, FAILED_INLINE - len(checkpoint.failed))
        inline, spilled = new_failed[:inline_room], new_failed[inline_room:]
        if spilled:
            first_spilled = checkpoint.failed_count - len(spilled)
            self._spill(checkpoint, spilled, first_spilled - FAILED_INLINE)
        names = {"#owner": "owner", "#row": "row", "#line": "line", "#ttl": "ttl"}
        values: dict[str, Any] = {
            ":me": {"S": self.owner},
            ":pass": {"N": str(checkpoint.pass_number)},
            ":row": {"N": str(checkpoint.row)},
            ":offset": {"N": str(checkpoint.offset)},
            ":line": {"N": str(checkpoint.line)},
            ":attempts": {"N": str(checkpoint.attempts)},
            ":done": {"BOOL": checkpoint.done},
            ":read": {"N": str(checkpoint.rows_read)},
            ":sent": {"N": str(checkpoint.rows_sent)},
            ":failedCount": {"N": str(checkpoint.failed_count)},
            ":stalls": {"N": str(checkpoint.stalls)},
            ":legacy": {"BOOL": checkpoint.legacy_checked},
            ":compressed": {"BOOL": checkpoint.compressed},
            ":ttl": {"N": str(int(self._clock() + self._ttl_s))},
        }
        sets = [
            "passNumber = :pass",
            "#row = :row",
            "#offset = :offset",
            "#line = :line",
            "attempts = :attempts",
            "done = :done",
            "rowsRead = :read",
            "rowsSent = :sent",
            "failedCount = :failedCount",
            "stalls = :stalls",
            "legacyChecked = :legacy",
            "compressed = :compressed",
            "#ttl = :ttl",
        ]
        names["#offset"] = "offset"
        removes = []
        if checkpoint.header is not None:
            sets.append("header = :header")
            values[":header"] = {"S": json.dumps(list(checkpoint.header))}
        if checkpoint.retry_at is not None:
            sets.append("retryAt = :retryAt")
            values[":retryAt"] = {"N": _n(checkpoint.retry_at)}
        else:
            removes.append("retryAt")
        if inline:
            sets.append("failed = list_append(if_not_exists(failed, :none), :failed)")
            values[":failed"] = {"L": [row.to_item() for row in inline]}
            values[":none"] = {"L": []}
        if release:
            removes += ["#owner", "leaseUntil"]
        elif until is not None:
            sets.append("leaseUntil = :until")
            values[":until"] = {"N": _n(until)}
        expression = "SET " + ", ".join(sets)
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        try:
            self._call(
                "update_item",
                TableName=self._table,
                Key={"object": {"S": checkpoint.digest}},
                UpdateExpression=expression,
                ConditionExpression="#owner = :me",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            raise ObjectBusy(
                "this invocation's lease on the object was taken over: it stops, the holder "
                "carries on"
            ) from None
        checkpoint.failed.extend(inline)

    def start_pass(self, checkpoint: Checkpoint, *, first: FailedRow) -> None:
        """A finished revision with failed rows was delivered again (a redrive): the next pass
        sends only those rows, reading from the first of them."""
        checkpoint.previous_failed = list(checkpoint.failed)
        checkpoint.previous_failed_count = checkpoint.failed_count
        checkpoint.pass_number += 1
        checkpoint.row = first.row - 1
        checkpoint.offset = first.offset
        checkpoint.line = first.line
        checkpoint.attempts = 0
        checkpoint.retry_at = None
        checkpoint.done = False
        checkpoint.failed = []
        checkpoint.failed_count = 0
        self._call(
            "update_item",
            TableName=self._table,
            Key={"object": {"S": checkpoint.digest}},
            UpdateExpression=(
                "SET previousFailed = :previous, previousFailedCount = :count, failed = :none,"
                " failedCount = :zero, passNumber = :pass, done = :false, #row = :row,"
                " #offset = :offset, #line = :line, attempts = :zero REMOVE retryAt"
            ),
            ConditionExpression="#owner = :me",
            ExpressionAttributeNames={
                "#owner": "owner",
                "#row": "row",
                "#offset": "offset",
                "#line": "line",
            },
            ExpressionAttributeValues={
                ":me": {"S": self.owner},
                ":previous": {"L": [row.to_item() for row in checkpoint.previous_failed]},
                ":count": {"N": str(checkpoint.previous_failed_count)},
                ":none": {"L": []},
                ":zero": {"N": "0"},
                ":pass": {"N": str(checkpoint.pass_number)},
                ":false": {"BOOL": False},
                ":row": {"N": str(checkpoint.row)},
                ":offset": {"N": str(checkpoint.offset)},
                ":line": {"N": str(checkpoint.line)},
            },
        )

    def previous_failed_rows(self, checkpoint: Checkpoint) -> Iterator[FailedRow]:
        """The rows this pass sends, in row order: the previous pass's inline ones, then its
        spill pages, one page in memory at a time."""
        yield from checkpoint.previous_failed
        spilled = checkpoint.previous_failed_count - len(checkpoint.previous_failed)
        # The count says how many pages there are: no probing read per page.
        for page in range(-(-spilled // SPILL_PAGE_ROWS) if spilled > 0 else 0):
            yield from self._read_page(checkpoint.digest, checkpoint.pass_number - 1, page)

    # -- spill pages -----------------------------------------------------------------------

    def _spill(self, checkpoint: Checkpoint, rows: list[FailedRow], first_index: int) -> None:
        """Write ``rows`` as the spilled failed rows from ``first_index`` on (0: the first
        after the inline ones), SPILL_PAGE_ROWS to a page."""
        index = first_index
        while rows:
            page, at = divmod(index, SPILL_PAGE_ROWS)
            take = rows[: SPILL_PAGE_ROWS - at]
            rows = rows[len(take) :]
            self._write_page(checkpoint, page, at, take)
            index += len(take)

    def _write_page(
        self, checkpoint: Checkpoint, page: int, at: int, rows: list[FailedRow]
    ) -> None:
        """Put ``rows`` at index ``at`` of a spill page, replacing whatever is there from ``at``
        on. The page is written before the checkpoint item that counts its rows: rows that a
        save which did not complete (a crash, a lost lease) left past ``at`` are replaced, not
        appended to, so a page never holds a row twice or more than SPILL_PAGE_ROWS rows."""
        key = {"object": {"S": _page_key(checkpoint.digest, checkpoint.pass_number, page)}}
        names = {"#rows": "rows", "#ttl": "ttl"}
        ttl = {"N": str(int(self._clock() + self._ttl_s))}
        if at:
            try:
                self._call(
                    "update_item",
                    TableName=self._table,
                    Key=key,
                    UpdateExpression="SET #rows = list_append(#rows, :rows), #ttl = :ttl",
                    ConditionExpression="size(#rows) = :at",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues={
                        ":rows": {"L": [row.to_item() for row in rows]},
                        ":at": {"N": str(at)},
                        ":ttl": ttl,
                    },
                )
                return
            except self._db.exceptions.ConditionalCheckFailedException:
                kept = self._read_page(checkpoint.digest, checkpoint.pass_number, page)[:at]
                rows = kept + rows
        self._call(
            "update_item",
            TableName=self._table,
            Key=key,
            UpdateExpression="SET #rows = :rows, #ttl = :ttl",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={
                ":rows": {"L": [row.to_item() for row in rows]},
                ":ttl": ttl,
            },
        )

    def _read_page(self, digest: str, pass_number: int, page: int) -> list[FailedRow]:
        item = self._call(
            "get_item",
            TableName=self._table,
            Key={"object": {"S": _page_key(digest, pass_number, page)}},
            ConsistentRead=True,
        ).get("Item", {})
        return [FailedRow.from_item(value) for value in item.get("rows", {}).get("L", [])]

    def _call(self, operation: str, **params: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self._db, operation)(**params)
        except self._db.exceptions.ConditionalCheckFailedException:
            raise
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise TransientError(f"the checkpoint table answered {code}: try again") from None
        except BotoCoreError as exc:
            raise TransientError(f"could not reach the checkpoint table: {exc}") from None


class LegacyRecords:
    """Rows delivered before the upgrade, as Powertools Idempotency recorded them in the old
    IdempotencyTable: ``sluice-row#`` + md5 of the JSON of the row's Idempotency-Key, status
    COMPLETED. Looked up ahead in batches; a revision with no record in its first batch was not
    begun before the upgrade, and is not looked up again."""

    def __init__(self, dynamodb: Any, table: str, clock: Any = time.time) -> None:
        self._db = dynamodb
        self._table = table
        self._clock = clock
        self._known: dict[str, bool] = {}

    @staticmethod
    def record_id(key: str) -> str:
        import hashlib

        # Powertools' own hash of the idempotency data (json.dumps of the key string); md5 is
        # its default, not a security use.
        data = json.dumps(key, sort_keys=True).encode()
        digest = hashlib.md5(data, usedforsecurity=False).hexdigest()
        return f"sluice-row#{digest}"

    def delivered(self, keys: list[str]) -> set[str]:
        """Which of ``keys`` have a live COMPLETED record."""
        missing = [key for key in keys if key not in self._known]
        for start in range(0, len(missing), 100):
            self._lookup(missing[start : start + 100])
        return {key for key in keys if self._known.get(key)}

    def _lookup(self, keys: list[str]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        ids = {self.record_id(key): key for key in keys}
        for key in keys:
            self._known[key] = False
        request: dict[str, Any] = {
            self._table: {
                "Keys": [{"id": {"S": record}} for record in ids],
                "ProjectionExpression": "id, #status, expiration",
                "ExpressionAttributeNames": {"#status": "status"},
            }
        }
        now = self._clock()
        for _ in range(8):
            try:
                response = self._db.batch_get_item(RequestItems=request)
            except (ClientError, BotoCoreError) as exc:
                raise TransientError(
                    f"the pre-upgrade IdempotencyTable could not be read: {exc}"
                ) from None
            for item in response.get("Responses", {}).get(self._table, []):
                live = float(item.get("expiration", {}).get("N", "0") or 0) > now
                if item.get("status", {}).get("S") == "COMPLETED" and live:
                    self._known[ids[item["id"]["S"]]] = True
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return
            time.sleep(0.1)
        raise TransientError("the pre-upgrade IdempotencyTable kept refusing reads: try again")


def _page_key(digest: str, pass_number: int, page: int) -> str:
    return f"{digest}#failed#{pass_number}#{page}"


def _from_item(digest: str, item: dict[str, Any]) -> Checkpoint:
    def number(name: str, default: float = 0) -> float:
        value = item.get(name, {}).get("N")
        return float(value) if value is not None else default

    header = item.get("header", {}).get("S")
    return Checkpoint(
        digest=digest,
        revision=item["revision"]["S"],
        etag=item["etag"]["S"],
        size=int(number("size")),
        pass_number=int(number("passNumber")),
        row=int(number("row")),
        offset=int(number("offset")),
        line=int(number("line")),
        header=tuple(json.loads(header)) if header else None,
        attempts=int(number("attempts")),
        retry_at=number("retryAt") if "retryAt" in item else None,
        done=bool(item.get("done", {}).get("BOOL", False)),
        rows_read=int(number("rowsRead")),
        rows_sent=int(number("rowsSent")),
        failed_count=int(number("failedCount")),
        failed=[FailedRow.from_item(v) for v in item.get("failed", {}).get("L", [])],
        previous_failed_count=int(number("previousFailedCount")),
        previous_failed=[
            FailedRow.from_item(v) for v in item.get("previousFailed", {}).get("L", [])
        ],
        stalls=int(number("stalls")),
        legacy_checked=bool(item.get("legacyChecked", {}).get("BOOL", False)),
        compressed=bool(item.get("compressed", {}).get("BOOL", False)),
    )


def _n(value: float) -> str:
    return f"{value:.3f}"
