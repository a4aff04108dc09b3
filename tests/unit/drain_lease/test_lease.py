"""The drain lease against emulated DynamoDB: one holder, expiry, renewal, hand-over, release;
and its arithmetic against the template's parameter ranges (every round ends within Express's
5 minutes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from samtranslator.yaml_helper import yaml_parse

from sluice_local.handlers import load_handler

ROOT = Path(__file__).resolve().parents[3]
handler = load_handler(
    ROOT / "functions/drain_lease", "app.lambda_handler", [ROOT / "layers/common"]
)
import lease  # noqa: E402  (importable once the handler's code dir is on the path)

SETTINGS = lease.LeaseSettings(table="leases", function_timeout_s=60, max_stagger_s=30, round_s=30)
# The round, then the last object's start (largest stagger + slack), one timeout, the retry
# waits of its path, and latency.
START_WINDOW = 30 + lease.START_SLACK_SECONDS
TAIL = START_WINDOW + 60 + lease.RETRY_WAIT_SECONDS + lease.MARGIN_SECONDS
ROUND_AND_TAIL = 30 + TAIL
FIRST_HOLD_ELAPSED_S = 5  # LoadSettings and a cold DrainLease invocation
T0 = datetime(2024, 1, 15, 10, 0, tzinfo=UTC)


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    """The lease table as template.yaml declares it (LeaseTable), named "leases"."""
    declared = yaml_parse((ROOT / "template.yaml").read_text())["Resources"]["LeaseTable"]
    schema = ("AttributeDefinitions", "KeySchema", "BillingMode")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(TableName="leases", **{k: declared["Properties"][k] for k in schema})
        yield client


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_one_drain_holds_the_lease_and_another_is_told_who(dynamodb: Any) -> None:
    first = lease.hold(dynamodb, SETTINGS, owner="a", started_at=at(0), now=at(0))
    second = lease.hold(dynamodb, SETTINGS, owner="b", started_at=at(1), now=at(1))
    assert (first.held, first.keep_going) == (True, True)
    assert first.round_deadline == at(30).timestamp()
    assert first.object_start_by == at(30 + START_WINDOW).timestamp()
    assert first.expires_at == at(ROUND_AND_TAIL).timestamp()
    assert (second.held, second.keep_going, second.holder) == (False, False, "a")


def test_the_holder_renews_for_each_round(dynamodb: Any) -> None:
    lease.hold(dynamodb, SETTINGS, owner="a", started_at=at(0), now=at(0))
    renewed = lease.hold(dynamodb, SETTINGS, owner="a", started_at=at(0), now=at(80))
    assert renewed.held and renewed.expires_at == at(80 + ROUND_AND_TAIL).timestamp()
    assert not lease.hold(dynamodb, SETTINGS, owner="b", started_at=at(100), now=at(100)).held


def test_a_dead_drains_lease_is_free_once_its_last_round_could_have_ended(dynamodb: Any) -> None:
    lease.hold(dynamodb, SETTINGS, owner="dead", started_at=at(0), now=at(0))
    before, after = at(ROUND_AND_TAIL - 1), at(ROUND_AND_TAIL + 1)
    assert not lease.hold(dynamodb, SETTINGS, owner="b", started_at=before, now=before).held
    assert lease.hold(dynamodb, SETTINGS, owner="c", started_at=after, now=after).held


def test_the_last_round_shrinks_to_fit_the_express_limit_then_the_drain_hands_over(
    dynamodb: Any,
) -> None:
    tail = TAIL
    short = lease.hold(dynamodb, SETTINGS, owner="a", started_at=at(0), now=at(300 - tail - 10))
    assert short.keep_going and short.round_deadline == at(300 - tail).timestamp()
    assert short.expires_at == at(lease.EXPRESS_LIMIT_SECONDS).timestamp()
    # The last object may start until objectStartBy, then run one timeout and its retries.
    last_end = short.object_start_by + 60 + lease.RETRY_WAIT_SECONDS + lease.MARGIN_SECONDS
    assert last_end == at(lease.EXPRESS_LIMIT_SECONDS).timestamp()
    too_short = 300 - tail - lease.MIN_ROUND_SECONDS + 1
    late = lease.hold(dynamodb, SETTINGS, owner="a", started_at=at(0), now=at(too_short))
    assert (late.held, late.keep_going) == (True, False)


def test_the_execution_a_drain_hands_over_to_takes_its_lease(dynamodb: Any) -> None:
    lease.hold(dynamodb, SETTINGS, owner="old", started_at=at(0), now=at(150))  # last round
    assert not lease.hold(dynamodb, SETTINGS, owner="old", started_at=at(0), now=at(200)).keep_going
    stranger = lease.hold(dynamodb, SETTINGS, owner="x", started_at=at(201), now=at(201))
    heir = lease.hold(
        dynamodb, SETTINGS, owner="new", started_at=at(201), now=at(201), handover_from="old"
    )
    assert not stranger.held
    assert heir.held and heir.holder == "new"


def test_only_the_holder_releases(dynamodb: Any) -> None:
    lease.hold(dynamodb, SETTINGS, owner="a", started_at=at(0), now=at(0))
    assert not lease.release(dynamodb, SETTINGS, owner="b")
    assert lease.release(dynamodb, SETTINGS, owner="a")
    assert lease.hold(dynamodb, SETTINGS, owner="b", started_at=at(1), now=at(1)).held


def test_settings_that_leave_no_room_for_a_round_are_refused(dynamodb: Any) -> None:
    too_long = lease.LeaseSettings(table="leases", function_timeout_s=270, max_stagger_s=30)
    with pytest.raises(lease.LeaseConfigurationError, match="exceeds the Express drain's 300 s"):
        lease.hold(dynamodb, too_long, owner="a", started_at=at(0), now=at(0))


def test_handler_with_the_sample_event(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch, lambda_context: Any
) -> None:
    monkeypatch.setenv("LEASE_TABLE", "leases")
    monkeypatch.setenv("PROCESS_FUNCTION_TIMEOUT_SECONDS", "60")
    monkeypatch.setenv("MAX_STAGGER_SECONDS", "30")
    monkeypatch.setenv("SCALE_COOLDOWN_SECONDS", "30")
    fresh = load_handler(
        ROOT / "functions/drain_lease", "app.lambda_handler", [ROOT / "layers/common"], "t-lease"
    )
    event = json.loads((ROOT / "events/drain_lease_hold.json").read_text())
    event["startedAt"] = datetime.now(UTC).isoformat()
    held = fresh(event, lambda_context)
    assert (held["held"], held["keepGoing"], held["holder"]) == (True, True, event["owner"])
    assert held["expiresAt"] - held["roundDeadline"] == pytest.approx(TAIL)
    assert held["objectStartBy"] - held["roundDeadline"] == pytest.approx(START_WINDOW)
    other = fresh({**event, "owner": "someone-else"}, lambda_context)
    assert (other["held"], other["holder"]) == (False, event["owner"])
    assert fresh({"action": "release", "owner": event["owner"]}, lambda_context) == {
        "released": True
    }
    with pytest.raises(Exception, match="action must be 'hold' or 'release'"):
        fresh({"action": "steal", "owner": "x"}, lambda_context)


def _max_values() -> tuple[int, int]:
    params = yaml_parse((ROOT / "template.yaml").read_text())["Parameters"]
    return params["FunctionTimeout"]["MaxValue"], params["MaxStaggerSeconds"]["MaxValue"]


def _rounds_fit(function_timeout_s: float, max_stagger_s: float, round_s: float) -> bool:
    """The first hold keeps going with a round worth running, and that round's last object,
    started by objectStartBy, ends (timeout, retry waits, latency) within the Express limit."""
    settings = lease.LeaseSettings(
        table="leases",
        function_timeout_s=function_timeout_s,
        max_stagger_s=max_stagger_s,
        round_s=round_s,
    )
    try:
        settings.check()
    except lease.LeaseConfigurationError:
        return False
    length = settings.round_seconds(FIRST_HOLD_ELAPSED_S)
    if length is None or length < min(round_s, lease.MIN_ROUND_SECONDS):
        return False
    start_by = FIRST_HOLD_ELAPSED_S + length + settings.start_window_seconds
    last_end = start_by + function_timeout_s + lease.RETRY_WAIT_SECONDS + lease.MARGIN_SECONDS
    return last_end <= lease.EXPRESS_LIMIT_SECONDS


def test_every_allowed_function_timeout_and_stagger_fits_the_express_limit() -> None:
    # CloudFormation Rules cannot add numbers: the parameters' ranges are what keeps the sum in.
    max_timeout, max_stagger = _max_values()
    params = yaml_parse((ROOT / "template.yaml").read_text())["Parameters"]
    min_timeout = params["FunctionTimeout"]["MinValue"]
    for timeout in range(min_timeout, max_timeout + 1):
        for stagger in range(params["MaxStaggerSeconds"]["MinValue"], max_stagger + 1):
            for round_s in (0, lease.MIN_ROUND_SECONDS, 30, 3600):  # ScaleCooldownSeconds
                assert _rounds_fit(timeout, stagger, round_s), (timeout, stagger, round_s)


def test_the_old_maxima_did_not_fit() -> None:
    assert not _rounds_fit(240, 60, 30)  # FunctionTimeout and MaxStaggerSeconds before issue 14


def test_a_round_that_fits_only_partly_is_shortened_and_one_that_does_not_is_handed_over() -> None:
    max_timeout, max_stagger = _max_values()
    widest = lease.LeaseSettings("leases", max_timeout, max_stagger, round_s=30)
    first = widest.round_seconds(FIRST_HOLD_ELAPSED_S)
    assert first is not None and first >= lease.MIN_ROUND_SECONDS
    assert FIRST_HOLD_ELAPSED_S + first + widest.tail_seconds <= lease.EXPRESS_LIMIT_SECONDS
    assert widest.round_seconds(lease.EXPRESS_LIMIT_SECONDS - widest.tail_seconds - 1) is None
