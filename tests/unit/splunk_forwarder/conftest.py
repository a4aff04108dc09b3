"""SplunkForwarder's code root and the common layer on sys.path, a local HEC, awslogs payloads."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from typing import Any

import pytest

from sluice_local.servers.hec import HecServer
from testkit.functions import function_under_test

ACCOUNT = "123456789012"
HEC_TOKEN = "b1946ac9-2b3c-4d5e-8f9a-0c1d2e3f4a5b"

fresh_handler = function_under_test("splunk_forwarder")


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
        # (id, type, details, previous_event_id, event_timestamp) of each history event
        events = [
            (
                "1",
                "ExecutionStarted",
                {"input": "{}", "roleArn": "arn:aws:iam::123456789012:role/drain"},
                "0",
                "1699999999000",
            ),
            (
                "3",
                "ExecutionFailed",
                {"error": "States.TaskFailed", "cause": "ProcessObject timed out"},
                "2",
                "1700000000000",
            ),
        ]
        messages = [
            json.dumps(
                {
                    "id": event_id,
                    "type": event_type,
                    "details": details,
                    "previous_event_id": previous,
                    "event_timestamp": timestamp,
                    "execution_arn": self.execution_arn,
                }
            )
            for event_id, event_type, details, previous, timestamp in events
        ]
        return self.awslogs(self.states_group, self.states_stream, messages)


@pytest.fixture
def payloads() -> Payloads:
    return Payloads()


@pytest.fixture
def hec() -> Iterator[HecServer]:
    with HecServer(token=HEC_TOKEN) as server:
        yield server
