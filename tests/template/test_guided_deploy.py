"""A guided deploy that reads well, and the environments of samconfig.toml.

The console (and SAR's deploy page) shows each parameter's Description under its group of
Metadata ``AWS::CloudFormation::Interface``; a parameter left out of every group is shown apart,
under "Other parameters". CloudFormation refuses a value that breaks AllowedValues or
AllowedPattern with "must be one of AllowedValues" or "must match pattern <regex>", which says
neither what is allowed nor why: a ConstraintDescription replaces it. (A MinValue/MaxValue
refusal already names the bound: "must be a number not less than 15".)

The dev and prod environments deploy with their parameter_overrides: each set must satisfy the
parameters' constraints and the template's Rules, and lint clean under ``cfn-lint`` and
``sam validate --lint``, which take no parameter values: they lint a copy of the template whose
Defaults are the environment's values (as all_on_template.py does for checkov).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint
from samcli.cli.types import CfnParameterOverridesType
from samtranslator.yaml_helper import yaml_parse

from sluice_local.emulator.template import load_and_translate

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = yaml_parse((ROOT / "template.yaml").read_text())
PARAMETERS: dict[str, dict[str, Any]] = TEMPLATE["Parameters"]
GROUPS: list[dict[str, Any]] = TEMPLATE["Metadata"]["AWS::CloudFormation::Interface"][
    "ParameterGroups"
]
SAMCONFIG: dict[str, Any] = tomllib.loads((ROOT / "samconfig.toml").read_text())
ENVIRONMENTS = ("default", "dev", "prod")


def _section(env: str, command: str) -> dict[str, Any]:
    """What SAM CLI reads for `sam <command> --config-env <env>`: the env's global
    parameters, then the command's own (no inheritance from [default])."""
    config = SAMCONFIG.get(env, {})
    return {
        **config.get("global", {}).get("parameters", {}),
        **config.get(command, {}).get("parameters", {}),
    }


def _overrides(env: str) -> dict[str, str]:
    """The env's parameter_overrides, parsed by SAM CLI's own option type."""
    text = _section(env, "deploy").get("parameter_overrides", "")
    if not text:
        return {}
    parsed = CfnParameterOverridesType().convert((text,), None, None)
    return {str(k): str(v) for k, v in parsed.items()}


# -- Descriptions, groups, constraint messages ---------------------------------------------------


def test_every_parameter_has_a_description() -> None:
    missing = [n for n, spec in PARAMETERS.items() if not str(spec.get("Description", "")).strip()]
    assert not missing


def test_every_parameter_is_in_exactly_one_group() -> None:
    listed = [name for group in GROUPS for name in group["Parameters"]]
    twice = sorted({n for n in listed if listed.count(n) > 1})
    assert not twice, f"in more than one group: {twice}"
    assert not set(PARAMETERS) - set(listed), "in no group (the console shows them apart)"


def test_the_groups_list_no_unknown_parameter() -> None:
    listed = {name for group in GROUPS for name in group["Parameters"]}
    assert not listed - set(PARAMETERS)


def test_every_group_has_a_label() -> None:
    assert all(str(group["Label"]["default"]).strip() for group in GROUPS)


def test_the_groups_start_where_a_deployer_starts() -> None:
    """Where the objects come from, then where the rows go, then the pace."""
    firsts = [group["Parameters"][0] for group in GROUPS[:3]]
    assert firsts == ["ExistingBucketName", "DownstreamApiUrl", "MaxConcurrency"]


def test_every_pattern_or_value_list_says_what_is_allowed() -> None:
    unexplained = [
        name
        for name, spec in PARAMETERS.items()
        if ("AllowedPattern" in spec or "AllowedValues" in spec)
        and not str(spec.get("ConstraintDescription", "")).strip()
    ]
    assert not unexplained


def test_a_value_list_message_names_every_allowed_value() -> None:
    for name, spec in PARAMETERS.items():
        for value in spec.get("AllowedValues", []):
            # A bare OFF/Yes/No is a bool in YAML 1.1, and sam build writes it back as false.
            assert not isinstance(value, bool), f"{name}: quote {value!r} in AllowedValues"
            assert str(value) in str(spec["ConstraintDescription"]), (name, value)


# -- samconfig.toml environments ------------------------------------------------------------


def test_dev_and_prod_deploy_their_own_stacks() -> None:
    names = {env: _section(env, "deploy").get("stack_name") for env in ENVIRONMENTS}
    assert names == {"default": "sluice", "dev": "sluice-dev", "prod": "sluice-prod"}


def test_prod_asks_before_it_changes_anything() -> None:
    assert _section("prod", "deploy")["confirm_changeset"] is True


def test_sam_sync_cannot_reach_prod_through_samconfig() -> None:
    """`sam sync --config-env prod` finds no stack name, so it stops instead of syncing prod."""
    assert "stack_name" not in _section("prod", "sync")
    assert _section("dev", "sync")["stack_name"] == "sluice-dev"
    assert (
        _section("dev", "sync")["parameter_overrides"]
        == _section("dev", "deploy")["parameter_overrides"]
    )


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_an_environment_deploys_as_default_does(env: str) -> None:
    """Nothing is inherited from [default]: the capabilities and artifact bucket are repeated."""
    for key in ("capabilities", "resolve_s3"):
        assert _section(env, "deploy")[key] == _section("default", "deploy")[key], key


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_an_environment_sets_log_level_retention_and_alarm_actions(env: str) -> None:
    overrides = _overrides(env)
    assert {"LogLevel", "LogRetentionDays", "AlarmActionArns"} <= set(overrides)
    assert not set(overrides) - set(PARAMETERS)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_an_environments_values_pass_the_constraints_and_rules(env: str) -> None:
    """CloudFormation checks both before it touches a resource (sluice_local mirrors them)."""
    load_and_translate(ROOT / "template.yaml", _overrides(env))


def test_prod_goes_to_no_real_downstream_until_one_is_given() -> None:
    """The placeholder is under .invalid (RFC 2606: never resolves): a prod stack deployed
    unedited fails and dead-letters its rows instead of handing them to the simulated API."""
    assert _overrides("prod")["DownstreamApiUrl"].startswith("https://downstream.invalid/")


# -- lint with each environment's values ---------------------------------------------------------


def _template_with_defaults(env: str, directory: Path) -> Path:
    template = yaml_parse((ROOT / "template.yaml").read_text())
    for name, value in _overrides(env).items():
        spec = template["Parameters"][name]
        # A Number's AllowedValues are numbers: cfn-lint compares the Default with them as typed.
        spec["Default"] = int(value) if spec["Type"] == "Number" and value.isdigit() else value
    path = directory / f"template-{env}.json"
    path.write_text(json.dumps(template, indent=1))
    return path


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_cfn_lint_finds_nothing_with_an_environments_values(env: str, tmp_path: Path) -> None:
    path = _template_with_defaults(env, tmp_path)
    # cfn-lint recurses once per line of an inlined state machine definition.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 5000))
    try:
        found = lint(path.read_text(), regions=["us-east-1"])
    finally:
        sys.setrecursionlimit(limit)
    assert not [str(m) for m in found]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_sam_validate_lint_passes_with_an_environments_values(env: str, tmp_path: Path) -> None:
    path = _template_with_defaults(env, tmp_path)
    sam = Path(sys.executable).with_name("sam")
    done = subprocess.run(  # the venv's own sam, a fixed argument list
        [str(sam), "validate", "--lint", "--template-file", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "is a valid SAM Template" in done.stdout + done.stderr
