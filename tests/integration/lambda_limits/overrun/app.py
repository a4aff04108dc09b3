"""Sleeps for event["sleep_s"], then tries to reach the outside world (HTTP and S3) as a
stubborn handler would, whatever is raised at it."""

from __future__ import annotations

import os
import time
from typing import Any

import boto3
import urllib3
from aws_lambda_powertools import Logger

logger = Logger()  # print() would bypass the function's log under pytest's capture


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    remaining_ms = context.get_remaining_time_in_millis()
    time.sleep(float(event.get("sleep_s", 0)))
    logger.info("still running after the sleep")
    if not event.get("act", True):
        return {"remaining_ms_at_start": remaining_ms}
    outcomes = []
    for name, act in (("http", _post), ("s3", _put)):
        try:
            act()
            outcomes.append(f"{name}: sent")
        except BaseException as exc:  # keeps trying, to prove nothing gets out
            outcomes.append(f"{name}: {type(exc).__name__}")
    logger.info("outcomes", extra={"outcomes": outcomes})
    return {"remaining_ms_at_start": remaining_ms, "outcomes": outcomes}


def _post() -> None:
    urllib3.PoolManager(retries=False).request(
        "POST", os.environ["TARGET_URL"], body=b'{"late": true}', timeout=2
    )


def _put() -> None:
    boto3.client("s3").put_object(Bucket=os.environ["BUCKET"], Key="late.txt", Body=b"late")
