"""ProcessObject refuses an unsafe DOWNSTREAM_API_URL at the start of every invocation, before
it reads the object or sends anything, with DownstreamMisconfigured: the drain dead-letters the
object under that name, a reason naming the setting, for a redrive once it is fixed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sluice_local.handlers import Handler
from sluice_local.servers.downstream import DownstreamServer

SAMPLE = Path(__file__).resolve().parents[3] / "events/process_object_s3_details.json"
CSV = b"id,amount\n1,9.99\n"


def sample(s3: Any, *, stored: bool) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(SAMPLE.read_text())
    if stored:
        details = event["s3_details"]
        s3.put_object(Bucket=details["bucket"], Key=details["key"], Body=CSV)
    return event


def refusal(handler: Handler, event: dict[str, Any], context: Any) -> str:
    with pytest.raises(Exception) as raised:  # the handler's own module's class
        handler(event, context)
    assert type(raised.value).__name__ == "DownstreamMisconfigured"
    return str(raised.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://api.example.com/rows",
        "http://10.0.0.5:8080/rows",
        "http://127.0.0.1.nip.io/rows",
        "ftp://api.example.com/rows",
        "api.example.com/rows",
    ],
)
def test_a_url_other_than_https_or_loopback_http_is_refused_before_the_object_is_read(
    url: str,
    fresh_handler: Callable[[], Handler],
    s3: Any,
    monkeypatch: pytest.MonkeyPatch,
    lambda_context: Any,
) -> None:
    monkeypatch.setenv("DOWNSTREAM_API_URL", url)
    # Not stored: had the handler read it first, it would have failed with ObjectNotFound.
    reason = refusal(fresh_handler(), sample(s3, stored=False), lambda_context)
    assert reason.startswith("DOWNSTREAM_API_URL (template parameter DownstreamApiUrl) ")
    assert reason.endswith("the object was not read")


@pytest.mark.parametrize(
    "userinfo", ["us3r:pa55w0rd@", "us3r@", ":pa55w0rd@", "us3r:pa55w0rd?x@", "us%33r:pa55w0rd@"]
)
def test_userinfo_is_refused_never_sent_and_never_shown(
    userinfo: str,
    fresh_handler: Callable[[], Handler],
    api: DownstreamServer,
    s3: Any,
    monkeypatch: pytest.MonkeyPatch,
    lambda_context: Any,
    logs: Callable[[], list[dict[str, Any]]],
) -> None:
    # A loopback URL that would work without its userinfo (urllib3 would drop it and send).
    monkeypatch.setenv("DOWNSTREAM_API_URL", api.url.replace("://", f"://{userinfo}") + "/rows")
    reason = refusal(fresh_handler(), sample(s3, stored=True), lambda_context)
    assert "userinfo" in reason and "DownstreamApiUrl" in reason
    assert api.requests == []
    shown = reason + json.dumps(logs())
    assert "us3r" not in shown and "pa55w0rd" not in shown and "us%33r" not in shown
    [warning] = [line for line in logs() if line.get("message") == "object not processed"]
    assert warning["error"] == "DownstreamMisconfigured" and warning["reason"] == reason


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_plain_http_to_loopback_still_delivers(
    host: str,
    fresh_handler: Callable[[], Handler],
    api: DownstreamServer,
    s3: Any,
    monkeypatch: pytest.MonkeyPatch,
    lambda_context: Any,
) -> None:
    monkeypatch.setenv("DOWNSTREAM_API_URL", api.url.replace("127.0.0.1", host) + "/rows")
    monkeypatch.setenv("DOWNSTREAM_TIMEOUT_SECONDS", "5")  # the default, 35 s, outlasts the context
    summary = fresh_handler()(sample(s3, stored=True), lambda_context)
    assert summary["rows_sent"] == 1 and len(api.requests) == 1


def test_an_empty_url_still_means_the_simulated_api(
    fresh_handler: Callable[[], Handler],
    s3: Any,
    monkeypatch: pytest.MonkeyPatch,
    lambda_context: Any,
) -> None:
    monkeypatch.setenv("DOWNSTREAM_API_URL", "")
    monkeypatch.setenv("SIMULATED_LATENCY_MS", "0")
    summary = fresh_handler()(sample(s3, stored=True), lambda_context)
    assert summary["rows_sent"] == 1
