"""sluice perf's run loop against the emulator: a simulated load is uploaded to S3, a stand-in
pipeline writes ProcessObject's "object processed" log lines to CloudWatch Logs and dead-letters
broken objects in SQS (the AWS shapes perf reads), and the real monitor is sampled."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sluice_ops import monitor, perf, perf_sources
from sluice_ops.context import SluiceCliError, StackContext
from sluice_ops.perf_run import Invocation, RunObject

REGION = "us-east-1"
STACK = "sluice"
LOG_GROUP = f"/aws/lambda/{STACK}-ProcessObject"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MONITOR_SNAPSHOT = monitor.snapshot  # the real one, sampled by the stand-in pipeline


@pytest.fixture
def ctx() -> Iterator[StackContext]:
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        sqs = session.client("sqs")
        outputs = {
            "BucketName": "sluice-bucket",
            "ObjectQueueUrl": sqs.create_queue(QueueName="ObjectQueue")["QueueUrl"],
            "PriorityQueueUrl": sqs.create_queue(QueueName="PriorityQueue")["QueueUrl"],
            "ObjectDeadLetterQueueUrl": sqs.create_queue(QueueName="ObjectDLQ")["QueueUrl"],
            "ProcessObjectFunctionName": f"{STACK}-ProcessObjectFunction-ABC123",
            "LeaseTableName": "lease",
            "DrainStateMachineArn": f"arn:aws:states:{REGION}:123456789012:stateMachine:drain",
        }
        session.client("s3").create_bucket(Bucket=outputs["BucketName"])
        session.client("cloudformation").create_stack(
            StackName=STACK,
            TemplateBody=json.dumps(
                {
                    "Resources": {
                        perf_sources.PROCESS_LOG_GROUP: {
                            "Type": "AWS::Logs::LogGroup",
                            "Properties": {"LogGroupName": LOG_GROUP},
                        }
                    }
                }
            ),
        )
        yield StackContext(
            session,
            STACK,
            REGION,
            None,
            outputs=outputs,
            parameters={
                "MaxConcurrency": "2",
                "ObjectKeyPrefix": "",
                "ObjectKeySuffix": ".csv",
                "AlarmDownstreamFailureRate": "0.05",
            },
        )


class StandInPipeline:
    """Ends each object the way the real one is observed: a JSON "object processed" line in
    ProcessObject's log group, or the S3 event in the dead-letter queue with sluice-error."""

    def __init__(self, ctx: StackContext, prefix: str, stuck: str | None = None) -> None:
        self.ctx, self.prefix, self.stuck = ctx, prefix, stuck
        self.done: set[str] = set()
        self.logs, self.sqs, self.s3 = ctx.client("logs"), ctx.client("sqs"), ctx.client("s3")
        self.logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName="stream")

    def step(self) -> None:
        bucket = self.ctx.outputs["BucketName"]
        listed = self.s3.list_objects_v2(Bucket=bucket, Prefix=self.prefix).get("Contents", [])
        for entry in listed:
            key = entry["Key"]
            if key in self.done or key == self.stuck:
                continue
            self.done.add(key)
            if "-broken-" in key:
                event = {
                    "source": "aws.s3",
                    "detail-type": "Object Created",
                    "detail": {"bucket": {"name": bucket}, "object": {"key": key}},
                }
                error = key.rsplit("-broken-", 1)[1].split(".")[0]
                self.sqs.send_message(
                    QueueUrl=self.ctx.outputs["ObjectDeadLetterQueueUrl"],
                    MessageBody=json.dumps(event),
                    MessageAttributes={
                        "sluice-error": {"DataType": "String", "StringValue": error}
                    },
                )
                continue
            now = datetime.now(UTC)
            line = {  # as Powertools writes it (functions/process_object/app.py)
                "level": "INFO",
                "message": "object processed",
                "timestamp": now.strftime("%Y-%m-%d %H:%M:%S,")
                + f"{now.microsecond // 1000:03d}+0000",
                "service": "sluice",
                "s3_bucket": bucket,
                "s3_key": key,
                "next_row": 6,
                "dt.metrics": {"sluice.rows_sent": 5, "sluice.duration_ms": 40},
            }
            self.logs.put_log_events(
                logGroupName=LOG_GROUP,
                logStreamName="stream",
                logEvents=[{"timestamp": int(time.time() * 1000), "message": json.dumps(line)}],
            )

    def snapshot(self, ctx: StackContext) -> dict[str, Any]:
        self.step()
        return MONITOR_SNAPSHOT(ctx)


def _args(tmp_path: Path, **overrides: Any) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    perf.add_arguments(parser)
    args = parser.parse_args(["--out", str(tmp_path / "report"), "--no-progress"])
    for name, value in overrides.items():
        setattr(args, name, value)
    return args


def _install(
    monkeypatch: pytest.MonkeyPatch, ctx: StackContext, stuck: str | None = None
) -> dict[str, StandInPipeline]:
    made: dict[str, StandInPipeline] = {}

    def snapshot(c: StackContext) -> dict[str, Any]:
        if "pipeline" not in made:
            made["pipeline"] = StandInPipeline(c, "", stuck)
        return made["pipeline"].snapshot(c)

    monkeypatch.setattr(perf, "resolve", lambda args: ctx)
    monkeypatch.setattr(monitor, "snapshot", snapshot)
    return made


def test_a_simulated_run_is_measured_until_every_object_ended(
    ctx: StackContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install(monkeypatch, ctx)
    args = _args(tmp_path, objects=9, rows=5, broken=1 / 3, interval=0.1, timeout=60.0)
    assert perf.run(args) == 0
    out = tmp_path / "report"
    report = (out / "report.md").read_text()
    assert "Complete: every object" in report
    assert "| objects uploaded | 9 |" in report
    assert "| processed | 6 |" in report and "| dead-lettered | 3 |" in report
    assert "| unaccounted | 0 |" in report
    # simulate's broken kinds, one each, with the reason from sluice-error
    for reason in ("EmptyObject", "NotCsv", "RowsFailed"):
        assert f"| {reason} | 1 |" in report
    assert "| every object accounted for |" in report
    assert f"`{LOG_GROUP}`" in report  # found through the stack's ProcessObjectLogGroup
    lines = (out / "samples.csv").read_text().splitlines()
    assert lines[0].startswith("sampled_at,elapsed_s,objects_ended,")
    assert "queues.ObjectQueue.visible" in lines[0]
    assert len(lines) >= 2
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 4
    assert all(p.read_bytes()[:8] == PNG_SIGNATURE for p in pngs)


def test_a_timeout_still_writes_the_report_marked_incomplete_and_exits_1(
    ctx: StackContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stuck = "sluice-simulate/run-stuck/000001.csv"
    _install(monkeypatch, ctx, stuck=stuck)
    args = _args(tmp_path, objects=3, run_id="run-stuck", interval=0.2, timeout=2.0)
    assert perf.run(args) == 1
    report = (tmp_path / "report" / "report.md").read_text()
    assert "**INCOMPLETE**" in report
    assert "| processed | 2 |" in report and "| unaccounted | 1 |" in report
    assert f"- `{stuck}`" in report


def test_prefix_measures_objects_already_there(
    ctx: StackContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3 = ctx.client("s3")
    for n in range(3):
        s3.put_object(Bucket="sluice-bucket", Key=f"incoming/day-1/{n}.csv", Body=b"a\n1\n")
    s3.put_object(Bucket="sluice-bucket", Key="incoming/day-2/0.csv", Body=b"a\n1\n")
    _install(monkeypatch, ctx)
    args = _args(tmp_path, prefix="incoming/day-1/", interval=0.1, timeout=30.0)
    assert perf.run(args) == 0
    report = (tmp_path / "report" / "report.md").read_text()
    assert "| objects uploaded | 3 |" in report and "| processed | 3 |" in report
    assert "| rows processed | 15 |" in report  # from each line's next_row (6: 5 rows done)


def test_a_prefix_with_no_objects_is_refused(
    ctx: StackContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install(monkeypatch, ctx)
    with pytest.raises(SluiceCliError, match="no objects under s3://sluice-bucket/nothing/"):
        perf.run(_args(tmp_path, prefix="nothing/"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"objects": 0}, "--objects must be at least 1"),
        ({"interval": 0.0}, "--interval must be more than 0"),
        ({"timeout": -1.0}, "--timeout must be more than 0"),
        ({"prefix": " "}, "--prefix is empty"),
    ],
)
def test_bad_input_is_refused_before_any_aws_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overrides: dict[str, Any], message: str
) -> None:
    def no_aws(args: argparse.Namespace) -> StackContext:
        raise AssertionError("resolve() called for bad input")

    monkeypatch.setattr(perf, "resolve", no_aws)
    with pytest.raises(SluiceCliError, match=message):
        perf.run(_args(tmp_path, **overrides))


def test_the_log_group_comes_from_the_stack_else_from_the_templates_name(
    ctx: StackContext,
) -> None:
    ctx.client("cloudformation").create_stack(
        StackName="renamed",
        TemplateBody=json.dumps(
            {
                "Resources": {
                    perf_sources.PROCESS_LOG_GROUP: {
                        "Type": "AWS::Logs::LogGroup",
                        "Properties": {"LogGroupName": "/custom/group"},
                    }
                }
            }
        ),
    )
    renamed = StackContext(ctx.session, "renamed", REGION, None, outputs=ctx.outputs)
    assert perf_sources.process_log_group(renamed) == "/custom/group"
    # No such stack resource to read (or no permission): the name template.yaml gives it.
    other = StackContext(ctx.session, "other-stack", REGION, None, outputs=ctx.outputs)
    assert perf_sources.process_log_group(other) == "/aws/lambda/other-stack-ProcessObject"


def test_processed_log_reads_each_event_once_and_ignores_other_lines(ctx: StackContext) -> None:
    logs = ctx.client("logs")
    logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName="s")
    now_ms = int(time.time() * 1000)

    def put(line: dict[str, Any] | str, at: int) -> None:
        message = line if isinstance(line, str) else json.dumps(line)
        logs.put_log_events(
            logGroupName=LOG_GROUP,
            logStreamName="s",
            logEvents=[{"timestamp": at, "message": message}],
        )

    processed = {
        "message": "object processed",
        "timestamp": "2026-12-01 03:05:34,961+0000",
        "s3_key": "a b+c:d.csv",
        "next_row": 3,
        "dt.metrics": {"sluice.duration_ms": 500},
    }
    put(processed, now_ms)
    unfinished = {
        "message": "object unfinished: it carries on from its checkpoint",
        "s3_key": "big.csv",
        "next_row": 900,
        "dt.metrics": {"sluice.duration_ms": 2000},
    }
    put(unfinished, now_ms)
    put({"message": "object not processed", "s3_key": "x.csv"}, now_ms)
    put("START RequestId: 1 object processed", now_ms)  # not JSON: not ProcessObject's line
    reader = perf_sources.ProcessedLog(logs, LOG_GROUP, since=now_ms / 1000 - 10)
    first = sorted(reader.poll(), key=lambda i: i.key)
    assert [(i.key, i.finished, i.rows, i.seconds) for i in first] == [
        ("a b+c:d.csv", True, 2, 0.5),
        ("big.csv", False, None, 2.0),
    ]
    # The line's own Powertools time; the event's time when the line has none.
    assert first[0].ended_at == datetime(2026, 12, 1, 3, 5, 34, 961000, UTC).timestamp()
    assert first[1].ended_at == pytest.approx(now_ms / 1000)
    put({"message": "object processed", "s3_key": "z.csv"}, now_ms + 5)
    assert [i.key for i in reader.poll()] == ["z.csv"]  # the first lines are not read twice


def test_processed_log_before_the_group_exists_reads_nothing(ctx: StackContext) -> None:
    assert perf_sources.ProcessedLog(ctx.client("logs"), "/aws/lambda/none", since=0).poll() == []


def test_dead_letters_of_the_run_are_found_and_left_in_the_queue(ctx: StackContext) -> None:
    sqs, url = ctx.client("sqs"), ctx.outputs["ObjectDeadLetterQueueUrl"]
    bodies = {
        "run/a.csv": {"s3_details": {"bucket": "b", "key": "run/a.csv"}},
        "run/b.csv": {"source": "aws.s3", "detail": {"object": {"key": "run/b.csv"}}},
        "other/c.csv": {"s3_details": {"bucket": "b", "key": "other/c.csv"}},
    }
    for body in bodies.values():
        sqs.send_message(
            QueueUrl=url,
            MessageBody=json.dumps(body),
            MessageAttributes={"sluice-error": {"DataType": "String", "StringValue": "NotCsv"}},
        )
    sqs.send_message(QueueUrl=url, MessageBody="not json")
    found = perf_sources.dead_letter_endings(sqs, url, {"run/a.csv", "run/b.csv"})
    assert sorted((e.key, e.reason) for e in found) == [
        ("run/a.csv", "NotCsv"),
        ("run/b.csv", "NotCsv"),
    ]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert int(attributes["ApproximateNumberOfMessages"]) == 4  # released, not consumed


def test_measure_waits_for_the_queues_to_empty_even_when_every_object_ended(
    ctx: StackContext,
) -> None:
    """Drained means both: a message still queued (a duplicate event) keeps perf sampling."""
    depths = iter([3, 1, 0])
    clock = iter(float(t) for t in range(100))

    class Log:
        def poll(self) -> list[Invocation]:
            return [Invocation("k", True, 1.0, seconds=0.5)]

    result = perf.measure(
        ctx,
        snapshot=lambda c: {"queues": {"ObjectQueue": {"visible": next(depths), "in_flight": 0}}},
        load=perf.loaded([RunObject("k", 0.0)]),
        log=lambda first_upload: Log(),
        dead_letters=lambda keys: [],
        interval_s=1,
        timeout_s=50,
        started_at=0.0,
        clock=lambda: next(clock),
        sleep=lambda s: None,
    )
    assert not result.timed_out
    assert len(result.samples) == 3
    assert [s.objects_ended for s in result.samples] == [1, 1, 1]


def test_key_of_message_reads_both_message_shapes() -> None:
    assert perf_sources.key_of_message('{"s3_details": {"key": "a.csv"}}') == "a.csv"
    assert perf_sources.key_of_message('{"detail": {"object": {"key": "b c.csv"}}}') == "b c.csv"
    assert perf_sources.key_of_message("[1, 2]") is None
    assert perf_sources.key_of_message("{") is None


def test_rows_bars_are_round_and_about_forty() -> None:
    assert perf.rows_bin_seconds(10) == 1
    assert perf.rows_bin_seconds(100) == 5
    assert perf.rows_bin_seconds(3600) == 120
    assert perf.rows_bin_seconds(10**7) == 3600


class _Log:
    def __init__(self, *invocations: Invocation) -> None:
        self.invocations = list(invocations)

    def poll(self) -> list[Invocation]:
        found, self.invocations = self.invocations, []
        return found


def _measure(ctx: StackContext, **overrides: Any) -> perf.Measurement:
    clock = iter(float(t) for t in range(1000))
    values: dict[str, Any] = {
        "snapshot": lambda c: {"queues": {"ObjectQueue": {"visible": 0, "in_flight": 0}}},
        "load": perf.loaded([RunObject("k", 0.0), RunObject("never", 0.0)]),
        "log": lambda first_upload: _Log(Invocation("k", True, 1.0, seconds=0.5)),
        "dead_letters": lambda keys: [],
        "interval_s": 1,
        "timeout_s": 5,
        "started_at": 0.0,
        "clock": lambda: next(clock),
        "sleep": lambda s: None,
    }
    values.update(overrides)
    return perf.measure(ctx, **values)


def test_measure_times_out_with_the_unaccounted_object_listed(ctx: StackContext) -> None:
    result = _measure(ctx)
    assert result.timed_out and not result.interrupted
    assert [o.key for o in result.accounting.unaccounted] == ["never"]
    assert result.accounting.endings["k"].outcome == "processed"


def test_a_failed_sample_is_skipped_and_counted_not_fatal(ctx: StackContext) -> None:
    from botocore.exceptions import ClientError

    calls = iter(range(100))

    def flaky(c: StackContext) -> dict[str, Any]:
        if next(calls) == 0:
            raise ClientError({"Error": {"Code": "Throttling", "Message": "slow down"}}, "Get")
        return {"queues": {"ObjectQueue": {"visible": 0, "in_flight": 0}}}

    result = _measure(ctx, snapshot=flaky, load=perf.loaded([RunObject("k", 0.0)]))
    assert result.sample_errors == 1
    assert not result.timed_out and len(result.samples) == 1


def test_ctrl_c_ends_the_run_with_what_was_seen(ctx: StackContext) -> None:
    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    result = _measure(ctx, sleep=interrupt)
    assert result.interrupted and result.timed_out  # "never" never ended
    assert len(result.samples) == 1
