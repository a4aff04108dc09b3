"""A demo whose ProcessObject cannot finish within its Timeout (60 rows at 0.2 s each, Timeout
3 s): each invocation is stopped at 3 s as Lambda stops it, the run's report says so, and the
object still ends somewhere with a reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sluice_local.cli import main

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def test_an_overrunning_demo_stops_each_invocation_at_its_timeout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report_path = tmp_path / "report.json"
    code = main(
        [
            "demo",
            "--template",
            str(ROOT / "template.yaml"),
            "--objects",
            "1",
            "--rows",
            "60",
            "--failing",
            "0",
            "--downstream-latency",
            "0.2",
            "--parameter-overrides",
            "FunctionTimeout=3 DownstreamTimeoutSeconds=1",
            "--report",
            str(report_path),
            "--log-dir",
            str(tmp_path / "logs"),
            "--timeout",
            "120",
        ]
    )
    printed = capsys.readouterr().out

    report = json.loads(report_path.read_text())
    process = report["functions"]["ProcessObjectFunction"]
    assert process["timeout_s"] == 3
    assert process["timed_out"] >= 1
    assert 0 < process["max_duration_s"] <= process["timeout_s"]
    assert report["lenient"] is False and report["summary"]["unaccounted"] == []
    # One value keeps its meaning: 0.2 real seconds a row against the real 3 s Timeout.
    assert report["downstream_latency"] == {"seconds": 0.2, "time_scaled": False}
    assert any("downstream API latency" in item for item in report["real_time"])
    assert not any("downstream" in item for item in report["time_scaled"])
    assert f"report: {report_path}" in printed
    assert "longest invocation                3.00 s of 3 s timeout (ProcessObjectFunction)" in (
        printed
    )
    # Processed or dead-lettered as Sandbox.Timedout, and any row sent twice came with its
    # Idempotency-Key from an invocation stopped mid-row.
    assert code == 0, printed
    log = (tmp_path / "logs" / "ProcessObjectFunction.log").read_text()
    assert log.count("Task timed out after 3.00 seconds") == process["timed_out"]
