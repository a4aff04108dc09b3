"""Issue 17's controls in a strict local run: reads scoped to ObjectKeyPrefix, and functions in
the optional VPC (which Lambda creates only with a role that may manage network interfaces)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sluice_local.emulator.iam.aws_calls import VPC_ROLE_REFUSED
from sluice_local.emulator.iam.model import CreateRefused
from sluice_local.emulator.runtime import LocalPipeline
from sluice_local.jobs.demo import SampleObject, deployed, run_job, sample_objects
from testkit.template_copy import template_copy

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e

VPC = {
    "VpcSubnetIds": "subnet-0123456789abcdef0,subnet-0fedcba9876543210",
    "VpcSecurityGroupIds": "sg-0123456789abcdef0",
}


def _without_the_function_check(resources: dict[str, Any]) -> None:
    """ProcessObject not told ObjectKeyPrefix: only its role's scope keeps other keys out."""
    del resources["ProcessObjectFunction"]["Properties"]["Environment"]["Variables"][
        "OBJECT_KEY_PREFIX"
    ]


@pytest.mark.parametrize("who_refuses", ["function", "role"])
def test_a_message_for_a_key_outside_the_prefix_is_dead_lettered_access_denied(
    who_refuses: str, tmp_path: Path
) -> None:
    """The rule delivers only keys under ObjectKeyPrefix; a message sent or redriven for another
    key of the bucket is refused, not read: by the function before any S3 call, with a reason
    naming the prefix, and by the role when the function's check is taken out."""
    template = ROOT / "template.yaml"
    if who_refuses == "role":
        template = template_copy(tmp_path, _without_the_function_check)
    objects = sample_objects(count=3, rows=2, failing=0)  # under "incoming/"
    crafted = SampleObject("elsewhere/payroll.csv", b"id\n1\n", 0, "AccessDenied")
    overrides = {"ObjectKeyPrefix": "incoming/", "MaxConcurrency": "2", "StaggerSeconds": "0"}
    with deployed(template, overrides, latency_s=0.002) as (pipeline, downstream):

        def send_crafted() -> None:
            details = {"bucket": pipeline.outputs["BucketName"], "key": crafted.key}
            pipeline.client("sqs").send_message(
                QueueUrl=pipeline.outputs["ObjectQueueUrl"],
                MessageBody=json.dumps({"s3_details": details}),
            )

        report = run_job(
            pipeline, downstream, [*objects, crafted], timeout=120, after_upload=send_crafted
        )
        summary = pipeline.iam.summary()
    assert report.unaccounted == []
    assert report.processed == 3
    assert list(report.dead_lettered) == [crafted.key]
    reason = report.dead_lettered[crafted.key]
    assert reason.startswith("AccessDenied:") and crafted.key in reason
    assert all(r.body["key"] != crafted.key for r in downstream.accepted())
    if who_refuses == "function":
        assert "is outside ObjectKeyPrefix 'incoming/'" in reason
        assert "grant s3:GetObject" not in reason
        assert summary["denied"] == []  # S3 was never asked
        return
    assert {(d["principal"], d["action"]) for d in summary["denied"]} == {
        ("ProcessObjectFunctionRole", "s3:GetObject")
    }
    assert all(crafted.key in d["resource"] for d in summary["denied"])


def test_the_outbound_functions_are_created_in_the_vpc() -> None:
    with deployed(ROOT / "template.yaml", VPC) as (pipeline, _):
        lambda_ = pipeline.client("lambda")
        configs = {
            logical_id: lambda_.get_function_configuration(
                FunctionName=pipeline.resources[logical_id]
            ).get("VpcConfig")
            for logical_id in ("ProcessObjectFunction", "PlanBatchFunction")
        }
    assert configs["ProcessObjectFunction"]["SubnetIds"] == VPC["VpcSubnetIds"].split(",")
    assert configs["ProcessObjectFunction"]["SecurityGroupIds"] == [VPC["VpcSecurityGroupIds"]]
    assert not (configs["PlanBatchFunction"] or {}).get("SubnetIds")


def _deny_interfaces_always(resources: dict[str, Any]) -> None:
    """ProcessObject's role denied network interfaces whether or not it is in a VPC."""
    policies = resources["ProcessObjectFunction"]["Properties"]["Policies"]
    for index, policy in enumerate(policies):
        branches = policy.get("Fn::If", []) if isinstance(policy, dict) else []
        if branches and branches[0] == "UseVpc":
            policies[index] = branches[2]
            return
    raise AssertionError("ProcessObjectFunction has no UseVpc policy")


def test_a_vpc_function_whose_role_may_not_create_interfaces_is_not_created(
    tmp_path: Path,
) -> None:
    path = template_copy(tmp_path, _deny_interfaces_always)
    with pytest.raises(CreateRefused) as refused:
        LocalPipeline(path, VPC, time_scale=0.02).start()
    assert str(refused.value).startswith(f"ProcessObjectFunction: {VPC_ROLE_REFUSED}")
    assert "ec2:CreateNetworkInterface on *" in str(refused.value)
    # The same copy deploys outside a VPC: nothing asks for an interface there.
    with LocalPipeline(path, time_scale=0.02):
        pass
