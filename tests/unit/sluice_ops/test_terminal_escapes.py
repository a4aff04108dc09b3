"""Operator tools print text chosen by others (S3 keys, message attributes, dead-letter records)
as visible escapes: a terminal never receives the control sequences such text can carry."""

from __future__ import annotations

import argparse
import json
import unicodedata
from typing import Any

import pytest
from test_redrive import queues
from test_stream import aws

from sluice_ops import cli, dashboard, stream
from sluice_ops.dashboard import StackResources

__all__ = ["aws", "queues"]  # fixtures: moto's SQS queues, and a stream with its DLQ

# Clears the screen, retitles the window (OSC ... BEL), a C1 CSI, a carriage return and a
# backspace that overwrite the line, and a right-to-left override that reverses what follows.
HOSTILE = "\x1b[2J\x1b]0;pwned\x07\x9b31m\rok\b\u202egpj.csv"
SHOWN = "\\x1b[2J\\x1b]0;pwned\\x07\\x9b31m\\rok\\x08\\u202egpj.csv"


def assert_safe(text: str) -> None:
    """No character a terminal acts on, other than the tool's own line breaks."""
    acting = [
        c for c in text if c != "\n" and unicodedata.category(c) in {"Cc", "Cf", "Cs", "Zl", "Zp"}
    ]
    assert not acting, acting


def _hostile_dead_letter(sqs: Any, dlq: str) -> None:
    key = f"incoming/{HOSTILE}"
    sqs.send_message(
        QueueUrl=dlq,
        MessageBody=json.dumps({"s3_details": {"bucket": "b", "key": key}}),
        MessageAttributes={
            "sluice-error": {"DataType": "String", "StringValue": f"NotCsv{HOSTILE}"},
            "sluice-reason": {"DataType": "String", "StringValue": f"NotCsv: s3://b/{key}"},
        },
    )


def test_redrive_list_prints_a_hostile_key_and_reason_escaped(
    queues: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _, dlq, source = queues
    _hostile_dead_letter(queues[0], dlq)
    cli.main(["--dlq-url", dlq, "--source-url", source, "list"])
    out = capsys.readouterr().out
    assert_safe(out)
    lines = out.splitlines()
    assert lines[0] == f"1 dead letter(s) in {dlq}"
    assert len(lines) == 2  # one line per dead letter: the reason's text breaks none
    assert lines[1].endswith(f"NotCsv{SHOWN}: NotCsv: s3://b/incoming/{SHOWN}")


def test_redrive_counts_by_error_print_the_error_escaped(
    queues: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _, dlq, source = queues
    _hostile_dead_letter(queues[0], dlq)
    cli.main(["--dlq-url", dlq, "--source-url", source, "redrive", "--dry-run"])
    out = capsys.readouterr().out
    assert_safe(out)
    assert f"  NotCsv{SHOWN}: 1" in out.splitlines()


def test_stream_replay_prints_a_dead_letter_record_escaped(
    aws: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    kinesis, sqs, dlq = aws
    shard = kinesis.list_shards(StreamName="events")["Shards"][0]["ShardId"]
    put = kinesis.put_record(StreamName="events", Data=b"d0", PartitionKey="k")
    # Anyone who may send to the dead-letter queue writes the whole record, condition included.
    record = {
        "requestContext": {"condition": HOSTILE},
        "KinesisBatchInfo": {
            "shardId": shard,
            "startSequenceNumber": put["SequenceNumber"],
            "endSequenceNumber": put["SequenceNumber"],
            "batchSize": 1,
        },
    }
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps(record))
    stream.main(["--stream-name", "events", "--dlq-url", dlq, "replay", "--dry-run"])
    out = capsys.readouterr().out
    assert_safe(out)
    assert out.endswith(f"(1 records, {SHOWN}): would replay\n")


def test_dashboard_json_escapes_every_control_character(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Physical names are AWS's, but the output must hold whatever they are: json.dumps with
    # ensure_ascii (its default) writes every control and non-ASCII character as \\uXXXX.
    resources = StackResources(
        stack="sluice",
        queues={"ObjectQueue": f"q{HOSTILE}", "ObjectDeadLetterQueue": f"dlq{HOSTILE}"},
        functions={"ProcessObjectFunction": f"fn{HOSTILE}"},
        state_machine=f"drain{HOSTILE}",
    )
    monkeypatch.setattr(dashboard, "read_stack", lambda *_: resources)
    args = argparse.Namespace(stack_name="sluice", owner="")
    text = dashboard.run(args, cloudformation=None)
    assert text.isascii()
    assert_safe(text)
    assert f"`dlq{HOSTILE}`" in json.loads(text)["tiles"][0]["markdown"]  # nothing lost
