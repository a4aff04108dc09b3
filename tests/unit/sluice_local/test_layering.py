"""sluice_local's layers, read from its modules' imports (ast, not a run): the local runtime never
imports the operator tools (sluice_ops imports from it, not the other way), the emulator and the
event sources never import the jobs or the servers they run, and the servers stand alone."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[3] / "scripts" / "sluice_local"
MODULES = sorted(PACKAGE.rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module the file imports, at the top or inside a function (``from a import b``
    counts as a and a.b, since b may be a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import; sluice_local imports absolutely")
    return found


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_the_walk_sees_every_layer() -> None:
    names = {_module_name(p) for p in MODULES}
    for package in ("emulator", "emulator.iam", "sources", "servers", "jobs"):
        assert any(_within(n, f"sluice_local.{package}") for n in names), package
    assert "sluice_local.cli" in names


@pytest.mark.parametrize("path", MODULES, ids=_module_name)
def test_no_module_imports_the_operator_tools(path: Path) -> None:
    offending = sorted(name for name in _imports(path) if _within(name, "sluice_ops"))
    assert not offending, f"{_module_name(path)} imports {offending}"


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        (
            "sluice_local.emulator",
            ("sluice_local.jobs", "sluice_local.servers", "sluice_local.cli"),
        ),
        ("sluice_local.sources", ("sluice_local.jobs", "sluice_local.servers", "sluice_local.cli")),
        (
            "sluice_local.servers",
            ("sluice_local.jobs", "sluice_local.emulator", "sluice_local.sources"),
        ),
    ],
)
def test_lower_layers_do_not_import_higher_ones(layer: str, forbidden: tuple[str, ...]) -> None:
    offending = sorted(
        f"{_module_name(path)} -> {name}"
        for path in MODULES
        if _within(_module_name(path), layer)
        for name in _imports(path)
        if any(_within(name, f) for f in forbidden)
    )
    assert not offending, offending


def test_the_check_catches_an_operator_import(tmp_path: Path) -> None:
    """The walk finds imports inside functions too, where a lazy import would hide."""
    module = tmp_path / "lazy.py"
    module.write_text("def run():\n    from sluice_ops.stream import replay\n    return replay\n")
    assert "sluice_ops.stream" in _imports(module)


def test_every_checkout_path_a_module_names_exists() -> None:
    """A module moved into a subpackage keeps finding the files it reads (functions/, events/):
    every module-level Path into the checkout exists."""
    import importlib
    import pkgutil
    from pathlib import Path

    import sluice_local

    root = Path(sluice_local.__file__).resolve().parents[2]
    missing = []
    for info in pkgutil.walk_packages(sluice_local.__path__, "sluice_local."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            into_checkout = isinstance(value, Path) and value.is_relative_to(root)
            if into_checkout and not value.is_relative_to(root / ".aws-sam") and not value.exists():
                missing.append(f"{info.name}.{name} = {value}")
    assert missing == []
