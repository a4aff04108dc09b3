"""The `sluice` command: every subcommand is there with an example in its --help, finds the stack
through --stack-name, and reports bad input (unknown stack, missing output, no credentials,
unreachable endpoint, a count of 0) with a clear message and a non-zero exit.

The ``sluice_stack`` fixture (moto) is shared with test_simulate and test_monitor: the stack's
resources are made through the service APIs and named by a CloudFormation stack's Outputs, as
template.yaml names them.
"""

from __future__ import annotations

import io
import json
import socket
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sluice_ops import main as sluice
from sluice_ops.context import StackContext

REGION = "us-east-1"
SUBCOMMANDS = ["simulate", "monitor", "perf", "redrive", "dashboard", "stream", "doctor"]


@dataclass
class FakeStack:
    name: str
    outputs: dict[str, str]
    parameters: dict[str, str]

    def context(self) -> StackContext:
        session = boto3.Session(region_name=REGION)
        return StackContext(session, self.name, REGION, None, self.outputs, self.parameters)

    def client(self, service: str) -> Any:
        session: Any = boto3.Session(region_name=REGION)
        return session.client(service)


def deploy_fake_stack(
    name: str = "sluice",
    *,
    prefix: str = "incoming/",
    suffix: str = ".csv",
    versioned: bool = False,
    outputs: bool = True,
) -> FakeStack:
    """Inside mock_aws: the resources a Sluice stack's outputs name, and the stack naming them."""
    s3, sqs = boto3.client("s3", region_name=REGION), boto3.client("sqs", region_name=REGION)
    bucket = f"{name}-bucket"
    s3.create_bucket(Bucket=bucket)
    if versioned:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})

    def queue(queue_name: str) -> tuple[str, str]:
        url = sqs.create_queue(QueueName=f"{name}-{queue_name}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
        return url, arn["QueueArn"]

    object_url, object_arn = queue("ObjectQueue")
    priority_url, priority_arn = queue("PriorityQueue")
    dlq_url, dlq_arn = queue("ObjectDeadLetterQueue")
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=f"{name}-LeaseTable",
        KeySchema=[{"AttributeName": "lease", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "lease", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    role = boto3.client("iam", region_name=REGION).create_role(
        RoleName=f"{name}-role", AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    machine = boto3.client("stepfunctions", region_name=REGION).create_state_machine(
        name=f"{name}-drain",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn=role,
        type="EXPRESS",
    )["stateMachineArn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event\n")
    lam = boto3.client("lambda", region_name=REGION)
    function = f"{name}-ProcessObjectFunction"
    lam.create_function(
        FunctionName=function,
        Runtime="python3.13",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": code.getvalue()},
    )
    lam.put_function_concurrency(FunctionName=function, ReservedConcurrentExecutions=5)
    values = {
        "BucketName": bucket,
        "ObjectQueueUrl": object_url,
        "ObjectQueueArn": object_arn,
        "PriorityQueueUrl": priority_url,
        "PriorityQueueArn": priority_arn,
        "ObjectDeadLetterQueueUrl": dlq_url,
        "ObjectDeadLetterQueueArn": dlq_arn,
        "LeaseTableName": f"{name}-LeaseTable",
        "DrainStateMachineArn": machine,
        "ProcessObjectFunctionName": function,
    }
    template = {
        "Parameters": {
            "ObjectKeyPrefix": {"Type": "String", "Default": ""},
            "ObjectKeySuffix": {"Type": "String", "Default": ".csv"},
        },
        # A queue under its template logical id, for `sluice dashboard` (ListStackResources).
        "Resources": {"Marker": {"Type": "AWS::SNS::Topic"}}
        | ({"ObjectQueue": {"Type": "AWS::SQS::Queue"}} if outputs else {}),
        "Outputs": {k: {"Value": v} for k, v in values.items()} if outputs else {},
    }
    parameters = {"ObjectKeyPrefix": prefix, "ObjectKeySuffix": suffix}
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName=name,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
    )
    return FakeStack(name, values if outputs else {}, parameters)


@pytest.fixture
def sluice_stack() -> Iterator[FakeStack]:
    with mock_aws():
        yield deploy_fake_stack()


def run_sluice(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        status = sluice.main(list(argv))
    except SystemExit as exc:  # argparse: --help (0) and usage errors (2)
        status = int(exc.code or 0)
    out, err = capsys.readouterr()
    return status, out, err


# One harmless invocation of each subcommand, given the stack and AWS options in front.
MINIMAL = {
    "simulate": ["--objects", "1", "--no-progress"],
    "monitor": ["--once", "--json"],
    "perf": ["--objects", "1"],
    "redrive": ["list"],
    "dashboard": [],
    "stream": ["produce", "--events", "1"],
    "doctor": [],
}


# -- the command's shape -------------------------------------------------------------------------
@pytest.mark.parametrize("subcommand", SUBCOMMANDS)
def test_every_subcommand_shows_an_example_and_the_aws_options_in_its_help(
    capsys: pytest.CaptureFixture[str], subcommand: str
) -> None:
    status, out, _ = run_sluice(capsys, subcommand, "--help")
    assert status == 0
    assert "examples:" in out
    assert f"sluice {subcommand}" in out.split("examples:", 1)[1]
    for option in ("--stack-name", "--region", "--profile", "--endpoint-url"):
        assert option in out


def test_the_top_level_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_sluice(capsys, "--help")
    assert status == 0
    for subcommand in SUBCOMMANDS:
        assert f"    {subcommand}" in out


@pytest.mark.parametrize(
    ("module", "replacement"),
    [("cli", "sluice redrive"), ("dashboard", "sluice dashboard"), ("stream", "sluice stream")],
)
def test_the_old_commands_say_they_are_aliases_for_one_release(
    capsys: pytest.CaptureFixture[str], module: str, replacement: str
) -> None:
    tool = __import__(f"sluice_ops.{module}", fromlist=["main"])
    with pytest.raises(SystemExit) as exit_info:
        tool.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert replacement in out
    assert "one release" in out


def test_the_console_script_is_declared() -> None:
    pyproject = (Path(__file__).resolve().parents[3] / "pyproject.toml").read_text()
    assert 'sluice = "sluice_ops.main:main"' in pyproject


# -- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize("subcommand", SUBCOMMANDS)
def test_an_unknown_stack_is_named_with_a_non_zero_exit(
    capsys: pytest.CaptureFixture[str], subcommand: str
) -> None:
    with mock_aws():
        status, _, err = run_sluice(
            capsys, subcommand, "--stack-name", "no-such-stack", *MINIMAL[subcommand]
        )
    assert status != 0
    assert f"sluice {subcommand}: error:" in err
    assert "no-such-stack" in err and "not found" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("subcommand", "missing"),
    [
        ("simulate", "BucketName"),
        ("monitor", "ObjectQueueUrl"),
        ("perf", "has no output"),  # which one it checks first is perf's choice
        ("redrive", "ObjectDeadLetterQueueUrl"),
        ("dashboard", "ObjectQueue"),
        ("stream", "EventStreamName"),
    ],
)
def test_a_missing_output_is_named_with_a_non_zero_exit(
    capsys: pytest.CaptureFixture[str], subcommand: str, missing: str
) -> None:
    with mock_aws():
        deploy_fake_stack("bare", outputs=False)
        status, _, err = run_sluice(
            capsys, subcommand, "--stack-name", "bare", *MINIMAL[subcommand]
        )
    assert status != 0
    assert f"sluice {subcommand}: error:" in err
    assert missing in err and "bare" in err
    assert "Traceback" not in err


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SECURITY_TOKEN",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata probe


@pytest.mark.parametrize("subcommand", SUBCOMMANDS)
@pytest.mark.usefixtures("no_credentials")
def test_missing_credentials_say_how_to_configure_them(
    capsys: pytest.CaptureFixture[str], subcommand: str
) -> None:
    status, _, err = run_sluice(capsys, subcommand, *MINIMAL[subcommand])
    assert status != 0
    assert f"sluice {subcommand}: error:" in err
    assert "no AWS credentials" in err and "aws configure" in err


@pytest.mark.usefixtures("no_credentials")
def test_an_unknown_profile_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run_sluice(capsys, "monitor", "--profile", "nobody", "--once")
    assert status == 2
    assert "profile 'nobody' not found" in err


def test_no_region_says_how_to_give_one(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    status, _, err = run_sluice(capsys, "monitor", "--once")
    assert status == 2
    assert "no AWS Region" in err and "--region" in err


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("subcommand", SUBCOMMANDS)
def test_an_unreachable_endpoint_is_named(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, subcommand: str
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # refused at once: no retries to wait for
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    status, _, err = run_sluice(
        capsys, subcommand, "--endpoint-url", endpoint, *MINIMAL[subcommand]
    )
    assert status != 0
    assert f"sluice {subcommand}: error:" in err
    assert f"cannot reach endpoint {endpoint}" in err


def test_aws_endpoint_url_in_the_environment_is_used_like_endpoint_url(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    status, _, err = run_sluice(capsys, "monitor", "--once")
    assert status == 2
    assert f"cannot reach endpoint {endpoint}" in err


@pytest.mark.parametrize("subcommand", ["simulate", "perf"])
def test_an_object_count_of_zero_is_refused_before_any_aws_call(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, subcommand: str
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    # An unreachable endpoint: had the command called AWS first, it would say so instead.
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    status, _, err = run_sluice(capsys, subcommand, "--endpoint-url", endpoint, "--objects", "0")
    assert status == 2
    assert f"sluice {subcommand}: error:" in err
    assert "--objects" in err and "at least 1" in err


# -- the wrapped tools through `sluice` ----------------------------------------------------------
def test_redrive_lists_the_stacks_dead_letters(
    capsys: pytest.CaptureFixture[str], sluice_stack: FakeStack
) -> None:
    sqs = sluice_stack.client("sqs")
    sqs.send_message(
        QueueUrl=sluice_stack.outputs["ObjectDeadLetterQueueUrl"],
        MessageBody=json.dumps({"s3_details": {"bucket": "b", "key": "k.csv"}}),
        MessageAttributes={"sluice-error": {"DataType": "String", "StringValue": "EmptyObject"}},
    )
    status, out, _ = run_sluice(capsys, "redrive", "--stack-name", "sluice", "list")
    assert status == 0
    assert "1 dead letter(s)" in out and "EmptyObject" in out


@pytest.mark.parametrize(
    ("argv", "enable"),
    [
        (("redrive", "--pipeline", "payments", "list"), "EnablePaymentPipeline=true"),
        (("stream", "produce", "--events", "1"), "EnableStreamPipeline=true"),
    ],
    ids=["redrive-payments", "stream"],
)
def test_a_command_on_a_stack_without_its_optional_pipeline_says_how_to_enable_it(
    capsys: pytest.CaptureFixture[str], sluice_stack: FakeStack, argv: tuple[str, ...], enable: str
) -> None:
    status, _, err = run_sluice(capsys, *argv)
    assert status == 2
    assert enable in err


def test_dashboard_writes_the_stacks_dashboard(
    capsys: pytest.CaptureFixture[str], sluice_stack: FakeStack, tmp_path: Path
) -> None:
    target = tmp_path / "dashboard.json"
    status, _, err = run_sluice(capsys, "dashboard", "--output", str(target))
    assert status == 0, err
    dashboard = json.loads(target.read_text())
    assert dashboard["dashboardMetadata"]["name"] == "Sluice: sluice"
    assert "written to" in err


def test_stream_puts_events_on_the_stacks_stream(
    capsys: pytest.CaptureFixture[str], sluice_stack: FakeStack
) -> None:
    kinesis = sluice_stack.client("kinesis")
    kinesis.create_stream(StreamName="events", ShardCount=1)
    status, out, _ = run_sluice(capsys, "stream", "--stream-name", "events", "produce",
                                "--events", "3", "--burst")  # fmt: skip
    assert status == 0
    assert "put 3 events on events" in out
