"""``existing-bucket``, ``bucket-encryption``, ``secret:<Parameter>`` and ``quotas:<service>``:
what the deploy needs from resources it does not create (see :mod:`sluice_ops.doctor`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sluice_ops.checks import (
    ACCESS_DENIED,
    FAIL,
    OK,
    SKIP,
    WARN,
    Check,
    error_code,
    refused,
    unavailable,
)

SECRET_PARAMETERS = (
    "DownstreamAuthSecretArn",
    "SmtpCredentialsSecretArn",
    "SplunkHecTokenSecretArn",
    "DynatraceTokenSecretArn",
)
# Service Quotas names (lower case) that matter to a drain and to the payment pipe.
QUOTA_NAMES = {
    "states": ("startexecution", "startsyncexecution", "state machines"),
    "pipes": ("pipes",),
}


def check_bucket(s3: Any, kms: Any, bucket: str, key_arn: str, emulated: bool) -> list[Check]:
    from botocore.exceptions import ClientError

    checks: list[Check] = []
    try:
        notification = s3.get_bucket_notification_configuration(Bucket=bucket)
    except ClientError as exc:
        action = (
            f"check ExistingBucketName (no bucket {bucket} in this account)"
            if error_code(exc) in {"NoSuchBucket", "404"}
            else "allow s3:GetBucketNotification on the bucket to run this check"
        )
        return [Check("existing-bucket", FAIL, refused(exc), action)]
    if "EventBridgeConfiguration" in notification:
        checks.append(Check("existing-bucket", OK, f"{bucket} sends its events to EventBridge"))
    else:
        checks.append(
            Check(
                "existing-bucket",
                FAIL,
                f"{bucket} does not send its events to EventBridge: no object would be processed",
                "turn on EventBridge notifications (S3 console: bucket Properties, Amazon "
                'EventBridge: On), or add "EventBridgeConfiguration": {} to the configuration '
                "with aws s3api put-bucket-notification-configuration (it replaces the whole "
                "configuration: start from get-bucket-notification-configuration's)",
            )
        )
    checks.append(_check_encryption(s3, kms, bucket, key_arn, emulated))
    return checks


def _check_encryption(s3: Any, kms: Any, bucket: str, key_arn: str, emulated: bool) -> Check:
    from botocore.exceptions import ClientError

    name = "bucket-encryption"
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    except ClientError as exc:
        if error_code(exc) == "ServerSideEncryptionConfigurationNotFoundError":
            rules = {"Rules": []}  # SSE-S3 applies to every bucket since January 2023
        elif unavailable(exc, emulated):
            return Check(name, SKIP, f"not checked: {refused(exc)}")
        else:
            return Check(name, FAIL, refused(exc), "allow s3:GetEncryptionConfiguration")
    default = (rules.get("Rules") or [{}])[0].get("ApplyServerSideEncryptionByDefault") or {}
    algorithm = default.get("SSEAlgorithm", "AES256")
    key_id = default.get("KMSMasterKeyID", "")
    if not algorithm.startswith("aws:kms"):
        if key_arn:
            return Check(
                name,
                WARN,
                f"{bucket} encrypts new objects with {algorithm} (SSE-S3) by default; "
                f"ExistingBucketKmsKeyArn {key_arn} is used only for objects written with it",
                "leave ExistingBucketKmsKeyArn empty unless objects are written with that key",
            )
        return Check(name, OK, f"{bucket} uses {algorithm} (SSE-S3): no key to grant")
    arn, manager = key_id, ""
    try:
        metadata = kms.describe_key(KeyId=key_id or "alias/aws/s3")["KeyMetadata"]
        arn, manager = metadata["Arn"], metadata.get("KeyManager", "")
    except ClientError as exc:
        if not key_id:
            manager = "AWS"  # no key named: the AWS managed aws/s3 key
        elif not key_arn or key_id != key_arn:
            return Check(
                name,
                FAIL,
                f"{bucket} uses SSE-KMS with key {key_id}, which could not be described "
                f"({error_code(exc)}); ExistingBucketKmsKeyArn is {key_arn or 'empty'}",
                "set ExistingBucketKmsKeyArn to that key's ARN (not an alias)",
            )
    if manager == "AWS":
        return Check(name, OK, f"{bucket} uses SSE-KMS with the AWS managed key aws/s3")
    if arn == key_arn:
        return Check(name, OK, f"{bucket} uses SSE-KMS with {arn}, the ExistingBucketKmsKeyArn")
    return Check(
        name,
        FAIL,
        f"{bucket} uses SSE-KMS with customer managed key {arn}; ExistingBucketKmsKeyArn is "
        f"{key_arn or 'empty'}: ProcessObject could not decrypt its objects",
        f"set ExistingBucketKmsKeyArn={arn}",
    )


def check_secrets(secrets: Any, values: Mapping[str, str]) -> list[Check]:
    from botocore.exceptions import ClientError

    checks: list[Check] = []
    for parameter in SECRET_PARAMETERS:
        arn = values.get(parameter, "")
        if not arn:
            continue
        name = f"secret:{parameter}"
        try:
            secrets.describe_secret(SecretId=arn)
            secrets.get_secret_value(SecretId=arn)  # read to prove it is readable; never kept
        except ClientError as exc:
            code = error_code(exc)
            if code == "ResourceNotFoundException":
                action = f"create the secret, or fix {parameter} (the full ARN, in this Region)"
            elif code in ACCESS_DENIED:
                action = (
                    "allow secretsmanager:DescribeSecret and GetSecretValue (and kms:Decrypt "
                    "of its key) to whoever runs doctor; the stack grants its functions their own"
                )
            elif code == "InvalidRequestException":
                action = "restore the secret (it is scheduled for deletion)"
            else:
                action = f"check {parameter}"
            checks.append(Check(name, FAIL, refused(exc), action))
            continue
        checks.append(Check(name, OK, f"{arn} exists and is readable"))
    return checks


def check_quotas(quotas: Any, service: str, emulated: bool) -> Check:
    from botocore.exceptions import BotoCoreError, ClientError

    name = f"quotas:{service}"
    try:
        # The defaults, then the account's applied values over them (ListServiceQuotas leaves
        # out a quota whose applied value is not available). Defaults first: an emulator
        # without the service answers NoSuchResourceException at once (moto's server fails
        # ListServiceQuotas with a 500, retried and logged with a traceback).
        by_code = {
            q["QuotaCode"]: q
            for q in _list_quotas(quotas, "list_aws_default_service_quotas", service)
        }
        by_code |= {q["QuotaCode"]: q for q in _list_quotas(quotas, "list_service_quotas", service)}
        listed = list(by_code.values())
    except ClientError as exc:
        if unavailable(exc, emulated) or error_code(exc) == "NoSuchResourceException":
            return Check(
                name, SKIP, f"not checked: Service Quotas has no {service} here ({error_code(exc)})"
            )
        return Check(
            name,
            FAIL,
            refused(exc),
            "allow servicequotas:ListAWSDefaultServiceQuotas and servicequotas:ListServiceQuotas",
        )
    except BotoCoreError as exc:
        return Check(name, SKIP, f"not checked: {exc}")
    wanted = QUOTA_NAMES[service]
    picked = [q for q in listed if any(word in q["QuotaName"].lower() for word in wanted)]
    if not picked:
        return Check(name, SKIP, f"not checked: no {service} quota named {', '.join(wanted)}")
    shown = "; ".join(
        f"{q['QuotaName']} = {q['Value']:g}" + ("" if q.get("Adjustable", True) else " (fixed)")
        for q in sorted(picked, key=lambda q: str(q["QuotaName"]))
    )
    return Check(name, OK, shown)


def _list_quotas(quotas: Any, operation: str, service: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for page in quotas.get_paginator(operation).paginate(ServiceCode=service):
        found.extend(page.get("Quotas", []))
    return found
