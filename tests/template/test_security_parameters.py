"""Issue 17's template controls: https-only endpoint URLs, no clear-text SMTP, least-privilege
grants and the optional VPC.

Parameter values are checked with the local runtime's own checkers (the parameter constraints and
the Rules it refuses a deploy with, as CloudFormation does); grants on the translated template with
its Conditions resolved (tests/template/test_optional_parts.py).
"""

from __future__ import annotations

import fnmatch
import functools
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_aws_permissions import _as_list, _role_of, _role_statements
from test_optional_parts import ALL_ON, _resolved

from sluice_local.emulator.iam.aws_calls import (
    STREAM_MAPPING_ACTIONS,
    VPC_NETWORK_INTERFACE_ACTIONS,
)
from sluice_local.emulator.rules import RuleFailed, check_rules
from sluice_local.emulator.template import ParameterConstraintError, resolve_parameters

ROOT = Path(__file__).resolve().parents[2]
URL_PARAMETERS = ("DownstreamApiUrl", "SplunkHecUrl", "DynatraceApiUrl")
SUBNETS = "subnet-0123456789abcdef0,subnet-0fedcba9876543210"
SECURITY_GROUPS = "sg-0123456789abcdef0"
VPC = {"VpcSubnetIds": SUBNETS, "VpcSecurityGroupIds": SECURITY_GROUPS}
# The functions that call endpoints outside AWS: the downstream API, SMTP, HEC and Dynatrace.
VPC_FUNCTIONS = {
    "ProcessObjectFunction",
    "AlertNotifierFunction",
    "SplunkForwarderFunction",
    "MetricsSyncFunction",
}


@functools.cache
def _template() -> dict[str, Any]:
    document: dict[str, Any] = yaml_parse((ROOT / "template.yaml").read_text())
    return document


def _constraint_refusal(overrides: dict[str, str]) -> str:
    with pytest.raises(ParameterConstraintError) as caught:
        resolve_parameters(_template(), overrides)
    return caught.value.message


def _rule_refusal(overrides: dict[str, str]) -> RuleFailed:
    with pytest.raises(RuleFailed) as caught:
        check_rules(_template(), resolve_parameters(_template(), overrides))
    return caught.value


def _passes(overrides: dict[str, str]) -> None:
    check_rules(_template(), resolve_parameters(_template(), overrides))


# -- 1: endpoint URLs are https (plain http only to loopback), without userinfo -------------
@pytest.mark.parametrize("parameter", URL_PARAMETERS)
@pytest.mark.parametrize(
    "url",
    [
        "http://example.com",
        "http://api.example.com:8080/rows",
        "https://user:secret@api.example.com/rows",
        "https://token@api.example.com",
        "http://user:secret@127.0.0.1:8080/rows",
        "http://localhost.example.com/rows",  # not loopback: a host named after it
        "http://127.0.0.1.example.com/",
        "http://[::1].example.com/",
        "ftp://api.example.com",
        "https://",
        "https:// api.example.com",
    ],
)
def test_an_endpoint_url_must_be_https_without_credentials(parameter: str, url: str) -> None:
    reason = _constraint_refusal({parameter: url})
    assert reason.startswith(f"Parameter {parameter} failed to satisfy constraint: ")
    assert "https://" in reason and "user:password@" in reason


@pytest.mark.parametrize("parameter", URL_PARAMETERS)
@pytest.mark.parametrize(
    "url",
    [
        "",
        "https://api.example.com",
        "https://api.example.com:8443/v1/rows?tenant=a#x",
        "https://api.example.com/users/a@b",  # "@" in the path is no userinfo
        "http://localhost",
        "http://localhost:8080/rows",
        "http://127.0.0.1:49152",
        "http://127.1.2.3/rows",
        "http://[::1]:8080/rows",
    ],
)
def test_an_endpoint_url_may_be_https_or_loopback_http(parameter: str, url: str) -> None:
    assert resolve_parameters(_template(), {parameter: url})[parameter] == url


def test_the_three_urls_share_one_pattern() -> None:
    parameters = _template()["Parameters"]
    patterns = {parameters[name]["AllowedPattern"] for name in URL_PARAMETERS}
    assert len(patterns) == 1


# -- 9: SMTP without STARTTLS only on the implicit-TLS port ---------------------------------
def test_smtp_without_starttls_on_587_is_refused() -> None:
    refused = _rule_refusal({"SmtpStartTls": "false", "SmtpPort": "587"})
    assert refused.rule == "SmtpPlainTextOnlyOnImplicitTls"
    assert refused.parameters == {"SmtpStartTls": "false", "SmtpHost": "", "SmtpPort": "587"}
    assert "465" in refused.description


@pytest.mark.parametrize("port", ["25", "2525", "587"])
def test_smtp_without_starttls_is_refused_with_alert_email_on(port: str) -> None:
    overrides = {
        "SmtpHost": "smtp.example.com",
        "AlertFromAddress": "sluice@example.com",
        "AlertRecipients": "ops@example.com",
        "SmtpStartTls": "false",
        "SmtpPort": port,
    }
    assert _rule_refusal(overrides).rule == "SmtpPlainTextOnlyOnImplicitTls"


@pytest.mark.parametrize(
    ("starttls", "port"), [("false", "465"), ("true", "587"), ("true", "2525")]
)
def test_smtp_over_tls_passes(starttls: str, port: str) -> None:
    _passes({"SmtpStartTls": starttls, "SmtpPort": port})


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_plain_smtp_to_loopback_passes(host: str) -> None:
    """As plain http to loopback: it never leaves the host (the local runs' SMTP server)."""
    _passes(
        {
            "SmtpHost": host,
            "AlertFromAddress": "sluice@example.com",
            "AlertRecipients": "ops@example.com",
            "SmtpStartTls": "false",
            "SmtpPort": "2525",
        }
    )


# -- 11: optional VPC -----------------------------------------------------------------------
def test_vpc_subnets_and_security_groups_go_together() -> None:
    alone = _rule_refusal({"VpcSubnetIds": SUBNETS})
    assert alone.rule == "VpcNeedsSubnetsAndSecurityGroups"
    assert "go together" in alone.description
    other = _rule_refusal({"VpcSecurityGroupIds": SECURITY_GROUPS})
    assert other.rule == "VpcNeedsSubnetsAndSecurityGroups"
    stray = _rule_refusal({"VpcSubnetIds": SUBNETS + ",", "VpcSecurityGroupIds": SECURITY_GROUPS})
    assert "empty member" in stray.description
    _passes(VPC)
    _passes({})


@pytest.mark.parametrize(
    ("parameter", "value"),
    [("VpcSubnetIds", "vpc-0123456789abcdef0"), ("VpcSecurityGroupIds", "sg-XYZ")],
)
def test_vpc_ids_must_look_like_ids(parameter: str, value: str) -> None:
    assert _constraint_refusal({parameter: value}).startswith(
        f"Parameter {parameter} failed to satisfy constraint: "
    )


def _functions(cfn: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in cfn["Resources"].items() if r["Type"] == "AWS::Lambda::Function"}


def _decides(cfn: dict[str, Any], role: str, action: str) -> bool:
    """Whether the role's statements allow ``action`` on "*": an explicit Deny wins."""
    statements = [s for s in _role_statements(cfn, role) if "*" in _as_list(s.get("Resource"))]

    def names(statement: dict[str, Any]) -> bool:
        return any(fnmatch.fnmatchcase(action, a) for a in _as_list(statement["Action"]))

    if any(s["Effect"] == "Deny" and names(s) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and names(s) for s in statements)


@pytest.fixture(scope="module")
def with_vpc() -> dict[str, Any]:
    assert VPC.items() <= ALL_ON.items(), "make template-check scans the VPC on"
    return _resolved(ALL_ON)


@pytest.fixture(scope="module")
def without_vpc() -> dict[str, Any]:
    return _resolved({k: v for k, v in ALL_ON.items() if k not in VPC})


def test_with_the_vpc_exactly_the_outbound_functions_are_in_it(with_vpc: dict[str, Any]) -> None:
    functions = _functions(with_vpc)
    in_vpc = {k for k, r in functions.items() if "VpcConfig" in r["Properties"]}
    assert in_vpc == VPC_FUNCTIONS
    for logical_id in in_vpc:
        assert functions[logical_id]["Properties"]["VpcConfig"] == {
            "SubnetIds": {"Ref": "VpcSubnetIds"},
            "SecurityGroupIds": {"Ref": "VpcSecurityGroupIds"},
        }


def test_a_function_in_the_vpc_may_manage_its_network_interfaces(
    with_vpc: dict[str, Any],
) -> None:
    for logical_id in VPC_FUNCTIONS:
        role = _role_of(with_vpc, logical_id)
        for action in VPC_NETWORK_INTERFACE_ACTIONS:
            assert _decides(with_vpc, role, action), f"{logical_id}: {action}"


def test_without_the_vpc_no_function_is_in_one_nor_may_create_interfaces(
    without_vpc: dict[str, Any],
) -> None:
    functions = _functions(without_vpc)
    assert set(functions) >= VPC_FUNCTIONS
    assert not any("VpcConfig" in r["Properties"] for r in functions.values())
    for logical_id in functions:
        role = _role_of(without_vpc, logical_id)
        assert not _decides(without_vpc, role, "ec2:CreateNetworkInterface"), logical_id


# -- 5: grants no wider than what is used ---------------------------------------------------
def _allow_statements(cfn: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return [s for s in _role_statements(cfn, role) if s["Effect"] == "Allow"]


def test_object_reads_are_scoped_to_the_key_prefix() -> None:
    cfn = _resolved({**ALL_ON, "ObjectKeyPrefix": "incoming/"})
    s3_grants = [
        (k, s)
        for k, r in cfn["Resources"].items()
        if r["Type"] == "AWS::IAM::Role"
        for s in _allow_statements(cfn, k)
        if any(a.startswith("s3:") for a in _as_list(s["Action"]))
    ]
    # ProcessObject is the only role that touches S3: it reads objects and may tell a missing
    # one from a denied one (ListBucket on the bucket, see template.yaml "TellMissingFromDenied").
    assert {role for role, _ in s3_grants} == {"ProcessObjectFunctionRole"}
    by_sid = {s["Sid"]: s for _, s in s3_grants}
    assert set(by_sid) == {"ReadObjects", "TellMissingFromDenied"}
    assert by_sid["ReadObjects"]["Action"] == ["s3:GetObject", "s3:GetObjectVersion"]
    [arn, _] = by_sid["ReadObjects"]["Resource"]["Fn::Sub"]
    assert arn.endswith("/${ObjectKeyPrefix}*"), arn
    assert by_sid["TellMissingFromDenied"]["Action"] == "s3:ListBucket"
    [bucket_arn, _] = by_sid["TellMissingFromDenied"]["Resource"]["Fn::Sub"]
    assert "/" not in bucket_arn.removeprefix("arn:${AWS::Partition}:s3:::")


def test_reads_and_deliveries_filter_the_same_prefix() -> None:
    """The EventBridge rule delivers keys starting with ObjectKeyPrefix; the role reads those."""
    rule = _template()["Resources"]["ObjectCreatedRule"]["Properties"]["EventPattern"]
    [key_filter] = rule["detail"]["object"]["key"]
    assert json.dumps(key_filter["wildcard"]).startswith('{"Fn::Sub": "${ObjectKeyPrefix}*')


def test_the_stream_function_holds_no_kinesis_action_it_never_uses() -> None:
    """What Lambda's Kinesis mapping uses
    (sluice_local.emulator.iam.aws_calls.STREAM_MAPPING_ACTIONS, plus DescribeStreamSummary of AWS's
    poller); not SubscribeToShard (enhanced fan-out only) nor ListStreams (cannot be scoped to the
    stream)."""
    cfn = _resolved(ALL_ON)
    role = _role_of(cfn, "ProcessStreamFunction")
    kinesis = {
        action
        for s in _allow_statements(cfn, role)
        for action in _as_list(s["Action"])
        if action.startswith("kinesis:")
    }
    assert kinesis == {*STREAM_MAPPING_ACTIONS, "kinesis:DescribeStreamSummary"}
