"""The downstream API: real HTTP or a simulated one, and the retry loop around either.

The loop is the row's own (it stops for the time budget and resumes from the checkpoint); how
long to wait and which answers are worth another attempt come from sluice_common.retry, the
same as every other outbound call.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sluice_common.errors import SluiceError
from sluice_common.redact import header_value_problem, safe_error, safe_url
from sluice_common.retry import RETRYABLE_STATUS, Backoff, parse_retry_after
from sluice_common.urls import REPLY_LIMIT, UrlNotAllowed, checked_url


@dataclass(frozen=True)
class DownstreamResponse:
    status: int
    retry_after: float | None = None


class DownstreamTimeout(Exception):
    """No answer within the timeout."""


class DownstreamUnreachable(Exception):
    """Connection refused, reset or DNS failure."""


class DownstreamMisconfigured(SluiceError):
    """The request cannot be built: the URL is not allowed, the auth secret cannot be read, or
    the auth token or another header value is not valid HTTP.

    Every row would fail the same way, so the object fails at once (no retries), with a message
    that names the header or secret and the problem, never the value.
    """


def downstream_url(value: str) -> str:
    """DOWNSTREAM_API_URL checked (https, or http to loopback; no userinfo); "" for none (the
    simulated API).

    Raised from the handler before the object is read, so a misconfigured function sends
    nothing: the drain dead-letters the object with this error's name and message (naming the
    setting, not the object's data), to redrive once the setting is fixed.
    """
    if not value.strip():
        return ""
    try:
        return checked_url(value, "DOWNSTREAM_API_URL", "DownstreamApiUrl")
    except UrlNotAllowed as exc:
        raise DownstreamMisconfigured(f"{exc}; the object was not read") from None


class Downstream(Protocol):
    """What ProcessObject sends rows through."""

    @property
    def request_timeout_s(self) -> float:
        """The longest one :meth:`post` may take, start to end: what an attempt must have left
        in the time budget before it starts (see ``fits`` in :func:`send_with_retry`)."""
        ...

    def post(self, body: bytes, headers: Mapping[str, str]) -> DownstreamResponse: ...


def checked_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` ready to send: the Authorization credential stripped, every value checked.

    A secret stored with a trailing newline is common (``echo`` adds one) and harmless once
    stripped; inside the token a line break or control character is a wrong secret, and
    http.client would refuse it with an error that quotes the token into every log and alert.
    """
    checked: dict[str, str] = {}
    for name, value in headers.items():
        if name.lower() == "authorization":
            scheme, space, credential = value.lstrip().partition(" ")
            if not space:  # a bare credential, no scheme
                scheme, credential = "", scheme
            credential = credential.strip()
            problem = header_value_problem(credential)
            if problem:
                raise DownstreamMisconfigured(
                    "the token in the downstream auth secret (DOWNSTREAM_AUTH_SECRET_ARN) "
                    f"{problem}: store the bare token on one line (surrounding whitespace is "
                    "ignored)"
                )
            value = f"{scheme} {credential}" if scheme else credential
        else:
            problem = header_value_problem(value) if value else None  # empty is valid HTTP
            if problem:
                raise DownstreamMisconfigured(f"the value of header {name} {problem}")
        checked[name] = value
    return checked


class HttpDownstream:
    """POST JSON over HTTP(S) with one keep-alive pool per container.

    ``timeout_s`` bounds the whole request, not each socket read: connecting, sending, waiting
    for the answer and reading its body all end within ``timeout_s`` of :meth:`post` being
    called, or it raises :class:`DownstreamTimeout`. urllib3's read timeout alone applies to
    every socket read afresh, so a server that trickles its body a byte at a time could hold a
    request for as long as it liked. Here urllib3's ``total`` timeout covers connecting and the
    wait for the first byte of the answer, and the body is then read one socket read at a time,
    each allowed only what is left of the deadline; a request that overruns leaves with its
    connection closed, never back in the pool half-read.

    What Python cannot bound here, with Lambda's own timeout as the backstop (the checkpoint
    holds the row's attempts, so the next invocation resumes its retries):

    * the DNS lookup (``getaddrinfo`` blocks, governed by the resolver's timeout and attempts);
    * a server that trickles the TLS handshake, the status line or the headers: http.client
      reads those line by line, and every socket read gets the time that was left when the
      answer began, however many reads a line takes;
    * a body chunk-size line trickled the same way (chunked transfer encoding).
    """

    def __init__(self, url: str, timeout_s: float, pool: Any = None) -> None:
        import urllib3

        self.url = url
        self.timeout_s = timeout_s
        self._shown_url = safe_url(url)  # for messages: no userinfo, no query
        self._timeout = urllib3.Timeout(total=timeout_s)
        self._pool = pool or urllib3.PoolManager(maxsize=4, retries=False)
        self._errors = urllib3.exceptions

    @property
    def request_timeout_s(self) -> float:
        """One whole request at most: the timeout."""
        return self.timeout_s

    def post(self, body: bytes, headers: Mapping[str, str]) -> DownstreamResponse:
        deadline = time.monotonic() + self.timeout_s
        try:
            response = self._pool.request(
                "POST",
                self.url,
                body=body,
                headers=dict(headers),
                timeout=self._timeout,
                retries=False,
                redirect=False,
                preload_content=False,
            )
            _read_body_by(response, deadline)
        except _Overrun:
            raise DownstreamTimeout(
                f"no answer from {self._shown_url} within {self.timeout_s:g} s: the response "
                "was still arriving"
            ) from None
        except self._errors.NewConnectionError as exc:  # urllib3 files it under timeouts too
            raise DownstreamUnreachable(
                f"cannot reach {self._shown_url}: {safe_error(exc)}"
            ) from None
        except self._errors.TimeoutError as exc:
            raise DownstreamTimeout(
                f"no answer from {self._shown_url}: {safe_error(exc)}"
            ) from None
        except self._errors.HTTPError as exc:
            raise DownstreamUnreachable(
                f"cannot reach {self._shown_url}: {safe_error(exc)}"
            ) from None
        except ValueError as exc:
            # http.client refuses a bad header with a message quoting the header: name none.
            raise DownstreamMisconfigured(
                f"the request to {self._shown_url} cannot be built ({type(exc).__name__}): a "
                "header value is not valid HTTP; check the downstream auth secret "
                "(DOWNSTREAM_AUTH_SECRET_ARN)"
            ) from None
        return DownstreamResponse(
            response.status, parse_retry_after(response.headers.get("Retry-After"))
        )


class _Overrun(Exception):
    """The whole-request deadline passed while the body was still arriving."""


def _read_body_by(response: Any, deadline: float) -> None:
    """Read and drop at most :data:`REPLY_LIMIT` bytes of ``response``'s body by ``deadline``
    (monotonic), then pool the connection if the body ended.

    Only the status is used, so a longer body is not read on: the connection is closed instead.
    ``read1`` makes at most one socket read, and before each the socket is allowed only the
    time left. The body is read raw (not decompressed: it is discarded anyway), so no decoder
    loops over several reads. On any way out but the body's end the connection is closed before
    it goes back to the pool: a half-read connection would hand its leftovers to the next
    request as that request's answer.
    """
    finished = False
    read = 0
    try:
        while read < REPLY_LIMIT:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Overrun
            _limit_next_read(response, left)
            chunk = response.read1(REPLY_LIMIT - read, decode_content=False)
            if not chunk:
                break
            read += len(chunk)
        finished = bool(response.isclosed())
    finally:
        if not finished:
            response.close()  # closes the connection too, so it is pooled closed, not half-read
        response.release_conn()  # a no-op once urllib3 has released it at the body's end


def _limit_next_read(response: Any, left: float) -> None:
    """The socket's timeout for the next read: what is left of the deadline.

    urllib3 exposes the connection (``response.connection``) and http.client its socket
    (``.sock``). Should either be missing, the read keeps the timeout urllib3 set for the
    answer (the time left when it began), so the overrun is at most one more read timeout.
    """
    sock = getattr(getattr(response, "connection", None), "sock", None)
    settimeout = getattr(sock, "settimeout", None)
    if callable(settimeout):
        settimeout(left)


class SimulatedDownstream:
    """Stands in for an API when DownstreamApiUrl is empty: realistic latency, some 503s."""

    def __init__(
        self,
        latency_ms: float,
        failure_rate: float,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.latency_ms = latency_ms
        self.failure_rate = failure_rate
        self._rng = rng or random.Random()  # noqa: S311 - simulation, not security
        self._sleep = sleep

    @property
    def request_timeout_s(self) -> float:
        """The slowest answer: 1.5 times the mean latency."""
        return self.latency_ms * 1.5 / 1000

    def post(self, body: bytes, headers: Mapping[str, str]) -> DownstreamResponse:
        # Latency varies +-50% around the configured mean, as real APIs do.
        self._sleep(self.latency_ms / 1000 * self._rng.uniform(0.5, 1.5))
        if self._rng.random() < self.failure_rate:
            return DownstreamResponse(503)
        return DownstreamResponse(200)


class PacedDownstream:
    """At most ``per_second`` requests per second from this instance, retries included.

    The downstream's rate limit is shared by static partition: at most MaxConcurrency instances
    run at once (reserved concurrency), so each paces at limit / MaxConcurrency and together they
    never exceed the limit, with no coordination per request.
    """

    def __init__(
        self,
        inner: Downstream,
        per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self.inner = inner
        self.interval = 1.0 / per_second
        self._clock = clock
        self._sleep = sleep
        self._next = clock()
        self._lock = threading.Lock()

    @property
    def request_timeout_s(self) -> float:
        """The inner request plus one pacing interval, the longest a lone caller waits for its
        slot (threads sharing the instance can wait one interval per caller ahead of them)."""
        return self.inner.request_timeout_s + self.interval

    def post(self, body: bytes, headers: Mapping[str, str]) -> DownstreamResponse:
        with self._lock:  # one slot per caller, even when threads share the instance
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            self._sleep(start - now)
        return self.inner.post(body, headers)


@dataclass(frozen=True)
class RetryPolicy(Backoff):
    """A row's attempts and the full-jitter backoff between them (sluice_common.retry).

    The defaults are the template's (DownstreamMaxAttempts, DownstreamBackoffBaseSeconds,
    DownstreamBackoffMaxSeconds), for callers that build one without the settings.
    """

    max_attempts: int = 5
    base_s: float = 0.2
    cap_s: float = 10.0


@dataclass(frozen=True)
class SendResult:
    """How sending one row went.

    Three outcomes, not two: delivered (``ok``), failed (``failed``: retries exhausted or an
    answer that is not retried), or **unfinished** (``unfinished``: the time budget ran out
    before the next attempt; not a failure, the row is to be resumed). An unfinished result has
    ``ok=False``, so test ``unfinished`` (or ``failed``) rather than ``not ok``. Only a caller
    that passes ``fits`` to :func:`send_with_retry` can receive one: a caller that knows only
    ``ok`` never sees it.
    """

    ok: bool
    status: int | None  # the last answer's status; None when the last attempt had none
    attempts: int  # made for the row in all, earlier invocations' included
    error: str | None = None  # the last failure (None when delivered, or no attempt here)
    latency_s: float = 0.0  # time spent in the downstream's answers (backoff sleeps excluded)
    unfinished: bool = False  # stopped for the time budget: checkpoint attempts and retry_at
    retry_at: float | None = None  # unfinished: epoch seconds when the next attempt may start

    def __post_init__(self) -> None:
        if self.unfinished and (self.ok or self.retry_at is None):
            raise ValueError("an unfinished send is not ok and has a retry_at")

    @property
    def failed(self) -> bool:
        """The row failed for good: not delivered, and not waiting to be resumed."""
        return not self.ok and not self.unfinished


def send_with_retry(
    downstream: Downstream,
    body: bytes,
    headers: Mapping[str, str],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    attempts_made: int = 0,
    not_before: float | None = None,
    fits: Callable[[float], bool] | None = None,
    clock: Callable[[], float] = time.time,
) -> SendResult:
    """POST once, retrying 429/5xx/timeouts/unreachable with backoff and Retry-After.

    Resumable across invocations: ``attempts_made`` is how many attempts earlier invocations
    made for this row (``policy.max_attempts`` counts them all), and ``not_before`` (epoch
    seconds, on ``clock``) is when the next may start; only what is left of that wait is slept.

    ``fits(wait_s)`` is asked before every attempt, with the wait that must come first (what is
    left of ``not_before``, or the backoff/Retry-After just drawn; 0 for a fresh row). It
    answers whether that wait plus one whole request (``downstream.request_timeout_s``) fits the
    time budget. When it does not, nothing is slept or sent: the result is ``unfinished``, with
    the attempts made in all, the last error (None if this call made no attempt) and
    ``retry_at = clock() + wait_s``, for the caller to checkpoint and pass back as
    ``attempts_made`` and ``not_before``. Without ``fits`` the retries run to the end.

    Raises :class:`DownstreamMisconfigured` before any request when a header cannot be sent.
    """
    headers = checked_headers(headers)
    if attempts_made >= policy.max_attempts:
        return SendResult(
            False,
            None,
            attempts_made,
            f"no attempt left: {attempts_made} made, the retry policy allows {policy.max_attempts}",
        )
    error: str | None = None
    status: int | None = None
    latency = 0.0
    attempt = attempts_made
    wait = 0.0 if not_before is None else max(0.0, not_before - clock())
    backoff = False  # the wait is a backoff drawn here (slept even when 0, as it always was)
    while attempt < policy.max_attempts:
        if fits is not None and not fits(wait):
            return SendResult(
                False, status, attempt, error, latency, unfinished=True, retry_at=clock() + wait
            )
        if backoff or wait > 0:
            sleep(wait)
        attempt += 1
        retry_after: float | None = None
        started = time.monotonic()
        try:
            response = downstream.post(body, headers)
        except (DownstreamTimeout, DownstreamUnreachable) as exc:
            status, error = None, str(exc)
        else:
            status = response.status
            if 200 <= status < 300:
                return SendResult(True, status, attempt, latency_s=latency + _since(started))
            error = f"HTTP {status}"
            if status not in RETRYABLE_STATUS:
                return SendResult(
                    False, status, attempt, f"{error} (not retried)", latency + _since(started)
                )
            retry_after = response.retry_after
        latency += _since(started)
        if attempt < policy.max_attempts:
            wait = policy.delay(attempt, rng, retry_after)
            backoff = True
    return SendResult(False, status, attempt, f"{error} after {attempt} attempts", latency)


def _since(started: float) -> float:
    return time.monotonic() - started
