"""A Kinesis event source mapping, driven locally.

moto's own Kinesis mapping invokes the function once per PutRecord, with one record, and knows
nothing of batches, retries, partial batch responses, bisection, record age or on-failure
destinations. The runtime turns it off and runs a :class:`StreamMappingRunner` instead, which does
for each shard what Lambda's poller does for an ``AWS::Lambda::EventSourceMapping`` on a stream:

- read from ``StartingPosition``, batches of up to ``BatchSize`` records, waiting at most
  ``MaximumBatchingWindowInSeconds`` (time-scaled) to fill one;
- invoke the function synchronously with ``{"Records": [...]}`` as Lambda shapes them;
- ``ReportBatchItemFailures``: a response naming records checkpoints before the first of them and
  retries from it (the records before it are never sent again); an empty list, or none, is success;
- a function error retries the batch, or, with ``BisectBatchOnFunctionError``, splits it in two
  halves and retries each (splitting does not use up retries);
- after ``MaximumRetryAttempts`` retries (a range that still fails is split first when bisecting)
  or past ``MaximumRecordAgeInSeconds``, the range goes to the on-failure destination as Lambda's
  record with ``KinesisBatchInfo`` (shard, first and last sequence number), and the shard moves on.

One batch at a time per shard: ``ParallelizationFactor`` is not emulated (it changes throughput,
not what is processed or its order per partition key).
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sluice_local.emulator import timescale
from sluice_local.sources.batching import BatchingConfig


@dataclass(frozen=True)
class StreamMappingConfig(BatchingConfig):
    """What the runner needs from an ``AWS::Lambda::EventSourceMapping`` (resolved properties)."""

    function_name: str
    function_arn: str
    stream_name: str
    stream_arn: str
    starting_position: str
    bisect: bool
    max_retries: int
    max_record_age_s: float
    report_failures: bool
    on_failure_queue_url: str | None

    @classmethod
    def from_properties(
        cls,
        logical_id: str,
        props: dict[str, Any],
        *,
        function_arn: str,
        on_failure_queue_url: str | None,
        region: str,
    ) -> StreamMappingConfig:
        stream_arn = str(props["EventSourceArn"])
        if ":kinesis:" not in stream_arn:
            raise ValueError(f"{logical_id}: not a Kinesis mapping ({stream_arn})")
        return cls(
            logical_id=logical_id,
            function_name=str(props["FunctionName"]),
            function_arn=function_arn,
            stream_name=stream_arn.rsplit("/", 1)[-1],
            stream_arn=stream_arn,
            **cls.batching(props, 100),
            starting_position=str(props.get("StartingPosition", "LATEST")),
            bisect=str(props.get("BisectBatchOnFunctionError", False)).lower() == "true",
            max_retries=int(props.get("MaximumRetryAttempts", -1)),
            max_record_age_s=float(props.get("MaximumRecordAgeInSeconds", -1)),
            report_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
            on_failure_queue_url=on_failure_queue_url,
            region=region,
        )


@dataclass
class StreamStats:
    invocations: int = 0
    records_read: int = 0
    function_errors: int = 0
    partial_failures: int = 0
    retries: int = 0
    bisections: int = 0
    dead_lettered_ranges: int = 0
    dead_lettered_records: int = 0
    batch_sizes: list[int] = field(default_factory=list)


def lambda_record(
    record: dict[str, Any], shard_id: str, config: StreamMappingConfig
) -> dict[str, Any]:
    """One Kinesis record as Lambda hands it to the function."""
    arrived = record["ApproximateArrivalTimestamp"]
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": record["PartitionKey"],
            "sequenceNumber": record["SequenceNumber"],
            "data": base64.b64encode(record["Data"]).decode(),
            "approximateArrivalTimestamp": arrived.timestamp(),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{record['SequenceNumber']}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": f"arn:aws:iam::123456789012:role/{config.function_name}-role",
        "awsRegion": config.region,
        "eventSourceARN": config.stream_arn,
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class StreamMappingRunner:
    """One thread per shard of the mapping's stream, until stopped."""

    def __init__(
        self,
        config: StreamMappingConfig,
        kinesis: Any,
        lambda_client: Any,
        sqs: Any,
        stop: threading.Event,
    ) -> None:
        self.config = config
        self.kinesis = kinesis
        self.lambda_client = lambda_client
        self.sqs = sqs
        self.stop = stop
        self.stats = StreamStats()
        self._lock = threading.Lock()
        self._idle: dict[str, bool] = {}
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        shards = self.kinesis.list_shards(StreamName=self.config.stream_name)["Shards"]
        for shard in shards:
            shard_id = shard["ShardId"]
            iterator = self.kinesis.get_shard_iterator(
                StreamName=self.config.stream_name,
                ShardId=shard_id,
                ShardIteratorType=self.config.starting_position,
            )["ShardIterator"]
            self._idle[shard_id] = False
            thread = threading.Thread(
                target=self._run_shard,
                args=(shard_id, iterator),
                name=f"sluice-stream-{self.config.logical_id}-{shard_id}",
                daemon=True,
            )
            self._threads.append(thread)
            thread.start()

    def join(self, timeout: float) -> None:
        for thread in self._threads:
            thread.join(timeout)

    @property
    def caught_up(self) -> bool:
        """Every shard read to its end, nothing buffered or in process."""
        with self._lock:
            return all(self._idle.values())

    # -- reading ---------------------------------------------------------------------------
    def _run_shard(self, shard_id: str, iterator: str) -> None:
        pending: list[dict[str, Any]] = []
        first_at = 0.0
        while not self.stop.is_set():
            got = self.kinesis.get_records(
                ShardIterator=iterator, Limit=max(1, self.config.batch_size - len(pending))
            )
            iterator = got["NextShardIterator"]
            records = got["Records"]
            if records and not pending:
                first_at = time.monotonic()
            pending.extend(records)
            window = self.config.window_s()
            due = len(pending) >= self.config.batch_size or (
                pending and time.monotonic() - first_at >= window
            )
            if due:
                with self._lock:
                    self._idle[shard_id] = False
                batch, pending = (
                    pending[: self.config.batch_size],
                    pending[self.config.batch_size :],
                )
                if pending:
                    first_at = time.monotonic()
                with self._lock:
                    self.stats.records_read += len(batch)
                self._process(shard_id, batch)
                continue
            with self._lock:
                self._idle[shard_id] = not pending and not records
            self.stop.wait(0.02)

    # -- processing ------------------------------------------------------------------------
    def _process(self, shard_id: str, batch: list[dict[str, Any]]) -> None:
        work: list[tuple[list[dict[str, Any]], int]] = [(batch, 0)]
        while work and not self.stop.is_set():
            records, attempts = work.pop(0)
            records = self._drop_expired(shard_id, records)
            if not records:
                continue
            failed_from = self._invoke(shard_id, records)
            if failed_from is None:
                continue
            remainder = records[failed_from:]
            if attempts < self.config.max_retries or self.config.max_retries < 0:
                with self._lock:
                    self.stats.retries += 1
                work.insert(0, (remainder, attempts + 1))
            elif self.config.bisect and len(remainder) > 1:
                half = len(remainder) // 2
                with self._lock:
                    self.stats.bisections += 1
                work[0:0] = [(remainder[:half], 0), (remainder[half:], 0)]
            else:
                self._dead_letter(shard_id, remainder, "RetryAttemptsExhausted", attempts + 1)

    def _drop_expired(self, shard_id: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self.config.max_record_age_s < 0:
            return records
        limit = self.config.max_record_age_s * timescale.current_scale()
        now = datetime.now(UTC)
        expired = [
            r for r in records if (now - r["ApproximateArrivalTimestamp"]).total_seconds() > limit
        ]
        if expired:
            self._dead_letter(shard_id, expired, "RecordAgeExceeded", 0)
        return [r for r in records if r not in expired]

    def _invoke(self, shard_id: str, records: list[dict[str, Any]]) -> int | None:
        """Index of the first record to retry from, or None when the batch is done."""
        payload = json.dumps(
            {"Records": [lambda_record(r, shard_id, self.config) for r in records]}
        )
        while True:
            try:
                response = self.lambda_client.invoke(
                    FunctionName=self.config.function_name, Payload=payload.encode()
                )
                break
            except Exception as error:  # throttled (429): Lambda's poller waits and retries
                if "TooManyRequests" not in str(error) or self.stop.is_set():
                    raise
                time.sleep(0.05)
        with self._lock:
            self.stats.invocations += 1
            self.stats.batch_sizes.append(len(records))
        body = response["Payload"].read()
        if response.get("FunctionError"):
            with self._lock:
                self.stats.function_errors += 1
            if self.config.bisect and len(records) > 1:
                return None if self._split_on_error(shard_id, records) else 0
            return 0
        if not self.config.report_failures:
            return None
        failed = self._failed_identifiers(body)
        if not failed:
            return None
        with self._lock:
            self.stats.partial_failures += 1
        positions = [i for i, r in enumerate(records) if r["SequenceNumber"] in failed]
        # An identifier that is not in the batch makes Lambda treat the whole batch as failed.
        return min(positions) if len(positions) == len(failed) else 0

    def _split_on_error(self, shard_id: str, records: list[dict[str, Any]]) -> bool:
        """BisectBatchOnFunctionError: each half processed on its own (not a retry)."""
        with self._lock:
            self.stats.bisections += 1
        half = len(records) // 2
        self._process(shard_id, records[:half])
        self._process(shard_id, records[half:])
        return True

    @staticmethod
    def _failed_identifiers(body: bytes) -> set[str]:
        try:
            response = json.loads(body or b"null")
        except ValueError:
            return set()
        failures = response.get("batchItemFailures") if isinstance(response, dict) else None
        if not isinstance(failures, list):
            return set()
        return {str(f.get("itemIdentifier")) for f in failures if isinstance(f, dict)}

    def _dead_letter(
        self, shard_id: str, records: list[dict[str, Any]], condition: str, invoke_count: int
    ) -> None:
        with self._lock:
            self.stats.dead_lettered_ranges += 1
            self.stats.dead_lettered_records += len(records)
        if self.config.on_failure_queue_url is None:
            return  # as in Lambda: without a destination the range is skipped
        record = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.config.function_arn,
                "condition": condition,
                "approximateInvokeCount": invoke_count,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "version": "1.0",
            "timestamp": _iso(datetime.now(UTC)),
            "KinesisBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": records[0]["SequenceNumber"],
                "endSequenceNumber": records[-1]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(records[0]["ApproximateArrivalTimestamp"]),
                "approximateArrivalOfLastRecord": _iso(records[-1]["ApproximateArrivalTimestamp"]),
                "batchSize": len(records),
                "streamArn": self.config.stream_arn,
            },
        }
        self.sqs.send_message(
            QueueUrl=self.config.on_failure_queue_url, MessageBody=json.dumps(record)
        )
