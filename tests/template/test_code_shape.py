"""Issue 20's shape: thin handlers, no module past 500 lines, one reader of the environment."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_HANDLER_LINES = 120
MAX_MODULE_LINES = 500
SETTINGS_MODULE = ROOT / "layers/common/python/sluice_common/settings.py"


def _tracked_python() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [ROOT / name for name in listed if (ROOT / name).is_file()]


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines())


@pytest.mark.parametrize(
    "app", sorted(ROOT.glob("functions/*/app.py")), ids=lambda p: p.parent.name
)
def test_handler_module_is_a_screenful(app: Path) -> None:
    assert _lines(app) <= MAX_HANDLER_LINES, "move the wiring into the function's own module"


def test_no_python_module_is_over_the_limit() -> None:
    long = {
        str(path.relative_to(ROOT)): _lines(path)
        for path in _tracked_python()
        if _lines(path) > MAX_MODULE_LINES
    }
    assert long == {}, f"split these along a seam (limit {MAX_MODULE_LINES} lines)"


def _environment_reads(path: Path) -> list[int]:
    """Lines that read or change os.environ / os.getenv / os.putenv."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in {"environ", "getenv", "putenv", "environb", "getenvb"}
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ):
            found.append(node.lineno)
        if (
            isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and {alias.name for alias in node.names} & {"environ", "getenv", "environb"}
        ):
            found.append(node.lineno)
    return found


def test_only_the_settings_module_reads_the_environment_in_shipped_code() -> None:
    shipped = [*ROOT.glob("functions/**/*.py"), *ROOT.glob("layers/**/*.py")]
    readers = {
        str(path.relative_to(ROOT)): lines
        for path in shipped
        if path != SETTINGS_MODULE and (lines := _environment_reads(path))
    }
    assert readers == {}, "read settings through sluice_common.settings.load"
    assert _environment_reads(SETTINGS_MODULE), "the settings module is where they are read"
