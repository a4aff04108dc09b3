"""A key outside ObjectKeyPrefix: refused before any S3 call, with a reason that names the prefix.

ProcessObject's role may read only ``<bucket>/<ObjectKeyPrefix>*``, so S3 would refuse such a key
anyway; its AccessDenied reason ("grant s3:GetObject") would send an operator the wrong way.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from downstream import HttpDownstream, RetryPolicy
from key_prefix import KeyPrefix
from object_processor import process_object
from sluice_common.errors import AccessDenied, ObjectNotFound
from sluice_common.events import SOURCE_EVENTBRIDGE, ObjectRef
from sluice_local.handlers import Handler
from sluice_local.servers.downstream import DownstreamServer

EVENTS = Path(__file__).resolve().parents[3] / "events"
BUCKET = "sluice-demo-bucket"
POLICY = RetryPolicy(max_attempts=3, base_s=0.01, cap_s=0.05)
CSV = b"id,name\n1,ada\n2,grace\n"
OUTSIDE = (
    "s3://sluice-demo-bucket/elsewhere/payroll.csv is outside ObjectKeyPrefix 'incoming/':"
    " this pipeline reads only keys under it (its role may not read others); upload the object"
    " under the prefix, or send it to a pipeline whose ObjectKeyPrefix covers it"
)


class UntouchedS3:
    """An S3 client that records what it is asked, and answers nothing."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.asked.append(name)
        raise AssertionError(f"S3 was asked {name}")


def run(s3: Any, api: DownstreamServer, ref: ObjectRef, prefix: str) -> Any:
    return process_object(
        s3,
        HttpDownstream(api.url, 2.0),
        ref,
        POLICY,
        rng=random.Random(1),
        key_prefix=KeyPrefix(prefix),
    )


def test_a_key_outside_the_prefix_is_access_denied_without_asking_s3(
    api: DownstreamServer,
) -> None:
    s3 = UntouchedS3()
    with pytest.raises(AccessDenied) as denied:
        run(s3, api, ObjectRef(BUCKET, "elsewhere/payroll.csv"), "incoming/")
    assert str(denied.value) == OUTSIDE
    assert s3.asked == []
    assert api.requests == []


def test_the_handler_refuses_a_key_outside_object_key_prefix_before_s3(
    fresh_handler: Callable[[], Handler],
    api: DownstreamServer,
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s3 = UntouchedS3()
    real_client = boto3.client
    monkeypatch.setattr(
        boto3, "client", lambda name, *a, **k: s3 if name == "s3" else real_client(name, *a, **k)
    )
    monkeypatch.setenv("DOWNSTREAM_API_URL", api.url)
    monkeypatch.setenv("OBJECT_KEY_PREFIX", "incoming/")
    monkeypatch.setenv("DOWNSTREAM_TIMEOUT_SECONDS", "5")  # the default, 35 s, outlasts the context
    event = {"s3_details": {"bucket": BUCKET, "key": "elsewhere/payroll.csv"}}
    with pytest.raises(AccessDenied) as denied:
        fresh_handler()(event, lambda_context)
    assert str(denied.value) == OUTSIDE
    assert s3.asked == []
    assert api.requests == []


@pytest.mark.parametrize(
    ("name", "rows_sent"),
    [
        ("process_object_s3_details.json", 2),
        ("process_object_eventbridge.json", 2),
        ("process_object_missing_object.json", None),
    ],
)
def test_the_sample_events_pass_a_prefix_that_covers_their_keys(
    name: str,
    rows_sent: int | None,
    fresh_handler: Callable[[], Handler],
    api: DownstreamServer,
    s3: Any,
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`sam local invoke -e events/<name>` with ObjectKeyPrefix=incoming/ (the samples' keys)."""
    sample = json.loads((EVENTS / name).read_text())
    monkeypatch.setenv("DOWNSTREAM_API_URL", api.url)
    monkeypatch.setenv("OBJECT_KEY_PREFIX", "incoming/")
    monkeypatch.setenv("DOWNSTREAM_TIMEOUT_SECONDS", "5")  # the default, 35 s, outlasts the context
    if rows_sent is None:  # the object is not there: S3 was asked
        with pytest.raises(ObjectNotFound):
            fresh_handler()(sample, lambda_context)
        return
    details = sample.get("s3_details") or sample["detail"]["object"]
    s3.put_object(Bucket=BUCKET, Key=details["key"], Body=CSV)
    assert fresh_handler()(sample, lambda_context)["rows_sent"] == rows_sent


def test_a_key_under_the_prefix_is_read(s3: Any, api: DownstreamServer) -> None:
    s3.put_object(Bucket=BUCKET, Key="incoming/orders.csv", Body=CSV)
    summary = run(s3, api, ObjectRef(BUCKET, "incoming/orders.csv"), "incoming/")
    assert (summary.key, summary.rows_sent) == ("incoming/orders.csv", 2)


def test_an_empty_prefix_reads_every_key(s3: Any, api: DownstreamServer) -> None:
    s3.put_object(Bucket=BUCKET, Key="elsewhere/payroll.csv", Body=CSV)
    summary = run(s3, api, ObjectRef(BUCKET, "elsewhere/payroll.csv"), "")
    assert summary.rows_sent == 2


def test_an_iam_refusal_under_the_prefix_keeps_its_grant_hint(api: DownstreamServer) -> None:
    """Under the prefix, S3's AccessDenied means the role lacks the grant (or the KMS key)."""
    client = boto3.client("s3", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_client_error("head_object", "403", "from S3", http_status_code=403)
        with pytest.raises(AccessDenied, match=re.escape("grant s3:GetObject")):
            run(client, api, ObjectRef(BUCKET, "incoming/orders.csv"), "incoming/")
        stub.assert_no_pending_responses()


def test_an_eventbridge_key_is_read_in_the_form_under_the_prefix(
    s3: Any, api: DownstreamServer
) -> None:
    """Raw "in+coming/..." is outside "in coming/" (S3 would refuse it); its decoded form is
    not, and only that one is asked for."""
    s3.put_object(Bucket=BUCKET, Key="in coming/red flower.csv", Body=CSV)
    asked: list[str] = []
    s3.meta.events.register(
        "before-parameter-build.s3.HeadObject", lambda params, **_: asked.append(params["Key"])
    )
    ref = ObjectRef(BUCKET, "in+coming/red+flower.csv", source=SOURCE_EVENTBRIDGE)
    summary = run(s3, api, ref, "in coming/")
    assert (summary.key, summary.rows_sent) == ("in coming/red flower.csv", 2)
    assert asked == ["in coming/red flower.csv"]


@pytest.mark.parametrize(
    ("prefix", "key", "covered"),
    [
        ("", "anything/at/all.csv", True),
        ("incoming/", "incoming/a.csv", True),
        ("incoming/", "incoming/deep/er/a.csv", True),
        ("incoming/", "incoming/", True),
        ("incoming/", "Incoming/a.csv", False),  # IAM matches S3 ARNs case-sensitively
        ("incoming/", "incomingx/a.csv", False),
        ("incoming/", "elsewhere/incoming/a.csv", False),
        ("incoming/", "incoming", False),
        # IAM wildcards (IAM User Guide, "Using wildcards in resource ARNs"): '*' any run of
        # characters, '/' and none included; '?' exactly one character.
        ("in*/", "in/a.csv", True),
        ("in*/", "incoming/deep/a.csv", True),
        ("in*/", "in.csv", False),
        ("in?oming/", "inXoming/a.csv", True),
        ("in?oming/", "incoming/a.csv", True),
        ("in?oming/", "inoming/a.csv", False),
        ("in?oming/", "inXXoming/a.csv", False),
        # Everything else is literal: regex characters included.
        ("a.b/", "a.b/x.csv", True),
        ("a.b/", "aXb/x.csv", False),
        ("a+b[1]/", "a+b[1]/x.csv", True),
        ("a+b[1]/", "aab1/x.csv", False),
        ("incoming/", "incoming/line\nbreak.csv", True),
    ],
)
def test_the_prefix_covers_what_iam_allows(prefix: str, key: str, covered: bool) -> None:
    assert KeyPrefix(prefix).covers(key) is covered
