"""Stream event items into StreamEventTable with BatchWriteItem.

- Items are put, never updated: an item replaces the one with its ``eventId``, so writing a
  record again (a Kinesis retry, a replay) leaves the table as it was.
- One call carries at most :data:`MAX_BATCH_ITEMS` puts (DynamoDB's limit) and never two with
  the same key (DynamoDB refuses such a call whole): of the items given for one ``eventId``,
  the last is written. A full batch of distinct events is one call per 25 records.
- What DynamoDB leaves unwritten (``UnprocessedItems``: throttling, usually) and every call it
  refuses with throttling or a 5xx (:data:`RETRYABLE_ERRORS`) is retried in rounds, all of it
  together in as few calls as it fits, each round after an exponential backoff with full jitter
  (:class:`sluice_common.retry.Backoff`: a random delay up to ``base_delay_s * 2**(round - 1)``,
  at most ``max_delay_s``).
- Any other ClientError (ValidationException, ResourceNotFoundException, AccessDenied...) is a
  fault of the deployment or a bug, not load: it propagates.
- What is still unwritten after ``max_attempts`` rounds, or when the invocation has too little
  time left for another round, is returned (by ``eventId``), not raised: the handler reports
  those records as batch item failures and Lambda delivers them again.

Takes its DynamoDB client as an argument; no boto3 import at module level.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from sluice_common.retry import Backoff

MAX_BATCH_ITEMS: Final = 25  # BatchWriteItem's limit per call
KEY: Final = "eventId"
RETRYABLE_ERRORS: Final = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
    }
)
UNPROCESSED: Final = "UnprocessedItems"  # WriteResult.last_error when DynamoDB left items over


@dataclass(frozen=True)
class WriteSettings:
    table: str
    max_attempts: int = 5  # rounds of calls, the first included
    base_delay_s: float = 0.05  # the backoff's upper bound before the second round
    max_delay_s: float = 1.0  # the backoff's upper bound, whatever the round
    reserve_s: float = 2.0  # time kept back to send a round and answer Lambda

    def __post_init__(self) -> None:
        if not self.table:
            raise ValueError("table is empty: name the StreamEventTable")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts is {self.max_attempts}; it must be at least 1")
        if self.base_delay_s < 0 or self.max_delay_s < 0 or self.reserve_s < 0:
            raise ValueError("base_delay_s, max_delay_s and reserve_s must not be negative")

    @property
    def backoff(self) -> Backoff:
        """The wait between rounds: full jitter, doubling from the base, capped."""
        return Backoff(self.max_attempts, self.base_delay_s, self.max_delay_s)


@dataclass(frozen=True)
class WriteResult:
    items: int  # distinct eventIds given
    unwritten: frozenset[str]  # eventIds still unwritten after the attempts
    calls: int  # BatchWriteItem requests sent
    attempts: int  # rounds of calls
    retried_calls: int = 0  # calls refused with a retryable error
    last_error: str | None = None  # why items were last left over: an error code, UNPROCESSED
    out_of_time: bool = False  # stopped before max_attempts: too little time left

    @property
    def written(self) -> int:
        return self.items - len(self.unwritten)


def write_items(
    client: Any,
    settings: WriteSettings,
    items: Iterable[Mapping[str, Any]],
    *,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    time_left_s: Callable[[], float] | None = None,
) -> WriteResult:
    """Put ``items`` (DynamoDB items, each with ``eventId`` as ``{"S": ...}``) into
    ``settings.table``; the ``eventId`` of every item still unwritten is in the result.

    ``time_left_s`` (the invocation's remaining seconds) stops the retries early rather than
    let Lambda time the function out in a backoff.
    """
    from botocore.exceptions import ClientError

    backoff = settings.backoff
    latest: dict[str, Mapping[str, Any]] = {}
    for item in items:
        latest[_key(item)] = item  # a later item for the same eventId wins
    pending = list(latest)
    calls = attempts = retried = 0
    last_error: str | None = None
    out_of_time = False
    while pending:
        attempts += 1
        left_over: list[str] = []
        for start in range(0, len(pending), MAX_BATCH_ITEMS):
            chunk = pending[start : start + MAX_BATCH_ITEMS]
            calls += 1
            try:
                response = client.batch_write_item(
                    RequestItems={
                        settings.table: [{"PutRequest": {"Item": latest[key]}} for key in chunk]
                    }
                )
            except ClientError as exc:
                code = _retryable_code(exc)
                if code is None:
                    raise
                retried += 1
                last_error = code
                left_over.extend(chunk)
                continue
            unprocessed = response.get("UnprocessedItems", {}).get(settings.table, [])
            if unprocessed:
                last_error = UNPROCESSED
                left_over.extend(_key(request["PutRequest"]["Item"]) for request in unprocessed)
        pending = left_over
        if not pending or attempts >= settings.max_attempts:
            break
        delay = backoff.delay(attempts, rng)
        if time_left_s is not None and time_left_s() < delay + settings.reserve_s:
            out_of_time = True
            break
        sleep(delay)
    return WriteResult(
        items=len(latest),
        unwritten=frozenset(pending),
        calls=calls,
        attempts=attempts,
        retried_calls=retried,
        last_error=last_error if pending else None,
        out_of_time=out_of_time,
    )


def _key(item: Mapping[str, Any]) -> str:
    key = item.get(KEY)
    if not isinstance(key, Mapping) or not isinstance(key.get("S"), str):
        raise ValueError(f"item has no {KEY} string attribute: {sorted(item)[:10]}")
    return str(key["S"])


def _retryable_code(exc: Any) -> str | None:
    """The error code of a throttled or 5xx call (worth another round), else None."""
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code in RETRYABLE_ERRORS or (isinstance(status, int) and status >= 500):
        return code or f"HTTP {status}"
    return None
