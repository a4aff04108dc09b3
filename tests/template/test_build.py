"""`sam build` cross-builds every function and the layer for python3.13 without Docker."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
import yaml
from samtranslator.yaml_helper import yaml_parse  # CloudFormation short-form tags

from testkit.cfn import run_sam

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sam") / "build"
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "SAM_CLI_TELEMETRY": "0",
    }
    done = run_sam(
        *("build", "--template-file", "template.yaml", "--build-dir", str(out)),
        env=env,
        timeout=540,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def test_every_function_and_layer_is_built(build_dir: Path) -> None:
    built = yaml.safe_load((build_dir / "template.yaml").read_text())["Resources"]
    functions = {k: v for k, v in built.items() if v["Type"] == "AWS::Serverless::Function"}
    assert functions
    for logical_id, resource in functions.items():
        source = (
            ROOT
            / yaml_parse((ROOT / "template.yaml").read_text())["Resources"][logical_id][
                "Properties"
            ]["CodeUri"]
        )
        artifact = build_dir / resource["Properties"]["CodeUri"]
        assert {p.name for p in source.glob("*.py")} <= {p.name for p in artifact.glob("*.py")}


def _requirements(folder: Path) -> list[str]:
    lines = (folder / "requirements.txt").read_text().splitlines()
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_each_function_ships_exactly_its_modules_and_what_its_makefile_names(
    build_dir: Path,
) -> None:
    """The shared recipe (functions/function.mk): the modules, the SHIP folders, nothing else
    (no Makefile, no requirements.txt); pip's packages only where requirements.txt names any."""
    built = yaml.safe_load((build_dir / "template.yaml").read_text())["Resources"]
    source = yaml_parse((ROOT / "template.yaml").read_text())["Resources"]
    functions = [k for k, v in built.items() if v["Type"] == "AWS::Serverless::Function"]
    assert len(functions) == len(list((ROOT / "functions").glob("*/app.py")))
    for logical_id in functions:
        folder = ROOT / source[logical_id]["Properties"]["CodeUri"]
        artifact = build_dir / built[logical_id]["Properties"]["CodeUri"]
        ship = re.findall(r"^SHIP := (.+)$", (folder / "Makefile").read_text(), re.M)
        shipped = {name for line in ship for name in line.split()}
        expected = {p.name for p in folder.glob("*.py")} | shipped
        names = {p.name for p in artifact.iterdir()}
        if _requirements(folder):
            assert expected <= names, logical_id
        else:
            assert names == expected, logical_id
        for name in shipped:  # shipped as it is, every file
            files = {p.relative_to(folder) for p in (folder / name).rglob("*") if p.is_file()}
            assert files == {
                p.relative_to(artifact) for p in (artifact / name).rglob("*") if p.is_file()
            }, logical_id


def test_the_layer_ships_its_code_and_pinned_dependencies_for_313(build_dir: Path) -> None:
    python = build_dir / "CommonLayer" / "python"
    assert (python / "sluice_common" / "events.py").is_file()
    shipped = {p.name for p in python.iterdir()}
    assert {"aws_lambda_powertools", "aws_xray_sdk", "urllib3", "wrapt", "jmespath"} <= shipped
    assert "botocore" not in shipped  # provided by the runtime
    # Compiled extensions, if any, are for CPython 3.13 on arm64 (aarch64) Linux.
    for ext in python.rglob("*.so"):
        assert "cpython-313-aarch64-linux-gnu" in ext.name or ".abi3." in ext.name, ext
    assert not list(python.rglob("__pycache__"))
