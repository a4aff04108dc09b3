"""ProcessObject's code root and the common layer on sys.path, as Lambda lays them out."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from sluice_local.servers.downstream import DownstreamServer
from testkit.fakes import FakeClock, Sleeps
from testkit.functions import function_under_test

fresh_handler = function_under_test("process_object")


@pytest.fixture
def api() -> Iterator[DownstreamServer]:
    with DownstreamServer(seed=7) as server:
        yield server


@pytest.fixture
def s3() -> Iterator[Any]:
    import boto3
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="sluice-demo-bucket")
        yield client


# -- resumable processing: a checkpoint table, counting wrappers, a fake clock and downstream --

CHECKPOINT_TABLE = "sluice-checkpoints"


@pytest.fixture
def checkpoint_table(s3: Any) -> str:
    """The checkpoint table as the template declares it (HASH ``object``), in the same moto
    account as ``s3``."""
    import boto3

    boto3.client("dynamodb", region_name="us-east-1").create_table(
        TableName=CHECKPOINT_TABLE,
        AttributeDefinitions=[{"AttributeName": "object", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "object", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return CHECKPOINT_TABLE


class Counting:
    """A boto3 client whose calls are counted (by operation) and recorded; everything else,
    ``exceptions`` included, is the client's own."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def count(self, operation: str) -> int:
        return sum(1 for name, _ in self.calls if name == operation)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name == "exceptions" or not callable(attribute):
            return attribute

        def call(**params: Any) -> Any:
            self.calls.append((name, params))
            return attribute(**params)

        return call


class CountedBody:
    """A GetObject body that adds the bytes read from it to its client's total."""

    def __init__(self, body: Any, s3: ReadCountingS3) -> None:
        self._body = body
        self._s3 = s3

    def read(self, amount: int | None = None) -> bytes:
        data: bytes = self._body.read(amount)
        self._s3.bytes_read += len(data)
        return data

    def close(self) -> None:
        self._body.close()


class ReadCountingS3(Counting):
    """An S3 client that also counts the body bytes its GetObject answers were read for."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self.bytes_read = 0

    def gets(self) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == "get_object"]

    def get_object(self, **params: Any) -> Any:
        self.calls.append(("get_object", params))
        response = self._client.get_object(**params)
        response["Body"] = CountedBody(response["Body"], self)
        return response


@dataclass
class Sent:
    row: int
    key: str  # the Idempotency-Key
    headers: dict[str, str]
    body: dict[str, Any]
    status: int


class FakeApi:
    """A downstream in-process: answers from ``script`` (a status, or ``(status, retry_after)``),
    then 200; records every request; each request takes ``request_timeout_s`` of ``clock``."""

    def __init__(self, clock: FakeClock | None = None, request_timeout_s: float = 1.0) -> None:
        self.clock = clock
        self.request_timeout_s = request_timeout_s
        self.script: deque[int | tuple[int, float]] = deque()
        self.requests: list[Sent] = []
        self.answer: Callable[[int], int] | None = None  # status by row, after the script
        self.after: Callable[[Sent], None] | None = None  # called once a request is answered

    def post(self, body: bytes, headers: Mapping[str, str]) -> Any:
        from downstream import DownstreamResponse

        data = json.loads(body)
        if self.script:
            answer = self.script.popleft()
        else:
            answer = self.answer(data["row"]) if self.answer else 200
        status, retry_after = answer if isinstance(answer, tuple) else (answer, None)
        sent = Sent(data["row"], headers["Idempotency-Key"], dict(headers), data, status)
        self.requests.append(sent)
        if self.clock is not None:
            self.clock.advance(self.request_timeout_s)
        if self.after is not None:
            self.after(sent)
        return DownstreamResponse(status, retry_after)

    def rows(self) -> list[int]:
        """The rows accepted, in order."""
        return [r.row for r in self.requests if 200 <= r.status < 300]

    def all_rows(self) -> list[int]:
        return [r.row for r in self.requests]


class World:
    """Moto S3 (bytes counted) and DynamoDB (calls counted), the checkpoint table, a fake clock
    and downstream: ``run`` is one invocation of process_object with a new owner."""

    def __init__(self, s3: Any, table: str) -> None:
        import boto3

        from downstream import RetryPolicy

        self.bucket = "sluice-demo-bucket"
        self.raw_s3 = s3
        self.s3 = ReadCountingS3(s3)
        self.db = Counting(boto3.client("dynamodb", region_name="us-east-1"))
        self.table = table
        self.clock = FakeClock()
        self.api = FakeApi(self.clock)
        self.policy = RetryPolicy(max_attempts=3, base_s=0.01, cap_s=10.0)
        self.sleeps = Sleeps()
        self.owners: list[str] = []

    def put(self, key: str, body: bytes) -> dict[str, Any]:
        response: dict[str, Any] = self.raw_s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        return response

    def etag(self, key: str) -> str:
        return str(self.raw_s3.head_object(Bucket=self.bucket, Key=key)["ETag"]).strip('"')

    def store(self, owner: str | None = None, clock: Callable[[], float] | None = None) -> Any:
        from checkpoint import CheckpointStore

        owner = owner or f"request-{uuid.uuid4()}"
        self.owners.append(owner)
        return CheckpointStore(
            self.db, self.table, ttl_days=30, owner=owner, clock=clock or time.time
        )

    def budget(self, requests: float | None = None) -> Any:
        """Time for ``requests`` whole requests on the fake clock (None: plenty)."""
        from object_processor import Budget

        request_s = self.api.request_timeout_s
        return Budget(
            stop_at=self.clock() + (1e9 if requests is None else requests * request_s),
            request_s=request_s,
            lease_until=time.time() + 60,
            clock=self.clock,
        )

    def run(
        self,
        ref: Any,
        *,
        requests: float | None = None,
        rows: int = 1,
        no_progress_limit: int = 5,
        store: Any = None,
        budget: Any = None,
        **kwargs: Any,
    ) -> Any:
        from object_processor import CheckpointPolicy, process_object

        return process_object(
            self.s3,
            self.api,
            ref,
            kwargs.pop("policy", self.policy),
            store=store or self.store(),
            budget=budget or self.budget(requests),
            checkpoints=CheckpointPolicy(
                rows=rows, seconds=3600, no_progress_limit=no_progress_limit
            ),
            sleep=self.sleeps,
            rng=random.Random(1),
            **kwargs,
        )

    def item(self, digest: str) -> dict[str, Any]:
        found: dict[str, Any] = self.db._client.get_item(
            TableName=self.table, Key={"object": {"S": digest}}, ConsistentRead=True
        ).get("Item", {})
        return found

    def items(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.db._client.scan(TableName=self.table)["Items"]
        return found


@pytest.fixture
def world(s3: Any, checkpoint_table: str) -> World:
    return World(s3, checkpoint_table)
