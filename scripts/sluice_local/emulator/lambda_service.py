"""What Lambda itself answers and sends, beside running the handler: its payload quotas and the
errors for oversized requests and throttles, the request details moto's invoke does not pass on,
the on-failure record of an asynchronous invocation, and its own metrics of a function."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from typing import Any

from sluice_local.emulator import ACCOUNT

# Lambda's invocation payload quotas (Lambda quotas page; Invoke API reference).
SYNC_REQUEST_LIMIT = 6_291_456  # 6 MB: "Request must be smaller than 6291456 bytes ..."
# What a synchronous response may be: the size Function.ResponseSizeTooLarge's message names.
SYNC_RESPONSE_LIMIT = 6_291_556
ASYNC_REQUEST_LIMIT = 1_048_576  # 1 MB for InvocationType Event (256 KB before 2025)


def throttled_error(function_name: str, reserved: int) -> Exception:
    """Lambda's answer when a function is at its reserved concurrency: HTTP 429, which a caller
    sees as TooManyRequestsException (Step Functions: Lambda.TooManyRequestsException)."""
    from moto.core.exceptions import JsonRESTError

    error = JsonRESTError(
        "TooManyRequestsException",
        f"Rate Exceeded: {function_name} is at its reserved concurrency ({reserved})",
    )
    error.code = 429
    return error


def too_large_error(size: int, invocation_type: str) -> Exception:
    """Lambda's answer to an oversized request: HTTP 413 RequestEntityTooLargeException."""
    from moto.core.exceptions import JsonRESTError

    if invocation_type == "Event":
        message = (
            f"{size} byte payload is too large for the Event invocation type "
            f"(limit {ASYNC_REQUEST_LIMIT} bytes)"
        )
    else:
        message = (
            f"Request must be smaller than {SYNC_REQUEST_LIMIT} bytes for the InvokeFunction "
            "operation"
        )
    error = JsonRESTError("RequestEntityTooLargeException", message)
    error.code = 413
    return error


# What moto's LambdaFunction.invoke knows and _invoke_lambda is not told: the invocation type
# and the request's size, handed over on the calling thread.
request = threading.local()


def invocation_type(headers: Any) -> str:
    """The request's InvocationType; "" for moto's own event-source paths, which pass no
    headers (SNS, CloudWatch Logs, S3 and SQS deliveries)."""
    if not headers:
        return ""
    for name in ("x-amz-invocation-type", "X-Amz-Invocation-Type"):
        value = headers.get(name)
        if value:
            return str(value)
    return "RequestResponse"


def on_failure_record(function_name: str, event: Any, attempts: int, payload: str) -> str:
    """What an SQS on-failure destination receives once an asynchronous invocation's retries
    are exhausted: the event with the last error (Lambda's invocation record)."""
    record = {
        "version": "1.0",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": f"arn:aws:lambda:{os.environ.get('AWS_DEFAULT_REGION')}:"
            f"{ACCOUNT}:function:{function_name}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": attempts,
        },
        "requestPayload": event,
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "responsePayload": json.loads(payload),
    }
    return json.dumps(record, default=str)


def metric_data(function_name: str, values: dict[str, float]) -> list[dict[str, Any]]:
    """Lambda's own metrics of a function (Lambda Developer Guide, "Types of metrics for
    Lambda functions"), dimension FunctionName: Invocations and Errors per invocation
    (Errors 1 for a function error, timeouts included), Duration in milliseconds,
    Throttles per throttled request (not an invocation), and ConcurrentExecutions as the
    instances busy when one starts (read it with the Maximum statistic)."""
    units = {"Duration": "Milliseconds"}
    now = time.time()
    return [
        {
            "MetricName": name,
            "Dimensions": [{"Name": "FunctionName", "Value": function_name}],
            "Value": float(value),
            "Unit": units.get(name, "Count"),
            "Timestamp": now,
        }
        for name, value in values.items()
    ]


def install_request_capture() -> None:
    """Hand the invocation type and the request's size from moto's LambdaFunction.invoke to
    the dispatcher (idempotent), and take over moto's response size check, which measures
    ``sys.getsizeof`` against 6,000,000 bytes: the dispatcher applies Lambda's own."""
    from moto.awslambda import responses
    from moto.awslambda.models import LambdaFunction

    if getattr(LambdaFunction, "_sluice_request_capture", False):
        return
    original = LambdaFunction.invoke

    def invoke(fn: Any, body: Any, request_headers: Any, response_headers: Any) -> Any:
        previous = getattr(request, "invocation_type", ""), getattr(request, "size", None)
        request.invocation_type = invocation_type(request_headers)
        raw = body.encode() if isinstance(body, str) else body
        request.size = len(raw) if isinstance(raw, bytes) else None
        try:
            return original(fn, body, request_headers, response_headers)
        finally:
            request.invocation_type, request.size = previous

    function: Any = LambdaFunction  # monkeypatched on purpose
    function.invoke = invoke
    function._sluice_request_capture = True
    module: Any = responses
    module.sys = _NoSizeOf()


class _NoSizeOf:
    """Stands in for ``sys`` in moto's Lambda responses module, whose only use is that check."""

    @staticmethod
    def getsizeof(_: object) -> int:
        return 0
