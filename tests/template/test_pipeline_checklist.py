"""docs/adding-a-pipeline.md stays true: the places a function or an optional pipeline touches.

Each check here is an item marked [checked] in the checklist that no other test covers: a
function folder that is not built, listed, type-checked, unit-tested or traced, and an
`Enable*Pipeline` switch without its condition, alarms, dashboard, outputs, metrics sync entry,
local job, demo target, README rows or a line in the checklist itself.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse  # CloudFormation short-form tags
from test_optional_parts import PARTS  # the optional parts and the parameters that turn them on

from sluice_local import cli

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = yaml_parse((ROOT / "template.yaml").read_text())
RESOURCES: dict[str, dict[str, Any]] = TEMPLATE["Resources"]
README = (ROOT / "README.md").read_text()
CHECKLIST = (ROOT / "docs/adding-a-pipeline.md").read_text()
MAKEFILE = (ROOT / "Makefile").read_text()
FUNCTIONS = sorted(p.parent.name for p in (ROOT / "functions").glob("*/app.py"))
SWITCH = re.compile(r"^Enable(?P<name>[A-Za-z]+)Pipeline$")
PIPELINES = sorted(name for name in TEMPLATE["Parameters"] if SWITCH.match(name))
INCLUDE = "include $(dir $(abspath $(lastword $(MAKEFILE_LIST))))../function.mk"
# A repository path in backquotes: a top-level folder's file, or a root file.
PATH = re.compile(
    r"`((?:functions|layers|scripts|tests|events|statemachine|benchmarks|docs)/[^`<>*\s]*"
    r"|template\.yaml|pyproject\.toml|constraints\.txt|Makefile|README\.md)`"
)


def _functions_by_folder() -> dict[str, str]:
    """Function folder -> logical ID, from each function's CodeUri."""
    found: dict[str, str] = {}
    for logical_id, resource in RESOURCES.items():
        if resource["Type"] == "AWS::Serverless::Function":
            folder = Path(resource["Properties"]["CodeUri"])
            assert folder.parent == Path("functions"), f"{logical_id}: CodeUri {folder}"
            assert folder.name not in found, f"{logical_id} and {found[folder.name]} share {folder}"
            found[folder.name] = logical_id
    return found


def _readme_table(heading: str) -> str:
    """The first Markdown table after a heading line."""
    after = README.split(f"\n{heading}\n", 1)
    assert len(after) == 2, f"README has no {heading!r}"
    rows: list[str] = []
    for line in after[1].splitlines():
        if line.startswith("#"):
            break  # the next section: no table under this heading
        if line.startswith("|"):
            rows.append(line)
        elif rows:
            break
    assert rows, f"README {heading!r} has no table"
    return "\n".join(rows)


def _make_target(name: str) -> tuple[str, str]:
    """The comment lines just above a root Makefile target, and its recipe."""
    match = re.search(
        rf"((?:^#[^\n]*\n)*)^{re.escape(name)}:[^\n]*\n((?:\t[^\n]*\n)*)", MAKEFILE, re.M
    )
    assert match, f"Makefile has no target {name}"
    return match.group(1), match.group(2)


def _job(switch: str) -> str:
    """The `sluice-local` job of a pipeline: the demo target whose comment names its switch."""
    for target in re.findall(r"^(demo-[a-z-]+):", MAKEFILE, re.M):
        comment, recipe = _make_target(target)
        if f"{switch}=true" in comment:
            job = re.search(r"sluice-local (\S+)", recipe)
            assert job, f"Makefile {target} does not run a sluice-local job"
            return job.group(1)
    raise AssertionError(f"no demo-* target in the Makefile says it runs {switch}=true")


def _condition(switch: str) -> str:
    match = SWITCH.match(switch)
    assert match, switch
    name = f"Create{match['name']}Pipeline"
    assert TEMPLATE["Conditions"].get(name) == {"Fn::Equals": [{"Ref": switch}, "true"]}, name
    return name


def _refs(node: Any) -> set[str]:
    return set(re.findall(r'\{"Ref": "([A-Za-z0-9]+)"\}', json.dumps(node)))


# -- every function folder -----------------------------------------------------------------------


def test_the_function_folders_are_the_templates_functions_both_ways() -> None:
    by_folder = _functions_by_folder()
    assert sorted(by_folder) == FUNCTIONS
    for logical_id in by_folder.values():
        assert RESOURCES[logical_id]["Metadata"]["BuildMethod"] == "makefile", logical_id


def test_the_shared_build_recipe_serves_every_function() -> None:
    fragment = (ROOT / "functions/function.mk").read_text()
    assert re.search(r"^build-%Function:$", fragment, re.M)
    assert "--platform manylinux2014_aarch64" in fragment
    layer = (ROOT / "layers/common/Makefile").read_text()
    assert "../../functions/function.mk" in layer  # the layer's wheels: the same target


@pytest.mark.parametrize("folder", FUNCTIONS)
def test_the_function_makefile_includes_the_shared_recipe_and_adds_none(folder: str) -> None:
    lines = (ROOT / "functions" / folder / "Makefile").read_text().splitlines()
    assert INCLUDE in lines, f"functions/{folder}/Makefile does not include functions/function.mk"
    code = [line for line in lines if line.strip() and not line.startswith("#")]
    # Variables the fragment reads (SHIP) may come first; a recipe of its own may not.
    assert code[-1] == INCLUDE
    assert all(re.match(r"^[A-Z_]+ :?= ", line) for line in code[:-1]), code


@pytest.mark.parametrize("folder", FUNCTIONS)
def test_the_function_is_in_the_readme_layout_table(folder: str) -> None:
    assert f"`functions/{folder}/`" in _readme_table("### Layout")


@pytest.mark.parametrize("folder", FUNCTIONS)
def test_the_function_is_type_checked(folder: str) -> None:
    _, recipe = _make_target("typecheck")
    assert f"functions/{folder}" in recipe.split(), "add it to the Makefile's typecheck list"


@pytest.mark.parametrize("folder", FUNCTIONS)
def test_the_function_has_unit_tests_and_a_tracing_case(folder: str) -> None:
    assert list((ROOT / "tests/unit" / folder).glob("test_*.py")), f"no tests/unit/{folder}/"
    tracing = (ROOT / "tests/unit/common/test_tracing.py").read_text()
    assert re.search(rf'Case\(\s*"{folder}"', tracing), "no Case in test_tracing.py"


def test_every_module_is_known_first_party() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    known = set(pyproject["tool"]["ruff"]["lint"]["isort"]["known-first-party"])
    modules = {p.stem for p in (ROOT / "functions").glob("*/*.py") if p.name != "app.py"}
    packages = {p.parent.name for p in (ROOT / "layers").glob("*/python/*/__init__.py")}
    assert sorted((modules | packages) - known) == []


def test_every_sample_event_is_used_by_a_test() -> None:
    tests = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("*.py"))
    unused = [p.name for p in sorted((ROOT / "events").glob("*.json")) if p.name not in tests]
    assert unused == []


def test_every_layer_module_is_in_the_readme_layout_table() -> None:
    [row] = [
        line
        for line in _readme_table("### Layout").splitlines()
        if line.startswith("| `layers/common/python/sluice_common/`")
    ]
    modules = sorted((ROOT / "layers/common/python/sluice_common").glob("*.py"))
    missing = [p.name for p in modules if p.name != "__init__.py" and f"`{p.name}`" not in row]
    assert missing == []


# -- every optional pipeline ---------------------------------------------------------------------


def test_the_pipelines_are_found() -> None:
    # The checks below are parametrized by these: none found would pass them all unseen.
    assert {"EnablePaymentPipeline", "EnableStreamPipeline"} <= set(PIPELINES)


@pytest.mark.parametrize("switch", PIPELINES)
def test_the_switch_is_off_by_default_and_has_its_condition(switch: str) -> None:
    spec = TEMPLATE["Parameters"][switch]
    assert (spec["Default"], spec["AllowedValues"]) == ("false", ["true", "false"])
    _condition(switch)


@pytest.mark.parametrize("switch", PIPELINES)
def test_the_pipeline_has_functions_alarms_a_dashboard_and_outputs(switch: str) -> None:
    condition = _condition(switch)
    kinds = {r["Type"] for r in RESOURCES.values() if r.get("Condition") == condition}
    assert {"AWS::Serverless::Function", "AWS::CloudWatch::Alarm"} <= kinds
    dashboards = [
        TEMPLATE["Conditions"][r["Condition"]]
        for r in RESOURCES.values()
        if r["Type"] == "AWS::CloudWatch::Dashboard" and r.get("Condition")
    ]
    both = {"Fn::And": [{"Condition": condition}, {"Condition": "CreateDashboard"}]}
    assert both in dashboards, f"no dashboard on {condition} and CreateDashboard"
    assert any(o.get("Condition") == condition for o in TEMPLATE["Outputs"].values())


@pytest.mark.parametrize("switch", PIPELINES)
def test_the_metrics_sync_is_given_the_pipelines_functions(switch: str) -> None:
    condition = _condition(switch)
    functions = {
        k
        for k, r in RESOURCES.items()
        if r["Type"] == "AWS::Serverless::Function" and r.get("Condition") == condition
    }
    ours = RESOURCES["MetricsSyncFunction"]["Properties"]["Environment"]["Variables"]
    assert functions <= _refs(ours["FUNCTION_NAMES"])
    existing = RESOURCES["ExistingMetricsSyncSchedule"]["Properties"]
    assert functions <= _refs(existing)  # ExtraFunctionNames


@pytest.mark.parametrize("switch", PIPELINES)
def test_the_pipeline_has_a_local_job_and_a_demo_target(
    switch: str, capsys: pytest.CaptureFixture[str]
) -> None:
    job = _job(switch)
    with pytest.raises(SystemExit) as done:
        cli.main([job, "--help"])
    assert done.value.code == 0, f"sluice-local has no {job} job"
    capsys.readouterr()
    phony = " ".join(re.findall(r"^\.PHONY:([^\n]*)", MAKEFILE, re.M)).split()
    assert f"demo-{job}" in phony
    # The job deploys with the pipeline on (wherever sluice_local keeps its jobs).
    turns_on = re.compile(rf"""["']{switch}["']\]?\s*[:=]\s*["']true["']""")
    assert any(
        turns_on.search(p.read_text()) for p in (ROOT / "scripts/sluice_local").rglob("*.py")
    ), f"no sluice_local module sets {switch} to true"


@pytest.mark.parametrize("switch", PIPELINES)
def test_the_readme_documents_the_pipeline(switch: str) -> None:
    assert f"| `{switch}` |" in _readme_table("## Configuration")
    sections = re.split(r"^## ", README, flags=re.M)
    assert any(
        s.split("\n", 1)[0].endswith("(optional)") and f"{switch}=true" in s for s in sections
    ), f"no README '## ... (optional)' section says {switch}=true"


@pytest.mark.parametrize("switch", PIPELINES)
def test_the_checklist_lists_the_pipeline_with_its_job(switch: str) -> None:
    rows = [line for line in CHECKLIST.splitlines() if line.startswith(f"| `{switch}` |")]
    assert rows, f"docs/adding-a-pipeline.md has no row for {switch}"
    assert f"`sluice-local {_job(switch)}`" in rows[0]


@pytest.mark.parametrize("switch", PIPELINES)
def test_the_optional_parts_test_turns_the_pipeline_on(switch: str) -> None:
    assert any(params.get(switch) == "true" for params, _ in PARTS.values())


def test_every_path_the_checklist_names_exists() -> None:
    missing = [p for p in sorted(set(PATH.findall(CHECKLIST))) if not (ROOT / p).exists()]
    assert missing == []
