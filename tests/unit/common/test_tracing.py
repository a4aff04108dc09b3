"""X-Ray gets each handler's timing and faults, never its return value or its exception object.

Powertools' Tracer copies a handler's response and exception into the subsegment's metadata
unless told not to (capture_response, capture_error), and anyone with X-Ray read access reads
them there: for the payment steps that is the payment itself (amount, customerId, description,
cardCountry, the DynamoDB item), with no grant on PaymentKey. Each handler runs here, once
returning and once raising, with a recording provider in place of the X-Ray recorder (tests turn
tracing off, POWERTOOLS_TRACE_DISABLED, but the decorator asks the provider for its subsegment
all the same).
"""

from __future__ import annotations

import base64
import gzip
import inspect
import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sluice_common.observability import tracer
from sluice_local.handlers import Handler, load_handler

ROOT = Path(__file__).resolve().parents[3]
LAYERS = [ROOT / "layers/common"]
Event = dict[str, Any]


@dataclass
class RecordedSubsegment:
    name: str
    metadata: dict[tuple[str, str], Any] = field(default_factory=dict)
    annotations: dict[str, Any] = field(default_factory=dict)

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        self.metadata[(namespace, key)] = value

    def put_annotation(self, key: str, value: Any) -> None:
        self.annotations[key] = value


@dataclass
class RecordingProvider:
    """What the Tracer asks of aws_xray_sdk's recorder in capture_lambda_handler."""

    subsegments: list[RecordedSubsegment] = field(default_factory=list)

    @contextmanager
    def in_subsegment(self, name: str | None = None, **_: Any) -> Iterator[RecordedSubsegment]:
        self.subsegments.append(RecordedSubsegment(str(name)))
        yield self.subsegments[-1]


@pytest.fixture
def xray(monkeypatch: pytest.MonkeyPatch) -> RecordingProvider:
    provider = RecordingProvider()
    monkeypatch.setattr(tracer, "provider", provider)
    return provider


def _sample(name: str) -> Event:
    loaded: Event = json.loads((ROOT / "events" / name).read_text())
    return loaded


def _control_message() -> Event:
    data = {"messageType": "CONTROL_MESSAGE", "logEvents": []}
    packed = base64.b64encode(gzip.compress(json.dumps(data).encode())).decode()
    return {"awslogs": {"data": packed}}


def _stub(handler: Handler, monkeypatch: pytest.MonkeyPatch, **names: Any) -> None:
    """Replace names in the handler module (its clients, its sender) for one test."""
    module_globals = inspect.unwrap(handler).__globals__
    for name, value in names.items():
        assert name in module_globals, name
        monkeypatch.setitem(module_globals, name, value)


def _alert_notifier(handler: Handler, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "SMTP_HOST": "127.0.0.1",
        "ALERT_FROM": "sluice@example.com",
        "ALERT_RECIPIENTS": "ops@example.com",
    }.items():
        monkeypatch.setenv(name, value)
    sent = SimpleNamespace(sent=1, refused=["oncall@example.com"])
    _stub(
        handler,
        monkeypatch,
        send_emails=lambda *_, **__: sent,
        ssl_context=lambda: None,
        credentials=lambda: None,
    )


def _drain_lease(handler: Handler, monkeypatch: pytest.MonkeyPatch) -> None:
    stubs = {"release": lambda *_, **__: True, "dynamodb": lambda: None, "settings": lambda: None}
    _stub(handler, monkeypatch, **stubs)


def _process_payment(handler: Handler, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYMENT_FEE_BASIS_POINTS", "140")  # the sample's rate


def _process_stream(handler: Handler, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAM_EVENT_TABLE", "stream-events")


def _process_object(handler: Handler, monkeypatch: pytest.MonkeyPatch) -> None:
    # Out of time before the first row: the handler answers "postponed" without S3 or the API.
    _stub(
        handler,
        monkeypatch,
        downstream=lambda: SimpleNamespace(request_timeout_s=1.0),
        budget_for=lambda *_: None,
    )


def _metrics_sync(handler: Handler, monkeypatch: pytest.MonkeyPatch) -> None:
    config = SimpleNamespace(
        period_s=60,
        delay_s=0,
        ingest_url="https://abc123.live.dynatrace.com/api/v2/metrics/ingest",
        token_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:dt",
        resources=(),
    )
    ingest = SimpleNamespace(lines_ok=1, lines_invalid=0, invalid=[], warnings=[])
    report = SimpleNamespace(
        ingest=ingest, too_old=0, problems=[], to_dict=lambda: {"lines_sent": 1}
    )
    refused = inspect.unwrap(handler).__globals__["DynatraceError"]

    def sync(*args: Any, **_: Any) -> SimpleNamespace:
        if args[4].start.year < 2000:  # the Case's refused event: a window in 1999
            raise refused("Dynatrace refused the token")
        return report

    names = {"settings": lambda: config, "api_token": lambda _: "token", "sync": sync}
    _stub(handler, monkeypatch, cloudwatch=lambda: None, pool=lambda: None, **names)


@dataclass(frozen=True)
class Case:
    function: str
    returns: Callable[[], Event]  # an event the handler answers
    raises: Event  # an event the handler refuses with an exception
    error: str  # the exception's type: the refusal, not a failing test setup
    setup: Callable[[Handler, pytest.MonkeyPatch], None] = lambda handler, monkeypatch: None


CASES = [
    Case(
        "validate_payment",
        lambda: _sample("validate_payment_message.json"),
        {"messageId": "m-1", "body": json.dumps(_sample("payment_event_invalid.json"))},
        "InvalidPayment",
    ),
    Case(
        "process_payment",
        lambda: _sample("process_payment_validated.json"),
        {"payment": {"amount": "42.50", "customerId": "c-88412"}},
        "InvalidPayment",
        _process_payment,
    ),
    Case(
        "enrich_payment",
        lambda: _sample("enrich_payment_processed.json"),
        {"payment": {"amount": "42.50", "customerId": "c-88412"}},
        "InvalidPayment",
    ),
    Case(
        "plan_batch",
        lambda: _sample("plan_batch_received_messages.json"),
        {"action": "unknown"},
        "MalformedEvent",
    ),
    Case(
        "process_stream",
        lambda: {"Records": []},
        {"no": "Records"},
        "MalformedEvent",
        _process_stream,
    ),
    Case(
        "drain_lease",
        lambda: {"action": "release", "owner": "arn:aws:states:us-east-1:1:execution:d:e"},
        {"action": "hold"},
        "MalformedEvent",
        _drain_lease,
    ),
    Case(
        "execution_alert", _control_message, {"awslogs": {"data": "not base64"}}, "MalformedEvent"
    ),
    Case(
        "alert_notifier",
        lambda: _sample("alert_notifier_alarm.json"),
        {"Records": []},
        "MalformedEvent",
        _alert_notifier,
    ),
]


CASES += [
    Case(
        "process_object",
        lambda: {"s3_details": {"bucket": "b", "key": "customers/c-88412.csv"}},
        {"s3_details": "not an object"},
        "MalformedEvent",
        _process_object,
    ),
    Case(
        "splunk_forwarder",
        _control_message,
        {"awslogs": {"data": "not base64"}},
        "MalformedLogsPayload",
    ),
    Case(
        "metrics_sync",
        lambda: {"time": "2026-11-02T10:00:00Z"},
        {"time": "1999-01-01T10:00:00Z"},
        "DynatraceError",
        _metrics_sync,
    ),
]


@pytest.fixture(params=CASES, ids=lambda case: getattr(case, "function", None))
def case(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> tuple[Case, Handler]:
    chosen: Case = request.param
    handler = load_handler(
        ROOT / "functions" / chosen.function,
        "app.lambda_handler",
        LAYERS,
        container=f"tracing-{uuid.uuid4().hex}",
    )
    chosen.setup(handler, monkeypatch)
    return chosen, handler


def test_the_handlers_response_is_not_recorded_in_xray(
    case: tuple[Case, Handler], xray: RecordingProvider, lambda_context: Any
) -> None:
    chosen, handler = case
    response = handler(chosen.returns(), lambda_context)

    assert response  # the handler answered: there was something to record
    [subsegment] = xray.subsegments
    assert subsegment.name == "## lambda_handler"
    assert subsegment.metadata == {}


def test_the_handlers_exception_is_not_recorded_in_xray(
    case: tuple[Case, Handler], xray: RecordingProvider, lambda_context: Any
) -> None:
    chosen, handler = case
    with pytest.raises(Exception) as raised:  # each handler refuses with its own type
        handler(chosen.raises, lambda_context)

    assert type(raised.value).__name__ == chosen.error, raised.value

    [subsegment] = xray.subsegments
    assert subsegment.metadata == {}


def test_the_payment_is_nowhere_in_the_subsegment(
    xray: RecordingProvider, lambda_context: Any
) -> None:
    handler = load_handler(
        ROOT / "functions/enrich_payment", "app.lambda_handler", LAYERS, container="tracing-pay"
    )
    output = handler(_sample("enrich_payment_processed.json"), lambda_context)

    [subsegment] = xray.subsegments
    recorded = json.dumps([subsegment.metadata, subsegment.annotations], default=str)
    for field_name in ("customerId", "amount", "description", "cardCountry"):
        assert str(output["payment"][field_name]) not in recorded, field_name
    assert subsegment.annotations["ColdStart"] in (True, False)  # the trace itself is kept
