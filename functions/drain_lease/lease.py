"""The drain lease: at most one drain works the queue at a time.

One DynamoDB item names the drain execution that holds the lease and until when. A drain takes
or renews it before every round, for the round (``ScaleCooldownSeconds``, shortened to fit the
Express limit) plus a tail: how long the round can run past its deadline. Every object must
start by ``objectStartBy`` (the deadline, plus the largest stagger delay, plus a start slack;
ProcessObject returns at once, postponed, when it starts later), then runs at most one function
timeout (never retried inside the drain), followed by the worst-case Retry waits of its path and a
latency margin. A drain that dies stops holding the lease by itself once its last round could have
ended. A drain hands the lease to the execution it starts when it nears the Express 5-minute
limit. If a round ever overruns its lease, a second drain may start beside it: ProcessObject's
reserved concurrency still bounds the downstream load, and the extra invocations are throttled
and returned to the queue (measured in benchmarks/bound.py --lease-broken).

Takes its DynamoDB client as an argument; no boto3 import at module level.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

LEASE_KEY = "drain"
EXPRESS_LIMIT_SECONDS = 300  # an Express execution is stopped after 5 minutes
MARGIN_SECONDS = 15  # Lambda/Step Functions latency: renewing, planning, receiving, returning
MIN_ROUND_SECONDS = 5  # a shorter last round is not worth it: hand over instead
# A late-staggered worker's first object starts a few seconds after its delay (receive, plan).
START_SLACK_SECONDS = 5
# Worst-case sum of the Retry waits on one object's path in statemachine/drain.asl.json, from
# ProcessObject to its message being deleted, dead-lettered or returned (tests/template computes
# it from the ASL and checks it stays within this).
RETRY_WAIT_SECONDS = 30


class LeaseConfigurationError(Exception):
    """The settings leave no room for a single round inside an Express execution."""


@dataclass(frozen=True)
class LeaseSettings:
    table: str
    function_timeout_s: float
    max_stagger_s: float
    round_s: float = 30.0

    @property
    def start_window_seconds(self) -> float:
        """How long after the round's deadline an object may still start."""
        return self.max_stagger_s + START_SLACK_SECONDS

    @property
    def tail_seconds(self) -> float:
        """How long a round can run past its deadline: the last object to start, one function
        timeout, the Retry waits of its path, and latency."""
        return (
            self.start_window_seconds
            + self.function_timeout_s
            + RETRY_WAIT_SECONDS
            + MARGIN_SECONDS
        )

    def check(self) -> None:
        if self.tail_seconds + MIN_ROUND_SECONDS > EXPRESS_LIMIT_SECONDS:
            fixed = START_SLACK_SECONDS + RETRY_WAIT_SECONDS + MARGIN_SECONDS + MIN_ROUND_SECONDS
            raise LeaseConfigurationError(
                f"FunctionTimeout ({self.function_timeout_s:g} s) + MaxStaggerSeconds "
                f"({self.max_stagger_s:g} s) + {fixed} s exceeds the Express drain's "
                f"{EXPRESS_LIMIT_SECONDS} s: lower one of them"
            )

    def round_seconds(self, elapsed_s: float) -> float | None:
        """The next round's length after ``elapsed_s`` seconds of the execution, shortened so
        its tail still ends within the Express limit; None when no round worth running fits."""
        room = EXPRESS_LIMIT_SECONDS - elapsed_s - self.tail_seconds
        if room < min(self.round_s, MIN_ROUND_SECONDS):
            return None
        return max(0.0, min(self.round_s, room))


@dataclass(frozen=True)
class Hold:
    held: bool  # this execution holds the lease now
    keep_going: bool  # and may start another round before the Express limit
    holder: str  # who holds it (this execution, or the other drain)
    expires_at: float
    round_deadline: float = 0.0  # workers take no new batch after this (epoch seconds)
    object_start_by: float = 0.0  # no object starts after this (epoch seconds)

    def to_dict(self) -> dict[str, Any]:
        return {
            "held": self.held,
            "keepGoing": self.keep_going,
            "holder": self.holder,
            "expiresAt": self.expires_at,
            "roundDeadline": self.round_deadline,
            "objectStartBy": self.object_start_by,
        }


def hold(
    dynamodb: Any,
    settings: LeaseSettings,
    *,
    owner: str,
    started_at: datetime,
    now: datetime,
    handover_from: str | None = None,
) -> Hold:
    """Take or renew the lease for one more round, if this execution may have it."""
    settings.check()
    round_s = settings.round_seconds((now - started_at).total_seconds())
    now_s = now.timestamp()
    if round_s is None:
        # No new round in this execution: it hands over and keeps what it holds until then.
        return Hold(held=True, keep_going=False, holder=owner, expires_at=now_s)
    expires_at = now_s + round_s + settings.tail_seconds
    condition = "attribute_not_exists(lease) OR expiresAt < :now OR holder = :owner"
    values: dict[str, Any] = {":now": {"N": _n(now_s)}, ":owner": {"S": owner}}
    if handover_from:
        condition += " OR holder = :from"
        values[":from"] = {"S": handover_from}
    try:
        dynamodb.put_item(
            TableName=settings.table,
            Item={
                "lease": {"S": LEASE_KEY},
                "holder": {"S": owner},
                "expiresAt": {"N": _n(expires_at)},
                # DynamoDB TTL removes a long-dead lease item; correctness never relies on it.
                "ttl": {"N": str(int(expires_at) + 86400)},
            },
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        current = dynamodb.get_item(
            TableName=settings.table, Key={"lease": {"S": LEASE_KEY}}, ConsistentRead=True
        ).get("Item", {})
        return Hold(
            held=False,
            keep_going=False,
            holder=current.get("holder", {}).get("S", "unknown"),
            expires_at=float(current.get("expiresAt", {}).get("N", "0")),
        )
    return Hold(
        held=True,
        keep_going=True,
        holder=owner,
        expires_at=expires_at,
        round_deadline=now_s + round_s,
        object_start_by=now_s + round_s + settings.start_window_seconds,
    )


def release(dynamodb: Any, settings: LeaseSettings, *, owner: str) -> bool:
    """Give the lease up (the queue is drained); False if another drain holds it."""
    try:
        dynamodb.delete_item(
            TableName=settings.table,
            Key={"lease": {"S": LEASE_KEY}},
            ConditionExpression="holder = :owner",
            ExpressionAttributeValues={":owner": {"S": owner}},
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return False
    return True


def _n(value: float) -> str:
    return f"{value:.3f}"
