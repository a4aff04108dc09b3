"""Downstream calls over real HTTP (local server on 127.0.0.1): retries, backoff, Retry-After."""

from __future__ import annotations

import random
import re
import socket
import time
from email.utils import formatdate
from typing import Any

import pytest

import downstream
from downstream import (
    DownstreamResponse,
    HttpDownstream,
    PacedDownstream,
    RetryPolicy,
    SimulatedDownstream,
    send_with_retry,
)
from sluice_common.retry import Backoff
from sluice_local.servers.downstream import DownstreamServer
from testkit.fakes import FakeClock

POLICY = RetryPolicy(max_attempts=4, base_s=0.5, cap_s=8)
BODY = b'{"row": 1}'
HEADERS = {"Content-Type": "application/json", "Idempotency-Key": "k1"}


def send(api: DownstreamServer, sleeps: Any, timeout_s: float = 2.0) -> object:
    return send_with_retry(
        HttpDownstream(api.url, timeout_s),
        BODY,
        HEADERS,
        POLICY,
        sleep=sleeps,
        rng=random.Random(1),
    )


def test_success_is_one_post_with_the_body_and_headers(api: DownstreamServer, sleeps: Any) -> None:
    result = send(api, sleeps)
    assert (result.ok, result.status, result.attempts) == (True, 200, 1)
    [request] = api.requests
    assert request.body == {"row": 1}
    assert request.headers["Idempotency-Key"] == "k1"
    assert sleeps == []


def test_5xx_and_429_are_retried_with_growing_jittered_backoff(
    api: DownstreamServer, sleeps: Any
) -> None:
    api.script(503, 429, 502)
    result = send(api, sleeps)
    assert (result.ok, result.attempts) == (True, 4)
    assert len(api.requests) == 4
    caps = [0.5, 1.0, 2.0]
    assert all(0 <= s <= cap for s, cap in zip(sleeps, caps, strict=True))


def test_retry_after_is_honoured_up_to_the_cap(api: DownstreamServer, sleeps: Any) -> None:
    api.script((429, {"Retry-After": "3"}), (503, {"Retry-After": "120"}))
    result = send(api, sleeps)
    assert result.ok and result.attempts == 3
    assert sleeps[0] >= 3
    assert sleeps[1] == POLICY.cap_s


def test_client_errors_are_not_retried(api: DownstreamServer, sleeps: Any) -> None:
    api.script(400)
    result = send(api, sleeps)
    assert (result.ok, result.status, result.attempts) == (False, 400, 1)
    assert result.error == "HTTP 400 (not retried)"
    assert len(api.requests) == 1


def test_retries_end_with_an_error_naming_the_last_failure(
    api: DownstreamServer, sleeps: Any
) -> None:
    api.configure(failure_rate=1.0, failure_status=503)
    result = send(api, sleeps)
    assert (result.ok, result.attempts) == (False, 4)
    assert result.error == "HTTP 503 after 4 attempts"
    assert len(sleeps) == 3  # no sleep after the last attempt


def test_a_timeout_is_retried(api: DownstreamServer, sleeps: Any) -> None:
    api.configure(timeout_hold_s=1.0)
    api.script("timeout")
    started = time.monotonic()
    result = send(api, sleeps, timeout_s=0.2)
    assert result.ok and result.attempts == 2
    assert time.monotonic() - started < 1.0  # the client gave up, it did not wait for the hold


def test_timeout_and_unreachable_raise_their_own_errors(api: DownstreamServer) -> None:
    api.configure(timeout_hold_s=1.0)
    api.script("timeout")
    with pytest.raises(
        downstream.DownstreamTimeout, match=re.escape("no answer from http://127.0.0.1")
    ):
        HttpDownstream(api.url, 0.2).post(BODY, HEADERS)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(downstream.DownstreamUnreachable, match="cannot reach"):
        HttpDownstream(f"http://127.0.0.1:{port}/rows", 0.5).post(BODY, HEADERS)


def test_an_http_date_retry_after_is_honoured(api: DownstreamServer, sleeps: Any) -> None:
    # The header is read by sluice_common.retry (tests/unit/common/test_retry.py): a date 3 s
    # ahead (whole seconds) is a wait of 2-3 s, not "unreadable" and so a bare backoff.
    api.script((503, {"Retry-After": formatdate(time.time() + 3, usegmt=True)}))
    result = send(api, sleeps)
    assert result.ok and result.attempts == 2
    assert 1 <= sleeps[0] <= 3


def test_the_row_policy_is_the_shared_backoff_with_the_templates_defaults() -> None:
    # The jitter and the Retry-After cap are sluice_common.retry's, tested there.
    assert isinstance(POLICY, Backoff)
    assert RetryPolicy() == RetryPolicy(max_attempts=5, base_s=0.2, cap_s=10.0)
    rng = random.Random(3)
    assert all(0 <= POLICY.delay(3, rng) <= 2.0 for _ in range(100))  # min(8, 0.5 * 2**2)
    assert POLICY.delay(1, rng, retry_after=120) == POLICY.cap_s


def test_simulated_downstream_fails_at_its_configured_rate(sleeps: Any) -> None:
    never = SimulatedDownstream(40, 0.0, rng=random.Random(1), sleep=sleeps)
    always = SimulatedDownstream(40, 1.0, rng=random.Random(1), sleep=sleeps)
    assert {never.post(BODY, HEADERS).status for _ in range(20)} == {200}
    assert {always.post(BODY, HEADERS).status for _ in range(20)} == {503}
    assert all(0.02 <= s <= 0.06 for s in sleeps)


class Accept:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.times: list[float] = []

    def post(self, body: bytes, headers: Any) -> DownstreamResponse:
        self.times.append(self.clock.now)
        return DownstreamResponse(200)


def test_paced_downstream_spaces_requests_and_keeps_no_idle_credit() -> None:
    clock = FakeClock(100.0)
    inner = Accept(clock)
    paced = PacedDownstream(inner, per_second=4, clock=clock, sleep=clock.advance)
    for _ in range(5):
        paced.post(BODY, HEADERS)
    assert [t - 100 for t in inner.times] == [0, 0.25, 0.5, 0.75, 1.0]
    clock.now += 10  # idle: no burst of saved-up requests afterwards
    paced.post(BODY, HEADERS)
    paced.post(BODY, HEADERS)
    assert inner.times[-1] - inner.times[-2] == 0.25


def test_retries_count_against_the_rate() -> None:
    clock = FakeClock(100.0)
    inner = Accept(clock)
    failing = SimulatedDownstream(0, 1.0, rng=random.Random(1), sleep=lambda s: None)

    class Recorder:
        def post(self, body: bytes, headers: Any) -> DownstreamResponse:
            inner.post(body, headers)
            return failing.post(body, headers)

    paced = PacedDownstream(Recorder(), per_second=2, clock=clock, sleep=clock.advance)
    send_with_retry(paced, BODY, HEADERS, RetryPolicy(3, 0.0, 0.0), sleep=clock.advance)
    assert [t - 100 for t in inner.times] == [0, 0.5, 1.0]


class SlowThenOk:
    """Answers 503, then 200, each after 20 ms."""

    def __init__(self) -> None:
        self.calls = 0

    def post(self, body: bytes, headers: Any) -> DownstreamResponse:
        self.calls += 1
        time.sleep(0.02)
        return DownstreamResponse(503 if self.calls == 1 else 200, None)


def test_latency_counts_time_in_answers_not_backoff_sleeps(sleeps: Any) -> None:
    result = send_with_retry(
        SlowThenOk(), BODY, HEADERS, POLICY, sleep=lambda s: time.sleep(0.2), rng=random.Random(1)
    )
    assert result.ok and result.attempts == 2
    assert 0.04 <= result.latency_s < 0.2  # two answers of 20 ms; the 0.2 s backoff is excluded
