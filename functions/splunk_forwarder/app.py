"""SplunkForwarder handler: CloudWatch Logs subscription payloads in, Splunk HEC events out.

Invoked asynchronously by subscription filters. When delivery finally fails the handler raises:
Lambda retries the invocation, then sends the original event to the OnFailure dead-letter queue.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import urllib3
from aws_lambda_powertools.utilities.typing import LambdaContext

from awslogs_payload import CONTROL_MESSAGE, decode_logs
from hec import DeliveryFailed, ForwardSummary, forward
from hec_wiring import (
    ForwarderConfig,
    add_metrics,
    forwarder_config,
    log_fields,
    read_token,
    report_failure,
)
from sluice_common.observability import logger, metrics, tracer


# One of each per container: the HTTP keep-alive pool and the settings outlive an invocation.
@cache
def http() -> urllib3.PoolManager:
    return urllib3.PoolManager(maxsize=2, retries=False)


@cache
def settings() -> ForwarderConfig:
    return forwarder_config()


def hec_token(force_fetch: bool = False) -> str:
    return read_token(settings().hec.token_secret, force_fetch=force_fetch)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logs = decode_logs(event)  # MalformedLogsPayload: retried, then dead-lettered as is
    data = logs.parse_logs_data()
    # Thread-safe keys: the local runtime runs several invocations in one process.
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(
        log_group=data.get("logGroup"),
        log_stream=data.get("logStream"),
        message_type=data.message_type,
    )
    if data.message_type == CONTROL_MESSAGE:
        add_metrics(ForwardSummary(CONTROL_MESSAGE, "", ""))
        logger.info("control message acknowledged", extra={"payload": data.raw_event})
        return {"message_type": CONTROL_MESSAGE, "events_forwarded": 0}
    config = settings()
    try:
        summary = forward(
            logs,
            pool=http(),
            url=config.hec_url,
            token=hec_token(),
            settings=config.hec,
            remaining_s=lambda: context.get_remaining_time_in_millis() / 1000,
        )
    except DeliveryFailed as exc:
        report_failure(exc)
        if exc.token_refused:
            hec_token(force_fetch=True)  # Lambda's retry then uses a rotated token at once
        raise
    add_metrics(summary)
    logger.info("logs forwarded to splunk", extra=log_fields(summary))
    return summary.to_dict()
