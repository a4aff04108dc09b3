"""The drain lease: at most one drain works the queue at a time.

One DynamoDB item names the drain execution that holds the lease and until when. A drain takes
or renews it before every batch, for as long as that batch can possibly run (the function
timeout plus the largest stagger delay), so a drain that dies stops holding it by itself at
the latest when its last batch could have ended: no invocation it started can still be running
when another drain starts. A drain hands the lease to the execution it starts when it nears the
Express 5-minute limit.

Takes its DynamoDB client as an argument; no boto3 import at module level.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

LEASE_KEY = "drain"
EXPRESS_LIMIT_SECONDS = 300  # an Express execution is stopped after 5 minutes
MARGIN_SECONDS = 15  # Lambda/Step Functions latency between renewing and starting the batch


class LeaseConfigurationError(Exception):
    """The settings leave no room for a single batch inside an Express execution."""


@dataclass(frozen=True)
class LeaseSettings:
    table: str
    function_timeout_s: float
    max_stagger_s: float

    @property
    def batch_seconds(self) -> float:
        """The longest a batch started now can run: its last item's delay, then its timeout."""
        return self.function_timeout_s + self.max_stagger_s + MARGIN_SECONDS

    def check(self) -> None:
        if self.batch_seconds > EXPRESS_LIMIT_SECONDS:
            raise LeaseConfigurationError(
                f"FunctionTimeout ({self.function_timeout_s:g} s) + MaxStaggerSeconds "
                f"({self.max_stagger_s:g} s) + {MARGIN_SECONDS} s exceeds the Express drain's "
                f"{EXPRESS_LIMIT_SECONDS} s: lower one of them"
            )


@dataclass(frozen=True)
class Hold:
    held: bool  # this execution holds the lease now
    keep_going: bool  # and may start another batch before the Express limit
    holder: str  # who holds it (this execution, or the other drain)
    expires_at: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "held": self.held,
            "keepGoing": self.keep_going,
            "holder": self.holder,
            "expiresAt": self.expires_at,
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
    """Take or renew the lease for one more batch, if this execution may have it."""
    settings.check()
    elapsed = (now - started_at).total_seconds()
    keep_going = elapsed + settings.batch_seconds <= EXPRESS_LIMIT_SECONDS
    now_s = now.timestamp()
    expires_at = now_s + settings.batch_seconds
    if not keep_going:
        # No new batch in this execution: it hands over and keeps what it holds until then.
        return Hold(held=True, keep_going=False, holder=owner, expires_at=now_s)
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
    return Hold(held=True, keep_going=True, holder=owner, expires_at=expires_at)


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
