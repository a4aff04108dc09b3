"""`sluice-local up` as an operator uses it: started in one process, used from others.

An object uploaded through the endpoint (S3 PutObject from this process) goes the whole way:
EventBridge, ObjectQueue, the drain the schedule starts, ProcessObject, the local downstream;
its rows show in CloudWatch metrics and the downstream's counts. boto3 configured only by the
environment `up` prints (another process) lists the bucket and the queues. SIGTERM stops it
cleanly. The tests share one `up` process and run in file order: the stop test stays last.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sluice_local.jobs.demo import wait_for
from testkit.local_up import LocalUp, local_up

pytestmark = pytest.mark.e2e

PREFIX = "incoming/"
# Another process reads the endpoint from the environment alone, as `aws` and `sluice` do.
LIST_FROM_ENVIRONMENT = """
import json, sys, boto3
bucket = sys.argv[1]
s3, sqs = boto3.client("s3"), boto3.client("sqs")
print(json.dumps({
    "buckets": [b["Name"] for b in s3.list_buckets()["Buckets"]],
    "keys": [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])],
    "queues": sqs.list_queues().get("QueueUrls", []),
}))
"""


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalUp]:
    with local_up(
        tmp_path_factory.mktemp("up"),
        "--parameter-overrides",
        f"ObjectKeyPrefix={PREFIX} MaxConcurrency=3",
        # Started from a shell that exported another endpoint and a profile unknown here (the
        # operator's, say): the emulator inside uses neither.
        environment={"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_PROFILE": "no-such-profile"},
    ) as running:
        yield running


def csv_body(rows: int) -> bytes:
    lines = ["id,customer,amount,note", *(f"{n},customer {n},{n},plain" for n in range(rows))]
    return ("\n".join(lines) + "\n").encode()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """demo.wait_for, asking ``condition`` about twice a second: each ask is requests to the
    `sluice-local up` process, which runs niced beside the other worker's tests."""

    def unhurried() -> bool:
        if condition():
            return True
        time.sleep(0.45)
        return False

    wait_for(unhurried, timeout, what)


def queue_depth(up: LocalUp, output: str) -> int:
    attributes = up.client("sqs").get_queue_attributes(
        QueueUrl=up.outputs[output],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def lambda_metric(up: LocalUp, name: str, statistic: str) -> float:
    """Lambda's own metric of ProcessObject over the last hour (AWS/Lambda, FunctionName)."""
    now = datetime.now(UTC)
    points = up.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName=name,
        Dimensions=[{"Name": "FunctionName", "Value": up.outputs["ProcessObjectFunctionName"]}],
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(minutes=5),
        Period=3600,
        Statistics=[statistic],
    )["Datapoints"]
    return float(sum(point[statistic] for point in points))


def rows_sent_metric(up: LocalUp) -> float:
    """Sum of ProcessObject's RowsSent (EMF, shipped to CloudWatch) over every dimension set."""
    cloudwatch = up.client("cloudwatch")
    now = datetime.now(UTC)
    total = 0.0
    for metric in cloudwatch.list_metrics(Namespace="Sluice", MetricName="RowsSent")["Metrics"]:
        points = cloudwatch.get_metric_statistics(
            Namespace="Sluice",
            MetricName="RowsSent",
            Dimensions=metric["Dimensions"],
            StartTime=now - timedelta(hours=1),
            EndTime=now + timedelta(minutes=5),
            Period=3600,
            Statistics=["Sum"],
        )["Datapoints"]
        total = max(total, sum(point["Sum"] for point in points))  # each set counts every row
    return total


def test_it_prints_the_stack_as_cloudformation_describes_it(up: LocalUp) -> None:
    assert up.endpoint.startswith("http://127.0.0.1:")
    assert up.stack_name == "sluice"
    assert up.env["AWS_ENDPOINT_URL"] == up.endpoint
    stack: Any = up.client("cloudformation").describe_stacks(StackName="sluice")["Stacks"][0]
    described = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    # The template's outputs, no more (the runtime's own are hidden) and no fewer.
    assert described == up.outputs
    assert {"BucketName", "ObjectQueueUrl", "DrainStateMachineArn"} <= set(described)
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert parameters["ObjectKeyPrefix"] == PREFIX


def test_an_object_put_through_the_endpoint_is_processed(up: LocalUp) -> None:
    s3 = up.client("s3")
    bucket = up.outputs["BucketName"]
    before = up.downstream_stats()["accepted"]
    objects = {f"{PREFIX}up/plain.csv": 5, f"{PREFIX}up/q1 2026/a+b:ü.csv": 3}
    for key, rows in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=csv_body(rows))
    # Outside ObjectKeyPrefix: the pipeline leaves it alone.
    s3.put_object(Bucket=bucket, Key="elsewhere/ignored.csv", Body=csv_body(4))
    rows = sum(objects.values())

    wait_until(
        lambda: (
            up.downstream_stats()["accepted"] - before >= rows
            and queue_depth(up, "ObjectQueueUrl") == 0
        ),
        timeout=45,
        what=f"{rows} rows downstream and ObjectQueue drained",
    )
    stats = up.downstream_stats()
    assert stats["accepted"] - before == rows
    assert stats["duplicate_keys"] == 0
    assert queue_depth(up, "ObjectDeadLetterQueueUrl") == 0
    wait_until(lambda: rows_sent_metric(up) >= rows, timeout=10, what="RowsSent in CloudWatch")
    assert rows_sent_metric(up) == rows
    # What Lambda publishes itself, which `sluice monitor` reads as on AWS.
    assert lambda_metric(up, "Invocations", "Sum") >= len(objects)
    assert lambda_metric(up, "Errors", "Sum") == 0
    assert 1 <= lambda_metric(up, "ConcurrentExecutions", "Maximum") <= 3  # MaxConcurrency


def test_boto3_configured_by_the_printed_environment_lists_bucket_and_queues(
    up: LocalUp,
) -> None:
    bucket = up.outputs["BucketName"]
    listed = subprocess.run(
        [sys.executable, "-c", LIST_FROM_ENVIRONMENT, bucket],
        env=up.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    seen = json.loads(listed.stdout)
    assert bucket in seen["buckets"]
    assert "elsewhere/ignored.csv" in seen["keys"]
    queue_names = {url.rsplit("/", 1)[-1] for url in seen["queues"]}
    for output in ("ObjectQueueUrl", "PriorityQueueUrl", "ObjectDeadLetterQueueUrl"):
        assert up.outputs[output].rsplit("/", 1)[-1] in queue_names


# -- issue 18's acceptance: the operator command against it --------------------------------
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def sluice(up: LocalUp, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`sluice ARGS` in another process, configured only by the environment `up` printed."""
    command = [str(Path(sys.executable).with_name("sluice")), *args]
    return subprocess.run(
        command, env=up.env, capture_output=True, text=True, timeout=timeout, check=False
    )


def pending(snapshot: dict[str, Any]) -> int:
    return sum(q["visible"] + q["in_flight"] for q in snapshot["queues"].values())


def test_simulate_uploads_and_monitor_shows_them_draining(up: LocalUp) -> None:
    before = up.downstream_stats()["accepted"]
    simulated = sluice(up, "simulate", "--objects", "20", "--rows", "40", "--no-progress")
    assert simulated.returncode == 0, simulated.stderr
    [run_id] = [
        line.split(": ", 1)[1]
        for line in simulated.stdout.splitlines()
        if line.startswith("run id: ")
    ]
    keys = up.client("s3").list_objects_v2(
        Bucket=up.outputs["BucketName"], Prefix=f"{PREFIX}sluice-simulate/{run_id}/"
    )["Contents"]
    assert len(keys) == 20, [k["Key"] for k in keys]

    readings: list[dict[str, Any]] = []

    def drained() -> bool:
        shown = sluice(up, "monitor", "--once", "--json", "--dlq-sample", "0")
        assert shown.returncode == 0, shown.stderr
        readings.append(json.loads(shown.stdout))
        return pending(readings[-1]) == 0 and up.downstream_stats()["accepted"] - before >= 800

    wait_until(drained, 120, "the simulated objects to drain")
    # Seen while there was work, then with none: 800 rows take several drain rounds.
    assert pending(readings[0]) > 0, readings[0]
    assert pending(readings[-1]) == 0
    assert up.downstream_stats()["accepted"] - before == 20 * 40
    assert readings[-1]["dead_letters"]["total"] == 0


def test_perf_writes_its_report_and_counts_every_object(up: LocalUp, tmp_path: Path) -> None:
    out = tmp_path / "perf"
    ran = sluice(
        up,
        "perf",
        "--objects",
        "30",
        "--rows",
        "20",
        "--interval",
        "1",
        "--no-progress",
        "--out",
        str(out),
        timeout=240,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    report = (out / "report.md").read_text()
    assert "| processed | 30 |" in report
    assert "| unaccounted | 0 |" in report
    samples = (out / "samples.csv").read_text().splitlines()
    assert len(samples) >= 2 and "," in samples[0]
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) >= 4, pngs
    for png in pngs:
        data = png.read_bytes()
        assert data.startswith(PNG_SIGNATURE), png
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        assert width >= 400 and height >= 200, (png, width, height)


def test_doctor_prints_each_check_of_the_stack_and_of_a_planned_deploy(up: LocalUp) -> None:
    """moto has no GetAccountSettings and no Service Quotas for states: "not checked", not a
    failure; the rest is checked against the emulator as against AWS."""
    template = str(Path(__file__).resolve().parents[2] / "template.yaml")
    shown = sluice(up, "doctor", "--template", template, "--json", timeout=60)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    checks = {c["name"]: c for c in json.loads(shown.stdout)["checks"]}
    assert checks["parameters"]["status"] == "ok"
    concurrency = checks["lambda-concurrency"]
    assert concurrency["status"] == "skip", concurrency
    assert "ProcessObjectFunction 3" in concurrency["detail"]  # the stack's MaxConcurrency
    assert checks["downstream"]["status"] == "ok"  # the local downstream: http to loopback
    assert checks["quotas:states"]["status"] == "skip"

    secret = up.client("secretsmanager").create_secret(Name="doctor-token", SecretString="t0k3n")
    missing = secret["ARN"].replace("doctor-token", "no-such-token")
    planned = sluice(
        up,
        "doctor",
        "--template",
        template,
        "--parameter-overrides",
        f"DownstreamAuthSecretArn={secret['ARN']} SplunkHecUrl=https://127.0.0.1:9/hec "
        f"SplunkHecTokenSecretArn={missing}",
        timeout=60,
    )
    assert planned.returncode == 1, planned.stdout + planned.stderr
    lines = planned.stdout.splitlines()
    assert any(line.startswith("OK    secret:DownstreamAuthSecretArn") for line in lines), lines
    assert any(line.startswith("FAIL  secret:SplunkHecTokenSecretArn") for line in lines), lines
    assert "t0k3n" not in planned.stdout


def test_sigterm_stops_it_cleanly(up: LocalUp) -> None:
    """Last in the file: the other tests share this process."""
    assert up.stop(timeout=20) == 0
    assert up.lines[-1] == "stopped"
    assert not any("Traceback" in line for line in up.lines)
    # The run's report is written on the way out, as the other local jobs write theirs.
    report_line = next(line for line in up.lines if line.strip().startswith("report: "))
    report = json.loads(Path(report_line.split("report: ", 1)[1]).read_text())
    assert report["job"] == "up"
    assert report["functions"]["ProcessObjectFunction"]["invocations"] >= 2
