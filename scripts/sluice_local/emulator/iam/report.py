"""``sluice-local iam-report``: per role, the IAM actions granted beside those a run used."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sluice_local.emulator.iam.policy import action_matches
from sluice_local.terminal import printable


def format_report(summary: Mapping[str, Any]) -> str:
    """Per role, the actions granted beside those used (``sluice-local iam-report``)."""
    refused = list(summary.get("denied", []))
    denied = summary.get("denied_calls", sum(int(r.get("count", 1)) for r in refused))
    mode = "enforced" if summary.get("enforced", True) else "lenient: nothing refused"
    lines = [f"IAM calls checked {summary.get('calls_checked', 0)}, denied {denied} ({mode})"]
    for entry in refused:
        # A refusal names the resource: an object ARN ends in a key an uploader chose.
        lines.append(f"  DENIED x{entry.get('count', 1)}: {printable(entry['reason'])}")
    for role, actions in summary.get("roles", {}).items():
        used = list(actions.get("used", []))
        lines.append(f"\n{role}")
        for action in actions.get("granted", []):
            mark = "used" if any(action_matches(action, u) for u in used) else "UNUSED"
            lines.append(f"  {mark:6}  {action}")
    return "\n".join(lines)


def report_main(path: str, out: Any = None) -> int:
    """``sluice-local iam-report [REPORT]``: the IAM part of a run's report (the "iam" key of
    .demo/report.json, or a file holding :meth:`Enforcer.summary` itself)."""
    import sys
    from pathlib import Path

    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        print(f"cannot read {path}: {error} (run sluice-local demo first)", file=sys.stderr)
        return 2
    summary = document.get("iam", document)
    print(format_report(summary), file=out or sys.stdout)
    return 1 if summary.get("denied") else 0
