"""``lambda-concurrency``: the reservations the template makes with the parameters, against the
account's Lambda concurrency (see :mod:`sluice_ops.doctor`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sluice_ops.checks import FAIL, OK, SKIP, Check, error_code, refused, unavailable
from sluice_ops.conditions import UnknownExpression, condition_holds, evaluate
from sluice_ops.context import SluiceCliError

# Lambda keeps this much concurrency unreserved, or the whole limit when the limit is lower.
UNRESERVED_MINIMUM = 100
LAMBDA_CONCURRENCY_QUOTA = "L-B99A9384"  # Service Quotas: Lambda "Concurrent executions"
CLOUDFORMATION_ERROR = (
    "Specified ReservedConcurrentExecutions for function decreases account's "
    "UnreservedConcurrentExecution below its minimum value of [{minimum}]"
)


def reservations(template: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, int]:
    """Each function's ReservedConcurrentExecutions with these parameters, by logical id (a
    function the template leaves out, or without a reservation, is not listed)."""
    found: dict[str, int] = {}
    for logical_id, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") not in {"AWS::Serverless::Function", "AWS::Lambda::Function"}:
            continue
        prop = (resource.get("Properties") or {}).get("ReservedConcurrentExecutions")
        if prop is None:
            continue
        try:
            if "Condition" in resource and not condition_holds(
                resource["Condition"], template, values
            ):
                continue
            value = evaluate(prop, template, values)
        except UnknownExpression as exc:
            raise SluiceCliError(
                f"cannot evaluate {logical_id}'s ReservedConcurrentExecutions ({exc})"
            ) from None
        if value is not None and int(value) > 0:
            found[logical_id] = int(value)
    return found


def check_concurrency(
    lambda_client: Any,
    needed: Mapping[str, int],
    current: Mapping[str, int],
    region: str | None,
    emulated: bool,
) -> Check:
    """Reservations ``needed`` by the template against the account; ``current`` are this
    stack's functions' reservations now (already out of UnreservedConcurrentExecutions)."""
    from botocore.exceptions import ClientError

    wanted = ", ".join(f"{name} {count}" for name, count in needed.items()) or "none"
    try:
        limits = lambda_client.get_account_settings()["AccountLimit"]
    except ClientError as exc:
        if unavailable(exc, emulated):
            return Check(
                "lambda-concurrency",
                SKIP,
                f"not checked: the endpoint has no GetAccountSettings ({error_code(exc)}); "
                f"reservations: {wanted}",
            )
        return Check(
            "lambda-concurrency",
            FAIL,
            refused(exc),
            "allow lambda:GetAccountSettings to run this check",
        )
    limit = int(limits["ConcurrentExecutions"])
    unreserved = int(limits["UnreservedConcurrentExecutions"])
    minimum = min(UNRESERVED_MINIMUM, limit)
    total = sum(needed.values())
    left = unreserved + sum(current.values()) - total
    detail = (
        f"account limit {limit}, unreserved {unreserved}"
        + (f" (this stack holds {sum(current.values())})" if current else "")
        + f"; reservations: {wanted}; {left} would stay unreserved (minimum {minimum})"
    )
    if left >= minimum:
        return Check("lambda-concurrency", OK, detail)
    others = limit - unreserved - sum(current.values())  # other functions' reservations
    required = others + total + UNRESERVED_MINIMUM
    lowers = ["MaxConcurrency (ProcessObject's reservation, 1-40)"]
    if any("Payment" in name for name in needed):
        lowers.append("PaymentFunctionConcurrency (0: no reservation)")
    error = CLOUDFORMATION_ERROR.format(minimum=minimum)
    return Check(
        "lambda-concurrency",
        FAIL,
        f'{detail}. The deploy would fail setting ReservedConcurrentExecutions: "{error}"',
        f'request a Service Quotas increase of Lambda "Concurrent executions" (quota code '
        f"{LAMBDA_CONCURRENCY_QUOTA}) to at least {required}: aws service-quotas "
        f"request-service-quota-increase --service-code lambda --quota-code "
        f"{LAMBDA_CONCURRENCY_QUOTA} --desired-value {required}"
        + (f" --region {region}" if region else "")
        + (
            "; below a limit of 101 no function can reserve any (ProcessObject always reserves "
            "MaxConcurrency, at least 1)"
            if limit <= UNRESERVED_MINIMUM
            else f"; or lower {' and '.join(lowers)}"
        ),
    )


def stack_reservations(cloudformation: Any, lambda_client: Any, stack_name: str) -> dict[str, int]:
    """This stack's functions' reservations now, by logical id."""
    from botocore.exceptions import ClientError

    found: dict[str, int] = {}
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for resource in page["StackResourceSummaries"]:
            if resource["ResourceType"] != "AWS::Lambda::Function":
                continue
            if not resource.get("PhysicalResourceId"):
                continue
            try:
                answer = lambda_client.get_function_concurrency(
                    FunctionName=resource["PhysicalResourceId"]
                )
            except ClientError as exc:
                if error_code(exc) == "ResourceNotFoundException":
                    continue
                raise
            reserved = answer.get("ReservedConcurrentExecutions")
            if reserved:
                found[resource["LogicalResourceId"]] = int(reserved)
    return found
