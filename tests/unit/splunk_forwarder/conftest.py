"""SplunkForwarder's code root and the common layer on sys.path, a local HEC, awslogs payloads."""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sluice_local.handlers import Handler, load_handler
from sluice_local.servers.hec import HecServer

ROOT = Path(__file__).resolve().parents[3]
CODE_DIR = ROOT / "functions/splunk_forwarder"
LAYERS = [ROOT / "layers/common"]
ACCOUNT = "123456789012"
HEC_TOKEN = "b1946ac9-2b3c-4d5e-8f9a-0c1d2e3f4a5b"

load_handler(CODE_DIR, "app.lambda_handler", LAYERS)


class Payloads:
    """Builds CloudWatch Logs subscription events (``payloads`` fixture)."""

    account = ACCOUNT
    lambda_group = "/aws/lambda/sluice-ProcessObjectFunction-Xk3v9Qa1bC2d"
    lambda_stream = "2024/01/15/[$LATEST]4f1c2b7d9e0a4c6f8b3d2e1f0a9b8c7d"
    states_group = "/aws/vendedlogs/states/sluice-DrainStateMachine-Logs"
    states_stream = "states/sluice-DrainStateMachine/2024-01-15-10-00/0e5c1f2a"
    execution_arn = "arn:aws:states:us-east-1:123456789012:express:Drain:abc:def"

    @staticmethod
    def wrap(raw: bytes) -> dict[str, Any]:
        return {"awslogs": {"data": base64.b64encode(gzip.compress(raw)).decode()}}

    def awslogs(
        self,
        log_group: str,
        log_stream: str,
        messages: list[str],
        *,
        message_type: str = "DATA_MESSAGE",
        start_ms: int = 1_700_000_000_000,
    ) -> dict[str, Any]:
        """A CloudWatch Logs subscription event: base64 of gzip of the log data JSON."""
        payload: dict[str, Any] = {
            "messageType": message_type,
            "owner": ACCOUNT if message_type == "DATA_MESSAGE" else "CloudwatchLogs",
            "logGroup": log_group,
            "logStream": log_stream,
            "subscriptionFilters": ["sluice-splunk"],
            "logEvents": [
                {"id": f"{38 * 10**54 + n}", "timestamp": start_ms + n, "message": message}
                for n, message in enumerate(messages)
            ],
        }
        return self.wrap(json.dumps(payload).encode())

    @staticmethod
    def powertools_line(message: str, **extra: Any) -> str:
        """A Powertools Logger JSON line, as a Lambda function writes it to its log group."""
        line = {
            "level": "INFO",
            "location": "lambda_handler:171",
            "message": message,
            "timestamp": "2023-11-14 22:13:20,000+0000",
            "service": "sluice",
            "cold_start": False,
            "function_name": "sluice-ProcessObjectFunction-Xk3v9Qa1bC2d",
            "function_request_id": "8f5c6d1e-2b3a-4c5d-9e8f-7a6b5c4d3e2f",
            **extra,
        }
        return json.dumps(line) + "\n"

    def lambda_logs(self, n_lines: int = 2) -> dict[str, Any]:
        """A Lambda log group's payload: platform lines around Powertools JSON lines."""
        request = "8f5c6d1e-2b3a-4c5d-9e8f-7a6b5c4d3e2f"
        lines = [
            self.powertools_line("object processed", s3_key=f"incoming/{n}.csv", rows_read=100)
            for n in range(n_lines)
        ]
        return self.awslogs(
            self.lambda_group,
            self.lambda_stream,
            [
                f"START RequestId: {request} Version: $LATEST\n",
                *lines,
                f"REPORT RequestId: {request}\tDuration: 1467.52 ms\tMemory Size: 256 MB\t\n",
            ],
        )

    def states_logs(self) -> dict[str, Any]:
        """A Step Functions Express state machine's log group (vended logs) payload."""
        started = {
            "id": "1",
            "type": "ExecutionStarted",
            "details": {"input": "{}", "roleArn": "arn:aws:iam::123456789012:role/drain"},
            "previous_event_id": "0",
            "event_timestamp": "1699999999000",
            "execution_arn": self.execution_arn,
        }
        failed = {
            "id": "3",
            "type": "ExecutionFailed",
            "details": {"error": "States.TaskFailed", "cause": "ProcessObject timed out"},
            "previous_event_id": "2",
            "event_timestamp": "1700000000000",
            "execution_arn": self.execution_arn,
        }
        messages = [json.dumps(started), json.dumps(failed)]
        return self.awslogs(self.states_group, self.states_stream, messages)


@pytest.fixture
def payloads() -> Payloads:
    return Payloads()


@pytest.fixture
def hec() -> Iterator[HecServer]:
    with HecServer(token=HEC_TOKEN) as server:
        yield server


class Sleeps(list[float]):
    """A sleep() that records instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def fresh_handler() -> Callable[[], Handler]:
    """A cold start: the handler module loaded anew, so its cached settings/pool are new."""
    return lambda: load_handler(CODE_DIR, "app.lambda_handler", LAYERS, container=uuid.uuid4().hex)
