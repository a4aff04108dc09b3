"""Forward CloudWatch Logs subscription payloads to Splunk's HTTP Event Collector (HEC).

:func:`hec_events` turns each log event of a decoded payload (awslogs_payload.py) into one HEC
event, :func:`pack_batches` packs them under a byte limit and :func:`post_batch` POSTs a batch
with retries; :func:`forward` does all three. Nothing here reads the environment or AWS: the
pool, URL, token, settings and sleep come in as arguments.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import urllib3
from aws_lambda_powertools.utilities.data_classes import CloudWatchLogsEvent

from awslogs_payload import CONTROL_MESSAGE
from sluice_common.redact import header_value_problem, safe_error, safe_url
from sluice_common.retry import Backoff, parse_retry_after
from sluice_common.secrets import token_from
from sluice_common.urls import UrlNotAllowed, checked_url, read_reply

HEC_EVENT_PATH = "/services/collector/event"
# Giving up early beats being killed by the Lambda timeout mid-request: the error says why.
TIMEOUT_MARGIN_S = 1.0
# HEC codes that mean the token was refused (1 disabled, 2 missing, 3 unreadable, 4 unknown).
TOKEN_CODES = frozenset({1, 2, 3, 4})
CREDENTIAL = "the Splunk HEC token"  # what the secret holds, as errors name it


# -- errors ----------------------------------------------------------------------------------
class InvalidSetting(ValueError):
    """A SPLUNK_* environment variable is missing or wrong."""


class TokenUnavailable(Exception):
    """The HEC token secret cannot be read or holds no token."""


@dataclass
class ForwardSummary:
    message_type: str
    log_group: str
    log_stream: str
    log_events: int = 0
    blank_skipped: int = 0  # whitespace-only lines (print()): HEC rejects blank events
    events_forwarded: int = 0
    batches_sent: int = 0
    retries: int = 0
    bytes_sent: int = 0
    duration_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class DeliveryFailed(Exception):
    """Splunk did not accept a batch: retries ran out, or it refused for good.

    ``progress`` says what was delivered before the failure (those batches are sent again
    when Lambda retries the invocation: HEC delivery is at least once).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        attempts: int = 0,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.attempts = attempts
        self.progress: ForwardSummary | None = None

    @property
    def token_refused(self) -> bool:
        return self.status in {401, 403} or self.code in TOKEN_CODES


class HecRejected(DeliveryFailed):
    """Splunk refused the batch for a reason retrying will not fix (token, index, URL, data)."""


# -- settings --------------------------------------------------------------------------------
@dataclass(frozen=True)
class HecSettings:
    token_secret: str = ""  # where the token comes from: named in errors about the token
    index: str = ""  # empty: the token's default index
    source: str = ""  # empty: the log group's name
    sourcetype: str = "aws:cloudwatchlogs"
    max_batch_bytes: int = 262_144
    max_attempts: int = 5
    timeout_s: float = 10.0
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 8.0  # also caps a Retry-After

    @property
    def backoff(self) -> Backoff:
        return Backoff(self.max_attempts, self.backoff_base_s, self.backoff_cap_s)


def hec_endpoint(url: str) -> str:
    """The HEC event endpoint for SPLUNK_HEC_URL: https (or http to loopback), no userinfo,
    with ``/services/collector/event`` appended when the URL stops short of it."""
    try:
        parts = urlsplit(checked_url(url, "SPLUNK_HEC_URL", "SplunkHecUrl"))
    except UrlNotAllowed as exc:
        raise InvalidSetting(
            f"{exc}. Splunk HEC is https://<splunk-host>:8088 or the full "
            f"https://<splunk-host>:8088{HEC_EVENT_PATH}; the token belongs in the secret named "
            "by SPLUNK_HEC_TOKEN_SECRET_ARN"
        ) from None
    path = parts.path.rstrip("/")
    if HEC_EVENT_PATH not in path:
        if path.endswith("/services/collector"):
            path += "/event"
        else:
            path += HEC_EVENT_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def token_from_secret(secret: str, secret_name: str) -> str:
    """The token in a secret string: the bare token, or JSON ``{"token": "..."}``."""
    token = token_from(secret, secret_name, what=CREDENTIAL, malformed=TokenUnavailable)
    return _header_safe(token, secret_name)


def _header_safe(token: str, secret_name: str) -> str:
    # http.client would refuse it with an error quoting the token into logs and dead letters.
    problem = header_value_problem(token)
    if problem:
        raise TokenUnavailable(
            f"the token in secret {secret_name} {problem}: store the bare Splunk HEC token on "
            'one line, or {"token": "<token>"}'
        )
    return token


# -- HEC events and batches ------------------------------------------------------------------
@dataclass(frozen=True)
class HecEvent:
    log_event_id: str
    body: bytes  # one serialized HEC event object


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON HEC accepts")


def event_value(message: str) -> Any:
    """A JSON object message (Powertools, Step Functions) as the object; anything else as text."""
    text = message.rstrip("\r\n")
    stripped = text.strip()
    if stripped.startswith("{") and stripped.endswith("}"):
        try:
            parsed = json.loads(stripped, parse_constant=_reject_constant)
        except ValueError:
            return text
        if isinstance(parsed, dict):
            return parsed
    return text


def hec_events(logs: CloudWatchLogsEvent, settings: HecSettings) -> tuple[list[HecEvent], int]:
    """One HEC event per log event, and how many blank log events were left out."""
    data = logs.parse_logs_data()
    # host: the log stream, the nearest thing to a machine (one Lambda execution environment).
    envelope: dict[str, Any] = {
        "host": data.log_stream,
        "source": settings.source or data.log_group,
        "sourcetype": settings.sourcetype,
    }
    if settings.index:
        envelope["index"] = settings.index
    events: list[HecEvent] = []
    blank = 0
    for item in data.log_events:
        if not item.message.strip():
            blank += 1
            continue
        hec_event = {
            "time": item.timestamp / 1000,
            **envelope,
            "event": event_value(item.message),
            "fields": {
                "log_group": data.log_group,
                "log_stream": data.log_stream,
                "aws_account": data.owner,
                "event_id": item.get_id,
            },
        }
        body = json.dumps(hec_event, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        events.append(HecEvent(item.get_id, body.encode("utf-8")))
    return events, blank


def pack_batches(events: Sequence[HecEvent], max_bytes: int) -> list[list[HecEvent]]:
    """Batches in order, each at most ``max_bytes`` (an event larger than that goes alone)."""
    batches: list[list[HecEvent]] = []
    current: list[HecEvent] = []
    size = 0
    for event in events:
        if current and size + len(event.body) > max_bytes:
            batches.append(current)
            current, size = [], 0
        current.append(event)
        size += len(event.body)
    if current:
        batches.append(current)
    return batches


# -- delivery --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Reply:
    status: int | None  # None: no HTTP answer (connection error, timeout)
    text: str
    code: int | None = None
    invalid_event: int | None = None
    retry_after: float | None = None
    note: str = ""  # why the answer could not be parsed in full (see ReplyBody.note)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        # Wider than sluice_common.retry.RETRYABLE_STATUS on purpose: HEC answers 408 and any
        # 5xx (503 "Server is busy", 500 "Internal server error") for what passes by itself.
        return self.status is None or self.status in {408, 429} or self.status >= 500

    def describe(self) -> str:
        if self.status is None:
            return self.text
        code = f", code {self.code}" if self.code is not None else ""
        return f"HTTP {self.status}{code} {self.text!r}{self.note}"


def _post_once(
    pool: urllib3.PoolManager, url: str, body: bytes, headers: dict[str, str], timeout_s: float
) -> _Reply:
    errors = urllib3.exceptions
    shown = safe_url(url)  # messages name no userinfo or query string
    try:
        response = pool.request(
            "POST",
            url,
            body=body,
            headers=headers,
            timeout=urllib3.Timeout(connect=timeout_s, read=timeout_s),
            retries=False,
            redirect=False,
            preload_content=False,
        )
        answer = read_reply(response)  # its first 64 KiB: HEC answers with a short JSON object
    except errors.SSLError as exc:
        if "CERTIFICATE_VERIFY_FAILED" in str(exc):
            raise HecRejected(
                f"the TLS certificate of {shown} is not trusted: {safe_error(exc)}. Give Splunk "
                "HEC a certificate from a public CA, or point SPLUNK_HEC_URL at a host that has one"
            ) from None
        return _Reply(None, f"TLS error talking to {shown}: {safe_error(exc)}")
    except errors.NewConnectionError as exc:  # urllib3 files it under timeouts too
        return _Reply(None, f"cannot connect to {shown}: {safe_error(exc)}")
    except errors.TimeoutError:
        return _Reply(None, f"no answer from {shown} within {timeout_s:g} s")
    except errors.HTTPError as exc:
        return _Reply(None, f"connection to {shown} failed: {safe_error(exc)}")
    except ValueError as exc:
        # http.client refuses a bad header with a message quoting it (the token): name none.
        raise HecRejected(
            f"the request to Splunk HEC at {shown} cannot be built ({type(exc).__name__}): a "
            "header value is not valid HTTP; check the token in the secret named by "
            "SPLUNK_HEC_TOKEN_SECRET_ARN"
        ) from None
    raw = answer.data.decode("utf-8", "replace")
    try:
        reply = json.loads(raw)
    except ValueError:
        reply = None
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if not isinstance(reply, dict):
        return _Reply(
            response.status, raw[:200].strip(), retry_after=retry_after, note=answer.note()
        )
    code, invalid = reply.get("code"), reply.get("invalid-event-number")
    return _Reply(
        response.status,
        str(reply.get("text", "")),
        code if isinstance(code, int) else None,
        invalid if isinstance(invalid, int) else None,
        retry_after,
    )


def _rejection(reply: _Reply, url: str, batch: Sequence[HecEvent], settings: HecSettings) -> str:
    """What went wrong and what to change, for an answer retrying will not fix."""
    url = safe_url(url)  # only named here, never requested
    said = f"Splunk HEC at {url} refused the batch ({reply.describe()})"
    secret = settings.token_secret or "the token secret (SPLUNK_HEC_TOKEN_SECRET_ARN)"
    n = reply.invalid_event
    event = (
        f"event {n} of the batch (log event id {batch[n].log_event_id})"
        if n is not None and 0 <= n < len(batch)
        else "an event of the batch"
    )
    status, code = reply.status or 0, reply.code
    if code == 1:
        hint = f"the token is disabled: enable it in Splunk or put an enabled token in {secret}"
    elif code in TOKEN_CODES or status in {401, 403}:
        hint = (
            f'put a valid HEC token in secret {secret} (bare, or as {{"token": ...}}); the '
            "function reads the secret again on its next attempt"
        )
    elif code == 7:
        index = settings.index or "(the token's default)"
        hint = (
            f"index {index} does not exist or the token may not write to it: set SPLUNK_INDEX "
            "to one of the token's allowed indexes, or leave it empty for the token's default"
        )
    elif code in {10, 11}:
        hint = (
            "the token has indexer acknowledgement on, which needs a channel this forwarder "
            "does not send: turn off 'Enable indexer acknowledgement' on the token"
        )
    elif code in {6, 12, 13, 15}:
        hint = f"{event} is not an event HEC accepts; the log event is in the dead-letter queue"
    elif status == 404:
        hint = (
            f"there is no HEC endpoint at {url}: check SPLUNK_HEC_URL and that HTTP Event "
            "Collector is enabled in Splunk (Global Settings: All Tokens enabled)"
        )
    elif status == 413:
        size = sum(len(e.body) for e in batch)
        hint = (
            f"the {size}-byte batch exceeds Splunk's max_content_length: lower "
            "SPLUNK_MAX_BATCH_BYTES (or raise max_content_length in Splunk's inputs.conf)"
        )
    elif 300 <= status < 400:
        hint = "HEC redirects: set SPLUNK_HEC_URL to the final URL of the event endpoint"
    else:
        hint = "retrying will not fix this answer; see Splunk's _internal index for the cause"
    return f"{said}: {hint}"


def post_batch(
    pool: urllib3.PoolManager,
    url: str,
    token: str,
    batch: Sequence[HecEvent],
    settings: HecSettings,
    *,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    remaining_s: Callable[[], float] | None = None,
) -> int:
    """POST one batch until HEC accepts it; the attempts it took, else :class:`DeliveryFailed`.

    429, 408, 5xx, timeouts and connection errors are retried with full-jitter backoff (at least
    a Retry-After, capped); any other answer fails at once as :class:`HecRejected`.
    """
    backoff = settings.backoff
    shown = safe_url(url)
    body = b"".join(event.body for event in batch)
    headers = {"Authorization": f"Splunk {token}", "Content-Type": "application/json"}
    reply = _Reply(None, "not attempted")
    for attempt in range(1, settings.max_attempts + 1):
        reply = _post_once(pool, url, body, headers, settings.timeout_s)
        if reply.ok:
            return attempt
        if not reply.retryable:
            raise HecRejected(
                _rejection(reply, url, batch, settings),
                status=reply.status,
                code=reply.code,
                attempts=attempt,
            )
        if attempt == settings.max_attempts:
            break
        delay = backoff.delay(attempt, rng, reply.retry_after)
        if (
            remaining_s is not None
            and remaining_s() < delay + settings.timeout_s + TIMEOUT_MARGIN_S
        ):
            raise DeliveryFailed(
                f"Splunk HEC at {shown} did not accept a batch of {len(batch)} log events in "
                f"{attempt} attempts, and the invocation would time out before the next one "
                f"(last answer: {reply.describe()}). Raise the function's timeout or lower "
                "SPLUNK_TIMEOUT_SECONDS; Lambda retries the invocation, then dead-letters it",
                status=reply.status,
                code=reply.code,
                attempts=attempt,
            )
        sleep(delay)
    raise DeliveryFailed(
        f"Splunk HEC at {shown} did not accept a batch of {len(batch)} log events "
        f"({len(body)} bytes) in {settings.max_attempts} attempts (last answer: "
        f"{reply.describe()}). Check that Splunk is up and reachable from the function "
        "(network path, HEC queue health); Lambda retries the invocation, then puts the event "
        "in the dead-letter queue to redrive once Splunk is back",
        status=reply.status,
        code=reply.code,
        attempts=settings.max_attempts,
    )


def forward(
    logs: CloudWatchLogsEvent,
    *,
    pool: urllib3.PoolManager,
    url: str,
    token: str,
    settings: HecSettings,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    remaining_s: Callable[[], float] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ForwardSummary:
    """Send every log event of a decoded payload to HEC, batch after batch, in order.

    Stops at the first batch that fails (raising :class:`DeliveryFailed` with ``progress``):
    the later batches would be sent again anyway when Lambda retries the whole event.
    """
    started = clock()
    data = logs.parse_logs_data()
    kind = data.message_type
    summary = ForwardSummary(
        kind, str(data.get("logGroup") or ""), str(data.get("logStream") or "")
    )
    if kind == CONTROL_MESSAGE:
        return summary
    events, summary.blank_skipped = hec_events(logs, settings)
    summary.log_events = len(data.log_events)
    try:
        for batch in pack_batches(events, settings.max_batch_bytes):
            attempts = post_batch(
                pool, url, token, batch, settings, sleep=sleep, rng=rng, remaining_s=remaining_s
            )
            summary.batches_sent += 1
            summary.retries += attempts - 1
            summary.events_forwarded += len(batch)
            summary.bytes_sent += sum(len(event.body) for event in batch)
    except DeliveryFailed as failed:
        summary.retries += max(0, failed.attempts - 1)
        summary.duration_ms = round((clock() - started) * 1000, 1)
        failed.progress = summary
        raise
    summary.duration_ms = round((clock() - started) * 1000, 1)
    return summary
