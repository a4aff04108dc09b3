"""The AWS managed policies SAM attaches to the template's roles, as AWS publishes them.

Pinned here so that what the local runtime enforces (and tests/template checks) does not change
with a download, and so that no IAM call is needed (moto's CloudFormation does not attach them to
the roles it creates). A role with any other managed policy fails to load, naming the policy: pin
its document here first.
"""

from __future__ import annotations

from typing import Any

MANAGED_POLICIES: dict[str, list[dict[str, Any]]] = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        }
    ],
    # v3 (AWS Managed Policy Reference, AWSLambdaVPCAccessExecutionRole): SAM attaches it to a
    # function with a VpcConfig, even one an !If leaves out.
    "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole": [
        {
            "Sid": "AWSLambdaVPCAccessExecutionPermissions",
            "Effect": "Allow",
            "Action": [
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "ec2:CreateNetworkInterface",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeSubnets",
                "ec2:DeleteNetworkInterface",
                "ec2:AssignPrivateIpAddresses",
                "ec2:UnassignPrivateIpAddresses",
            ],
            "Resource": "*",
        }
    ],
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess": [
        {
            "Effect": "Allow",
            "Action": [
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
                "xray:GetSamplingRules",
                "xray:GetSamplingTargets",
                "xray:GetSamplingStatisticSummaries",
            ],
            "Resource": "*",
        }
    ],
}


class UnknownManagedPolicy(KeyError):
    """A role attaches a managed policy whose document is not pinned here."""


def managed_policy(arn: str) -> list[dict[str, Any]]:
    """The statements of an AWS managed policy, by ARN (any partition)."""
    key = "arn:aws:iam::aws:policy/" + arn.split(":policy/", 1)[-1]
    if key not in MANAGED_POLICIES:
        raise UnknownManagedPolicy(
            f"no pinned document for the managed policy {arn}: add it to "
            "sluice_local/emulator/iam/managed_policies.py as AWS publishes it"
        )
    return MANAGED_POLICIES[key]
