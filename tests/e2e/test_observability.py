"""Observability end to end on the local runtime, every optional part on, real servers on
127.0.0.1: function logs and the drain's execution log reach Splunk HEC through subscription
filters, dead-lettered objects and failed drain executions arrive as email through SMTP, the
pipeline's own metrics reach the Dynatrace ingest API, and what cannot be delivered ends in
ObservabilityDeadLetterQueue."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sluice_local.emulator.runtime import LocalPipeline
from sluice_local.jobs.demo import deployed, run_job, sample_objects, wait_for
from sluice_local.servers.dynatrace import DynatraceServer
from sluice_local.servers.hec import HecServer
from sluice_local.servers.smtp import SmtpServer
from testkit.observability import fail_one_drain, observability_servers

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


class Observed:
    def __init__(
        self, pipeline: LocalPipeline, hec: HecServer, dynatrace: DynatraceServer, smtp: SmtpServer
    ) -> None:
        self.pipeline, self.hec, self.dynatrace, self.smtp = pipeline, hec, dynatrace, smtp
        self.report: Any = None

    def wait_for(self, condition: Any, timeout: float = 30.0) -> None:
        wait_for(condition, timeout, "the observed outcome")

    def emails(self) -> list[tuple[str, str]]:
        return [
            (str(m.message["Subject"]), m.message.get_body(("plain",)).get_content())
            for m in list(self.smtp.messages)
        ]


@pytest.fixture(scope="module")
def observed() -> Iterator[Observed]:
    with observability_servers() as servers:
        overrides = {**servers.overrides(), "EnableCloudWatchDashboard": "true"}
        with deployed(
            ROOT / "template.yaml", overrides, secrets=servers.secrets(), latency_s=0.002
        ) as (pipeline, downstream):
            result = Observed(pipeline, servers.hec, servers.dynatrace, servers.smtp)
            objects = sample_objects(count=4, rows=5, failing=2)
            result.report = run_job(pipeline, downstream, objects, timeout=180)
            yield result


def test_every_object_is_accounted_for_with_every_part_on(observed: Observed) -> None:
    report = observed.report
    assert report.unaccounted == [] and report.processed == 4 and len(report.dead_lettered) == 2


def test_each_dead_lettered_object_arrives_as_email_with_its_reason(observed: Observed) -> None:
    observed.wait_for(lambda: sum("dead-lettered" in s.lower() for s, _ in observed.emails()) >= 2)
    bodies = {s: b for s, b in observed.emails() if "dead-lettered" in s.lower()}
    for key, reason in observed.report.dead_lettered.items():
        [body] = [b for s, b in bodies.items() if key in s or key in b]
        assert reason.split(":")[0] in body  # EmptyObject / NotCsv
        assert "sluice-redrive" in body  # what to do about it
    message = observed.smtp.messages[0]
    assert message.rcpt_tos == ("ops@example.com",)
    assert message.message.get_body(("html",)) is not None


def test_function_and_execution_logs_reach_splunk_through_subscription_filters(
    observed: Observed,
) -> None:
    stack = observed.pipeline.stack_name
    observed.wait_for(
        lambda: any(
            e["source"] == f"/aws/vendedlogs/states/{stack}-drain" for e in observed.hec.events
        )
    )
    events = list(observed.hec.events)
    processed = [
        e["event"]
        for e in events
        if e["source"] == f"/aws/lambda/{stack}-ProcessObject"
        and isinstance(e["event"], dict)
        and e["event"].get("message") == "object processed"
    ]
    # Correlation ids travel with each line: the object, its message and its drain execution.
    assert len({p["s3_key"] for p in processed}) == 4
    assert all(p.get("message_id") and p.get("execution") for p in processed)
    drain = [e["event"] for e in events if e["source"].startswith("/aws/vendedlogs/states/")]
    assert {"TaskFailed"} <= {d["type"] for d in drain}  # the two bad objects' ProcessObject
    assert all(e["sourcetype"] == "aws:cloudwatchlogs" for e in events)
    assert not any(e["source"].endswith("-SplunkForwarder") for e in events)  # no loop


def test_pipeline_metrics_reach_dynatrace(observed: Observed) -> None:
    # A scheduled event a little in the future: its window (one period, ending the sync delay
    # before the event) then covers the run that just happened.
    when = datetime.now(UTC) + timedelta(minutes=5)
    event = {"detail-type": "Scheduled Event", "source": "aws.events", "time": when.isoformat()}
    lam = observed.pipeline.client("lambda")
    sync = observed.pipeline.resources["MetricsSyncFunction"]
    answer = lam.invoke(FunctionName=sync, Payload=json.dumps(event).encode())
    assert "FunctionError" not in answer, answer["Payload"].read()
    processed = observed.dynatrace.find("sluice.objects.processed.count")
    assert sum(line.payload.get("delta", 0) for line in processed) == 4
    rows = observed.dynatrace.find("sluice.rows.sent.count")
    assert sum(line.payload.get("delta", 0) for line in rows) == 4 * 5
    assert all(line.dimensions.get("stack") for line in processed)


def test_a_failed_drain_execution_arrives_as_email(observed: Observed) -> None:
    fail_one_drain(observed.pipeline)
    observed.wait_for(lambda: any("injected" in b for _, b in observed.emails()))
    [(subject, body)] = [(s, b) for s, b in observed.emails() if "injected" in b]
    assert "failed" in subject.lower()
    assert "console.aws.amazon.com/states" in body  # the execution link


def test_undeliverable_log_batches_end_in_the_observability_dead_letter_queue(
    observed: Observed,
) -> None:
    pipeline = observed.pipeline
    # A refused token, every time: each invocation (Lambda's first and its two retries) fails.
    observed.hec.fail_next(50, status=403)
    lam = pipeline.client("lambda")
    lease = pipeline.resources["DrainLeaseFunction"]
    try:
        lam.invoke(FunctionName=lease, Payload=json.dumps({"action": "nonsense"}).encode())
    finally:
        observed.hec.reset()
    sqs = pipeline.client("sqs")
    url = pipeline.outputs["ObservabilityDeadLetterQueueUrl"]
    records = [
        json.loads(m["Body"])
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
    ]
    forwarder = [r for r in records if "SplunkForwarder" in r["requestContext"]["functionArn"]]
    assert forwarder, records
    record = forwarder[0]
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert "awslogs" in record["requestPayload"]  # the batch, ready to replay
    assert "403" in record["responsePayload"]["errorMessage"]
