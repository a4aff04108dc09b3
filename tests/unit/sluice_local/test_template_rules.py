"""The template's Rules refuse a local deploy as CloudFormation refuses the stack operation."""

from __future__ import annotations

from typing import Any

import pytest
from shipped_template import KEY_ARN, TEMPLATE
from shipped_template import shipped_template as _template

from sluice_local.emulator.rules import RuleFailed, RulesFormatError, check_rules
from sluice_local.emulator.template import (
    TemplateError,
    command_overrides,
    load_and_translate,
    resolve_parameters,
)

# RequestFitsFunctionTimeout bands: (rule, lowest and highest DownstreamTimeoutSeconds, least
# FunctionTimeout), as template.yaml's AssertDescriptions state them.
BANDS = [
    ("RequestFitsFunctionTimeout2To5", 2, 5, 10),
    ("RequestFitsFunctionTimeout6To15", 6, 15, 30),
    ("RequestFitsFunctionTimeout16To30", 16, 30, 60),
    ("RequestFitsFunctionTimeout31To60", 31, 60, 120),
]


def _check(overrides: dict[str, str]) -> None:
    template = _template()
    check_rules(template, resolve_parameters(template, overrides))


def _refusal(overrides: dict[str, str]) -> RuleFailed:
    with pytest.raises(RuleFailed) as caught:
        _check(overrides)
    return caught.value


def test_the_defaults_pass() -> None:
    _check({})


@pytest.mark.parametrize(("rule", "low", "high", "least"), BANDS, ids=[b[0] for b in BANDS])
@pytest.mark.parametrize("end", ["low", "high"])
def test_each_band_refuses_a_short_function_timeout_and_takes_its_least(
    rule: str, low: int, high: int, least: int, end: str
) -> None:
    downstream = str(low if end == "low" else high)
    refused = _refusal({"DownstreamTimeoutSeconds": downstream, "FunctionTimeout": str(least - 1)})
    assert refused.rule == rule
    assert refused.description.startswith(
        f"With DownstreamTimeoutSeconds {low}-{high}, FunctionTimeout must be at least {least},"
    )
    assert refused.parameters == {
        "DownstreamTimeoutSeconds": downstream,
        "FunctionTimeout": str(least - 1),
    }
    assert str(refused) == (
        f"ValidationError: {refused.description} (rule {rule}, with DownstreamTimeoutSeconds="
        f"{downstream}, FunctionTimeout={least - 1})"
    )
    _check({"DownstreamTimeoutSeconds": downstream, "FunctionTimeout": str(least)})
    _check({"DownstreamTimeoutSeconds": downstream, "FunctionTimeout": "180"})


def test_the_default_request_timeout_refuses_the_old_local_function_timeout() -> None:
    # `make demo` ran FunctionTimeout 60 with the default 35 s request before the Rules.
    assert _refusal({"FunctionTimeout": "60"}).rule == "RequestFitsFunctionTimeout31To60"


def test_a_one_second_request_fits_the_shortest_function_timeout() -> None:
    _check({"DownstreamTimeoutSeconds": "1", "FunctionTimeout": "3"})


def test_what_the_bands_accept_leaves_room_for_two_requests() -> None:
    """The parameter's promise: FunctionTimeout is at least twice DownstreamTimeoutSeconds."""
    template = _template()
    declared = template["Parameters"]
    accepted = 0
    for downstream in range(declared["DownstreamTimeoutSeconds"]["MinValue"], 61):
        for timeout in range(declared["FunctionTimeout"]["MinValue"], 181):
            values = resolve_parameters(
                template,
                {"DownstreamTimeoutSeconds": str(downstream), "FunctionTimeout": str(timeout)},
            )
            try:
                check_rules(template, values)
            except RuleFailed:
                continue
            accepted += 1
            assert timeout >= 2 * downstream, (downstream, timeout)
    assert accepted > 0


def test_a_bucket_key_needs_an_existing_bucket() -> None:
    refused = _refusal({"ExistingBucketKmsKeyArn": KEY_ARN})
    assert refused.rule == "BucketKeyNeedsExistingBucket"
    assert refused.description.startswith(
        "ExistingBucketKmsKeyArn is the key of an existing bucket's objects; it needs"
        " ExistingBucketName"
    )
    assert refused.parameters == {"ExistingBucketKmsKeyArn": KEY_ARN, "ExistingBucketName": ""}
    assert str(refused).endswith(
        f"(rule BucketKeyNeedsExistingBucket, with ExistingBucketKmsKeyArn={KEY_ARN},"
        ' ExistingBucketName="")'
    )
    _check({"ExistingBucketKmsKeyArn": KEY_ARN, "ExistingBucketName": "my-bucket"})
    _check({"ExistingBucketName": "my-bucket"})  # SSE-S3 or unencrypted: no key needed


def test_a_refusal_is_a_template_error() -> None:
    assert issubclass(RuleFailed, TemplateError)
    assert issubclass(RulesFormatError, TemplateError)


def test_the_local_pipeline_refuses_before_translating() -> None:
    with pytest.raises(RuleFailed, match="RequestFitsFunctionTimeout31To60"):
        load_and_translate(TEMPLATE, {"FunctionTimeout": "60"})


def test_samconfigs_local_overrides_pass() -> None:
    """What `make demo`, demo-payments, demo-stream and the benchmarks deploy with."""
    _check(command_overrides(TEMPLATE, "local", ""))


# -- the evaluator, on small templates -------------------------------------------------------


def _small(rules: dict[str, Any], **parameters: dict[str, Any]) -> dict[str, Any]:
    declared = {"Mode": {"Type": "String", "Default": "off"}, **parameters}
    return {"Parameters": declared, "Rules": rules, "Resources": {}}


def _run(template: dict[str, Any], overrides: dict[str, str] | None = None) -> None:
    check_rules(
        template, resolve_parameters(template, overrides or {}), {"AWS::Region": "eu-west-1"}
    )


def _rule(assertion: Any, condition: Any = None, description: str = "no") -> dict[str, Any]:
    rule: dict[str, Any] = {"Assertions": [{"Assert": assertion, "AssertDescription": description}]}
    if condition is not None:
        rule["RuleCondition"] = condition
    return rule


FALSE = {"Fn::Equals": ["a", "b"]}
TRUE = {"Fn::Equals": ["a", "a"]}
MODE_ON = {"Fn::Equals": [{"Ref": "Mode"}, "on"]}


def test_a_rule_whose_condition_is_false_is_skipped() -> None:
    template = _small({"OnlyWhenOn": _rule(FALSE, condition=MODE_ON, description="refused")})
    _run(template)  # Mode "off": the false assertion is never checked
    with pytest.raises(
        RuleFailed, match=r"^ValidationError: refused \(rule OnlyWhenOn, with Mode=on\)$"
    ):
        _run(template, {"Mode": "on"})


def test_a_rule_without_a_condition_always_applies() -> None:
    with pytest.raises(RuleFailed, match="Always"):
        _run(_small({"Always": _rule(FALSE)}))


def test_every_assertion_of_a_rule_must_hold() -> None:
    rule = _rule(TRUE, description="first")
    rule["Assertions"].append({"Assert": FALSE, "AssertDescription": "second"})
    with pytest.raises(RuleFailed) as caught:
        _run(_small({"Two": rule}))
    assert caught.value.description == "second"


def test_an_assertion_without_a_description_still_names_its_rule() -> None:
    template = _small({"Bare": {"Assertions": [{"Assert": FALSE}]}})
    with pytest.raises(RuleFailed, match=r"^ValidationError: Assertion of rule Bare failed"):
        _run(template)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ({"Fn::And": [TRUE, TRUE]}, True),
        ({"Fn::And": [TRUE, FALSE, TRUE]}, False),
        ({"Fn::Or": [FALSE, TRUE]}, True),
        ({"Fn::Or": [FALSE, FALSE]}, False),
        ({"Fn::Not": [FALSE]}, True),
        ({"Fn::Not": [TRUE]}, False),
        ({"Fn::Contains": [["on", "off"], {"Ref": "Mode"}]}, True),
        ({"Fn::Contains": [["on"], {"Ref": "Mode"}]}, False),
        ({"Fn::EachMemberEquals": [{"Ref": "Names"}, "a"]}, False),
        ({"Fn::EachMemberEquals": [["a", "a"], "a"]}, True),
        ({"Fn::EachMemberIn": [{"Ref": "Names"}, ["a", "b", "c"]]}, True),
        ({"Fn::EachMemberIn": [{"Ref": "Names"}, ["a"]]}, False),
        ({"Fn::Equals": [{"Ref": "Names"}, ["a", "b"]]}, True),
        ({"Fn::Equals": [{"Ref": "AWS::Region"}, "eu-west-1"]}, True),
        ({"Fn::Equals": [{"Ref": "AWS::Partition"}, "aws"]}, True),
    ],
)
def test_rule_functions(expression: dict[str, Any], expected: bool) -> None:
    template = _small(
        {"R": _rule(expression)}, Names={"Type": "CommaDelimitedList", "Default": "a, b"}
    )
    if expected:
        _run(template)
    else:
        with pytest.raises(RuleFailed):
            _run(template)


def test_values_compare_as_strings() -> None:
    """A Number parameter is its text; YAML numbers in the template are their text too."""
    template = _small(
        {"R": _rule({"Fn::Contains": [[60, 120], {"Ref": "Seconds"}]})},
        Seconds={"Type": "Number", "Default": 60},
    )
    _run(template)
    _run(template, {"Seconds": "120"})
    with pytest.raises(RuleFailed):
        _run(template, {"Seconds": "060"})  # the same number, not the same string
    with pytest.raises(RuleFailed):
        _run(template, {"Seconds": "60.0"})


@pytest.mark.parametrize(
    ("function", "expression"),
    [
        ("Fn::If", {"Fn::If": ["Cond", TRUE, FALSE]}),
        ("Condition", {"Condition": "Cond"}),
        ("Fn::Sub", {"Fn::Equals": [{"Fn::Sub": "x"}, "x"]}),
        ("Fn::GetAtt", {"Fn::Equals": [{"Fn::GetAtt": ["Bucket", "Arn"]}, "x"]}),
    ],
)
def test_a_function_cloudformation_refuses_in_rules_is_refused(
    function: str, expression: dict[str, Any]
) -> None:
    # Refused even where it would never be evaluated: CloudFormation checks the block first.
    template = _small({"R": _rule(expression, condition=MODE_ON)})
    with pytest.raises(RulesFormatError) as caught:
        _run(template)
    assert str(caught.value) == (
        "Template format error: Following functions are not supported in the Rules block of"
        f" the template: [{function}]"
    )


@pytest.mark.parametrize("function", ["Fn::RefAll", "Fn::ValueOf", "Fn::ValueOfAll"])
def test_a_function_that_reads_the_account_is_refused_not_guessed(function: str) -> None:
    args: Any = "AWS::EC2::VPC::Id" if function == "Fn::RefAll" else ["Mode", "Tags.Team"]
    template = _small({"R": _rule({"Fn::Contains": [[], {function: args}]}, condition=MODE_ON)})
    with pytest.raises(TemplateError, match=f"cannot evaluate {function}") as caught:
        _run(template)
    assert not isinstance(caught.value, RuleFailed | RulesFormatError)


def test_a_ref_to_no_parameter_is_unresolved() -> None:
    template = _small({"R": _rule({"Fn::Equals": [{"Ref": "Bucket"}, ""]})})
    with pytest.raises(
        RulesFormatError,
        match=r"Unresolved resource dependencies \[Bucket\] in the Rules block of the template",
    ):
        _run(template)


@pytest.mark.parametrize(
    "expression",
    [
        {"Fn::And": [TRUE]},  # two to ten conditions
        {"Fn::Not": [TRUE, TRUE]},
        {"Fn::Equals": ["a"]},
        {"Fn::Contains": ["a", "a"]},  # a list first
        {"Fn::Not": ["true"]},  # a condition, not a string
        {"Ref": "Mode"},  # a string, not true or false
    ],
)
def test_malformed_expressions_are_refused(expression: Any) -> None:
    with pytest.raises(TemplateError) as caught:
        _run(_small({"R": _rule(expression)}))
    assert not isinstance(caught.value, RuleFailed)


@pytest.mark.parametrize(
    "rules",
    [
        [],
        {"R": {"RuleCondition": TRUE}},
        {"R": {"Assertions": []}},
        {"R": {"Assertions": [{"AssertDescription": "no Assert"}]}},
        {"R": {"Assertions": [{"Assert": TRUE}], "Condition": "x"}},
    ],
)
def test_a_malformed_rules_section_is_a_format_error(rules: Any) -> None:
    with pytest.raises(RulesFormatError, match=r"^Template format error: "):
        _run({"Parameters": {}, "Rules": rules, "Resources": {}})


def test_a_template_without_rules_passes() -> None:
    check_rules({"Resources": {}}, {})
