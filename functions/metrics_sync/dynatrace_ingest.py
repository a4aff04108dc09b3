"""Send metric lines: ``POST /api/v2/metrics/ingest`` in chunks within Dynatrace's limits,
retrying 429/5xx and connection errors with the layer's backoff (:func:`send_lines`).

Takes the HTTP pool and sleep as arguments; messages never quote the token or the URL's
userinfo or query string.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dynatrace_errors import (
    DynatraceAuthError,
    DynatraceConfigError,
    DynatraceError,
    DynatraceUnavailable,
)
from dynatrace_lines import MAX_BODY_BYTES, MAX_LINES_PER_REQUEST, chunks
from sluice_common.redact import header_value_problem, safe_error, safe_url
from sluice_common.retry import RETRYABLE_STATUS, Backoff, parse_retry_after
from sluice_common.urls import ReplyBody, UrlNotAllowed, checked_url, read_reply

INGEST_PATH = "/api/v2/metrics/ingest"


def ingest_url(api_url: str) -> str:
    """The ingest endpoint of an environment URL (``https://abc12345.live.dynatrace.com``, an
    ActiveGate's ``https://host:9999/e/<env>``, or the endpoint itself). HTTPS only, except
    plain http to loopback for a local stand-in; no userinfo (see sluice_common.urls)."""
    if not (api_url or "").strip():
        raise DynatraceConfigError(
            "DYNATRACE_API_URL is empty: set it to your environment's URL, "
            "e.g. https://abc12345.live.dynatrace.com"
        )
    try:
        url = checked_url(api_url, "DYNATRACE_API_URL", "DynatraceApiUrl").rstrip("/")
    except UrlNotAllowed as exc:
        raise DynatraceConfigError(
            f"{exc}; the environment's URL is e.g. https://abc12345.live.dynatrace.com "
            "(the token travels with every request)"
        ) from None
    return url if url.endswith(INGEST_PATH) else url + INGEST_PATH


@dataclass(frozen=True)
class Ingest:
    url: str  # the ingest endpoint (see ingest_url)
    token: str = field(repr=False)
    token_source: str  # where the token came from, named when Dynatrace refuses it
    timeout_s: float = 10.0
    max_attempts: int = 5
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 20.0

    @property
    def backoff(self) -> Backoff:
        return Backoff(self.max_attempts, self.backoff_base_s, self.backoff_cap_s)


@dataclass
class IngestReport:
    requests: int = 0  # HTTP requests made, retries included
    lines_sent: int = 0
    lines_ok: int = 0
    lines_invalid: int = 0
    invalid: list[dict[str, Any]] = field(default_factory=list)  # Dynatrace's line errors
    warnings: list[str] = field(default_factory=list)


# The counts lead Dynatrace's answer; its invalidLines list can run past what is read of it.
_COUNTS = re.compile(rb'"(linesOk|linesInvalid)"\s*:\s*(\d+)')


def _body(reply: ReplyBody) -> dict[str, Any]:
    """The answer's JSON object; from an answer cut at the read limit, its counts alone."""
    try:
        parsed = json.loads(reply.data or b"{}")
    except ValueError:
        if not reply.truncated:
            return {}
        return {name.decode(): int(value) for name, value in _COUNTS.findall(reply.data)}
    return parsed if isinstance(parsed, dict) else {}


def _message(body: dict[str, Any], reply: ReplyBody) -> str:
    error = body.get("error")
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    return reply.data[:300].decode(errors="replace") + reply.note()


def _headers(ingest: Ingest) -> dict[str, str]:
    # http.client would refuse a bad token with an error that quotes it: name the problem only.
    token = ingest.token.strip()
    bad = header_value_problem(token)
    if bad:
        raise DynatraceConfigError(
            f"the API token from {ingest.token_source} {bad}: store the bare token on one "
            'line, or {"token": "<Dynatrace API token>"}'
        )
    return {
        "Authorization": f"Api-Token {token}",
        "Content-Type": "text/plain; charset=utf-8",
        "Accept": "application/json",
    }


def _post(
    pool: Any,
    ingest: Ingest,
    body: bytes,
    report: IngestReport,
    sleep: Callable[[float], None],
    rng: random.Random | None,
) -> tuple[int, dict[str, Any], ReplyBody]:
    """POST one body; retry 429/5xx/connection errors; return the final status, JSON and what
    was read of the answer (its first 64 KiB)."""
    from urllib3.exceptions import HTTPError

    headers = _headers(ingest)
    shown = safe_url(ingest.url)  # messages name no userinfo or query string
    backoff = ingest.backoff
    problem = ""
    for attempt in range(1, backoff.max_attempts + 1):
        retry_after: float | None = None
        report.requests += 1
        try:
            response = pool.request(
                "POST",
                ingest.url,
                body=body,
                headers=headers,
                timeout=ingest.timeout_s,
                retries=False,
                preload_content=False,
            )
            reply = read_reply(response)
        except (HTTPError, OSError) as exc:
            problem = f"cannot reach {shown}: {safe_error(exc)}"
        except ValueError as exc:  # a header http.client refuses, quoting it: name none
            raise DynatraceConfigError(
                f"the request to {shown} cannot be built ({type(exc).__name__}): a header value "
                f"is not valid HTTP; check the API token from {ingest.token_source}"
            ) from None
        else:
            status = int(response.status)
            parsed = _body(reply)
            if status in (401, 403):
                raise DynatraceAuthError(
                    f"Dynatrace refused the API token from {ingest.token_source} "
                    f"(HTTP {status}: {_message(parsed, reply)}): the token needs the "
                    "metrics.ingest scope and must not be expired or revoked"
                )
            if status not in RETRYABLE_STATUS:
                return status, parsed, reply
            problem = f"HTTP {status} from {shown}: {_message(parsed, reply)}"
            header = response.headers.get("Retry-After") if response.headers else None
            retry_after = parse_retry_after(None if header is None else str(header))
        if attempt < backoff.max_attempts:
            sleep(backoff.delay(attempt, rng, retry_after))
    raise DynatraceUnavailable(f"{problem} (gave up after {backoff.max_attempts} attempts)")


def _count(report: IngestReport, chunk: list[str], body: dict[str, Any]) -> None:
    """Add one answer's accepted and refused lines (with Dynatrace's reasons) to the report."""
    ok = int(body.get("linesOk") or 0)
    invalid = int(body.get("linesInvalid") or 0)
    report.lines_ok += ok
    report.lines_invalid += invalid
    error = body.get("error")
    if invalid and isinstance(error, dict):
        for entry in error.get("invalidLines") or []:
            if isinstance(entry, dict) and isinstance(entry.get("line"), int):
                index = entry["line"] - 1  # 1-based, within this request
                text = chunk[index] if 0 <= index < len(chunk) else ""
                report.invalid.append({"error": entry.get("error"), "line": text[:500]})
    warnings = body.get("warnings")
    if isinstance(warnings, dict) and warnings.get("message"):
        report.warnings.append(str(warnings["message"]))


def send_lines(
    pool: Any,
    ingest: Ingest,
    lines: Sequence[str],
    *,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    max_lines: int = MAX_LINES_PER_REQUEST,
    max_bytes: int = MAX_BODY_BYTES,
) -> IngestReport:
    """Send lines in chunks. Invalid lines (202 with linesInvalid, or 400 when all of a chunk
    are) are reported, not retried: sending them again cannot make them valid."""
    report = IngestReport()
    for chunk in chunks(lines, max_lines, max_bytes):
        status, body, reply = _post(pool, ingest, "\n".join(chunk).encode(), report, sleep, rng)
        report.lines_sent += len(chunk)
        if status not in (200, 202, 400) or (status == 400 and "linesInvalid" not in body):
            raise DynatraceError(
                f"Dynatrace answered HTTP {status} to {safe_url(ingest.url)}: "
                f"{_message(body, reply)}"
                + (" (is DYNATRACE_API_URL the environment's URL?)" if status == 404 else "")
            )
        if reply.truncated or reply.problem:
            report.warnings.append(
                f"Dynatrace's answer to {len(chunk)} lines was not read in full"
                f"{reply.note()}: counted linesOk={body.get('linesOk', 'unknown')}, "
                f"linesInvalid={body.get('linesInvalid', 'unknown')}; invalid lines past the "
                "part read are not listed"
            )
        _count(report, chunk, body)
    return report
