"""What the `sluice doctor` tests share: clients to stub (botocore Stubber) and AWS's answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "template.yaml"


def client(service: str) -> Any:
    session: Any = boto3.Session(
        region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return session.client(service)


def settings(limit: int, unreserved: int) -> dict[str, Any]:
    return {
        "AccountLimit": {
            "ConcurrentExecutions": limit,
            "UnreservedConcurrentExecutions": unreserved,
            "TotalCodeSize": 80530636800,
            "CodeSizeUnzipped": 262144000,
            "CodeSizeZipped": 52428800,
        },
        "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": 0},
    }


def quota(name: str, value: float, code: str) -> dict[str, Any]:
    return {"ServiceCode": "states", "QuotaCode": code, "QuotaName": name, "Value": value}
