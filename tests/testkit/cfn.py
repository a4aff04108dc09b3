"""Tools run on the template as the Makefile and a publisher run them: cfn-lint on a template
(a dict), and the SAM CLI of this interpreter's environment."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SAM = Path(sys.executable).parent / "sam"


def lint_template(template: dict[str, Any]) -> list[Any]:
    """cfn-lint's matches for the template (us-east-1)."""
    from cfnlint.api import lint

    # cfn-lint recurses once per line of an inlined state machine definition (its Fn::Join
    # check): give it room for a definition of a few thousand lines.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 5000))
    try:
        return list(lint(json.dumps(template), regions=["us-east-1"]))
    finally:
        sys.setrecursionlimit(limit)


def run_sam(*args: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    """`sam <args>` from the repository root, its output captured; it does not raise."""
    # The exit status is the caller's to judge (check=False), with the output it printed.
    captured: dict[str, Any] = {"capture_output": True, "text": True, "check": False}
    return subprocess.run([str(SAM), *args], cwd=ROOT, env=env, timeout=timeout, **captured)
