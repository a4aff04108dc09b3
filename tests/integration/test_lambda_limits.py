"""The local runtime refuses what Lambda refuses: each test breaks a limit on purpose, through the
Lambda API of a deployed template (lambda_limits/template.yaml), and sees AWS's error."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sluice_local.emulator.lambda_service import SYNC_REQUEST_LIMIT, SYNC_RESPONSE_LIMIT
from sluice_local.emulator.runtime import LocalPipeline
from sluice_local.jobs.demo import wait_for
from sluice_local.jobs.report import build_report, summary_lines, write_report
from sluice_local.servers.downstream import DownstreamServer

TEMPLATE = Path(__file__).parent / "lambda_limits" / "template.yaml"


class Deployed:
    def __init__(self, pipeline: LocalPipeline, target: DownstreamServer, logs: Path) -> None:
        self.pipeline, self.target, self.logs = pipeline, target, logs

    def invoke(self, logical_id: str, payload: Any, **kwargs: Any) -> dict[str, Any]:
        answer: dict[str, Any] = self.pipeline.client("lambda").invoke(
            FunctionName=self.pipeline.resources[logical_id],
            Payload=payload if isinstance(payload, bytes) else json.dumps(payload).encode(),
            **kwargs,
        )
        return answer

    def log_lines(self, logical_id: str) -> list[str]:
        return (self.logs / f"{logical_id}.log").read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    logs = tmp_path_factory.mktemp("logs")
    with (
        DownstreamServer() as target,
        LocalPipeline(TEMPLATE, {"TargetUrl": target.url}, log_dir=logs) as pipeline,
    ):
        yield Deployed(pipeline, target, logs)


def test_a_handler_past_its_timeout_is_stopped_at_the_deadline_and_reaches_nothing(
    deployed: Deployed,
) -> None:
    stats = deployed.pipeline.dispatcher.stats
    started = time.monotonic()
    answer = deployed.invoke("OverrunFunction", {"sleep_s": 2.8})  # Timeout: 2
    answered_after = time.monotonic() - started

    assert answered_after < 2.5  # at the deadline, not when the handler finishes
    assert answer["FunctionError"]
    error = json.loads(answer["Payload"].read())
    assert error["errorType"] == "Sandbox.Timedout"
    assert error["errorMessage"].endswith("Task timed out after 2.00 seconds")

    # Lambda frees the reserved-concurrency slot (1) at the timeout: the abandoned thread is
    # still sleeping, and the next invocation runs; its clock starts from the full Timeout.
    assert deployed.pipeline.dispatcher.abandoned_running()["OverrunFunction"] == 1
    second = deployed.invoke("OverrunFunction", {"sleep_s": 0, "act": False})
    assert 1800 <= json.loads(second["Payload"].read())["remaining_ms_at_start"] <= 2000

    # When the abandoned thread wakes, its HTTP request and its S3 call are refused.
    wait_for(lambda: stats.refused_after_timeout["OverrunFunction"] == 2, 3, "two late refusals")
    assert deployed.target.requests == []
    listing = deployed.pipeline.client("s3").list_objects_v2(
        Bucket=deployed.pipeline.resources["Bucket"]
    )
    assert listing.get("KeyCount", 0) == 0
    assert stats.timeouts["OverrunFunction"] == 1
    assert stats.max_seconds["OverrunFunction"] <= 2.0
    log = deployed.log_lines("OverrunFunction")
    assert sum("Task timed out after 2.00 seconds" in line for line in log) == 1
    # Its lines after the deadline were dropped (the second invocation's remain).
    assert sum("still running after the sleep" in line for line in log) == 1


def test_lenient_lets_an_overrun_finish_and_counts_it(deployed: Deployed) -> None:
    dispatcher = deployed.pipeline.dispatcher
    dispatcher.lenient = True
    try:
        answer = deployed.invoke("OverrunFunction", {"sleep_s": 2.1})
    finally:
        dispatcher.lenient = False
    assert "FunctionError" not in answer
    assert json.loads(answer["Payload"].read())["outcomes"] == ["http: sent", "s3: sent"]
    assert dispatcher.stats.over_timeout["OverrunFunction"] == 1
    assert dispatcher.stats.max_seconds["OverrunFunction"] > 2.0
    deployed.target.reset()


def _payload_of(size: int) -> bytes:
    body = json.dumps({"pad": ""}).encode()
    return json.dumps({"pad": "x" * (size - len(body))}).encode()


def test_a_request_over_6_mb_is_refused_with_request_entity_too_large(deployed: Deployed) -> None:
    at_limit = _payload_of(SYNC_REQUEST_LIMIT)
    assert len(at_limit) == SYNC_REQUEST_LIMIT
    assert "FunctionError" not in deployed.invoke("EchoFunction", at_limit)
    with pytest.raises(ClientError) as refused:
        deployed.invoke("EchoFunction", _payload_of(SYNC_REQUEST_LIMIT + 1))
    assert refused.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert "Request must be smaller than 6291456 bytes" in str(refused.value)


def test_an_asynchronous_request_over_1_mb_is_refused(deployed: Deployed) -> None:
    ok = deployed.invoke("EchoFunction", _payload_of(1_048_576), InvocationType="Event")
    assert ok["StatusCode"] == 202
    with pytest.raises(ClientError) as refused:
        deployed.invoke("EchoFunction", _payload_of(1_048_577), InvocationType="Event")
    assert refused.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert "too large for the Event invocation type (limit 1048576 bytes)" in str(refused.value)


def test_a_response_over_the_limit_is_a_function_error(deployed: Deployed) -> None:
    # Between moto's own 6,000,000-byte check and Lambda's limit: Lambda answers it.
    fits = deployed.invoke("EchoFunction", {"bytes": SYNC_RESPONSE_LIMIT})
    assert "FunctionError" not in fits
    assert len(fits["Payload"].read()) == SYNC_RESPONSE_LIMIT
    answer = deployed.invoke("EchoFunction", {"bytes": SYNC_RESPONSE_LIMIT + 1})
    assert answer["FunctionError"]
    error = json.loads(answer["Payload"].read())
    assert error["errorType"] == "Function.ResponseSizeTooLarge"
    assert error["errorMessage"] == (
        "Response payload size exceeded maximum allowed payload size (6291556 bytes)."
    )


def test_concurrent_invocations_log_and_emit_metrics_of_their_own(deployed: Deployed) -> None:
    calls = [("SmallFunction" if n % 2 else "LargeFunction", n) for n in range(16)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda c: deployed.invoke(c[0], {"n": c[1]}), calls))
    assert not any("FunctionError" in a for a in answers)

    expected = {
        "SmallFunction": (deployed.pipeline.resources["SmallFunction"], 256, "SmallCalls"),
        "LargeFunction": (deployed.pipeline.resources["LargeFunction"], 512, "LargeCalls"),
    }
    for logical_id, (name, memory, metric) in expected.items():
        records = [json.loads(line) for line in deployed.log_lines(logical_id)]
        lines = [r for r in records if r.get("message") == "isolated"]
        blobs = [r for r in records if "_aws" in r]
        assert len(lines) == len(blobs) == 8
        assert {(r["function_name"], r["function_memory_size"]) for r in lines} == {(name, memory)}
        for blob in blobs:
            [directive] = blob["_aws"]["CloudWatchMetrics"]
            assert [m["Name"] for m in directive["Metrics"]] == [metric]
            assert blob[metric] in (1.0, [1.0])  # one invocation's metric, not [1.0, 1.0]


def test_the_report_holds_each_function_and_the_limits(deployed: Deployed, tmp_path: Path) -> None:
    path = write_report(deployed.pipeline, tmp_path / "report.json", job="test", summary={"a": 1})
    report = json.loads(path.read_text())
    assert report == build_report(deployed.pipeline, job="test", summary={"a": 1}) | {
        "written_at": report["written_at"]
    }
    overrun = report["functions"]["OverrunFunction"]
    assert overrun["timeout_s"] == 2.0 and overrun["timed_out"] >= 1
    assert {
        "invocations",
        "max_duration_s",
        "timeout_s",
        "timed_out",
        "memory_mb",
        "refused_after_timeout",
    } <= set(overrun)
    assert report["iam"]["calls_checked"] >= 0 and isinstance(report["iam"]["denied"], list)
    assert report["limits"]["sync_request_bytes"] == 6_291_456
    assert report["summary"] == {"a": 1} and report["lenient"] is False
    [(iam_name, _), (longest_name, longest)] = summary_lines(report)
    assert (iam_name, longest_name) == ("IAM calls checked", "longest invocation")
    assert longest.endswith("(OverrunFunction)")
