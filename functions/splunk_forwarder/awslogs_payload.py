"""The CloudWatch Logs subscription payload SplunkForwarder takes, opened and checked.

A subscription filter invokes the function with ``{"awslogs": {"data": <base64 of gzip of
JSON>}}``. :func:`decode_logs` undoes each layer and checks the JSON's shape, so that a bad
payload fails with :class:`MalformedLogsPayload` naming the step, before anything is sent to
Splunk. Nothing here knows about HEC (hec.py) or reads the environment.
"""

from __future__ import annotations

import binascii
import zlib
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.data_classes import CloudWatchLogsEvent

DATA_MESSAGE, CONTROL_MESSAGE = "DATA_MESSAGE", "CONTROL_MESSAGE"


class MalformedLogsPayload(Exception):
    """The event is not a CloudWatch Logs subscription payload (base64 of gzip of JSON)."""


def decode_logs(event: Any) -> CloudWatchLogsEvent:
    """The subscription payload, decoded and checked; :class:`MalformedLogsPayload` otherwise."""
    awslogs = event.get("awslogs") if isinstance(event, Mapping) else None
    data = awslogs.get("data") if isinstance(awslogs, Mapping) else None
    if not isinstance(data, str) or not data:
        keys = sorted(event) if isinstance(event, Mapping) else type(event).__name__
        raise MalformedLogsPayload(
            "the event has no awslogs.data string: this function takes CloudWatch Logs "
            f'subscription events ({{"awslogs": {{"data": "<base64 gzip JSON>"}}}}), got {keys}'
        )
    logs = CloudWatchLogsEvent(dict(event))
    try:
        logs.decompress_logs_data  # noqa: B018 - decodes and caches, so each error names its step
    except binascii.Error as exc:
        raise MalformedLogsPayload(f"awslogs.data is not base64: {exc}") from None
    except zlib.error as exc:
        raise MalformedLogsPayload(f"awslogs.data is base64 but not gzip: {exc}") from None
    try:
        decoded = logs.parse_logs_data()
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedLogsPayload(f"awslogs.data unzips to something not JSON: {exc}") from None
    _check_shape(decoded.raw_event)
    return logs


def _check_shape(payload: Any) -> None:
    if not isinstance(payload, dict):
        raise MalformedLogsPayload(
            f"awslogs.data holds JSON {type(payload).__name__}, not a log data object"
        )
    kind = payload.get("messageType")
    if kind not in {DATA_MESSAGE, CONTROL_MESSAGE}:
        raise MalformedLogsPayload(
            f"messageType is {kind!r}: expected {DATA_MESSAGE!r} or {CONTROL_MESSAGE!r}"
        )
    if kind == CONTROL_MESSAGE:
        return
    for key in ("owner", "logGroup", "logStream"):
        if not isinstance(payload.get(key), str):
            raise MalformedLogsPayload(f"log data has no {key} string")
    log_events = payload.get("logEvents")
    if not isinstance(log_events, list):
        raise MalformedLogsPayload("log data has no logEvents list")
    for n, item in enumerate(log_events):
        if not (
            isinstance(item, dict)
            and isinstance(item.get("id"), str)
            and isinstance(item.get("timestamp"), int)
            and isinstance(item.get("message"), str)
        ):
            raise MalformedLogsPayload(
                f"logEvents[{n}] of {payload['logGroup']} lacks an id string, "
                "an integer timestamp (ms) or a message string"
            )
