"""A condition on a Number parameter resolves as CloudFormation resolves it: a Ref to a Number
parameter is a string, so `Fn::Equals [Ref N, "0"]` holds when N is 0 (template.yaml's
HasPaymentReservation relies on it)."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from sluice_local.emulator import fixes as emulator_fixes

TEMPLATE = {
    "Parameters": {"Reserve": {"Type": "Number", "Default": 0, "MinValue": 0}},
    "Conditions": {"HasReservation": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Reserve"}, "0"]}]}},
    "Resources": {
        "Always": {"Type": "AWS::SQS::Queue"},
        "Reserved": {"Type": "AWS::SQS::Queue", "Condition": "HasReservation"},
    },
}


@pytest.mark.parametrize(("value", "created"), [("0", False), ("20", True)])
def test_a_number_parameter_equals_its_string_form(value: str, created: bool) -> None:
    emulator_fixes.install()
    with mock_aws():
        cfn = boto3.client("cloudformation", region_name="us-east-1")
        cfn.create_stack(
            StackName="equals",
            TemplateBody=json.dumps(TEMPLATE),
            Parameters=[{"ParameterKey": "Reserve", "ParameterValue": value}],
        )
        queues = boto3.client("sqs", region_name="us-east-1").list_queues().get("QueueUrls", [])
    assert len(queues) == (2 if created else 1)
