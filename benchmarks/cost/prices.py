"""Prices: us-east-1 list prices, no free tier, checked 2026-11 (except where marked from memory):
- Step Functions Standard: $0.025 per 1,000 state transitions.
  https://aws.amazon.com/step-functions/pricing/
- Step Functions Express: $1.00 per million requests; $0.00001667 per GB-second (64 MB steps,
  billed in 100 ms). https://aws.amazon.com/step-functions/pricing/
- SQS standard queues: $0.40 per million requests (a request is one API call carrying 1-10
  messages, per 64 KB chunk). https://aws.amazon.com/sqs/pricing/
- Lambda (arm64, as every function of the app): $0.20 per million requests; $0.0000133334 per
  GB-second, billed per 1 ms (x86_64 was $0.0000166667). https://aws.amazon.com/lambda/pricing/
- EventBridge: events from AWS services (S3 "Object Created", scheduled rules) on the default bus
  are free; rule deliveries to SQS carry no EventBridge charge. EventBridge Pipes: $0.40 per
  million requests; each event a pipe reads is a request (per 64 KB chunk).
  https://aws.amazon.com/eventbridge/pricing/
- S3 GET: $0.0004 per 1,000 requests; HEAD is billed as a GET ("GET, SELECT, and all other
  requests"). https://aws.amazon.com/s3/pricing/
- SNS standard topics: $0.50 per million publish requests (per 64 KB chunk; a PublishBatch of up
  to 10 messages is one request per 64 KB chunk of its payload); deliveries to SQS queues and
  Lambda functions carry no charge. https://aws.amazon.com/sns/pricing/
- DynamoDB on-demand: $0.625 per million write request units (a write of an item of up to 1 KB
  is 1 WRU, rounded up per KB; each global secondary index the item is written to costs as much
  again; a conditional write that fails still consumes WRU; an UpdateItem is billed on the larger
  of the item before and after it); storage $0.25 per GB-month (each item counts 100 bytes of
  overhead beside its data), continuous backups (PITR) $0.20 per GB-month; TTL deletes are free.
  https://aws.amazon.com/dynamodb/pricing/on-demand/
- KMS: $1 per customer managed key per month (each of its first two automatic rotations adds
  $1/month). https://aws.amazon.com/kms/pricing/
- CloudWatch: logs ingestion $0.50 per GB; standard alarms $0.10 per alarm-month; custom
  metrics $0.30 per metric-month. https://aws.amazon.com/cloudwatch/pricing/
- Kinesis Data Streams, provisioned mode (from memory, not re-checked on the pricing page; the
  us-east-1 list prices as given for this model): $0.015 per shard-hour; $0.014 per million PUT
  payload units, a unit being each 25 KB chunk of a record (a 5 KB record is one unit); reading
  (GetRecords, the event source mapping's shared-throughput polling) carries no charge; 24 h
  retention is included (StreamRetentionHours above 24 is extended retention, not priced here).
  https://aws.amazon.com/kinesis/data-streams/pricing/
- Lambda event source mappings for Kinesis: no charge of their own beyond the invocations
  (from memory).
"""

from __future__ import annotations

from dataclasses import field, fields
from typing import Any

MILLION = 1_000_000
GB = 1024**3

PRICE = {
    "sfn_transition": 0.025 / 1000,
    "sfn_express_request": 1.00 / MILLION,
    "sfn_express_gb_second": 0.00001667,  # billed per 64 MB and per 100 ms
    "sqs_request": 0.40 / MILLION,
    "lambda_request": 0.20 / MILLION,
    "lambda_gb_second": 0.0000133334,  # arm64, billed per 1 ms (x86_64: 0.0000166667)
    "s3_get": 0.0004 / 1000,
    "eventbridge_aws_event": 0.0,
    "sns_publish_request": 0.50 / MILLION,  # per 64 KB chunk
    "pipes_request": 0.40 / MILLION,  # per event, per 64 KB chunk
    "ddb_write_request_unit": 0.625 / MILLION,  # on-demand
    "ddb_storage_gb_month": 0.25,
    "ddb_pitr_gb_month": 0.20,
    "logs_ingested_gb": 0.50,
    "kms_key_month": 1.00,
    "alarm_month": 0.10,
    "custom_metric_month": 0.30,
    "kinesis_shard_hour": 0.015,  # provisioned mode (from memory)
    "kinesis_put_payload_unit": 0.014 / MILLION,  # per 25 KB chunk of a record (from memory)
}


def per_million(per_unit: dict[str, float]) -> dict[str, float]:
    """$ per unit (an object, an event), per line item, as $ per million units."""
    return {item: value * MILLION for item, value in per_unit.items()}


def priced(item: str, price: str) -> Any:
    """A billable count of a model's dataclass (units per event): billed at ``PRICE[price]``
    under line item ``item``. Counts of one line item add up."""
    return field(metadata={"item": item, "price": price})


def line_items(counts: Any) -> dict[str, float]:
    """$ per million units, per line item (in field order), of a dataclass of priced() counts."""
    items: dict[str, float] = {}
    for count in fields(counts):
        item, price = count.metadata["item"], count.metadata["price"]
        items[item] = items.get(item, 0.0) + getattr(counts, count.name) * PRICE[price]
    return per_million(items)
