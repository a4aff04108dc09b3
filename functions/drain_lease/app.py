"""DrainLease handler: the drain state machine takes, renews and releases its lease here."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from drain_lease_settings import DrainLeaseSettings
from lease import LeaseSettings, hold, release
from sluice_common.errors import MalformedEvent
from sluice_common.observability import logger, tracer
from sluice_common.settings import load


# One of each per container: the settings and the DynamoDB client are reused.
@cache
def settings() -> LeaseSettings:
    return load(DrainLeaseSettings)


@cache
def dynamodb() -> Any:
    import boto3

    return boto3.client("dynamodb")


def _started_at(value: Any) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise MalformedEvent(f"startedAt {value!r} is not an ISO 8601 time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    action, owner = event.get("action"), event.get("owner")
    if not isinstance(owner, str) or not owner:
        raise MalformedEvent("owner (the drain's execution id) is missing")
    if action == "release":
        released = release(dynamodb(), settings(), owner=owner)
        logger.info("drain lease released", extra={"owner": owner, "released": released})
        return {"released": released}
    if action != "hold":
        raise MalformedEvent(f"action must be 'hold' or 'release', got {action!r}")
    given = event.get("input")
    handover_from = given.get("handoverFrom") if isinstance(given, dict) else None
    result = hold(
        dynamodb(),
        settings(),
        owner=owner,
        started_at=_started_at(event.get("startedAt")),
        now=datetime.now(UTC),
        handover_from=handover_from if isinstance(handover_from, str) else None,
    )
    logger.info("drain lease", extra={"owner": owner, **result.to_dict()})
    return result.to_dict()
