"""Parameter values that break their Type or constraints refuse a local deploy, with
CloudFormation's ValidationError wording, as CloudFormation refuses the stack operation."""

from __future__ import annotations

from typing import Any

import pytest
from shipped_template import KEY_ARN, TEMPLATE
from shipped_template import shipped_template as _template

from sluice_local.emulator.rules import RuleFailed
from sluice_local.emulator.template import (
    ParameterConstraintError,
    TemplateError,
    command_overrides,
    load_and_translate,
    resolve_parameters,
)


def _declared(name: str) -> dict[str, Any]:
    spec: dict[str, Any] = _template()["Parameters"][name]
    return spec


def _refusal(overrides: dict[str, str], template: dict[str, Any] | None = None) -> str:
    """CloudFormation's message for the refused overrides."""
    with pytest.raises(ParameterConstraintError) as caught:
        resolve_parameters(template or _template(), overrides)
    return caught.value.message


def _accepts(overrides: dict[str, str], template: dict[str, Any] | None = None) -> None:
    values = resolve_parameters(template or _template(), overrides)
    assert {name: values[name] for name in overrides} == overrides


def _small(**parameters: dict[str, Any]) -> dict[str, Any]:
    return {"Parameters": parameters, "Resources": {}}


# -- template.yaml as it stands ---------------------------------------------------------------


def test_every_default_satisfies_its_own_constraints() -> None:
    """CloudFormation requires it of a Default too (the Parameters reference, "Default")."""
    resolve_parameters(_template(), {})


def test_samconfigs_local_overrides_pass() -> None:
    """What `make demo`, demo-payments, demo-stream and the benchmarks deploy with."""
    resolve_parameters(_template(), command_overrides(TEMPLATE, "local", ""))


# -- Type: Number -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["thirty", "", "30 days", "3,0", "1/2"])
def test_a_number_parameter_refuses_what_is_not_a_number(value: str) -> None:
    assert "ConstraintDescription" not in _declared("IdempotencyDays")
    assert _refusal({"IdempotencyDays": value}) == "Parameter 'IdempotencyDays' must be a number"


@pytest.mark.parametrize("value", ["1.75", "2.5", "30.0", "60"])
def test_a_number_may_be_a_float(value: str) -> None:
    """A Number is "an integer or float" (the Parameters reference): 1.75 is one."""
    _accepts({"DownstreamTimeoutSeconds": value})


# -- MinValue / MaxValue ----------------------------------------------------------------------


def test_idempotency_days_below_its_min_value() -> None:
    assert _refusal({"IdempotencyDays": "14"}) == (
        "Parameter 'IdempotencyDays' must be a number not less than 15"
    )
    assert _refusal({"IdempotencyDays": "14.5"}) == (
        "Parameter 'IdempotencyDays' must be a number not less than 15"
    )
    _accepts({"IdempotencyDays": "15"})


def test_idempotency_days_above_its_max_value() -> None:
    assert _refusal({"IdempotencyDays": "366"}) == (
        "Parameter 'IdempotencyDays' must be a number not greater than 365"
    )
    assert _refusal({"IdempotencyDays": "365.5"}) == (
        "Parameter 'IdempotencyDays' must be a number not greater than 365"
    )
    _accepts({"IdempotencyDays": "365"})


def _bounded_numbers() -> list[tuple[str, str, str]]:
    return [
        (name, bound, str(spec[bound]))
        for name, spec in _template()["Parameters"].items()
        if spec.get("Type") == "Number" and "ConstraintDescription" not in spec
        for bound in ("MinValue", "MaxValue")
        if bound in spec
    ]


@pytest.mark.parametrize(("name", "bound", "limit"), _bounded_numbers())
def test_each_bound_of_template_yaml_takes_its_limit_and_refuses_one_past_it(
    name: str, bound: str, limit: str
) -> None:
    _accepts({name: limit})
    past = int(limit) + (1 if bound == "MaxValue" else -1)
    words = "not greater than" if bound == "MaxValue" else "not less than"
    assert _refusal({name: str(past)}) == f"Parameter '{name}' must be a number {words} {limit}"


# -- ConstraintDescription ---------------------------------------------------------------------


@pytest.mark.parametrize("value", ["181", "2", "0", "-5", "two minutes"])
def test_a_constraint_description_replaces_the_reason(value: str) -> None:
    """FunctionTimeout (3-180) has a ConstraintDescription: CloudFormation shows it, with the
    name unquoted, instead of "must be a number not greater than 180"."""
    description = _declared("FunctionTimeout")["ConstraintDescription"]
    assert description.startswith("3-180. With MaxStaggerSeconds at most 45")
    assert _refusal({"FunctionTimeout": value}) == (
        f"Parameter FunctionTimeout failed to satisfy constraint: {description}"
    )
    _accepts({"FunctionTimeout": "180", "DownstreamTimeoutSeconds": "35"})


def test_a_pattern_with_a_constraint_description() -> None:
    description = _declared("ExistingBucketKmsKeyArn")["ConstraintDescription"]
    assert _refusal({"ExistingBucketKmsKeyArn": "alias/aws/s3"}) == (
        f"Parameter ExistingBucketKmsKeyArn failed to satisfy constraint: {description}"
    )
    _accepts({"ExistingBucketKmsKeyArn": KEY_ARN, "ExistingBucketName": "my-bucket"})


# -- AllowedValues -----------------------------------------------------------------------------


def _described(name: str) -> str:
    """The refusal of a template.yaml parameter that has a ConstraintDescription."""
    description = _declared(name)["ConstraintDescription"]
    return f"Parameter {name} failed to satisfy constraint: {description}"


@pytest.mark.parametrize("value", ["keep", "READ", "", "read "])
def test_idempotency_table_upgrade_takes_only_read_or_drop(value: str) -> None:
    assert _refusal({"IdempotencyTableUpgrade": value}) == _described("IdempotencyTableUpgrade")


@pytest.mark.parametrize("value", ["keep", "READ", "", "read "])
def test_allowed_values_without_a_constraint_description(value: str) -> None:
    template = _small(
        Upgrade={"Type": "String", "Default": "read", "AllowedValues": ["read", "drop"]}
    )
    assert _refusal({"Upgrade": value}, template) == (
        "Parameter 'Upgrade' must be one of AllowedValues"
    )


@pytest.mark.parametrize("value", ["read", "drop"])
def test_idempotency_table_upgrade_allowed_values(value: str) -> None:
    _accepts({"IdempotencyTableUpgrade": value})


def test_a_number_parameter_with_allowed_values() -> None:
    """LogRetentionDays is a Number limited to CloudWatch Logs' retention periods."""
    assert _refusal({"LogRetentionDays": "31"}) == _described("LogRetentionDays")
    assert _refusal({"LogRetentionDays": "a month"}) == _described("LogRetentionDays")
    _accepts({"LogRetentionDays": "30"})
    template = _small(Days={"Type": "Number", "Default": 30, "AllowedValues": [7, 30]})
    assert _refusal({"Days": "31"}, template) == "Parameter 'Days' must be one of AllowedValues"
    assert _refusal({"Days": "a month"}, template) == "Parameter 'Days' must be a number"


# -- AllowedPattern ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["ftp://api.example.com", "api.example.com", "https://", "http://api.example.com"],
)
def test_downstream_api_url_must_match_its_pattern(value: str) -> None:
    # Its ConstraintDescription replaces "must match pattern <AllowedPattern>".
    assert _refusal({"DownstreamApiUrl": value}) == (
        "Parameter DownstreamApiUrl failed to satisfy constraint: "
        + _declared("DownstreamApiUrl")["ConstraintDescription"]
    )


@pytest.mark.parametrize("value", ["", "http://127.0.0.1:8080/rows", "https://api.example.com"])
def test_downstream_api_url_pattern_accepts(value: str) -> None:
    _accepts({"DownstreamApiUrl": value})


@pytest.mark.parametrize("value", ["1.5", "0.5x", "x0.5", "-0.1", ".5"])
def test_the_pattern_must_match_the_whole_value(value: str) -> None:
    assert _refusal({"SimulatedFailureRate": value}) == _described("SimulatedFailureRate")
    template = _small(
        Rate={"Type": "String", "Default": "0", "AllowedPattern": r"^(0(\.\d+)?|1(\.0+)?)$"}
    )
    assert _refusal({"Rate": value}, template) == (
        r"Parameter 'Rate' must match pattern ^(0(\.\d+)?|1(\.0+)?)$"
    )


@pytest.mark.parametrize("value", ["0", "0.25", "1", "1.000"])
def test_the_pattern_accepts_a_rate(value: str) -> None:
    _accepts({"SimulatedFailureRate": value})


# -- MinLength / MaxLength (template.yaml declares none: a small template) ---------------------


def _named() -> dict[str, Any]:
    return _small(
        StackLabel={"Type": "String", "Default": "sluice", "MinLength": 3, "MaxLength": 8}
    )


def test_min_length() -> None:
    assert _refusal({"StackLabel": "ab"}, _named()) == (
        "Parameter 'StackLabel' must contain at least 3 characters"
    )
    _accepts({"StackLabel": "abc"}, _named())


def test_max_length() -> None:
    assert _refusal({"StackLabel": "abcdefghi"}, _named()) == (
        "Parameter 'StackLabel' must contain at most 8 characters"
    )
    _accepts({"StackLabel": "abcdefgh"}, _named())


def test_a_length_with_a_constraint_description() -> None:
    template = _named()
    template["Parameters"]["StackLabel"]["ConstraintDescription"] = "3 to 8 characters."
    assert _refusal({"StackLabel": "ab"}, template) == (
        "Parameter StackLabel failed to satisfy constraint: 3 to 8 characters."
    )


# -- list types --------------------------------------------------------------------------------


def _lists() -> dict[str, Any]:
    return _small(
        Profiles={"Type": "CommaDelimitedList", "Default": "dev", "AllowedPattern": r"\w+"},
        Stages={"Type": "CommaDelimitedList", "Default": "dev", "AllowedValues": ["dev", "prod"]},
        Ports={"Type": "List<Number>", "Default": "80", "MinValue": 1, "MaxValue": 65535},
    )


def test_a_comma_delimited_list_checks_each_member() -> None:
    _accepts({"Profiles": "dev,test", "Stages": "dev, prod"}, _lists())
    assert _refusal({"Profiles": "dev,te-st"}, _lists()) == (
        r"Parameter 'Profiles' must match pattern \w+"
    )
    assert _refusal({"Profiles": "dev,"}, _lists()) == (
        r"Parameter 'Profiles' must match pattern \w+"
    )
    assert _refusal({"Stages": "dev,test"}, _lists()) == (
        "Parameter 'Stages' must be one of AllowedValues"
    )


def test_a_list_of_numbers_checks_each_member() -> None:
    _accepts({"Ports": "80,443, 8080"}, _lists())
    assert _refusal({"Ports": "80,https"}, _lists()) == "Parameter 'Ports' must be a number"
    assert _refusal({"Ports": "80,0"}, _lists()) == (
        "Parameter 'Ports' must be a number not less than 1"
    )


def test_template_yamls_lists_take_any_members() -> None:
    _accepts({"AlarmActionArns": "arn:aws:sns:us-east-1:123456789012:ops,arn:aws:sns:b"})
    _accepts({"StreamShardLevelMetrics": "IncomingBytes,OutgoingBytes"})


# -- when and how the deploy is refused ---------------------------------------------------------


def test_a_bad_default_is_refused_too() -> None:
    template = _small(Days={"Type": "Number", "Default": 5, "MinValue": 15})
    assert _refusal({}, template) == "Parameter 'Days' must be a number not less than 15"


def test_the_first_bad_parameter_in_template_order_is_reported() -> None:
    message = _refusal({"IdempotencyTableUpgrade": "keep", "IdempotencyDays": "5"})
    assert message == "Parameter 'IdempotencyDays' must be a number not less than 15"


def test_the_refusal_is_a_template_error_naming_the_value() -> None:
    with pytest.raises(ParameterConstraintError) as caught:
        resolve_parameters(_template(), {"IdempotencyDays": "5"})
    refusal = caught.value
    assert isinstance(refusal, TemplateError)
    assert (refusal.name, refusal.value) == ("IdempotencyDays", "5")
    assert str(refusal) == (
        "ValidationError: Parameter 'IdempotencyDays' must be a number not less than 15"
        " (given IdempotencyDays=5)"
    )


def test_the_constraints_are_checked_before_the_rules_and_the_translation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """FunctionTimeout 2 also breaks RequestFitsFunctionTimeout31To60 (DownstreamTimeoutSeconds
    35 by default): the constraint refuses first, before SAM translates anything."""
    import samtranslator.translator.translator as translator

    def untouched(*args: object, **kwargs: object) -> None:
        raise AssertionError("translated a template whose parameters CloudFormation refuses")

    monkeypatch.setattr(translator.Translator, "translate", untouched)
    with pytest.raises(ParameterConstraintError) as caught:
        load_and_translate(TEMPLATE, {"FunctionTimeout": "2"})
    assert not isinstance(caught.value, RuleFailed)
    assert caught.value.message.startswith("Parameter FunctionTimeout failed to satisfy constraint")


def test_an_unreadable_allowed_pattern_is_a_template_error() -> None:
    template = _small(Name={"Type": "String", "Default": "x", "AllowedPattern": "("})
    with pytest.raises(TemplateError, match="AllowedPattern") as caught:
        resolve_parameters(template, {})
    assert not isinstance(caught.value, ParameterConstraintError)


def test_the_cli_says_why_a_stack_is_refused_without_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from sluice_local.cli import main

    code = main(["demo", "--objects", "1", "--parameter-overrides", "IdempotencyDays=5"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        "sluice-local: the stack is refused: ValidationError: Parameter 'IdempotencyDays' must"
        " be a number not less than 15 (given IdempotencyDays=5)"
    )
