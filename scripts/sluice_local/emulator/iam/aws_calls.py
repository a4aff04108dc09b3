"""What each AWS call asks of IAM and KMS, and how each service refuses it.

:func:`requests_for` turns one API call (service, operation, parameters) into the IAM actions it
needs and the real ARNs they apply to, as the Service Authorization Reference defines them
(GetObject with a VersionId is s3:GetObjectVersion; SQS batch calls are authorised as their
single action; a Kinesis GetRecords names its stream through the shard iterator). A call not in
the table raises :class:`UnmappedCall` naming it: the local runtime refuses to guess.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# Step Functions docs, "IAM policies for logging to CloudWatch Logs": without these on "*" AWS
# refuses to create a state machine that has a logging configuration.
LOG_DELIVERY_ACTIONS = (
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
)
# AWS: "The state machine IAM Role is not authorized to access the Log Destination" (Step
# Functions' AccessDeniedException on CreateStateMachine, as CloudFormation reports it).
LOG_DESTINATION_REFUSED = (
    "The state machine IAM Role is not authorized to access the Log Destination"
)

# What a caller of each service needs on the customer managed key of the resource it uses
# (AWS docs: SNS "Key management", SQS "Configuring KMS permissions", Kinesis "Permissions to
# use user-generated KMS keys", DynamoDB's key policy for principals that use a table, S3
# "Using server-side encryption with AWS KMS keys"). The service uses the key with the caller's
# permissions, so the request carries kms:ViaService=<service>.<region>.amazonaws.com.
KEY_USE: dict[str, tuple[str, ...]] = {
    "sns:Publish": ("kms:GenerateDataKey", "kms:Decrypt"),
    "sqs:SendMessage": ("kms:GenerateDataKey", "kms:Decrypt"),
    "sqs:ReceiveMessage": ("kms:Decrypt",),
    "kinesis:GetRecords": ("kms:Decrypt",),
    "kinesis:PutRecord": ("kms:GenerateDataKey",),
    "kinesis:PutRecords": ("kms:GenerateDataKey",),
    "s3:GetObject": ("kms:Decrypt",),
    "s3:GetObjectVersion": ("kms:Decrypt",),
    "s3:PutObject": ("kms:GenerateDataKey",),
    **{
        f"dynamodb:{op}": ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey")
        for op in ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "BatchWriteItem")
    },
}

# What CloudWatch Logs needs on a log group's key (AWS docs, "Encrypt log data in CloudWatch
# Logs using AWS KMS"): it checks them when the group is created with the key.
LOG_GROUP_KEY_USE = ("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey")

# What Lambda checks on the function's role when an event source mapping on a stream is created
# ("Cannot access stream ... Please ensure the role can perform the GetRecords,
# GetShardIterator, DescribeStream, and ListStreams Actions on your stream"), and what its poller
# then calls. ListStreams has no resource type (it needs "*") and is not required here.
STREAM_MAPPING_ACTIONS = (
    "kinesis:DescribeStream",
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "kinesis:ListShards",
)

# What a function in a VPC needs on its role (Lambda Developer Guide, "Giving Lambda functions
# access to resources in an Amazon VPC"): Lambda creates and manages the function's network
# interfaces with them; CreateFunction refuses a role without them (VPC_ROLE_REFUSED, the
# InvalidParameterValueException quoted in aws/aws-sam-cli#617). Describe needs Resource "*".
VPC_NETWORK_INTERFACE_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
)
VPC_ROLE_REFUSED = (
    "The provided execution role does not have permissions to call CreateNetworkInterface on EC2"
    " (InvalidParameterValueException)"
)

# Pipes' execution role (EventBridge Pipes docs, "Amazon EventBridge Pipes permissions"): an SQS
# source, a synchronous Step Functions target, a CloudWatch Logs destination.
PIPE_SOURCE_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
PIPE_LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")

# boto3 service name -> IAM service prefix, where they differ.
_IAM_PREFIX = {"stepfunctions": "states"}


class UnmappedCall(RuntimeError):
    """The local runtime does not know which IAM action and resource an API call needs."""


@dataclass(frozen=True)
class Denial:
    """How a service answers a refused call: botocore error code and HTTP status."""

    code: str
    status: int


# Identity or resource policy refusals, as each service reports them.
_DENIED = {
    "s3": Denial("AccessDenied", 403),
    "sqs": Denial("AccessDenied", 403),  # the JSON protocol is query-compatible: same code
    "sns": Denial("AuthorizationError", 403),
    "lambda": Denial("AccessDeniedException", 403),
    "cloudwatch": Denial("AccessDenied", 403),
}
_DENIED_DEFAULT = Denial("AccessDeniedException", 400)
# A refused use of the resource's KMS key, as the service that used it reports it.
_KMS_DENIED = {
    "s3": Denial("AccessDenied", 403),
    "sqs": Denial("KMS.AccessDeniedException", 400),
    "sns": Denial("KMSAccessDenied", 400),
    "kinesis": Denial("KMSAccessDeniedException", 400),
}


def iam_prefix(boto_service: str) -> str:
    return _IAM_PREFIX.get(boto_service, boto_service)


def denial_for(service: str, *, kms: bool = False) -> Denial:
    if kms:
        return _KMS_DENIED.get(service, _DENIED_DEFAULT)
    return _DENIED.get(service, _DENIED_DEFAULT)


def not_authorized(who: str, action: str, resource: str, aws_reason: str) -> str:
    """AWS's message for a refused request."""
    return (
        f"User: {who} is not authorized to perform: {action} on resource: {resource} {aws_reason}"
    )


# Step Functions optimized integrations report a refused call as the AWS SDK for Java exception
# of the service (seen on AWS: "Lambda.AWSLambdaException" with "... is not authorized to
# perform: lambda:InvokeFunction ... (Service: AWSLambda; Status Code: 403; Error Code:
# AccessDeniedException; ...)"); SNS models AuthorizationError, the others do not model it.
_INTEGRATION_ERRORS = {
    "lambda": ("Lambda.AWSLambdaException", "AWSLambda"),
    "sqs": ("SQS.AmazonSQSException", "AmazonSQS"),
    "sns": ("SNS.AuthorizationErrorException", "AmazonSNS"),
    "dynamodb": ("DynamoDB.AmazonDynamoDBException", "AmazonDynamoDBv2"),
    "states": ("StepFunctions.AWSStepFunctionsException", "AWSStepFunctions"),
}
# AWS SDK integrations: "<Service>.<Error>Exception", both PascalCase (Step Functions docs,
# "AWS SDK service integrations").
_SDK_SERVICE_NAMES = {"dynamodb": "DynamoDb", "sfn": "Sfn", "sqs": "Sqs", "sns": "Sns", "s3": "S3"}


def integration_error(
    resource_arn: str, code: str, status: int, message: str, request_id: str
) -> tuple[str, str]:
    """(Error, Cause) of a Task whose service call was refused, as Step Functions reports it."""
    parts = resource_arn.split(":")
    if len(parts) > 6 and parts[5] == "aws-sdk":
        service = parts[6]
        name = _SDK_SERVICE_NAMES.get(service, service[:1].upper() + service[1:])
        error = f"{name}.{code}" if code.endswith("Exception") else f"{name}.{code}Exception"
        return (
            error,
            f"{message} (Service: {name}, Status Code: {status}, Request ID: {request_id})",
        )
    service = parts[5] if len(parts) > 5 and parts[2] == "states" else "lambda"
    error, label = _INTEGRATION_ERRORS.get(service, (f"{service}.AccessDeniedException", service))
    cause = (
        f"{message} (Service: {label}; Status Code: {status}; Error Code: {code}; "
        f"Request ID: {request_id}; Proxy: null)"
    )
    return error, cause


# -- resources -----------------------------------------------------------------------------
def queue_arn(queue_url: str, region: str, account: str) -> str:
    """arn:aws:sqs:<region>:<account>:<name> of a queue URL (https://sqs.<region>.../<acct>/<name>)."""
    path = queue_url.rstrip("/").split("/")
    owner = path[-2] if len(path) >= 2 and path[-2].isdigit() else account
    return f"arn:aws:sqs:{region}:{owner}:{path[-1]}"


def table_arn(table: str, region: str, account: str) -> str:
    return (
        table if table.startswith("arn:") else f"arn:aws:dynamodb:{region}:{account}:table/{table}"
    )


def stream_arn(stream: str, region: str, account: str) -> str:
    return (
        stream
        if stream.startswith("arn:")
        else f"arn:aws:kinesis:{region}:{account}:stream/{stream}"
    )


def function_arn(name: str, region: str, account: str, qualifier: str | None = None) -> str:
    if name.startswith("arn:"):
        base = name
    elif ":" in name:  # name:qualifier
        plain, _, qualifier = name.partition(":")
        base = f"arn:aws:lambda:{region}:{account}:function:{plain}"
    else:
        base = f"arn:aws:lambda:{region}:{account}:function:{name}"
    return f"{base}:{qualifier}" if qualifier and base.count(":") == 6 else base


def log_stream_arn(group: str, stream: str, region: str, account: str) -> str:
    return f"arn:aws:logs:{region}:{account}:log-group:{group}:log-stream:{stream}"


def log_group_arn(group: str, region: str, account: str) -> str:
    return f"arn:aws:logs:{region}:{account}:log-group:{group}"


def _shard_iterator_stream(iterator: str) -> str:
    # moto's iterator is base64("<stream name>:<shard id>:<sequence>"); AWS's is opaque, but
    # AWS authorises GetRecords on the stream the iterator was issued for.
    return base64.b64decode(iterator.encode()).decode().split(":", 1)[0]


Resolver = Callable[[str], str]


def requests_for(
    boto_service: str,
    operation: str,
    params: Mapping[str, Any],
    region: str,
    account: str,
    *,
    secret_arn: Resolver = lambda s: s,
    key_arn: Resolver = lambda k: k,
) -> list[tuple[str, str]]:
    """The (IAM action, resource ARN) pairs one API call needs; [] when it needs none."""
    service = iam_prefix(boto_service)
    p = params

    def act(name: str) -> str:
        return f"{service}:{name}"

    if service == "s3":
        bucket = f"arn:aws:s3:::{p.get('Bucket')}"
        obj = f"{bucket}/{p.get('Key')}"
        versioned = bool(p.get("VersionId"))
        s3: dict[str, tuple[str, str]] = {
            "GetObject": ("GetObjectVersion" if versioned else "GetObject", obj),
            "HeadObject": ("GetObjectVersion" if versioned else "GetObject", obj),
            "PutObject": ("PutObject", obj),
            "DeleteObject": ("DeleteObjectVersion" if versioned else "DeleteObject", obj),
            "GetObjectTagging": (
                "GetObjectVersionTagging" if versioned else "GetObjectTagging",
                obj,
            ),
            "ListObjects": ("ListBucket", bucket),
            "ListObjectsV2": ("ListBucket", bucket),
            "HeadBucket": ("ListBucket", bucket),
            "ListObjectVersions": ("ListBucketVersions", bucket),
            "GetBucketLocation": ("GetBucketLocation", bucket),
            "GetBucketVersioning": ("GetBucketVersioning", bucket),
        }
        if operation in s3:
            action, resource = s3[operation]
            return [(act(action), resource)]
    elif service == "sqs":
        singular = {
            "SendMessage": "SendMessage",
            "SendMessageBatch": "SendMessage",
            "ReceiveMessage": "ReceiveMessage",
            "DeleteMessage": "DeleteMessage",
            "DeleteMessageBatch": "DeleteMessage",
            "ChangeMessageVisibility": "ChangeMessageVisibility",
            "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
            "GetQueueAttributes": "GetQueueAttributes",
            "PurgeQueue": "PurgeQueue",
        }
        if operation in singular:
            return [(act(singular[operation]), queue_arn(str(p["QueueUrl"]), region, account))]
        if operation == "GetQueueUrl":
            return [(act("GetQueueUrl"), f"arn:aws:sqs:{region}:{account}:{p['QueueName']}")]
    elif service == "sns":
        if operation in ("Publish", "PublishBatch"):
            return [(act("Publish"), str(p.get("TopicArn") or p.get("TargetArn")))]
    elif service == "dynamodb":
        if operation in ("BatchWriteItem", "BatchGetItem"):
            return [(act(operation), table_arn(t, region, account)) for t in p["RequestItems"]]
        if operation in (
            "GetItem",
            "PutItem",
            "UpdateItem",
            "DeleteItem",
            "Query",
            "Scan",
            "DescribeTable",
        ):
            resource = table_arn(str(p["TableName"]), region, account)
            if p.get("IndexName"):
                resource += f"/index/{p['IndexName']}"
            return [(act(operation), resource)]
    elif service == "secretsmanager":
        if operation in ("GetSecretValue", "DescribeSecret"):
            return [(act(operation), secret_arn(str(p["SecretId"])))]
    elif service == "kinesis":
        if operation == "GetRecords":
            stream = p.get("StreamARN") or _shard_iterator_stream(str(p["ShardIterator"]))
            return [(act("GetRecords"), stream_arn(str(stream), region, account))]
        if operation in (
            "GetShardIterator",
            "ListShards",
            "DescribeStream",
            "DescribeStreamSummary",
            "PutRecord",
            "PutRecords",
        ):
            stream = p.get("StreamARN") or p.get("StreamName")
            return [(act(operation), stream_arn(str(stream), region, account))]
    elif service == "lambda":
        if operation == "Invoke":
            arn = function_arn(str(p["FunctionName"]), region, account, p.get("Qualifier"))
            return [("lambda:InvokeFunction", arn)]
    elif service == "states":
        if operation in ("StartExecution", "StartSyncExecution", "ListExecutions"):
            return [(act(operation), str(p["stateMachineArn"]))]
        if operation in ("DescribeExecution", "StopExecution", "GetExecutionHistory"):
            return [(act(operation), str(p["executionArn"]))]
    elif service == "cloudwatch":
        if operation in ("GetMetricData", "GetMetricStatistics", "ListMetrics", "PutMetricData"):
            return [(act(operation), "*")]  # no resource-level permissions (AWS docs)
    elif service == "logs":
        group = str(p.get("logGroupName", ""))
        if operation in ("CreateLogStream", "PutLogEvents"):
            return [
                (act(operation), log_stream_arn(group, str(p["logStreamName"]), region, account))
            ]
        if operation in ("DescribeLogStreams", "FilterLogEvents", "GetLogEvents"):
            return [(act(operation), log_group_arn(group, region, account) + ":*")]
    elif service == "kms":
        if operation in ("Encrypt", "Decrypt", "GenerateDataKey", "DescribeKey"):
            return [(act(operation), key_arn(str(p.get("KeyId", ""))))]
    elif service == "sts":
        if operation == "GetCallerIdentity":
            return []  # needs no permission
    elif service == "xray":
        return [(act(operation), "*")]
    raise UnmappedCall(
        f"the local runtime does not know which IAM action and resource {boto_service} "
        f"{operation} needs: add it to sluice_local/emulator/iam/aws_calls.py (Service "
        "Authorization Reference)"
    )


def client_error(client: Any, operation: str, denial: Denial, message: str) -> Exception:
    """The client's own exception for a refused call, as the service would raise it (with the
    denial kept on it for the run report)."""
    request_id = str(uuid.uuid4())
    response = {
        "Error": {"Code": denial.code, "Message": message, "Type": "Sender"},
        "ResponseMetadata": {"HTTPStatusCode": denial.status, "RequestId": request_id},
    }
    error: Exception = client.exceptions.from_code(denial.code)(response, operation)
    error.sluice_denial = (denial, message, request_id)  # type: ignore[attr-defined]
    return error
