"""The downstream API: real HTTP or a simulated one, and the retry policy around either."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

from sluice_common.errors import SluiceError
from sluice_common.redact import header_value_problem, safe_error, safe_url

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
# One generator per container: seeding one per row cost a third of the row loop's time.
_JITTER = random.Random()  # noqa: S311 - jitter, not security


@dataclass(frozen=True)
class DownstreamResponse:
    status: int
    retry_after: float | None = None


class DownstreamTimeout(Exception):
    """No answer within the timeout."""


class DownstreamUnreachable(Exception):
    """Connection refused, reset or DNS failure."""


class DownstreamMisconfigured(SluiceError):
    """The request cannot be built: the auth token or another header value is not valid HTTP.

    Every row would fail the same way, so the object fails at once (no retries), with a message
    that names the header or secret and the problem, never the value.
    """


class Downstream(Protocol):
    def post(self, body: bytes, headers: Mapping[str, str]) -> DownstreamResponse: ...


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


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
    """POST JSON over HTTP(S) with one keep-alive pool per container."""

    def __init__(self, url: str, timeout_s: float, pool: Any = None) -> None:
        import urllib3

        self.url = url
        self._shown_url = safe_url(url)  # for messages: no userinfo, no query
        self._timeout = urllib3.Timeout(connect=timeout_s, read=timeout_s)
        self._pool = pool or urllib3.PoolManager(maxsize=4, retries=False)
        self._errors = urllib3.exceptions

    def post(self, body: bytes, headers: Mapping[str, str]) -> DownstreamResponse:
        try:
            response = self._pool.request(
                "POST",
                self.url,
                body=body,
                headers=dict(headers),
                timeout=self._timeout,
                retries=False,
            )
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

    def post(self, body: bytes, headers: Mapping[str, str]) -> DownstreamResponse:
        with self._lock:  # one slot per caller, even when threads share the instance
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            self._sleep(start - now)
        return self.inner.post(body, headers)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_s: float = 0.2
    cap_s: float = 10.0


@dataclass(frozen=True)
class SendResult:
    ok: bool
    status: int | None
    attempts: int
    error: str | None = None
    latency_s: float = 0.0  # time spent in the downstream's answers (backoff sleeps excluded)


def backoff_delay(policy: RetryPolicy, attempt: int, rng: random.Random) -> float:
    """Full jitter: uniform(0, min(cap, base * 2**(attempt-1)))."""
    return rng.uniform(0, min(policy.cap_s, policy.base_s * 2 ** (attempt - 1)))


def send_with_retry(
    downstream: Downstream,
    body: bytes,
    headers: Mapping[str, str],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> SendResult:
    """POST once, retrying 429/5xx/timeouts/unreachable with backoff and Retry-After.

    Raises :class:`DownstreamMisconfigured` before any request when a header cannot be sent.
    """
    rng = rng or _JITTER
    headers = checked_headers(headers)
    error = "not attempted"
    status: int | None = None
    latency = 0.0
    for attempt in range(1, policy.max_attempts + 1):
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
            delay = backoff_delay(policy, attempt, rng)
            if retry_after is not None:
                delay = max(delay, min(retry_after, policy.cap_s))
            sleep(delay)
    return SendResult(
        False, status, policy.max_attempts, f"{error} after {policy.max_attempts} attempts", latency
    )


def _since(started: float) -> float:
    return time.monotonic() - started
