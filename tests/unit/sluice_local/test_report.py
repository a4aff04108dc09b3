"""A local job fails when IAM refused a call: on AWS that call would have failed too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sluice_local.jobs.report import refused_calls


def _report(tmp_path: Path, **iam: object) -> Path:
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"iam": {"calls_checked": 10, **iam}}))
    return path


@pytest.mark.parametrize(
    ("iam", "refused"),
    [
        ({"measured": True, "enforced": True, "denied_calls": 3}, 3),
        ({"measured": True, "enforced": True, "denied_calls": 0}, 0),
        # Lenient: recorded, not refused, so nothing failed that AWS would have refused.
        ({"measured": True, "enforced": False, "denied_calls": 3}, 0),
        ({"measured": False, "enforced": False, "denied_calls": 0}, 0),
    ],
)
def test_only_enforced_refusals_fail_a_job(tmp_path: Path, iam: dict, refused: int) -> None:
    assert refused_calls(_report(tmp_path, **iam)) == refused
