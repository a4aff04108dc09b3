"""Checks on template.yaml and the ASL that need no emulator."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from sluice_local.emulator.iam.aws_calls import LOG_DELIVERY_ACTIONS
from sluice_local.emulator.template import load_and_translate

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = yaml_parse((ROOT / "template.yaml").read_text())
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:downstream-AbCdEf"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def _state_machines() -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in TEMPLATE["Resources"].items()
        if resource["Type"] == "AWS::Serverless::StateMachine"
    }


def test_every_asl_file_is_used_by_a_state_machine() -> None:
    used = {props["DefinitionUri"] for props in _state_machines().values()}
    files = {str(p.relative_to(ROOT)) for p in (ROOT / "statemachine").glob("*.asl.json")}
    assert files == used


@pytest.mark.parametrize("logical_id", sorted(_state_machines()))
def test_asl_placeholders_and_substitutions_match_both_ways(logical_id: str) -> None:
    props = _state_machines()[logical_id]
    text = (ROOT / props["DefinitionUri"]).read_text()
    json.loads(text)  # valid JSON with the placeholders still in it
    placeholders = set(PLACEHOLDER.findall(text))
    substitutions = set(props.get("DefinitionSubstitutions", {}))
    assert placeholders - substitutions == set(), "placeholders without a substitution"
    assert substitutions - placeholders == set(), "substitutions no placeholder uses"


def test_every_lambda_task_retries_transient_lambda_errors() -> None:
    transient = {
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
    }

    def tasks(states: dict[str, Any]) -> Any:
        for name, state in states.items():
            if state.get("Type") == "Task":
                yield name, state
            processor = state.get("ItemProcessor") or state.get("Iterator")
            if processor:
                yield from tasks(processor["States"])

    for props in _state_machines().values():
        definition = json.loads((ROOT / props["DefinitionUri"]).read_text())
        lambda_tasks = [
            (n, s)
            for n, s in tasks(definition["States"])
            if s["Resource"].endswith("lambda:invoke")
        ]
        assert lambda_tasks
        for name, state in lambda_tasks:
            retried = {e for r in state.get("Retry", []) for e in r["ErrorEquals"]}
            assert transient <= retried, f"{name} does not retry {transient - retried}"


def test_every_parameter_is_in_the_readme_configuration_table() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in TEMPLATE["Parameters"] if f"`{name}`" not in readme]
    assert missing == []


def test_every_output_is_in_the_readme_outputs_table() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in TEMPLATE["Outputs"] if f"`{name}`" not in readme]
    assert missing == []


def test_serverless_repo_version_matches_pyproject() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    app = TEMPLATE["Metadata"]["AWS::ServerlessRepo::Application"]
    assert app["SemanticVersion"] == pyproject["project"]["version"]
    assert app["SpdxLicenseId"] == pyproject["project"]["license"]


def test_queue_visibility_covers_six_function_timeouts_by_default() -> None:
    params = TEMPLATE["Parameters"]
    assert (
        params["QueueVisibilityTimeoutSeconds"]["Default"]
        >= 6 * params["FunctionTimeout"]["Default"]
    )


def test_module_names_are_unique_across_functions_and_layers() -> None:
    # Lambda puts every layer on one path; the local runtime shares one process.
    seen: dict[str, Path] = {}
    # functions/ also holds the shared build recipe (function.mk): only its folders are roots.
    folders = [p for p in (ROOT / "functions").iterdir() if p.is_dir()]
    roots = [*folders, *(ROOT / "layers").glob("*/python")]
    for root in roots:
        for module in root.glob("*.py"):
            if module.name == "app.py":
                continue
            assert module.stem not in seen, f"{module} and {seen[module.stem]} share a name"
            seen[module.stem] = module
        for package in (p for p in root.iterdir() if (p / "__init__.py").is_file()):
            assert package.name not in seen, f"{package} clashes with {seen[package.name]}"
            seen[package.name] = package


def _branches(value: Any) -> list[Any]:
    """Both outcomes of a condition: a policy is checked whether or not it is switched on."""
    if isinstance(value, dict) and "Fn::If" in value:
        return [v for branch in value["Fn::If"][1:] for v in _branches(branch)]
    if isinstance(value, dict) and value.get("Ref") == "AWS::NoValue":
        return []
    return [value]


def _policy_statements(cfn: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for logical_id, resource in cfn["Resources"].items():
        props = resource.get("Properties", {})
        policies = [b for p in props.get("Policies", []) for b in _branches(p)]
        documents = [p["PolicyDocument"] for p in policies]
        if "PolicyDocument" in props:
            documents.append(props["PolicyDocument"])
        for document in documents:
            statements = document["Statement"]
            for entry in statements if isinstance(statements, list) else [statements]:
                # A statement that exists under a condition (RedriveOperatorPolicy's payment key).
                found.extend((logical_id, statement) for statement in _branches(entry))
    return found


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {
            "ExistingBucketName": "my-existing-bucket",
            "DownstreamAuthSecretArn": SECRET_ARN,
        },
    ],
    ids=["defaults", "existing-bucket-with-secret"],
)
def test_no_allow_statement_has_a_wildcard_action_or_unscoped_resource(
    overrides: dict[str, str],
) -> None:
    cfn = load_and_translate(ROOT / "template.yaml", overrides).cloudformation
    statements = _policy_statements(cfn)
    assert statements
    # X-Ray trace segments, CloudWatch GetMetricData and a state machine's log delivery setup
    # cannot be scoped to a resource (AWS documents Resource "*" for each).
    unscoped_ok = {
        *LOG_DELIVERY_ACTIONS,
        "cloudwatch:GetMetricData",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "xray:GetSamplingStatisticSummaries",
    }
    for logical_id, statement in statements:
        if statement["Effect"] != "Allow":
            continue
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        assert not any("*" in a for a in actions), f"{logical_id}: wildcard action {actions}"
        resources = statement.get("Resource", [])
        resources = resources if isinstance(resources, list) else [resources]
        if "*" in resources:
            assert set(actions) <= unscoped_ok, f"{logical_id}: {actions} on Resource '*'"


def test_deny_statements_only_enforce_tls_or_keep_functions_out_of_vpcs() -> None:
    cfn = load_and_translate(ROOT / "template.yaml").cloudformation
    denies = [s for _, s in _policy_statements(cfn) if s["Effect"] == "Deny"]
    assert denies
    for statement in denies:
        if statement.get("Sid") == "NoNetworkInterfacesOutsideAVpc":
            # Takes back what SAM's VPC policy grants a function that is in no VPC.
            assert statement["Action"] == [
                "ec2:CreateNetworkInterface",
                "ec2:AssignPrivateIpAddresses",
                "ec2:DescribeSubnets",
            ]
            continue
        assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_created_bucket_is_private_and_encrypted() -> None:
    bucket = TEMPLATE["Resources"]["ObjectBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert bucket["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"]


def test_queues_are_encrypted() -> None:
    queues = {k: r for k, r in TEMPLATE["Resources"].items() if r["Type"] == "AWS::SQS::Queue"}
    assert queues
    for logical_id, queue in queues.items():
        props = queue["Properties"]
        assert props.get("SqsManagedSseEnabled") or props.get("KmsMasterKeyId"), logical_id


def _tls_only(statement: dict[str, Any]) -> bool:
    return (
        statement.get("Effect") == "Deny"
        and statement.get("Principal") == "*"
        and statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    )


# Each kind of resource: the kind of its policy, and the property that lists (Ref) its members.
POLICY_OF = {
    "AWS::SQS::Queue": ("AWS::SQS::QueuePolicy", "Queues"),
    "AWS::SNS::Topic": ("AWS::SNS::TopicPolicy", "Topics"),
}


@pytest.mark.parametrize("kind", POLICY_OF)
def test_every_queue_and_topic_accepts_tls_only(kind: str) -> None:
    policy_kind, listed_in = POLICY_OF[kind]
    resources = TEMPLATE["Resources"]
    members = {k for k, r in resources.items() if r["Type"] == kind}
    assert members
    covered: set[str] = set()
    for policy in (r["Properties"] for r in resources.values() if r["Type"] == policy_kind):
        if any(_tls_only(s) for s in policy["PolicyDocument"]["Statement"]):
            covered |= {m["Ref"] for m in policy[listed_in] if isinstance(m, dict) and "Ref" in m}
    assert members <= covered, sorted(members - covered)


def test_every_log_group_has_retention() -> None:
    groups = [r for r in TEMPLATE["Resources"].values() if r["Type"] == "AWS::Logs::LogGroup"]
    assert groups and all("RetentionInDays" in g["Properties"] for g in groups)


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[re.sub(r"\[.*\]", "", name).lower().replace("_", "-")] = version
    return pins


def test_layer_pins_equal_the_versions_tests_and_the_local_runtime_use() -> None:
    # What runs in Lambda is what the tests ran: same versions as constraints.txt.
    layer = _pins(ROOT / "layers/common/requirements.txt")
    tested = _pins(ROOT / "constraints.txt")
    assert layer
    assert {name: tested.get(name) for name in layer} == layer
    assert "botocore" not in layer and "boto3" not in layer  # the Lambda runtime provides them


def test_every_function_has_a_sample_event_the_readme_shows() -> None:
    readme = (ROOT / "README.md").read_text()
    for logical_id, resource in TEMPLATE["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        folder = Path(resource["Properties"]["CodeUri"]).name
        samples = sorted((ROOT / "events").glob(f"{folder}_*.json"))
        assert samples, f"{logical_id} has no events/{folder}_*.json"
        for sample in samples:
            json.loads(sample.read_text())
        assert f"sam local invoke {logical_id} -e events/{samples[0].name}" in readme


def test_every_log_group_has_retention_and_the_stacks_kms_key() -> None:
    cfn = load_and_translate(ROOT / "template.yaml").cloudformation
    groups = {k: r for k, r in cfn["Resources"].items() if r["Type"] == "AWS::Logs::LogGroup"}
    assert len(groups) >= 4
    for logical_id, group in groups.items():
        props = group["Properties"]
        assert props.get("RetentionInDays"), f"{logical_id} keeps logs forever"
        assert props.get("KmsKeyId") == {"Fn::GetAtt": ["LogsKey", "Arn"]}, logical_id
    key = cfn["Resources"]["LogsKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    [logs] = [s for s in key["KeyPolicy"]["Statement"] if "Service" in s["Principal"]]
    assert not any("*" in action for action in logs["Action"])
    assert "kms:EncryptionContext:aws:logs:arn" in logs["Condition"]["ArnLike"]


@pytest.mark.parametrize(
    "extra",
    ["", "arn:aws:sns:us-east-1:123456789012:pager,arn:aws:sns:us-east-1:123456789012:chat"],
)
def test_every_alarm_notifies_the_alarm_topic_and_any_extra_actions(extra: str) -> None:
    cfn = load_and_translate(ROOT / "template.yaml", {"AlarmActionArns": extra}).cloudformation
    alarms = {k: r for k, r in cfn["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    watched = {
        str(d["Value"])
        for a in alarms.values()
        for d in a["Properties"].get("Dimensions", [])
        + [
            dim
            for m in a["Properties"].get("Metrics", [])
            for dim in m.get("MetricStat", {}).get("Metric", {}).get("Dimensions", [])
        ]
    }
    for component in (
        "ObjectQueue",
        "ObjectDeadLetterQueue",
        "ProcessObjectFunction",
        "PlanBatchFunction",
        "DrainLeaseFunction",
        "DrainStateMachine",
    ):
        assert any(component in value for value in watched), f"no alarm watches {component}"
    for logical_id, alarm in alarms.items():
        actions = alarm["Properties"]["AlarmActions"]
        assert actions["Fn::If"][0] == "HasExtraAlarmActions", logical_id
        assert actions["Fn::If"][2] == [{"Ref": "AlarmTopic"}], logical_id
    topic = cfn["Resources"]["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"]  # encrypted at rest
