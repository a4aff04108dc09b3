"""Every optional part of the template toggles cleanly.

For each part, on alone, all off, and all on: translate with SAM, resolve the Conditions the way
CloudFormation would for those parameter values (drop what is off, pick each Fn::If branch),
check that nothing left refers to a resource that is gone, that the part's resources are there
exactly when it is on, and lint the resulting template with cfn-lint.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sluice_local.emulator.template import load_and_translate
from testkit.cfn import lint_template

ROOT = Path(__file__).resolve().parents[2]
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:sluice-token-AbCdEf"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:org-{}"

STREAM_RESOURCES = {
    "StreamKey",
    "EventStream",
    "StreamDeadLetterQueue",
    "ProcessStreamFunction",
    "ProcessStreamMapping",
    "StreamEventTable",
    "ProcessStreamLogGroup",
    "StreamFailedEventsAlarm",
    "StreamIteratorAgeAlarm",
}
# part -> (parameters that turn it on, resources present only when it is on)
PARTS: dict[str, tuple[dict[str, str], set[str]]] = {
    "dashboard": ({"EnableCloudWatchDashboard": "true"}, {"PipelineDashboard"}),
    "alert-email": (
        {
            "SmtpHost": "smtp.example.com",
            "SmtpCredentialsSecretArn": SECRET,
            "AlertFromAddress": "sluice@example.com",
            "AlertRecipients": "ops@example.com,oncall@example.com",
        },
        {"AlertNotifierFunction", "AlertNotifierLogGroup"},
    ),
    "splunk": (
        {"SplunkHecUrl": "https://splunk.example.com:8088", "SplunkHecTokenSecretArn": SECRET},
        {
            "SplunkForwarderFunction",
            "SplunkForwarderLogGroup",
            "ProcessObjectLogsToSplunk",
            "DrainLogsToSplunk",
        },
    ),
    "existing-splunk-forwarder": (
        {"ExistingSplunkForwarderArn": FUNCTION.format("splunk")},
        {"ProcessObjectLogsToSplunk", "DrainLogsToSplunk"},
    ),
    "dynatrace": (
        {
            "DynatraceApiUrl": "https://abc12345.live.dynatrace.com",
            "DynatraceTokenSecretArn": SECRET,
        },
        {"MetricsSyncFunction", "MetricsSyncLogGroup"},
    ),
    "existing-dynatrace-sync": (
        {"ExistingDynatraceSyncArn": FUNCTION.format("dynatrace")},
        {"ExistingMetricsSyncSchedule", "ExistingMetricsSyncPermission"},
    ),
    "payments": (
        {"EnablePaymentPipeline": "true"},
        {
            "PaymentKey",
            "PaymentTopic",
            "PaymentSubscription",
            "PaymentQueue",
            "PaymentDeadLetterQueue",
            "PaymentPipe",
            "PaymentPipeRole",
            "PaymentStateMachine",
            "ValidatePaymentFunction",
            "ProcessPaymentFunction",
            "EnrichPaymentFunction",
            "PaymentTable",
            "PaymentWorkflowLogGroup",
            "PaymentDeadLetterAlarm",
        },
    ),
    "stream": (
        {
            "EnableStreamPipeline": "true",
            "StreamShardLevelMetrics": "IncomingRecords,IteratorAgeMilliseconds",
        },
        STREAM_RESOURCES,
    ),
    "stream-provisioned-table": (
        {"EnableStreamPipeline": "true", "StreamTableBillingMode": "PROVISIONED"},
        STREAM_RESOURCES,
    ),
    "extra-alarm-actions": ({"AlarmActionArns": "arn:aws:sns:us-east-1:123456789012:pager"}, set()),
    "existing-bucket": ({"ExistingBucketName": "my-existing-bucket"}, set()),
    "downstream-secret": ({"DownstreamAuthSecretArn": SECRET}, set()),
    # Functions that call endpoints outside AWS join the VPC (tests/template/test_security_*).
    "vpc": (
        {
            "VpcSubnetIds": "subnet-0123456789abcdef0,subnet-0fedcba9876543210",
            "VpcSecurityGroupIds": "sg-0123456789abcdef0",
        },
        set(),
    ),
}
# The existing forwarder / sync function replaces ours: "all on" takes ours.
ALL_ON = {
    k: v
    for name, (params, _) in PARTS.items()
    if not name.startswith("existing-") or name == "existing-bucket"
    for k, v in params.items()
}
CASES = {"all-off": {}, **{name: params for name, (params, _) in PARTS.items()}, "all-on": ALL_ON}
PSEUDO = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}
NO_VALUE = object()


def _parameter_values(cfn: dict[str, Any], overrides: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, spec in cfn.get("Parameters", {}).items():
        value = overrides.get(name, spec.get("Default", ""))
        value = str(value)
        values[name] = value.split(",") if spec["Type"] == "CommaDelimitedList" else value
    return {**PSEUDO, **values}


# The condition functions, on their operands' values (conditions have no side effects, so
# every operand may be evaluated).
COMBINE: dict[str, Callable[[list[Any]], Any]] = {
    "Fn::Equals": lambda operands: operands[0] == operands[1],
    "Fn::Not": lambda operands: not operands[0],
    "Fn::And": all,
    "Fn::Or": any,
}


def _evaluate(expr: Any, params: dict[str, Any], conditions: dict[str, Any]) -> Any:
    """The subset of intrinsic functions the template's Conditions use."""
    if isinstance(expr, dict) and len(expr) == 1:
        [(fn, arg)] = expr.items()
        if fn == "Ref":
            return params[arg]
        if fn == "Condition":
            return _condition(arg, params, conditions)
        if fn == "Fn::Join":
            return arg[0].join(_evaluate(arg[1], params, conditions))
        if fn not in COMBINE:
            raise AssertionError(f"the test cannot evaluate {fn} in a Condition")
        return COMBINE[fn]([_evaluate(a, params, conditions) for a in arg])
    return expr


def _condition(name: str, params: dict[str, Any], conditions: dict[str, Any]) -> bool:
    if isinstance(conditions[name], bool):
        return conditions[name]
    conditions[name] = bool(_evaluate(conditions[name], params, conditions))
    return bool(conditions[name])


def _prune(node: Any, truth: dict[str, bool]) -> Any:
    """Pick each Fn::If branch and drop AWS::NoValue, as CloudFormation does."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            name, yes, no = node["Fn::If"]
            return _prune(yes if truth[name] else no, truth)
        if node == {"Ref": "AWS::NoValue"}:
            return NO_VALUE
        pruned = {k: _prune(v, truth) for k, v in node.items()}
        return {k: v for k, v in pruned.items() if v is not NO_VALUE}
    if isinstance(node, list):
        return [v for v in (_prune(v, truth) for v in node) if v is not NO_VALUE]
    return node


def _resolved(overrides: dict[str, str]) -> dict[str, Any]:
    cfn = load_and_translate(ROOT / "template.yaml", overrides).cloudformation
    cfn = json.loads(json.dumps(cfn))
    # Outputs the local runtime adds to resolve DefinitionSubstitutions are not the template's.
    cfn["Outputs"] = {k: v for k, v in cfn.get("Outputs", {}).items() if "Substitution" not in k}
    params = _parameter_values(cfn, overrides)
    conditions = dict(cfn.get("Conditions", {}))
    truth = {name: _condition(name, params, conditions) for name in conditions}
    for section in ("Resources", "Outputs"):
        cfn[section] = {
            k: _prune({f: v for f, v in r.items() if f != "Condition"}, truth)
            for k, r in cfn.get(section, {}).items()
            if truth.get(r.get("Condition", ""), True)
        }
    cfn.pop("Conditions", None)
    # cfn-lint checks what a Ref resolves to against a parameter's default: make it this case's.
    for name, value in overrides.items():
        cfn["Parameters"][name]["Default"] = value
    return cfn


def _references(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        if "Ref" in node and isinstance(node["Ref"], str):
            found.add(node["Ref"])
        if "Fn::GetAtt" in node:
            target = node["Fn::GetAtt"]
            found.add(target[0] if isinstance(target, list) else target.split(".")[0])
        if "Fn::Sub" in node:
            sub = node["Fn::Sub"]
            text, local = (sub, {}) if isinstance(sub, str) else (sub[0], sub[1])
            names = {part.split("}")[0].split(".")[0] for part in text.split("${")[1:]}
            found.update(names - set(local))
        if "DependsOn" in node:
            depends = node["DependsOn"]
            found.update(depends if isinstance(depends, list) else [depends])
        for value in node.values():
            found |= _references(value)
    elif isinstance(node, list):
        for value in node:
            found |= _references(value)
    return found


@pytest.mark.parametrize("case", list(CASES))
def test_optional_part_toggles_cleanly(case: str) -> None:
    overrides = CASES[case]
    cfn = _resolved(overrides)
    known = set(cfn["Resources"]) | set(cfn.get("Parameters", {})) | set(PSEUDO)
    known |= {"AWS::StackName", "AWS::NoValue", "AWS::URLSuffix"}
    for section in ("Resources", "Outputs"):
        for logical_id, body in cfn[section].items():
            dangling = _references(body) - known
            assert not dangling, f"{logical_id} refers to {dangling}, which {case} leaves out"

    on = {
        name
        for name, (params, _) in PARTS.items()
        if case == name or (case == "all-on" and params.items() <= ALL_ON.items())
    }
    optional = set().union(*(resources for _, resources in PARTS.values()))
    expected = set().union(*(PARTS[name][1] for name in on))
    assert optional & set(cfn["Resources"]) == expected, case

    # W2001/W7001 (parameter/mapping not used) is what switching a part off means.
    matches = [m for m in lint_template(cfn) if m.rule.id not in ("W2001", "W7001")]
    assert not [str(m) for m in matches], case


def test_subscriptions_go_to_the_existing_forwarder_when_one_is_given() -> None:
    # The existing forwarder has its own HEC URL and token: none is given here (with a URL,
    # the SplunkNeedsToken rule would ask for a token this stack never uses).
    cfn = _resolved({"ExistingSplunkForwarderArn": FUNCTION.format("splunk")})
    assert "SplunkForwarderFunction" not in cfn["Resources"]
    filters = {
        k: r["Properties"]
        for k, r in cfn["Resources"].items()
        if r["Type"] == "AWS::Logs::SubscriptionFilter" and k.endswith("ToSplunk")
    }
    assert len(filters) == 5  # every log group (alert email and Dynatrace are off)
    assert all(
        p["DestinationArn"] == {"Ref": "ExistingSplunkForwarderArn"} for p in filters.values()
    )


def test_every_log_group_but_the_forwarders_own_is_forwarded_to_splunk() -> None:
    cfn = _resolved(CASES["all-on"])
    groups = {k for k, r in cfn["Resources"].items() if r["Type"] == "AWS::Logs::LogGroup"}
    forwarded = {
        r["Properties"]["LogGroupName"]["Ref"]
        for k, r in cfn["Resources"].items()
        if r["Type"] == "AWS::Logs::SubscriptionFilter" and k.endswith("ToSplunk")
    }
    # Forwarding the forwarder's own log group would feed it its own lines forever.
    assert forwarded == groups - {"SplunkForwarderLogGroup"}


def test_the_existing_sync_is_given_the_optional_pipelines_names_when_they_are_on() -> None:
    existing = PARTS["existing-dynatrace-sync"][0]
    both_on = {**existing, "EnablePaymentPipeline": "true", "EnableStreamPipeline": "true"}
    for overrides, expected in (
        (existing, set()),
        (
            both_on,
            {
                "PaymentQueue",
                "PaymentDeadLetterQueue",
                "StreamDeadLetterQueue",
                "ValidatePaymentFunction",
                "ProcessPaymentFunction",
                "EnrichPaymentFunction",
                "ProcessStreamFunction",
            },
        ),
    ):
        target = _resolved(overrides)["Resources"]["ExistingMetricsSyncSchedule"]["Properties"]
        text, variables = target["Targets"][0]["Input"]["Fn::Sub"]
        assert '"extraQueueNames": "${ExtraQueueNames}"' in text
        assert '"extraFunctionNames": "${ExtraFunctionNames}"' in text
        assert _references(variables) == expected
