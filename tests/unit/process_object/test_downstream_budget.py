"""Downstream attempts fit a time budget and resume in the next invocation (issue 16 item 1).

An attempt starts only if its wait plus one whole request fits; otherwise the row's retries
stop, unfinished, with what the checkpoint needs to resume them. One request is bounded as a
whole (connect, answer and body), not per socket read: a local server that trickles its body
shows the difference.
"""

from __future__ import annotations

import gzip
import random
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from test_downstream import BODY, HEADERS, POLICY  # the same row, headers and retry policy

import downstream as downstream_module
from downstream import (
    DownstreamResponse,
    DownstreamTimeout,
    HttpDownstream,
    PacedDownstream,
    SendResult,
    SimulatedDownstream,
    send_with_retry,
)

NOW = 1_700_000_000.0  # epoch seconds on the fake clock


class Clock:
    """Epoch time that moves only when slept."""

    def __init__(self) -> None:
        self.now = NOW
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Scripted:
    """Answers the scripted statuses in turn (the last one forever), noting when each came."""

    def __init__(self, clock: Clock, *answers: int | DownstreamResponse) -> None:
        self.clock = clock
        self.answers = [
            a if isinstance(a, DownstreamResponse) else DownstreamResponse(a) for a in answers
        ]
        self.sent_at: list[float] = []

    @property
    def request_timeout_s(self) -> float:
        return 1.0

    def post(self, body: bytes, headers: Any) -> DownstreamResponse:
        self.sent_at.append(self.clock.now)
        return self.answers[min(len(self.sent_at), len(self.answers)) - 1]


class Budget:
    """fits(): records every wait asked about; answers from a script, then True."""

    def __init__(self, *answers: bool) -> None:
        self.answers = list(answers)
        self.asked: list[float] = []

    def __call__(self, wait_s: float) -> bool:
        self.asked.append(wait_s)
        return self.answers.pop(0) if self.answers else True


def send(api: Any, clock: Clock, **kwargs: Any) -> SendResult:
    return send_with_retry(
        api, BODY, HEADERS, POLICY, sleep=clock.sleep, rng=random.Random(1), clock=clock, **kwargs
    )


# --- the budget -------------------------------------------------------------------------------


def test_a_retry_that_does_not_fit_is_not_waited_for_or_sent() -> None:
    clock = Clock()
    api = Scripted(clock, 503, 200)
    fits = Budget(True, False)  # the first attempt fits, the retry after its backoff does not
    result = send(api, clock, fits=fits)
    assert len(api.sent_at) == 1 and clock.sleeps == []
    assert result.unfinished and not result.ok and not result.failed
    assert (result.attempts, result.status, result.error) == (1, 503, "HTTP 503")
    [fresh, backoff] = fits.asked
    assert fresh == 0 and 0 < backoff <= POLICY.base_s  # full jitter under the first cap
    assert result.retry_at == pytest.approx(NOW + backoff)


def test_retry_after_sets_the_wait_asked_about_and_retry_at() -> None:
    clock = Clock()
    api = Scripted(clock, DownstreamResponse(429, retry_after=3.0))
    fits = Budget(True, False)
    result = send(api, clock, fits=fits)
    assert fits.asked[1] >= 3
    assert result.unfinished and result.retry_at == pytest.approx(NOW + fits.asked[1])


def test_a_fresh_row_that_does_not_fit_sends_nothing() -> None:
    clock = Clock()
    api = Scripted(clock, 200)
    fits = Budget(False)
    result = send(api, clock, fits=fits)
    assert fits.asked == [0]
    assert api.sent_at == [] and clock.sleeps == []
    assert result.unfinished and not result.failed
    assert (result.attempts, result.status, result.error, result.retry_at) == (0, None, None, NOW)


def test_attempts_that_fit_run_as_before() -> None:
    clock = Clock()
    api = Scripted(clock, 503, 503, 200)
    fits = Budget()
    result = send(api, clock, fits=fits)
    assert (result.ok, result.unfinished, result.attempts) == (True, False, 3)
    assert fits.asked == [0, *clock.sleeps]  # asked before each attempt, about what it then slept


# --- resuming ---------------------------------------------------------------------------------


def test_a_resumed_row_waits_only_what_is_left_of_its_backoff() -> None:
    clock = Clock()
    api = Scripted(clock, 200)
    fits = Budget()
    result = send(api, clock, attempts_made=2, not_before=NOW + 1.5, fits=fits)
    assert clock.sleeps == [1.5] and fits.asked == [1.5]
    assert api.sent_at == [NOW + 1.5]
    assert (result.ok, result.attempts) == (True, 3)  # the third attempt for the row


def test_a_backoff_already_over_is_not_waited_for() -> None:
    clock = Clock()
    api = Scripted(clock, 200)
    result = send(api, clock, attempts_made=1, not_before=NOW - 30)
    assert clock.sleeps == [] and api.sent_at == [NOW]
    assert (result.ok, result.attempts) == (True, 2)


def test_a_resumed_row_that_still_does_not_fit_keeps_its_retry_at() -> None:
    clock = Clock()
    api = Scripted(clock, 200)
    fits = Budget(False)
    result = send(api, clock, attempts_made=1, not_before=NOW + 2, fits=fits)
    assert fits.asked == [2] and api.sent_at == []
    assert result.unfinished and (result.attempts, result.retry_at) == (1, NOW + 2)


def test_earlier_attempts_count_toward_max_attempts() -> None:
    clock = Clock()
    api = Scripted(clock, 503)
    result = send(api, clock, attempts_made=2)
    assert len(api.sent_at) == 2  # attempts 3 and 4 of 4
    assert result.failed and result.attempts == 4
    assert result.error == "HTTP 503 after 4 attempts"


def test_retries_carried_over_invocations_give_up_after_max_attempts_in_all() -> None:
    clock = Clock()
    api = Scripted(clock, 503)
    attempts, not_before = 0, None
    results = []
    for _invocation in range(10):  # each invocation has time for one attempt only
        result = send(
            api, clock, attempts_made=attempts, not_before=not_before, fits=Budget(True, False)
        )
        results.append(result)
        if not result.unfinished:
            break
        assert result.retry_at is not None
        attempts, not_before = result.attempts, result.retry_at
        clock.now = result.retry_at + 0.25  # the next invocation starts after the backoff
    assert [r.attempts for r in results] == [1, 2, 3, 4]
    assert [r.unfinished for r in results] == [True, True, True, False]
    assert results[-1].failed and results[-1].error == "HTTP 503 after 4 attempts"
    assert len(api.sent_at) == POLICY.max_attempts
    assert clock.sleeps == []  # every backoff passed between invocations


def test_a_row_with_no_attempt_left_is_failed_without_a_request() -> None:
    clock = Clock()
    api = Scripted(clock, 200)
    result = send(api, clock, attempts_made=POLICY.max_attempts)  # e.g. MaxAttempts lowered
    assert api.sent_at == [] and result.failed and result.attempts == POLICY.max_attempts
    assert result.error == "no attempt left: 4 made, the retry policy allows 4"


def test_an_unfinished_result_is_never_ok_and_always_has_retry_at() -> None:
    with pytest.raises(ValueError, match="unfinished"):
        SendResult(True, 200, 1, unfinished=True, retry_at=NOW)
    with pytest.raises(ValueError, match="unfinished"):
        SendResult(False, None, 1, unfinished=True)
    assert SendResult(False, 503, 4, "HTTP 503 after 4 attempts").failed
    assert not SendResult(True, 200, 1).failed


# --- one whole request ------------------------------------------------------------------------


def test_each_downstream_says_how_long_one_request_may_take() -> None:
    http = HttpDownstream("http://127.0.0.1:9/rows", 7.5)
    assert http.request_timeout_s == 7.5
    assert SimulatedDownstream(40, 0.0).request_timeout_s == pytest.approx(0.06)
    assert PacedDownstream(http, per_second=4).request_timeout_s == pytest.approx(7.75)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.connections = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so the pool reuses connections
    server: Server

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            {
                "/trickle": self.trickle,
                "/busy": self.busy,
                "/chunked": self.chunked,
                "/gzip": self.gzipped,
                "/empty": self.empty,
            }.get(self.path, self.accepted)()
        except OSError:  # the client gave up and closed
            self.close_connection = True

    def answer(self, status: int, body: bytes, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def accepted(self) -> None:
        self.answer(200, b'{"accepted": true}')

    def busy(self) -> None:
        self.answer(503, b'{"error": "busy"}', Retry_After="2")

    def empty(self) -> None:
        self.answer(200, b"")

    def gzipped(self) -> None:
        self.answer(200, gzip.compress(b'{"accepted": true}' * 100), Content_Encoding="gzip")

    def chunked(self) -> None:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for part in (b'{"accepted":', b" true}"):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        self.wfile.write(b"0\r\n\r\n")

    def trickle(self) -> None:
        """A prompt status and headers, then the body one byte every 0.2 s for 3 s."""
        body = b"x" * 15
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.flush()
        for byte in body:
            time.sleep(0.2)
            self.wfile.write(bytes([byte]))
            self.wfile.flush()


@pytest.fixture
def server() -> Iterator[Server]:
    httpd = Server()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_a_trickled_body_times_out_on_the_whole_request_and_the_pool_stays_clean(
    server: Server,
) -> None:
    api = HttpDownstream(server.url + "/rows", 1.0)
    assert api.post(BODY, HEADERS).status == 200  # one pooled keep-alive connection
    trickling = HttpDownstream(server.url + "/trickle", 1.0, pool=api._pool)
    started = time.monotonic()
    with pytest.raises(DownstreamTimeout, match=re.escape("no answer from http://127.0.0.1")):
        trickling.post(BODY, HEADERS)
    elapsed = time.monotonic() - started
    assert 0.8 <= elapsed < 2.0  # the whole request's 1 s, not 3 s of 0.2 s reads
    # The half-read connection was closed, not pooled: the next request gets its own answer.
    assert api.post(BODY, HEADERS) == DownstreamResponse(200, None)
    assert server.connections == 2
    assert api.post(BODY, HEADERS).status == 200 and server.connections == 2  # reused again


def test_answers_read_in_full_keep_their_status_retry_after_and_connection(
    server: Server,
) -> None:
    base = HttpDownstream(server.url + "/rows", 2.0)
    pool = base._pool
    answers = [
        HttpDownstream(server.url + path, 2.0, pool=pool).post(BODY, HEADERS)
        for path in ("/rows", "/busy", "/chunked", "/gzip", "/empty", "/rows")
    ]
    assert answers == [
        DownstreamResponse(200, None),
        DownstreamResponse(503, 2.0),
        DownstreamResponse(200, None),
        DownstreamResponse(200, None),
        DownstreamResponse(200, None),
        DownstreamResponse(200, None),
    ]
    assert server.connections == 1  # every body read to its end: one keep-alive connection


class EndlessBody:
    """A urllib3 response whose body never ends: a byte every 50 ms."""

    def __init__(self, sock: Any) -> None:
        self.connection = type("Connection", (), {"sock": sock})() if sock else None
        self.closed = False
        self.released = False

    def read1(self, amt: int, decode_content: bool) -> bytes:
        assert decode_content is False
        time.sleep(0.05)
        return b"x"

    def isclosed(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def release_conn(self) -> None:
        self.released = True


class Sock:
    def __init__(self) -> None:
        self.timeouts: list[float] = []

    def settimeout(self, value: float) -> None:
        self.timeouts.append(value)


@pytest.mark.parametrize("sock", [Sock(), None], ids=["socket", "no socket exposed"])
def test_the_body_read_stops_at_the_deadline_and_closes_before_releasing(sock: Any) -> None:
    response = EndlessBody(sock)
    started = time.monotonic()
    with pytest.raises(downstream_module._Overrun):
        downstream_module._read_body_by(response, started + 0.3)
    assert time.monotonic() - started < 0.5
    assert response.closed and response.released
    if sock:
        assert sock.timeouts and all(0 < t <= 0.3 for t in sock.timeouts)
        assert sock.timeouts == sorted(sock.timeouts, reverse=True)  # only what is left
