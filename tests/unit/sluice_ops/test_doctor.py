"""sluice doctor: the parameters check, the output, and the command's exit status: 0 no failure,
1 a failed check, 2 bad input (each check against stubbed AWS answers: test_doctor_*.py)."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from doctor_answers import TEMPLATE, client, quota, settings

from sluice_ops import doctor
from sluice_ops import main as sluice
from sluice_ops.doctor import FAIL, OK


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
