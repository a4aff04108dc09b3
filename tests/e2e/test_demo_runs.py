"""`sluice-local demo` as a person runs it, reading the report it writes.

Objects that cannot finish within one Timeout (60 rows at 0.2 s each, Timeout 5 s; issue 16's
acceptance run) are processed in several time-budgeted invocations: none is stopped at its
Timeout, every row is sent once. A downstream latency given as a range is seconds of the
modelled API: drawn per row, slept times the time scale, and the report says so.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest

from sluice_local.cli import main

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def run_demo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: str
) -> tuple[int, str, dict[str, Any]]:
    """One small demo run, ``args`` the command line after the defaults (one object, none
    failing), split as a shell splits it: (exit code, what it printed, the report it wrote)."""
    report_path = tmp_path / "report.json"
    code = main(
        [
            *("demo", "--template", str(ROOT / "template.yaml"), "--objects", "1"),
            *("--failing", "0", "--report", str(report_path)),
            *("--log-dir", str(tmp_path / "logs"), *shlex.split(args)),
        ]
    )
    printed = capsys.readouterr().out
    assert f"report: {report_path}" in printed
    return code, printed, json.loads(report_path.read_text())


def test_objects_longer_than_one_invocation_finish_within_each_timeout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, printed, report = run_demo(
        tmp_path,
        capsys,
        # 0.1 s a row against a 2 s DownstreamTimeoutSeconds (FunctionTimeout 10, the least the
        # template's rules allow with it): twenty times the latency, so a request the other test
        # worker slows on two cores is not abandoned and resent with its key, which this test
        # counts as a duplicate (CI runs saw that at 0.2 s and at 0.1 s against 1 s).
        "--objects 2 --rows 240 --downstream-latency 0.1 --timeout 180"
        " --parameter-overrides 'FunctionTimeout=10 DownstreamTimeoutSeconds=2'",
    )
    assert code == 0, printed
    summary = report["summary"]
    assert (summary["processed"], summary["dead_lettered"], summary["unaccounted"]) == (2, {}, [])
    assert (summary["rows_received"], summary["rows_expected"]) == (480, 480)
    assert summary["duplicate_rows"] == 0
    process = report["functions"]["ProcessObjectFunction"]
    # The runtime stops an invocation at its Timeout as Lambda does; none needed stopping.
    assert process["timeout_s"] == 10 and process["timed_out"] == 0
    assert 0 < process["max_duration_s"] <= 10
    # 24 s of rows an object cannot fit one 10 s invocation: each took several.
    assert process["invocations"] >= 2 * 3
    assert report["lenient"] is False
    # One value keeps its meaning: 0.1 real seconds a row against the real 10 s Timeout.
    assert report["downstream_latency"] == {"seconds": 0.1, "time_scaled": False}
    assert any("downstream API latency" in item for item in report["real_time"])
    assert not any("downstream" in item for item in report["time_scaled"])
    log = (tmp_path / "logs" / "ProcessObjectFunction.log").read_text()
    assert "Task timed out" not in log
    assert "object unfinished: it carries on from its checkpoint" in log


def test_a_latency_range_follows_the_time_scale_and_the_report_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 2-4 s a row on AWS; 0.1-0.2 s here at time scale 0.05.
    code, printed, report = run_demo(
        tmp_path, capsys, "--rows 4 --downstream-latency 2-4 --time-scale 0.05 --timeout 60"
    )
    assert code == 0, printed
    assert report["downstream_latency"] == {"seconds": [2.0, 4.0], "time_scaled": True}
    assert report["summary"]["downstream_latency"] == report["downstream_latency"]
    assert any("downstream API latency" in item for item in report["time_scaled"])
    assert not any("downstream" in item for item in report["real_time"])
    assert "2-4 s a request x time scale 0.05 = 0.1-0.2 s real" in printed
    assert report["summary"]["rows_received"] == 4
