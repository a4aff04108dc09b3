"""A demo whose downstream latency is a range of AWS seconds: drawn per row, slept times the time
scale, and the report says so (the latency setting, and the latency among the time-scaled
figures)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sluice_local.cli import main

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def test_a_latency_range_follows_the_time_scale_and_the_report_says_so(
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
            "4",
            "--failing",
            "0",
            # 2-4 s a row on AWS; 0.1-0.2 s here at time scale 0.05.
            "--downstream-latency",
            "2-4",
            "--time-scale",
            "0.05",
            "--report",
            str(report_path),
            "--log-dir",
            str(tmp_path / "logs"),
            "--timeout",
            "60",
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed

    report = json.loads(report_path.read_text())
    assert report["downstream_latency"] == {"seconds": [2.0, 4.0], "time_scaled": True}
    assert report["summary"]["downstream_latency"] == report["downstream_latency"]
    assert any("downstream API latency" in item for item in report["time_scaled"])
    assert not any("downstream" in item for item in report["real_time"])
    assert "2-4 s a request x time scale 0.05 = 0.1-0.2 s real" in printed
    assert report["summary"]["rows_received"] == 4
