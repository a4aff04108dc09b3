"""sluice doctor's lambda-concurrency check against a stubbed Lambda (botocore Stubber), with
the answers AWS gives, and the reservations the template makes with given parameters."""

from __future__ import annotations

from typing import Any

from botocore.stub import Stubber
from doctor_answers import client, settings

from sluice_ops import concurrency as doctor_concurrency
from sluice_ops import doctor
from sluice_ops.checks import FAIL, OK, SKIP, Check


def concurrency(
    limit: int, unreserved: int, needed: dict[str, int], current: dict[str, int] | None = None
) -> Check:
    lam = client("lambda")
    with Stubber(lam) as stub:
        stub.add_response("get_account_settings", settings(limit, unreserved), {})
        return doctor_concurrency.check_concurrency(
            lam, needed, current or {}, None, emulated=False
        )


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
        check = doctor_concurrency.check_concurrency(
            lam, {"ProcessObjectFunction": 3}, {}, None, True
        )
    assert check.status == SKIP
    assert "not checked" in check.detail and "ProcessObjectFunction 3" in check.detail


def test_a_refused_get_account_settings_on_aws_is_a_failure_naming_the_permission() -> None:
    lam = client("lambda")
    with Stubber(lam) as stub:
        stub.add_client_error("get_account_settings", "AccessDeniedException", "no", 403)
        check = doctor_concurrency.check_concurrency(lam, {}, {}, None, False)
    assert check.status == FAIL
    assert "lambda:GetAccountSettings" in check.action


def test_reservations_follow_the_parameters(template: dict[str, Any]) -> None:
    values = doctor.parameter_values(template, {"MaxConcurrency": "7"})
    assert doctor_concurrency.reservations(template, values) == {"ProcessObjectFunction": 7}
    on = doctor.parameter_values(
        template, {"EnablePaymentPipeline": "true", "PaymentFunctionConcurrency": "20"}
    )
    found = doctor_concurrency.reservations(template, on)
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
    assert doctor_concurrency.reservations(template, {"N": "0"}) == {}
    assert doctor_concurrency.reservations(template, {"N": "4"}) == {"F": 4}


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
        found = doctor_concurrency.stack_reservations(cloudformation, lam, "sluice")
    assert found == {"ProcessObjectFunction": 5}
