"""The handler end to end: awslogs event in, events at a local HEC, token from Secrets Manager."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from awslogs_payload import MalformedLogsPayload
from hec import DeliveryFailed, HecRejected, InvalidSetting, TokenUnavailable
from sluice_local.handlers import Handler
from sluice_local.servers.hec import HecServer

EVENTS = Path(__file__).resolve().parents[3] / "events"


@pytest.fixture
def secrets() -> Iterator[Any]:
    import boto3
    from moto import mock_aws

    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


@pytest.fixture
def secret_arn(secrets: Any, hec: HecServer) -> str:
    created = secrets.create_secret(
        Name="sluice/splunk-hec-token", SecretString=json.dumps({"token": hec.token})
    )
    return str(created["ARN"])


@pytest.fixture
def configure(
    hec: HecServer, secret_arn: str, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., None]:
    def apply(**env: str) -> None:
        values = {
            "SPLUNK_HEC_URL": hec.url,
            "SPLUNK_HEC_TOKEN_SECRET_ARN": secret_arn,
            "SPLUNK_INDEX": "",
            "SPLUNK_SOURCE": "",
            "SPLUNK_SOURCETYPE": "",
            "SPLUNK_MAX_BATCH_BYTES": "",
            "SPLUNK_MAX_ATTEMPTS": "",
            "SPLUNK_TIMEOUT_SECONDS": "2",
            # No real waiting between retries in tests.
            "SPLUNK_BACKOFF_BASE_SECONDS": "0.001",
            "SPLUNK_BACKOFF_MAX_SECONDS": "0.005",
            **env,
        }
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    apply()
    return apply


@pytest.fixture
def handler_with(
    fresh_handler: Callable[[], Handler], configure: Callable[..., None]
) -> Callable[..., Handler]:
    """A cold start with these variables changed (the others as ``configure`` sets them)."""

    def start(**env: str) -> Handler:
        configure(**env)
        return fresh_handler()

    return start


@pytest.fixture
def handler(handler_with: Callable[..., Handler]) -> Handler:
    return handler_with()


def test_the_sample_event_is_forwarded_to_hec(
    handler: Handler,
    hec: HecServer,
    lambda_context: Any,
    emitted_metrics: Callable[[], dict[str, Any]],
    logs: Callable[[], list[dict[str, Any]]],
) -> None:
    sample = json.loads((EVENTS / "splunk_forwarder_logs.json").read_text())
    summary = handler(sample, lambda_context)

    assert summary["log_group"].startswith("/aws/lambda/sluice-ProcessObjectFunction")
    assert summary["events_forwarded"] == summary["log_events"] == len(hec.events) == 7
    objects = [e for e in hec.events if isinstance(e["event"], dict)]
    processed = next(e for e in objects if e["event"].get("message") == "object processed")
    assert processed["event"]["message"] == "object processed"
    assert processed["source"] == summary["log_group"]
    assert processed["sourcetype"] == "aws:cloudwatchlogs"
    assert "index" not in processed
    assert hec.requests[0].headers["Authorization"] == f"Splunk {hec.token}"
    assert emitted_metrics() == {
        "LogEventsForwarded": [7.0],
        "HecBatchesSent": [1.0],
        "HecRetries": [0.0],
    }
    done = next(line for line in logs() if line.get("message") == "logs forwarded to splunk")
    assert done["log_group"] == summary["log_group"]
    assert done["dt.metrics"]["sluice.log_events_forwarded"] == 7


def test_a_bare_token_secret_index_and_source_are_used(
    handler_with: Callable[..., Handler],
    secrets: Any,
    hec: HecServer,
    payloads: Any,
    lambda_context: Any,
) -> None:
    arn = secrets.create_secret(Name="bare", SecretString=hec.token)["ARN"]
    handler = handler_with(
        SPLUNK_HEC_TOKEN_SECRET_ARN=arn, SPLUNK_INDEX="sluice", SPLUNK_SOURCE="sluice:drain"
    )
    handler(payloads.states_logs(), lambda_context)

    assert [e["event"]["type"] for e in hec.events] == ["ExecutionStarted", "ExecutionFailed"]
    assert {(e["index"], e["source"]) for e in hec.events} == {("sluice", "sluice:drain")}


def test_a_busy_hec_is_retried_then_the_events_arrive_once(
    handler: Handler,
    hec: HecServer,
    payloads: Any,
    lambda_context: Any,
    emitted_metrics: Callable[[], dict[str, Any]],
) -> None:
    hec.fail_next(1, status=503)
    hec.fail_next(1, status=429, retry_after=0)
    summary = handler(payloads.lambda_logs(), lambda_context)

    assert summary["retries"] == 2
    assert len(hec.events) == 4
    assert emitted_metrics()["HecRetries"] == [2.0]


def test_a_refused_token_raises_naming_the_secret_and_is_read_again(
    handler: Handler,
    hec: HecServer,
    secrets: Any,
    secret_arn: str,
    payloads: Any,
    lambda_context: Any,
    emitted_metrics: Callable[[], dict[str, Any]],
) -> None:
    handler(payloads.lambda_logs(), lambda_context)  # reads and caches the token
    hec.token = "new-token"  # rotated in Splunk, then in the secret
    secrets.put_secret_value(SecretId=secret_arn, SecretString='{"token": "new-token"}')

    with pytest.raises(HecRejected) as raised:
        handler(payloads.lambda_logs(), lambda_context)
    assert secret_arn in str(raised.value) and "Invalid token" in str(raised.value)
    assert emitted_metrics()["HecDeliveryFailures"] == [1.0]

    summary = handler(payloads.lambda_logs(), lambda_context)  # Lambda's retry
    assert summary["events_forwarded"] == 4


def test_exhausted_retries_raise_for_lambda_to_retry_then_dead_letter(
    handler_with: Callable[..., Handler],
    hec: HecServer,
    payloads: Any,
    lambda_context: Any,
    logs: Callable[[], list[dict[str, Any]]],
) -> None:
    handler = handler_with(SPLUNK_MAX_ATTEMPTS="2")
    hec.fail_next(2, status=503)
    with pytest.raises(DeliveryFailed, match="2 attempts"):
        handler(payloads.lambda_logs(), lambda_context)
    failed = next(line for line in logs() if line.get("message") == "logs not forwarded to splunk")
    assert failed["error"] == "DeliveryFailed"
    assert hec.events == []


def test_a_malformed_payload_raises_before_anything_is_sent(
    handler: Handler, hec: HecServer, lambda_context: Any
) -> None:
    with pytest.raises(MalformedLogsPayload, match="not base64"):
        handler({"awslogs": {"data": "%%% not base64 %%%"}}, lambda_context)
    assert hec.requests == []


def test_a_control_message_is_acknowledged_without_sending(
    handler: Handler, hec: HecServer, payloads: Any, lambda_context: Any
) -> None:
    event = payloads.awslogs(
        "testLogGroup",
        "testLogStream",
        ["CWL CONTROL MESSAGE: Checking health of destination Lambda function."],
        message_type="CONTROL_MESSAGE",
    )
    assert handler(event, lambda_context) == {
        "message_type": "CONTROL_MESSAGE",
        "events_forwarded": 0,
    }
    assert hec.requests == []


def test_plain_http_to_a_remote_splunk_is_refused(
    handler_with: Callable[..., Handler],
    payloads: Any,
    lambda_context: Any,
) -> None:
    handler = handler_with(SPLUNK_HEC_URL="http://splunk.example.com:8088")
    with pytest.raises(InvalidSetting, match="plain http"):
        handler(payloads.lambda_logs(), lambda_context)


def test_an_unreadable_secret_names_the_permission_needed(
    handler_with: Callable[..., Handler],
    payloads: Any,
    lambda_context: Any,
) -> None:
    missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:sluice/nope-AbCdEf"
    handler = handler_with(SPLUNK_HEC_TOKEN_SECRET_ARN=missing)
    with pytest.raises(TokenUnavailable, match="secretsmanager:GetSecretValue") as raised:
        handler(payloads.lambda_logs(), lambda_context)
    assert missing in str(raised.value)
