"""sluice doctor: each check against a stubbed AWS (botocore Stubber), with the answers AWS
gives, and the command's exit status: 0 no failure, 1 a failed check, 2 bad input."""

from __future__ import annotations

import io
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from sluice_ops import doctor
from sluice_ops import main as sluice
from sluice_ops.doctor import FAIL, OK, SKIP, WARN

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "template.yaml"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:downstream-token-AbCdEf"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def client(service: str) -> Any:
    session: Any = boto3.Session(
        region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return session.client(service)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return doctor.load_template(TEMPLATE)


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


def concurrency(
    limit: int, unreserved: int, needed: dict[str, int], current: dict[str, int] | None = None
) -> doctor.Check:
    lam = client("lambda")
    with Stubber(lam) as stub:
        stub.add_response("get_account_settings", settings(limit, unreserved), {})
        return doctor.check_concurrency(lam, needed, current or {}, None, emulated=False)


# -- Lambda concurrency --------------------------------------------------------------------------
def test_an_account_limit_of_10_fails_naming_the_reservation_and_the_quota_increase() -> None:
    check = concurrency(10, 10, {"ProcessObjectFunction": 5})
    assert check.status == FAIL
    assert "ReservedConcurrentExecutions" in check.detail
    assert (
        "Specified ReservedConcurrentExecutions for function decreases account's "
        "UnreservedConcurrentExecution below its minimum value of [10]" in check.detail
    )
    assert "account limit 10" in check.detail
    assert "Service Quotas increase" in check.action
    assert "L-B99A9384" in check.action
    # What to ask for: ProcessObject's 5 on top of the 100 Lambda keeps unreserved.
    assert "--desired-value 105" in check.action


def test_a_limit_of_1000_fits_processobject_and_the_payment_reservations() -> None:
    needed = {"ProcessObjectFunction": 5} | {f"{n}PaymentFunction": 20 for n in "ABC"}
    check = concurrency(1000, 1000, needed)
    assert check.status == OK
    assert "935 would stay unreserved (minimum 100)" in check.detail


def test_a_deployed_stacks_own_reservations_are_not_counted_twice() -> None:
    # Unreserved 100 already excludes the stack's 5: setting 5 again leaves 100, enough.
    check = concurrency(1000, 100, {"ProcessObjectFunction": 5}, {"ProcessObjectFunction": 5})
    assert check.status == OK, check.detail
    # Raising it to 40 would take 35 more out of the 100.
    raised = concurrency(1000, 100, {"ProcessObjectFunction": 40}, {"ProcessObjectFunction": 5})
    assert raised.status == FAIL
    assert "minimum value of [100]" in raised.detail
    assert "lower MaxConcurrency" in raised.action


def test_other_functions_reservations_raise_the_limit_to_ask_for() -> None:
    # 150 of 1000 reserved elsewhere: 850 unreserved; this template wants 800.
    check = concurrency(1000, 850, {"ProcessObjectFunction": 40, "X": 760})
    assert check.status == FAIL
    assert "--desired-value 1050" in check.action  # 150 + 800 + 100


def test_an_endpoint_without_get_account_settings_is_not_checked() -> None:
    lam = client("lambda")
    with Stubber(lam) as stub:
        stub.add_client_error("get_account_settings", "404", "Not yet implemented", 404)
        check = doctor.check_concurrency(lam, {"ProcessObjectFunction": 3}, {}, None, True)
    assert check.status == SKIP
    assert "not checked" in check.detail and "ProcessObjectFunction 3" in check.detail


def test_a_refused_get_account_settings_on_aws_is_a_failure_naming_the_permission() -> None:
    lam = client("lambda")
    with Stubber(lam) as stub:
        stub.add_client_error("get_account_settings", "AccessDeniedException", "no", 403)
        check = doctor.check_concurrency(lam, {}, {}, None, False)
    assert check.status == FAIL
    assert "lambda:GetAccountSettings" in check.action


def test_reservations_follow_the_parameters(template: dict[str, Any]) -> None:
    values = doctor.parameter_values(template, {"MaxConcurrency": "7"})
    assert doctor.reservations(template, values) == {"ProcessObjectFunction": 7}
    on = doctor.parameter_values(
        template, {"EnablePaymentPipeline": "true", "PaymentFunctionConcurrency": "20"}
    )
    found = doctor.reservations(template, on)
    assert found.pop("ProcessObjectFunction") == 5
    assert sorted(found.values()) == [20, 20, 20]


def test_a_reservation_of_zero_under_a_condition_is_no_reservation() -> None:
    template = {
        "Parameters": {"N": {"Type": "Number", "Default": 0}},
        "Conditions": {"Reserve": {"Fn::Not": [{"Fn::Equals": [{"Ref": "N"}, "0"]}]}},
        "Resources": {
            "F": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "ReservedConcurrentExecutions": {
                        "Fn::If": ["Reserve", {"Ref": "N"}, {"Ref": "AWS::NoValue"}]
                    }
                },
            }
        },
    }
    assert doctor.reservations(template, {"N": "0"}) == {}
    assert doctor.reservations(template, {"N": "4"}) == {"F": 4}


def test_a_stacks_current_reservations_are_read_by_logical_id() -> None:
    cloudformation, lam = client("cloudformation"), client("lambda")
    resources = {
        "StackResourceSummaries": [
            {
                "LogicalResourceId": "ProcessObjectFunction",
                "PhysicalResourceId": "sluice-ProcessObject-1",
                "ResourceType": "AWS::Lambda::Function",
                "LastUpdatedTimestamp": "2026-01-01T00:00:00Z",
                "ResourceStatus": "CREATE_COMPLETE",
            },
            {
                "LogicalResourceId": "PlanBatchFunction",
                "PhysicalResourceId": "sluice-PlanBatch-1",
                "ResourceType": "AWS::Lambda::Function",
                "LastUpdatedTimestamp": "2026-01-01T00:00:00Z",
                "ResourceStatus": "CREATE_COMPLETE",
            },
        ]
    }
    with Stubber(cloudformation) as cfn, Stubber(lam) as stub:
        cfn.add_response("list_stack_resources", resources, {"StackName": "sluice"})
        stub.add_response(
            "get_function_concurrency",
            {"ReservedConcurrentExecutions": 5},
            {"FunctionName": "sluice-ProcessObject-1"},
        )
        stub.add_response("get_function_concurrency", {}, {"FunctionName": "sluice-PlanBatch-1"})
        found = doctor.stack_reservations(cloudformation, lam, "sluice")
    assert found == {"ProcessObjectFunction": 5}


# -- the existing bucket -------------------------------------------------------------------------
def bucket_checks(
    notification: dict[str, Any],
    encryption: dict[str, Any] | None,
    key_arn: str = "",
    described: dict[str, Any] | None = None,
) -> list[doctor.Check]:
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
        return doctor.check_bucket(s3, kms, "b1", key_arn, emulated=False)


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
        [check] = doctor.check_bucket(s3, client("kms"), "b1", "", emulated=False)
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
        checks = doctor.check_secrets(
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
        [check] = doctor.check_secrets(secrets, {"SplunkHecTokenSecretArn": SECRET})
    assert check.status == FAIL
    assert "GetSecretValue" in check.action


# -- quotas --------------------------------------------------------------------------------------
def quota(name: str, value: float, code: str) -> dict[str, Any]:
    return {"ServiceCode": "states", "QuotaCode": code, "QuotaName": name, "Value": value}


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
        check = doctor.check_quotas(quotas, "states", emulated=False)
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
        check = doctor.check_quotas(quotas, "pipes", emulated=False)
    assert check.status == OK and "Pipes per account = 1000" in check.detail


def test_service_quotas_missing_on_an_emulator_is_not_checked_not_failed() -> None:
    quotas = client("service-quotas")
    with Stubber(quotas) as stub:
        stub.add_client_error("list_aws_default_service_quotas", "NoSuchResourceException", "", 400)
        check = doctor.check_quotas(quotas, "states", emulated=True)
    assert check.status == SKIP
    assert "not checked" in check.detail


# -- the downstream ------------------------------------------------------------------------------
def refuse(exc: OSError) -> doctor.Connector:
    def connector(host: str, port: int, tls: bool, timeout: float) -> str:
        raise exc

    return connector


def test_an_empty_downstream_is_the_simulated_one() -> None:
    assert doctor.check_downstream("").status == OK


@pytest.mark.parametrize(
    "url, why",
    [
        ("http://api.example.com/rows", "plain http"),
        ("https://user:pw@api.example.com/", "userinfo"),
        ("ftp://api.example.com/", "not an https"),
    ],
)
def test_a_url_the_functions_would_refuse_fails_before_any_connection(url: str, why: str) -> None:
    check = doctor.check_downstream(url, refuse(OSError("must not connect")))
    assert check.status == FAIL
    assert why in check.detail
    assert "pw" not in check.detail


def test_dns_tls_and_connect_failures_each_say_what_failed() -> None:
    unresolved = doctor.check_downstream(
        "https://nowhere.invalid/", refuse(socket.gaierror(-2, "Name or service not known"))
    )
    assert unresolved.status == FAIL and "does not resolve" in unresolved.detail
    untrusted = doctor.check_downstream(
        "https://self-signed.example:8443/", refuse(ssl.SSLCertVerificationError("bad cert"))
    )
    assert untrusted.status == FAIL and "self-signed.example:8443" in untrusted.detail
    assert "TLS handshake" in untrusted.detail
    closed = doctor.check_downstream("https://api.example.com/", refuse(ConnectionRefusedError()))
    assert closed.status == FAIL and "api.example.com:443" in closed.detail


def test_a_reachable_https_downstream_is_handshaken_on_its_port() -> None:
    seen: list[tuple[str, int, bool]] = []

    def connector(host: str, port: int, tls: bool, timeout: float) -> str:
        seen.append((host, port, tls))
        return "TLS handshake done (TLSv1.3)"

    check = doctor.check_downstream("https://api.example.com/v1/rows", connector)
    assert check.status == OK
    assert seen == [("api.example.com", 443, True)]


@pytest.fixture
def listener() -> Iterator[int]:
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True)
    thread.start()
    yield server.getsockname()[1]
    thread.join(timeout=5)
    for connection in accepted:
        connection.close()
    server.close()


def test_plain_http_to_loopback_is_connected_to_without_a_request(listener: int) -> None:
    check = doctor.check_downstream(f"http://127.0.0.1:{listener}/rows")
    assert check.status == OK, check.detail
    assert "accepts connections" in check.detail


# -- parameters and Rules ------------------------------------------------------------------------
def test_the_defaults_fit_the_constraints_and_rules(template: dict[str, Any]) -> None:
    assert doctor.check_parameters(template, {}).status == OK


def test_a_value_outside_its_constraints_fails_as_cloudformation_says(
    template: dict[str, Any],
) -> None:
    check = doctor.check_parameters(template, {"MaxConcurrency": "41"})
    assert check.status == FAIL
    assert "MaxConcurrency" in check.detail


def test_a_broken_rule_fails_with_its_assert_description(template: dict[str, Any]) -> None:
    check = doctor.check_parameters(
        template, {"DownstreamTimeoutSeconds": "20", "FunctionTimeout": "30"}
    )
    assert check.status == FAIL
    assert "FunctionTimeout must be at least 60" in check.detail


# -- the command ---------------------------------------------------------------------------------
def test_output_is_plain_lines_with_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    checks = [
        doctor.Check("a", OK, "fine"),
        doctor.Check("b", FAIL, "broken", "fix it"),
    ]
    out = io.StringIO()
    doctor.render(checks, as_json=False, stream=out)
    assert out.getvalue().splitlines() == ["OK    a: fine", "FAIL  b: broken", "      do: fix it"]
    out = io.StringIO()
    doctor.render(checks, as_json=True, stream=out)
    shown = json.loads(out.getvalue())
    assert shown["ok"] is False and shown["checks"][1]["action"] == "fix it"


def _argv(*extra: str) -> list[str]:
    return ["doctor", "--template", str(TEMPLATE), "--region", "us-east-1", *extra]


def test_an_unclosed_quote_in_the_overrides_is_bad_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setattr(doctor, "_session_context", lambda args: (None, False))
    status = sluice.main(_argv("--parameter-overrides", "MaxConcurrency='5"))
    assert status == 2
    assert "sluice doctor: error:" in capsys.readouterr().err


def test_a_missing_template_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    status = sluice.main(["doctor", "--template", "/nonexistent/template.yaml"])
    assert status == 2
    assert "template /nonexistent/template.yaml not found" in capsys.readouterr().err


def test_a_first_deploy_on_a_small_account_exits_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole command, with every AWS answer stubbed: a new account with a limit of 10."""
    from sluice_ops.context import StackContext

    clients = {name: client(name) for name in ("lambda", "secretsmanager", "service-quotas")}
    ctx = StackContext(boto3.Session(region_name="us-east-1"), "sluice", "us-east-1", None)
    ctx._clients.update(clients)
    monkeypatch.setattr(doctor, "_session_context", lambda args: (ctx, False))
    with Stubber(clients["lambda"]) as lam, Stubber(clients["service-quotas"]) as quotas:
        lam.add_response("get_account_settings", settings(10, 10))
        quotas.add_response(
            "list_aws_default_service_quotas",
            {"Quotas": [quota("StartExecution throttle token bucket size", 1300.0, "L-1")]},
        )
        quotas.add_response("list_service_quotas", {"Quotas": []})
        status = sluice.main(_argv("--parameter-overrides", "MaxConcurrency=2", "--json"))
    shown = json.loads(capsys.readouterr().out)
    assert status == 1
    by_name = {c["name"]: c for c in shown["checks"]}
    assert by_name["lambda-concurrency"]["status"] == FAIL
    assert "minimum value of [10]" in by_name["lambda-concurrency"]["detail"]
    assert by_name["parameters"]["status"] == OK
    assert by_name["downstream"]["status"] == OK
    assert by_name["quotas:states"]["status"] == OK


def test_an_unknown_stack_without_parameters_says_how_to_check_a_first_deploy(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto import mock_aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        status = sluice.main(_argv("--stack-name", "not-deployed"))
    err = capsys.readouterr().err
    assert status == 2
    assert "stack 'not-deployed' not found" in err
    assert "give --parameter-overrides or --config-env" in err
