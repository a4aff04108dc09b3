"""Each function's settings are declared once (functions/<fn>/<fn>_settings.py) and agree with
template.yaml both ways: every variable the template sets is declared, every declared variable
is set, and a declared default equals the Default of the parameter the template passes."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = yaml_parse((ROOT / "template.yaml").read_text())
sys.path.insert(0, str(ROOT / "layers/common/python"))

from sluice_common.settings import REQUIRED, Setting, declared, load  # noqa: E402

# Set for every function by Globals (Powertools) or by Lambda itself: not the function's own.
PROVIDED = ("POWERTOOLS_",)


def _functions() -> dict[str, Path]:
    found = {}
    for logical_id, resource in TEMPLATE["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            found[logical_id] = ROOT / resource["Properties"]["CodeUri"]
    return found


FUNCTIONS = _functions()


def _settings_class(code_dir: Path) -> type:
    path = code_dir / f"{code_dir.name}_settings.py"
    if str(code_dir) not in sys.path:  # a settings class may build on its domain module's
        sys.path.insert(0, str(code_dir))
    assert path.is_file(), (
        f"{path.relative_to(ROOT)} is missing: every function declares its settings"
    )
    spec = importlib.util.spec_from_file_location(f"_settings_of_{code_dir.name}", path)
    assert spec is not None and spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    classes = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and value.__module__ == module.__name__
        and dataclasses.is_dataclass(value)
        and value.__name__.endswith("Settings")
    ]
    assert len(classes) == 1, f"{path.name} declares {len(classes)} settings classes, not one"
    return classes[0]


def _template_env(logical_id: str) -> dict[str, Any]:
    env = dict(TEMPLATE["Globals"]["Function"].get("Environment", {}).get("Variables", {}))
    props = TEMPLATE["Resources"][logical_id]["Properties"]
    env.update(props.get("Environment", {}).get("Variables", {}))
    return {name: value for name, value in env.items() if not name.startswith(PROVIDED)}


def _refs(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {value["Ref"]} if isinstance(value.get("Ref"), str) else set()
        for inner in value.values():
            found |= _refs(inner)
        return found
    if isinstance(value, list):
        return set().union(*(_refs(v) for v in value)) if value else set()
    return set()


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_declared_settings_and_template_environment_match_both_ways(logical_id: str) -> None:
    specs = declared(_settings_class(FUNCTIONS[logical_id]))
    declared_names = {spec.env for spec in specs.values()}
    template_names = set(_template_env(logical_id))
    assert template_names - declared_names == set(), "set by the template, declared nowhere"
    assert declared_names - template_names == set(), "declared, never set by the template"


def _parameter_cases() -> list[tuple[str, str, Setting]]:
    cases = []
    for logical_id, code_dir in sorted(FUNCTIONS.items()):
        for name, spec in declared(_settings_class(code_dir)).items():
            if spec.parameter:
                cases.append((logical_id, name, spec))
    return cases


@pytest.mark.parametrize(
    ("logical_id", "field", "spec"), _parameter_cases(), ids=lambda v: getattr(v, "env", v)
)
def test_declared_default_is_the_template_parameters_default(
    logical_id: str, field: str, spec: Setting
) -> None:
    parameters = TEMPLATE["Parameters"]
    assert spec.parameter in parameters, f"{spec.env} names no template parameter {spec.parameter}"
    value = _template_env(logical_id)[spec.env]
    assert spec.parameter in _refs(value), f"the template sets {spec.env} from {value!r}"
    if value != {"Ref": spec.parameter}:
        return  # derived (Fn::If / Fn::Sub): the parameter's default is not the variable's
    if spec.default is REQUIRED:
        return  # no default of its own: the template always sets it
    default = parameters[spec.parameter].get("Default")
    cls = _settings_class(FUNCTIONS[logical_id])
    from_template = getattr(load(cls, _every_required(cls, {spec.env: str(default)})), field)
    declared_default = getattr(load(cls, _every_required(cls, {})), field)
    assert from_template == declared_default, (
        f"{spec.env} defaults to {spec.default!r}; {spec.parameter} defaults to {default!r}"
    )


def _every_required(cls: type, env: dict[str, str]) -> dict[str, str]:
    filled = dict(env)
    for spec in declared(cls).values():
        if spec.default is REQUIRED and spec.env not in filled:
            filled[spec.env] = _sample(spec)
    return filled


def _sample(spec: Setting) -> str:
    if spec.choices:
        return spec.choices[0]
    return str(spec.minimum if spec.minimum is not None else 1)


@pytest.mark.parametrize(
    ("logical_id", "field", "spec"), _parameter_cases(), ids=lambda v: getattr(v, "env", v)
)
def test_declared_bounds_refuse_nothing_the_template_accepts(
    logical_id: str, field: str, spec: Setting
) -> None:
    parameter = TEMPLATE["Parameters"][spec.parameter]
    if parameter["Type"] != "Number":
        return  # a String's AllowedPattern or AllowedValues bound it (cfn-lint checks those)
    low, high = parameter.get("MinValue"), parameter.get("MaxValue")
    if spec.minimum is not None:
        assert low is not None and spec.minimum <= float(low), (
            f"{spec.env} refuses below {spec.minimum}; {spec.parameter} allows {low}"
        )
    if spec.maximum is not None:
        assert high is not None and spec.maximum >= float(high), (
            f"{spec.env} refuses above {spec.maximum}; {spec.parameter} allows {high}"
        )


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_a_value_the_template_writes_itself_is_the_declared_default(logical_id: str) -> None:
    # Tuning without a parameter (SPLUNK_*, SMTP_TIMEOUT_SECONDS, SYNC_DELAY_SECONDS, ...) is
    # written twice, in the template and as the default: they must not drift apart.
    cls = _settings_class(FUNCTIONS[logical_id])
    env = _template_env(logical_id)
    defaults = load(cls, _every_required(cls, {}))
    for field, spec in declared(cls).items():
        written = env.get(spec.env)
        if isinstance(written, str) and spec.default is not REQUIRED:
            loaded = load(cls, _every_required(cls, {spec.env: written}))
            assert getattr(loaded, field) == getattr(defaults, field), spec.env
