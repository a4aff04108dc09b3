"""`--downstream-latency`: one value is real seconds as always; a range LOW-HIGH is AWS seconds
drawn per request (uniform, seeded) and slept times the time scale."""

from __future__ import annotations

import urllib.request

import pytest

from sluice_local.cli import main
from sluice_local.servers.downstream import DownstreamServer, Latency, parse_latency


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A single value keeps its meaning: real seconds, not time-scaled.
        ("0.2", Latency(0.2, 0.2, time_scaled=False)),
        ("0", Latency(0.0, 0.0, time_scaled=False)),
        ("5-30", Latency(5.0, 30.0, time_scaled=True)),
        (" 0.5-0.5 ", Latency(0.5, 0.5, time_scaled=True)),
    ],
)
def test_parse_latency(text: str, expected: Latency) -> None:
    assert parse_latency(text) == expected


def test_an_explicit_choice_overrides_the_form() -> None:
    assert parse_latency("2", time_scaled=True) == Latency(2.0, 2.0, time_scaled=True)
    assert parse_latency("5-30", time_scaled=False) == Latency(5.0, 30.0, time_scaled=False)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("30-5", "must run low to high"),
        ("abc", "must be seconds (0.2) or a range of seconds (5-30)"),
        ("5-", "must be seconds"),
        ("-1", "must not be negative"),
        ("-5-30", "must not be negative"),
        ("nan", "finite"),
    ],
)
def test_parse_latency_refuses(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="latency") as raised:
        parse_latency(text)
    assert message in str(raised.value)


@pytest.mark.parametrize("text", ["30-5", "abc", "-1"])
def test_the_cli_refuses_a_bad_latency_with_a_message(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["demo", f"--downstream-latency={text}"])
    assert exited.value.code != 0
    error = capsys.readouterr().err
    assert "argument --downstream-latency:" in error and repr(text) in error


def test_each_request_draws_within_the_range_times_the_time_scale() -> None:
    server = DownstreamServer(latency=Latency(5, 30, time_scaled=True), time_scale=0.05, seed=3)
    try:
        draws = [server.draw_latency() for _ in range(500)]
    finally:
        server.stop()
    assert all(0.25 <= d <= 1.5 for d in draws)
    assert len(set(draws)) > 400  # drawn per request, not once
    assert min(draws) < 0.4 and max(draws) > 1.35  # uniform over the whole range


def test_draws_repeat_with_the_seed_and_leave_fault_injection_alone() -> None:
    def draws(seed: int) -> list[float]:
        server = DownstreamServer(latency=Latency(1, 2, time_scaled=False), seed=seed)
        try:
            return [server.draw_latency() for _ in range(20)]
        finally:
            server.stop()

    assert draws(7) == draws(7)
    assert draws(7) != draws(8)
    assert all(1 <= d <= 2 for d in draws(7))  # not time-scaled: real seconds as given


def test_a_single_value_is_real_seconds_and_latency_s_still_works() -> None:
    server = DownstreamServer(latency_s=0.2, time_scale=0.05)
    try:
        assert server.draw_latency() == 0.2
        assert server.latency_setting() == {"seconds": 0.2, "time_scaled": False}
        server.configure(latency=Latency(5, 30, time_scaled=True))
        assert server.latency_setting() == {"seconds": [5, 30], "time_scaled": True}
        server.configure(latency_s=0.0)  # the knob set last applies
        assert server.draw_latency() == 0.0
    finally:
        server.stop()


def test_the_server_sleeps_the_scaled_latency() -> None:
    # 4 s of AWS time at scale 0.01: 0.04 s real, far from the 4 s an unscaled sleep would take.
    with DownstreamServer(latency=Latency(4, 4, time_scaled=True), time_scale=0.01) as api:
        request = urllib.request.Request(api.url, data=b"{}", method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
        (recorded,) = api.requests
    assert 0.04 <= recorded.finished - recorded.started < 1.0
