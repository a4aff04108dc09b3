"""HEC delivery over real HTTP to a local HEC (127.0.0.1): events, batches, retries, errors."""

from __future__ import annotations

import base64
import gzip
import json
import random
import socket
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import urllib3

from awslogs_payload import MalformedLogsPayload, decode_logs
from hec import (
    DeliveryFailed,
    HecEvent,
    HecRejected,
    HecSettings,
    InvalidSetting,
    TokenUnavailable,
    event_value,
    forward,
    hec_endpoint,
    pack_batches,
    post_batch,
    token_from_secret,
)
from sluice_local.servers.hec import HecServer

SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:sluice/splunk-hec-AbCdEf"
SETTINGS = HecSettings(token_secret=SECRET, index="sluice", backoff_base_s=0.5, backoff_cap_s=8)


@pytest.fixture
def pool() -> Iterator[urllib3.PoolManager]:
    with urllib3.PoolManager(retries=False) as manager:
        yield manager


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound for a moment, then released)."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port: int = unused.getsockname()[1]
    return port


def send(
    hec: HecServer,
    pool: urllib3.PoolManager,
    sleeps: Any,
    event: dict[str, Any],
    settings: HecSettings = SETTINGS,
    token: str | None = None,
) -> Any:
    return forward(
        decode_logs(event),
        pool=pool,
        url=hec_endpoint(hec.url),
        token=token or hec.token,
        settings=settings,
        sleep=sleeps,
        rng=random.Random(1),
    )


def test_lambda_log_lines_arrive_with_token_index_source_sourcetype_and_fields(
    hec: HecServer, pool: urllib3.PoolManager, sleeps: Any, payloads: Any
) -> None:
    summary = send(hec, pool, sleeps, payloads.lambda_logs(n_lines=2))

    assert (summary.log_events, summary.events_forwarded, summary.batches_sent) == (4, 4, 1)
    [request] = hec.requests
    assert request.path == "/services/collector/event"
    assert request.headers["Authorization"] == f"Splunk {hec.token}"
    start, first, second, report = hec.events
    assert first["event"]["message"] == "object processed"  # the JSON line, parsed
    assert second["event"]["s3_key"] == "incoming/1.csv"
    assert start["event"].startswith("START RequestId:")  # platform lines stay text
    assert not start["event"].endswith("\n")
    assert report["event"].startswith("REPORT RequestId:")
    assert first["time"] == pytest.approx(1_700_000_000.001)
    assert {e["index"] for e in hec.events} == {"sluice"}
    assert {e["source"] for e in hec.events} == {payloads.lambda_group}
    assert {e["sourcetype"] for e in hec.events} == {"aws:cloudwatchlogs"}
    assert {e["host"] for e in hec.events} == {payloads.lambda_stream}
    assert first["fields"] == {
        "log_group": payloads.lambda_group,
        "log_stream": payloads.lambda_stream,
        "aws_account": payloads.account,
        "event_id": str(38 * 10**54 + 1),
    }
    assert sleeps == []


def test_step_functions_execution_events_arrive_as_objects_under_a_set_source(
    hec: HecServer, pool: urllib3.PoolManager, sleeps: Any, payloads: Any
) -> None:
    settings = replace(SETTINGS, index="", source="sluice:drain", sourcetype="aws:states")
    send(hec, pool, sleeps, payloads.states_logs(), settings)

    started, failed = hec.events
    assert started["event"]["type"] == "ExecutionStarted"
    assert failed["event"]["details"] == {
        "error": "States.TaskFailed",
        "cause": "ProcessObject timed out",
    }
    assert failed["event"]["execution_arn"] == payloads.execution_arn
    assert {e["source"] for e in hec.events} == {"sluice:drain"}
    assert {e["sourcetype"] for e in hec.events} == {"aws:states"}
    assert all("index" not in e for e in hec.events)  # empty: the token's default index
    assert failed["fields"]["log_group"] == payloads.states_group


def test_batches_respect_the_byte_limit_and_keep_the_order(
    hec: HecServer, pool: urllib3.PoolManager, sleeps: Any, payloads: Any
) -> None:
    event = payloads.lambda_logs(n_lines=40)
    settings = replace(SETTINGS, max_batch_bytes=2000)
    summary = send(hec, pool, sleeps, event, settings)

    sizes = [len(r.body) for r in hec.requests]
    assert len(sizes) > 3
    assert max(sizes) <= 2000
    assert summary.batches_sent == len(sizes)
    assert summary.bytes_sent == sum(sizes)
    ids = [e["fields"]["event_id"] for e in hec.events]
    assert ids == [str(38 * 10**54 + n) for n in range(42)]


def test_an_event_larger_than_the_limit_goes_alone() -> None:
    small, big = HecEvent("a", b"x" * 10), HecEvent("b", b"y" * 500)
    batches = pack_batches([small, small, big, small], max_bytes=100)
    assert [[e.log_event_id for e in batch] for batch in batches] == [["a", "a"], ["b"], ["a"]]


@pytest.mark.parametrize("status", [503, 429, 500])
def test_busy_hec_is_retried_and_only_the_failed_batch_is_sent_again(
    status: int, hec: HecServer, pool: urllib3.PoolManager, sleeps: Any, payloads: Any
) -> None:
    event = payloads.lambda_logs(n_lines=10)
    settings = replace(SETTINGS, max_batch_bytes=2000)
    hec.fail_next(2, status=status, after=1)  # the second batch fails twice
    summary = send(hec, pool, sleeps, event, settings)

    assert [r.status for r in hec.requests][:4] == [200, status, status, 200]
    assert hec.requests[1].body == hec.requests[2].body == hec.requests[3].body
    ids = [e["fields"]["event_id"] for e in hec.events]
    assert ids == [str(38 * 10**54 + n) for n in range(12)]  # each once, in order
    assert summary.retries == 2
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 0.5 and 0 <= sleeps[1] <= 1.0  # full jitter, doubling


def test_retry_after_is_honoured_and_capped(
    hec: HecServer, pool: urllib3.PoolManager, sleeps: Any, payloads: Any
) -> None:
    hec.fail_next(1, status=429, retry_after=3)
    hec.fail_next(1, status=503, retry_after=120)
    send(hec, pool, sleeps, payloads.lambda_logs())

    assert sleeps[0] >= 3
    assert sleeps[1] == 8  # capped at backoff_cap_s
    assert len(hec.events) == 4


def test_a_wrong_token_fails_at_once_naming_the_secret(
    hec: HecServer, pool: urllib3.PoolManager, sleeps: Any, payloads: Any
) -> None:
    with pytest.raises(HecRejected) as raised:
        send(hec, pool, sleeps, payloads.lambda_logs(), token="stale-token")

    assert SECRET in str(raised.value)
    assert "403" in str(raised.value) and "Invalid token" in str(raised.value)
    assert raised.value.token_refused
    assert len(hec.requests) == 1 and sleeps == [] and hec.events == []


def test_an_index_the_token_may_not_use_fails_at_once_naming_splunk_index(
    pool: urllib3.PoolManager, sleeps: Any, payloads: Any
) -> None:
    with HecServer(indexes={"main"}) as hec, pytest.raises(HecRejected) as raised:
        send(hec, pool, sleeps, payloads.lambda_logs())
    assert "SPLUNK_INDEX" in str(raised.value) and "sluice" in str(raised.value)
    assert not raised.value.token_refused


def test_an_invalid_event_is_named_by_its_log_event_id(
    hec: HecServer, pool: urllib3.PoolManager, sleeps: Any
) -> None:
    batch = [HecEvent("good-1", b'{"event":"ok"}'), HecEvent("bad-2", b'{"event": "trunc')]
    with pytest.raises(HecRejected) as raised:
        post_batch(pool, hec_endpoint(hec.url), hec.token, batch, SETTINGS, sleep=sleeps)
    assert "event 1 of the batch (log event id bad-2)" in str(raised.value)
    assert hec.requests[0].reply == {"text": "Invalid data format", "code": 6,
                                     "invalid-event-number": 1}  # fmt: skip


def test_a_wrong_path_fails_at_once_naming_splunk_hec_url(
    hec: HecServer, pool: urllib3.PoolManager, sleeps: Any
) -> None:
    batch = [HecEvent("1", b'{"event":"ok"}')]
    with pytest.raises(HecRejected, match="SPLUNK_HEC_URL"):
        post_batch(pool, f"{hec.url}/services/other", hec.token, batch, SETTINGS, sleep=sleeps)
    assert sleeps == []


def test_exhausting_retries_raises_delivery_failed_and_stops_later_batches(
    hec: HecServer, pool: urllib3.PoolManager, sleeps: Any, payloads: Any
) -> None:
    settings = replace(SETTINGS, max_attempts=3, max_batch_bytes=2000)
    hec.fail_next(3, status=503, after=1)
    with pytest.raises(DeliveryFailed) as raised:
        send(hec, pool, sleeps, payloads.lambda_logs(n_lines=10), settings)

    failed = raised.value
    assert not isinstance(failed, HecRejected)
    assert "3 attempts" in str(failed) and "dead-letter queue" in str(failed)
    assert "Server is busy" in str(failed)
    assert len(hec.requests) == 4  # batch 1, then batch 2 three times; batch 3 never
    assert failed.progress is not None
    assert failed.progress.batches_sent == 1
    assert failed.progress.events_forwarded == len(hec.events) > 0
    assert failed.progress.retries == 2
    assert len(sleeps) == 2


def test_timeouts_and_dropped_connections_are_retried(
    hec: HecServer, pool: urllib3.PoolManager, sleeps: Any, payloads: Any
) -> None:
    hec.drop_next(1, hold_s=0.3)
    send(hec, pool, sleeps, payloads.lambda_logs(), replace(SETTINGS, timeout_s=0.1))
    assert len(sleeps) == 1
    assert len(hec.events) == 4


def test_an_unreachable_hec_fails_after_every_attempt(
    pool: urllib3.PoolManager, sleeps: Any
) -> None:
    port = closed_port()
    batch = [HecEvent("1", b'{"event":"ok"}')]
    settings = replace(SETTINGS, max_attempts=2)
    with pytest.raises(DeliveryFailed, match="cannot connect"):
        post_batch(pool, f"http://127.0.0.1:{port}/services/collector/event", "t", batch,
                   settings, sleep=sleeps)  # fmt: skip
    assert len(sleeps) == 1


def test_no_time_left_for_another_attempt_fails_with_a_reason(
    hec: HecServer, pool: urllib3.PoolManager, sleeps: Any
) -> None:
    hec.fail_next(1, status=503)
    batch = [HecEvent("1", b'{"event":"ok"}')]
    with pytest.raises(DeliveryFailed, match="would time out"):
        post_batch(pool, hec_endpoint(hec.url), hec.token, batch, SETTINGS, sleep=sleeps,
                   remaining_s=lambda: 5.0)  # fmt: skip
    assert sleeps == []


def test_blank_lines_are_left_out_rather_than_rejected(
    hec: HecServer, pool: urllib3.PoolManager, sleeps: Any, payloads: Any
) -> None:
    event = payloads.awslogs(payloads.lambda_group, payloads.lambda_stream, ["\n", "hello\n", " "])
    summary = send(hec, pool, sleeps, event)
    assert [e["event"] for e in hec.events] == ["hello"]
    assert (summary.log_events, summary.blank_skipped, summary.events_forwarded) == (3, 2, 1)


def test_a_control_message_sends_nothing(
    hec: HecServer, pool: urllib3.PoolManager, sleeps: Any, payloads: Any
) -> None:
    # Only its messageType matters: a control message needs no log group, stream or events.
    event = payloads.wrap(json.dumps({"messageType": "CONTROL_MESSAGE", "logEvents": []}).encode())
    summary = send(hec, pool, sleeps, event)
    assert summary.message_type == "CONTROL_MESSAGE" and summary.events_forwarded == 0
    assert hec.requests == []


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"Records": []}, "no awslogs.data"),
        ({"awslogs": {"data": "not base64!"}}, "not base64"),
        ({"awslogs": {"data": base64.b64encode(b"plain text").decode()}}, "not gzip"),
        ({"awslogs": {"data": base64.b64encode(gzip.compress(b"{oops")).decode()}}, "not JSON"),
        ({"awslogs": {"data": base64.b64encode(gzip.compress(b"[1]")).decode()}}, "JSON list"),
    ],
)
def test_a_malformed_payload_raises_a_clear_error(event: dict[str, Any], reason: str) -> None:
    with pytest.raises(MalformedLogsPayload, match=reason):
        decode_logs(event)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"messageType": "OTHER"}, "messageType is 'OTHER'"),
        ({"messageType": "DATA_MESSAGE", "owner": "1", "logGroup": "g"}, "no logStream"),
        (
            {"messageType": "DATA_MESSAGE", "owner": "1", "logGroup": "g", "logStream": "s",
             "logEvents": [{"id": "1", "timestamp": "soon", "message": "m"}]},
            r"logEvents\[0\] of g",
        ),
    ],
)  # fmt: skip
def test_log_data_missing_its_parts_raises_a_clear_error(
    payload: dict[str, Any], reason: str, payloads: Any
) -> None:
    with pytest.raises(MalformedLogsPayload, match=reason):
        decode_logs(payloads.wrap(json.dumps(payload).encode()))


def test_only_json_objects_are_parsed() -> None:
    assert event_value('{"a": 1}\n') == {"a": 1}
    assert event_value("[1, 2]") == "[1, 2]"
    assert event_value('{"a": NaN}') == '{"a": NaN}'  # HEC would refuse NaN
    assert event_value("{not json}") == "{not json}"


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        ("https://splunk.example.com:8088", "https://splunk.example.com:8088/services/collector/event"),
        ("https://splunk.example.com:8088/", "https://splunk.example.com:8088/services/collector/event"),
        ("https://s.example.com/services/collector", "https://s.example.com/services/collector/event"),
        ("https://s.example.com/services/collector/event", "https://s.example.com/services/collector/event"),
        ("https://s.example.com/services/collector/event/1.0", "https://s.example.com/services/collector/event/1.0"),
        ("https://proxy.example.com/splunk", "https://proxy.example.com/splunk/services/collector/event"),
        ("http://127.0.0.1:8088", "http://127.0.0.1:8088/services/collector/event"),
        ("http://localhost:8088", "http://localhost:8088/services/collector/event"),
        ("http://127.0.0.2:8088", "http://127.0.0.2:8088/services/collector/event"),
        ("http://[::1]:8088", "http://[::1]:8088/services/collector/event"),
    ],
)  # fmt: skip
def test_the_hec_url_gets_the_event_path(url: str, endpoint: str) -> None:
    assert hec_endpoint(url) == endpoint


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://splunk.example.com:8088", "plain http"),
        ("splunk.example.com:8088", "must start with https://"),
        ("ftp://splunk.example.com", "must start with https://"),
        ("https://admin:pw@splunk.example.com", "userinfo"),
        ("https://admin:p?w@splunk.example.com", "userinfo"),  # urllib.parse: host admin
        ("http://admin@127.0.0.1:8088", "userinfo"),
    ],
)
def test_an_unsafe_or_unusable_hec_url_is_refused(url: str, reason: str) -> None:
    with pytest.raises(InvalidSetting, match=reason):
        hec_endpoint(url)


def test_the_token_is_read_bare_or_from_json() -> None:
    assert token_from_secret(" tok-1\n", SECRET) == "tok-1"
    assert token_from_secret('{"token": "tok-2"}', SECRET) == "tok-2"
    with pytest.raises(TokenUnavailable, match=SECRET):
        token_from_secret('{"hec": "tok-3"}', SECRET)
    with pytest.raises(TokenUnavailable, match="empty"):
        token_from_secret("", SECRET)


def test_the_local_hec_rejects_what_splunk_rejects(
    hec: HecServer, pool: urllib3.PoolManager
) -> None:
    def post(body: bytes, authorization: str | None = None) -> tuple[int, Any]:
        headers = {"Authorization": authorization or f"Splunk {hec.token}"}
        reply = pool.request("POST", hec.event_url, body=body, headers=headers)
        return reply.status, json.loads(reply.data)

    assert post(b"") == (400, {"text": "No data", "code": 5})
    assert post(b'{"event": "a"}{"time": 1}')[1]["code"] == 12
    assert post(b'{"event": "  "}')[1] == {
        "text": "Event field cannot be blank",
        "code": 13,
        "invalid-event-number": 0,
    }
    assert post(b'{"event": "a", "fields": {"n": 1}}')[1]["code"] == 15
    assert post(b'{"event": "a"}', authorization="Bearer x") == (
        401,
        {"text": "Invalid authorization", "code": 3},
    )
    assert pool.request("POST", hec.event_url, body=b"{}").status == 401
    assert post(b'{"event": "a"} {"event": {"b": 2}}') == (200, {"text": "Success", "code": 0})
    # Like Splunk, the events before the first invalid one are indexed.
    assert hec.events == [{"event": "a"}, {"event": "a"}, {"event": {"b": 2}}]


# -- secrets never in an error ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("b1946ac9-2b3c\r\n4d5e-8f9a", "has a line break inside it"),
        ('{"token": "b1946ac9-2b3c\\n4d5e-8f9a"}', "has a line break inside it"),
        ("b1946ac9-2b3c\x004d5e-8f9a", "has a control character inside it"),
    ],
)
def test_a_token_http_cannot_carry_is_refused_naming_the_secret_never_the_token(
    secret: str, problem: str
) -> None:
    with pytest.raises(TokenUnavailable) as raised:
        token_from_secret(secret, SECRET)
    message = str(raised.value)
    assert f"the token in secret {SECRET} {problem}" in message
    assert "b1946ac9" not in message and "4d5e-8f9a" not in message


def test_a_header_http_client_refuses_is_rejected_without_quoting_the_token(
    hec: HecServer, pool: urllib3.PoolManager, sleeps: Any
) -> None:
    batch = [HecEvent("1", b'{"event":"ok"}')]
    with pytest.raises(HecRejected) as raised:  # no retries: every attempt would fail alike
        post_batch(pool, hec_endpoint(hec.url), "b1946ac9\n4d5e", batch, SETTINGS, sleep=sleeps)
    message = str(raised.value)
    assert "cannot be built (ValueError)" in message and "SPLUNK_HEC_TOKEN_SECRET_ARN" in message
    assert "b1946ac9" not in message and "4d5e" not in message
    assert hec.requests == [] and sleeps == []


def test_url_userinfo_and_query_never_appear_in_a_delivery_error(
    pool: urllib3.PoolManager, sleeps: Any
) -> None:
    port = closed_port()
    url = f"http://us3r:pa55@127.0.0.1:{port}/services/collector/event?token=qu3ry"
    batch = [HecEvent("1", b'{"event":"ok"}')]
    with pytest.raises(DeliveryFailed) as raised:
        post_batch(pool, url, "t", batch, replace(SETTINGS, max_attempts=2), sleep=sleeps)
    message = str(raised.value)
    assert f"Splunk HEC at http://127.0.0.1:{port}/services/collector/event did not" in message
    assert "cannot connect to http://127.0.0.1:" in message
    assert not any(secret in message for secret in ("us3r", "pa55", "qu3ry"))
    with pytest.raises(InvalidSetting) as refused:
        hec_endpoint("http://us3r:pa55@splunk.example.com:8088")
    assert "userinfo" in str(refused.value) and "pa55" not in str(refused.value)
