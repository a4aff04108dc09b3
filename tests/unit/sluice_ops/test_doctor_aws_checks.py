"""sluice doctor's checks of what the deploy needs from resources it does not create (the
existing bucket, the secrets, the quotas), against stubbed AWS answers (botocore Stubber)."""

from __future__ import annotations

import io
from typing import Any

from botocore.stub import Stubber
from doctor_answers import client, quota

from sluice_ops import aws_checks, doctor
from sluice_ops.checks import FAIL, OK, SKIP, WARN, Check

SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:downstream-token-AbCdEf"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


# -- the existing bucket -------------------------------------------------------------------------
def bucket_checks(
    notification: dict[str, Any],
    encryption: dict[str, Any] | None,
    key_arn: str = "",
    described: dict[str, Any] | None = None,
) -> list[Check]:
    s3, kms = client("s3"), client("kms")
    with Stubber(s3) as s3_stub, Stubber(kms) as kms_stub:
        s3_stub.add_response(
            "get_bucket_notification_configuration", notification, {"Bucket": "b1"}
        )
        if encryption is None:
            s3_stub.add_client_error(
                "get_bucket_encryption", "ServerSideEncryptionConfigurationNotFoundError"
            )
        else:
            s3_stub.add_response(
                "get_bucket_encryption",
                {"ServerSideEncryptionConfiguration": {"Rules": [encryption]}},
                {"Bucket": "b1"},
            )
        if described is not None:
            kms_stub.add_response("describe_key", {"KeyMetadata": described})
        return aws_checks.check_bucket(s3, kms, "b1", key_arn, emulated=False)


def sse(algorithm: str, key: str | None = None) -> dict[str, Any]:
    default = {"SSEAlgorithm": algorithm} | ({"KMSMasterKeyID": key} if key else {})
    return {"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": True}


def key_metadata(manager: str) -> dict[str, Any]:
    return {"KeyId": KEY.rsplit("/", 1)[1], "Arn": KEY, "KeyManager": manager}


def test_a_bucket_with_eventbridge_and_sse_s3_is_ok() -> None:
    checks = bucket_checks({"EventBridgeConfiguration": {}}, sse("AES256"))
    assert [(c.name, c.status) for c in checks] == [
        ("existing-bucket", OK),
        ("bucket-encryption", OK),
    ]


def test_a_bucket_without_eventbridge_notifications_fails_saying_how_to_turn_them_on() -> None:
    [events, _] = bucket_checks({}, None)
    assert events.status == FAIL
    assert "EventBridge" in events.detail
    assert "EventBridgeConfiguration" in events.action


def test_a_customer_key_must_be_the_existing_bucket_kms_key_arn() -> None:
    [_, matching] = bucket_checks(
        {"EventBridgeConfiguration": {}}, sse("aws:kms", KEY), KEY, key_metadata("CUSTOMER")
    )
    assert matching.status == OK
    [_, missing] = bucket_checks(
        {"EventBridgeConfiguration": {}}, sse("aws:kms", "alias/data"), "", key_metadata("CUSTOMER")
    )
    assert missing.status == FAIL
    assert f"ExistingBucketKmsKeyArn={KEY}" in missing.action


def test_the_aws_managed_s3_key_needs_no_parameter() -> None:
    [_, check] = bucket_checks(
        {"EventBridgeConfiguration": {}}, sse("aws:kms"), "", key_metadata("AWS")
    )
    assert check.status == OK
    assert "aws/s3" in check.detail


def test_a_key_given_for_an_sse_s3_bucket_is_a_warning() -> None:
    [_, check] = bucket_checks({"EventBridgeConfiguration": {}}, sse("AES256"), KEY)
    assert check.status == WARN


def test_a_missing_bucket_fails_naming_the_parameter() -> None:
    s3 = client("s3")
    with Stubber(s3) as stub:
        stub.add_client_error("get_bucket_notification_configuration", "NoSuchBucket", "", 404)
        [check] = aws_checks.check_bucket(s3, client("kms"), "b1", "", emulated=False)
    assert check.status == FAIL
    assert "ExistingBucketName" in check.action


# -- secrets -------------------------------------------------------------------------------------
def test_each_secret_given_is_described_and_read_and_its_value_never_shown() -> None:
    secrets = client("secretsmanager")
    other = SECRET.replace("downstream-token", "smtp")
    with Stubber(secrets) as stub:
        stub.add_response("describe_secret", {"ARN": SECRET}, {"SecretId": SECRET})
        stub.add_response(
            "get_secret_value",
            {"ARN": SECRET, "SecretString": "s3cr3t-token"},
            {"SecretId": SECRET},
        )
        stub.add_client_error(
            "describe_secret", "ResourceNotFoundException", "not found", 400, {"SecretId": other}
        )
        checks = aws_checks.check_secrets(
            secrets, {"DownstreamAuthSecretArn": SECRET, "SmtpCredentialsSecretArn": other}
        )
    assert [(c.name, c.status) for c in checks] == [
        ("secret:DownstreamAuthSecretArn", OK),
        ("secret:SmtpCredentialsSecretArn", FAIL),
    ]
    assert "create the secret" in checks[1].action
    out = io.StringIO()
    doctor.render(checks, as_json=True, stream=out)
    assert "s3cr3t-token" not in out.getvalue()


def test_a_secret_the_caller_cannot_read_names_the_permissions() -> None:
    secrets = client("secretsmanager")
    with Stubber(secrets) as stub:
        stub.add_response("describe_secret", {"ARN": SECRET})
        stub.add_client_error("get_secret_value", "AccessDeniedException", "no", 400)
        [check] = aws_checks.check_secrets(secrets, {"SplunkHecTokenSecretArn": SECRET})
    assert check.status == FAIL
    assert "GetSecretValue" in check.action


# -- quotas --------------------------------------------------------------------------------------


def test_step_functions_quotas_are_shown_by_name() -> None:
    quotas = client("service-quotas")
    listed = [
        quota("StartExecution throttle token refill rate", 800.0, "L-1"),
        quota("StartSyncExecution throttle token bucket size", 1000.0, "L-2"),
        quota("Maximum number of registered state machines", 100000.0, "L-3"),
        quota("Activity task heartbeat", 1.0, "L-4"),
    ]
    applied = [quota("StartExecution throttle token refill rate", 1500.0, "L-1")]
    with Stubber(quotas) as stub:
        stub.add_response(
            "list_aws_default_service_quotas", {"Quotas": listed}, {"ServiceCode": "states"}
        )
        stub.add_response("list_service_quotas", {"Quotas": applied}, {"ServiceCode": "states"})
        check = aws_checks.check_quotas(quotas, "states", emulated=False)
    assert check.status == OK
    # The account's applied value, not the default.
    assert "StartExecution throttle token refill rate = 1500" in check.detail
    assert "registered state machines = 100000" in check.detail
    assert "heartbeat" not in check.detail


def test_without_applied_values_the_default_quotas_are_read() -> None:
    quotas = client("service-quotas")
    pipes = [quota("Pipes per account", 1000.0, "L-9") | {"ServiceCode": "pipes"}]
    with Stubber(quotas) as stub:
        stub.add_response(
            "list_aws_default_service_quotas", {"Quotas": pipes}, {"ServiceCode": "pipes"}
        )
        stub.add_response("list_service_quotas", {"Quotas": []}, {"ServiceCode": "pipes"})
        check = aws_checks.check_quotas(quotas, "pipes", emulated=False)
    assert check.status == OK and "Pipes per account = 1000" in check.detail


def test_service_quotas_missing_on_an_emulator_is_not_checked_not_failed() -> None:
    quotas = client("service-quotas")
    with Stubber(quotas) as stub:
        stub.add_client_error("list_aws_default_service_quotas", "NoSuchResourceException", "", 400)
        check = aws_checks.check_quotas(quotas, "states", emulated=True)
    assert check.status == SKIP
    assert "not checked" in check.detail
