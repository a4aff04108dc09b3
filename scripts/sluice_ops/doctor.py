"""sluice doctor: check what a deploy or a run of Sluice needs, before it fails half-way.

Two ways in, as `sam deploy` takes its parameters:

* ``sluice doctor --stack-name NAME``: a deployed stack; its parameters come from
  DescribeStacks, its functions' current reservations from Lambda.
* ``sluice doctor --parameter-overrides "K=V ..."`` and/or ``--config-env ENV``: before a
  deploy; the parameters are template.yaml's defaults, then the overrides (the command line's,
  else samconfig.toml's ``[ENV.deploy.parameters] parameter_overrides``: a command-line option
  replaces the config file's, as in SAM CLI). If the stack already exists, it is an update.

Each check ends ``ok``, ``warn`` (worth knowing, not blocking), ``fail`` (with what to do) or
``skip`` ("not checked", with the reason: an API the endpoint does not offer, such as
GetAccountSettings and Service Quotas on the local emulator). Exit status: 0 no failure, 1 any
failure, 2 bad input.

The checks:

``lambda-concurrency``
    lambda:GetAccountSettings. CloudFormation sets each function's ReservedConcurrentExecutions
    with PutFunctionConcurrency, which Lambda refuses when the account's unreserved concurrency
    would drop below its minimum: 100 (Lambda Developer Guide, "Configuring reserved concurrency":
    "You can reserve up to the Unreserved account concurrency value that is shown, minus 100"),
    or the whole limit on accounts whose limit is lower (deployers on new accounts report
    "... below its minimum value of [10]" and "[50]"), so such an account can reserve nothing.
    UnreservedConcurrentExecutions already excludes every current reservation, this stack's
    too: its functions' reservations are added back before the template's are taken away.
``existing-bucket`` / ``bucket-encryption``
    ExistingBucketName needs EventBridge notifications on (the pipeline's rule matches "Object
    Created" events from EventBridge); SSE-KMS with a customer managed key must be the key given
    as ExistingBucketKmsKeyArn, or ProcessObject cannot decrypt.
``downstream``
    DownstreamApiUrl: https (plain http only to loopback, no userinfo: the rule of the
    template's AllowedPattern and of the functions' ``sluice_common.urls.checked_url``,
    reimplemented here because the layer's code is not part of the installed operator tools),
    then DNS and a TCP connect, and for https a TLS handshake verifying the certificate; no
    HTTP request is sent.
``secret:<Parameter>``
    Each secret ARN given: secretsmanager:DescribeSecret and GetSecretValue (the value is
    read and dropped, never shown).
``quotas:states`` / ``quotas:pipes``
    Step Functions' and EventBridge Pipes' quotas in the Region (Service Quotas), picked by
    name: StartExecution/StartSyncExecution throttling, state machines, pipes.
``parameters``
    The values against each parameter's Type and constraints, then the template's Rules, with
    the local runtime's evaluator (the same checks CloudFormation makes before a deploy).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import socket
import ssl
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sluice_ops.context import (
    CONNECT_TIMEOUT_S,
    DEFAULT_STACK,
    SluiceCliError,
    StackContext,
    resolve,
)

EPILOG = """examples:
  sluice doctor --stack-name sluice                      # a deployed stack
  sluice doctor --parameter-overrides "MaxConcurrency=5 DownstreamApiUrl=https://api.example.com"
  sluice doctor --config-env prod                        # samconfig.toml's prod overrides
  sluice doctor --json | jq '.checks[] | select(.status == "fail")'

Run it before the first deploy: an account whose Lambda concurrency limit is 10 or 50 cannot
reserve concurrency for ProcessObject, and the deploy would fail with "Specified
ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution
below its minimum value of [10]". Exit status: 0 no failure, 1 a check failed, 2 bad input.
"""

# Lambda keeps this much concurrency unreserved, or the whole limit when the limit is lower.
UNRESERVED_MINIMUM = 100
LAMBDA_CONCURRENCY_QUOTA = "L-B99A9384"  # Service Quotas: Lambda "Concurrent executions"
CLOUDFORMATION_ERROR = (
    "Specified ReservedConcurrentExecutions for function decreases account's "
    "UnreservedConcurrentExecution below its minimum value of [{minimum}]"
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
NETWORK_TIMEOUT_S = 5.0
_ACCESS_DENIED = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation")

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail | skip
    detail: str
    action: str = ""  # what to do, for warn and fail


# -- template and parameters -------------------------------------------------------------------


def load_template(path: Path) -> dict[str, Any]:
    from samtranslator.yaml_helper import yaml_parse  # CloudFormation short-form tags

    if not path.is_file():
        raise SluiceCliError(f"template {path} not found: give --template (SAM's template.yaml)")
    document = yaml_parse(path.read_text())
    if not isinstance(document, dict) or "Parameters" not in document:
        raise SluiceCliError(f"{path} is not a Sluice template (no Parameters)")
    return document


def planned_overrides(args: argparse.Namespace, template_path: Path) -> dict[str, str]:
    from sluice_local.emulator.template import TemplateError, parse_overrides, samconfig_overrides

    try:
        if args.parameter_overrides is not None:
            return parse_overrides(args.parameter_overrides)
        samconfig = template_path.parent / "samconfig.toml"
        env = args.config_env or "default"
        if args.config_env and not samconfig.is_file():
            raise SluiceCliError(f"--config-env {env}: no samconfig.toml beside {template_path}")
        return samconfig_overrides(samconfig, env)
    except TemplateError as exc:
        raise SluiceCliError(str(exc)) from None
    except ValueError as exc:  # shlex: an unclosed quote; tomllib: a malformed samconfig.toml
        raise SluiceCliError(f"cannot read the parameter overrides: {exc}") from None


def parameter_values(template: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, str]:
    """Defaults, then the overrides the template declares: what the other checks read even when
    a value breaks a constraint (the ``parameters`` check reports that)."""
    from sluice_local.emulator.template import _text

    declared = template.get("Parameters") or {}
    values = {name: _text(spec["Default"]) for name, spec in declared.items() if "Default" in spec}
    values.update({k: v for k, v in overrides.items() if k in declared})
    return values


def check_parameters(template: Mapping[str, Any], overrides: Mapping[str, str]) -> Check:
    from sluice_local.emulator.rules import check_rules
    from sluice_local.emulator.template import TemplateError, resolve_parameters

    try:
        values = resolve_parameters(dict(template), dict(overrides))
        check_rules(template, values)
    except TemplateError as exc:
        return Check(
            "parameters",
            FAIL,
            str(exc),
            "change the parameter overrides; CloudFormation refuses this deploy the same way",
        )
    return Check("parameters", OK, "every value fits its constraints and the template's Rules hold")


class _Unknown(Exception):
    """A template expression this evaluator does not read."""


def _value(expr: Any, template: Mapping[str, Any], values: Mapping[str, str]) -> Any:
    if isinstance(expr, (str, int, float, bool)):
        return str(expr).lower() if isinstance(expr, bool) else str(expr)
    if isinstance(expr, list):
        return [_value(item, template, values) for item in expr]
    if isinstance(expr, dict) and len(expr) == 1:
        [(function, argument)] = expr.items()
        if function == "Ref":
            if argument == "AWS::NoValue":
                return None
            if argument not in values:
                raise _Unknown(f"Ref {argument}")
            spec = (template.get("Parameters") or {}).get(argument) or {}
            kind = str(spec.get("Type", "String"))
            if kind == "CommaDelimitedList" or kind.startswith("List<"):
                return values[argument].split(",")
            return values[argument]
        if function == "Fn::Join":
            separator, items = argument
            joined = _value(items, template, values)
            return str(separator).join(joined if isinstance(joined, list) else [joined])
        if function == "Fn::If":
            condition, then, otherwise = argument
            chosen = then if _condition(condition, template, values) else otherwise
            return _value(chosen, template, values)
        if function in {"Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition"}:
            return _truth(expr, template, values)
    raise _Unknown(json.dumps(expr, default=str)[:80])


def _truth(expr: Any, template: Mapping[str, Any], values: Mapping[str, str]) -> bool:
    [(function, argument)] = expr.items()
    if function == "Condition":
        return _condition(argument, template, values)
    if function == "Fn::Equals":
        left, right = (_value(item, template, values) for item in argument)
        return bool(left == right)
    if function == "Fn::Not":
        return not _truth(argument[0], template, values)
    if function == "Fn::And":
        return all(_truth(item, template, values) for item in argument)
    if function == "Fn::Or":
        return any(_truth(item, template, values) for item in argument)
    raise _Unknown(function)


def _condition(name: str, template: Mapping[str, Any], values: Mapping[str, str]) -> bool:
    conditions = template.get("Conditions") or {}
    if name not in conditions:
        raise _Unknown(f"Condition {name}")
    return _truth(conditions[name], template, values)


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
            if "Condition" in resource and not _condition(resource["Condition"], template, values):
                continue
            value = _value(prop, template, values)
        except _Unknown as exc:
            raise SluiceCliError(
                f"cannot evaluate {logical_id}'s ReservedConcurrentExecutions ({exc})"
            ) from None
        if value is not None and int(value) > 0:
            found[logical_id] = int(value)
    return found


# -- AWS checks ---------------------------------------------------------------------------------


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _refused(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {})
    operation = getattr(exc, "operation_name", "the call")
    return f"{operation} refused: {error.get('Code')}: {error.get('Message')}"


def _unavailable(exc: Exception, emulated: bool) -> bool:
    """The endpoint does not offer the API (an emulator): report "not checked", not a failure.
    On AWS every API here exists, so a refusal there is a real answer."""
    return emulated and _code(exc) not in _ACCESS_DENIED


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
        if _unavailable(exc, emulated):
            return Check(
                "lambda-concurrency",
                SKIP,
                f"not checked: the endpoint has no GetAccountSettings ({_code(exc)}); "
                f"reservations: {wanted}",
            )
        return Check(
            "lambda-concurrency",
            FAIL,
            _refused(exc),
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
                if _code(exc) == "ResourceNotFoundException":
                    continue
                raise
            reserved = answer.get("ReservedConcurrentExecutions")
            if reserved:
                found[resource["LogicalResourceId"]] = int(reserved)
    return found


def check_bucket(s3: Any, kms: Any, bucket: str, key_arn: str, emulated: bool) -> list[Check]:
    from botocore.exceptions import ClientError

    checks: list[Check] = []
    try:
        notification = s3.get_bucket_notification_configuration(Bucket=bucket)
    except ClientError as exc:
        action = (
            f"check ExistingBucketName (no bucket {bucket} in this account)"
            if _code(exc) in {"NoSuchBucket", "404"}
            else "allow s3:GetBucketNotification on the bucket to run this check"
        )
        return [Check("existing-bucket", FAIL, _refused(exc), action)]
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
        if _code(exc) == "ServerSideEncryptionConfigurationNotFoundError":
            rules = {"Rules": []}  # SSE-S3 applies to every bucket since January 2023
        elif _unavailable(exc, emulated):
            return Check(name, SKIP, f"not checked: {_refused(exc)}")
        else:
            return Check(name, FAIL, _refused(exc), "allow s3:GetEncryptionConfiguration")
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
                f"({_code(exc)}); ExistingBucketKmsKeyArn is {key_arn or 'empty'}",
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
            code = _code(exc)
            if code == "ResourceNotFoundException":
                action = f"create the secret, or fix {parameter} (the full ARN, in this Region)"
            elif code in _ACCESS_DENIED:
                action = (
                    "allow secretsmanager:DescribeSecret and GetSecretValue (and kms:Decrypt "
                    "of its key) to whoever runs doctor; the stack grants its functions their own"
                )
            elif code == "InvalidRequestException":
                action = "restore the secret (it is scheduled for deletion)"
            else:
                action = f"check {parameter}"
            checks.append(Check(name, FAIL, _refused(exc), action))
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
        if _unavailable(exc, emulated) or _code(exc) == "NoSuchResourceException":
            return Check(
                name, SKIP, f"not checked: Service Quotas has no {service} here ({_code(exc)})"
            )
        return Check(
            name,
            FAIL,
            _refused(exc),
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


# -- the downstream -----------------------------------------------------------------------------


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


Connector = Callable[[str, int, bool, float], str]


def connect(host: str, port: int, tls: bool, timeout: float) -> str:
    """DNS, a TCP connect and (for https) a verified TLS handshake; no HTTP request. Returns
    what was reached; raises OSError (socket.gaierror, ssl.SSLError, TimeoutError) otherwise."""
    addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    with socket.create_connection((host, port), timeout=timeout) as raw:
        if not tls:
            return f"{addresses[0][4][0]} accepts connections"
        context = ssl.create_default_context()
        with context.wrap_socket(raw, server_hostname=host) as secured:
            return f"{addresses[0][4][0]}: TLS handshake done ({secured.version()})"


def check_downstream(url: str, connector: Connector = connect) -> Check:
    name = "downstream"
    text = url.strip()
    if not text:
        return Check(name, OK, "DownstreamApiUrl empty: the built-in simulated downstream")
    scheme, _, rest = text.partition("://")
    try:
        parts = urlsplit(text)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return Check(name, FAIL, "DownstreamApiUrl is not a valid URL", "check its host and port")
    if "@" in rest.partition("/")[0]:
        return Check(
            name,
            FAIL,
            "DownstreamApiUrl has userinfo (user:password@)",
            "remove it; put the token in DownstreamAuthSecretArn's secret",
        )
    if scheme.lower() not in {"http", "https"} or not host:
        return Check(name, FAIL, "DownstreamApiUrl is not an https:// URL", "use https://host/path")
    tls = scheme.lower() == "https"
    if not tls and not _loopback(host):
        return Check(
            name,
            FAIL,
            f"DownstreamApiUrl is plain http to {host}: the token and rows would cross the "
            "network unencrypted",
            "use https:// (plain http only to localhost, 127.0.0.0/8, [::1])",
        )
    port = port or (443 if tls else 80)
    try:
        reached = connector(host, port, tls, NETWORK_TIMEOUT_S)
    except socket.gaierror as exc:
        return Check(name, FAIL, f"{host} does not resolve ({exc})", "check the host name")
    except ssl.SSLError as exc:
        return Check(
            name,
            FAIL,
            f"TLS handshake with {host}:{port} failed ({exc})",
            "the server must present a certificate valid for the host, from a public CA",
        )
    except OSError as exc:
        return Check(
            name,
            FAIL,
            f"cannot connect to {host}:{port} ({exc})",
            "check the port and that this network may reach it (the functions, in their "
            "VPC if VpcSubnetIds is set, need the same)",
        )
    return Check(name, OK, f"{host}:{port}: {reached}")


# -- the command --------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--parameter-overrides",
        metavar="'K=V ...'",
        help="check a deploy with these parameters (as sam deploy takes them); without it and "
        "--config-env, the deployed stack's parameters",
    )
    parser.add_argument(
        "--config-env",
        help="check a deploy with samconfig.toml's [ENV.deploy.parameters] parameter_overrides",
    )
    parser.add_argument(
        "--template",
        type=Path,
        default=Path("template.yaml"),
        help="the SAM template (default: template.yaml)",
    )
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")


def _session_context(args: argparse.Namespace) -> tuple[StackContext, bool]:
    """The AWS context, and whether the stack exists. A deployed stack is required unless the
    parameters are given: then a missing stack is a first deploy."""
    planned = args.parameter_overrides is not None or args.config_env is not None
    try:
        return resolve(args), True
    except SluiceCliError as exc:
        # resolve()'s "stack ... not found at ...": a first deploy when parameters are given.
        if "not found at" not in str(exc):
            raise
        if not planned:
            raise SluiceCliError(
                f"{exc}; before a first deploy, give --parameter-overrides or --config-env"
            ) from None
    import boto3
    from botocore.config import Config

    session = boto3.Session(profile_name=args.profile, region_name=args.region)
    endpoint = args.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    config = Config(connect_timeout=CONNECT_TIMEOUT_S, retries={"mode": "standard"})
    ctx = StackContext(
        session, args.stack_name or DEFAULT_STACK, session.region_name, endpoint, config=config
    )
    return ctx, False


def _listed(value: str, spec: Mapping[str, Any]) -> str:
    """A list parameter's value as CloudFormation gives it, comma-separated. moto's
    DescribeStacks shows a CommaDelimitedList as a Python list (``['']``); read that back."""
    kind = str(spec.get("Type", "String"))
    if (kind == "CommaDelimitedList" or kind.startswith("List<")) and value.startswith("["):
        import ast

        try:
            items = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
        if isinstance(items, list):
            return ",".join(str(item) for item in items)
    return value


def diagnose(args: argparse.Namespace, connector: Connector = connect) -> list[Check]:
    template_path: Path = args.template
    template = load_template(template_path)
    planned = args.parameter_overrides is not None or args.config_env is not None
    # Bad overrides are bad input, refused before any AWS call.
    overrides = planned_overrides(args, template_path) if planned else {}
    ctx, deployed = _session_context(args)
    if not planned:
        declared = template.get("Parameters") or {}
        overrides = {k: _listed(v, declared[k]) for k, v in ctx.parameters.items() if k in declared}
    values = parameter_values(template, overrides)
    emulated = bool(ctx.endpoint_url)
    checks = [check_parameters(template, overrides)]

    lam = ctx.client("lambda")
    current = (
        stack_reservations(ctx.client("cloudformation"), lam, ctx.stack_name) if deployed else {}
    )
    checks.append(
        check_concurrency(
            lam,
            reservations(template, values),
            current,
            ctx.region,
            emulated,
        )
    )
    if values.get("ExistingBucketName"):
        checks += check_bucket(
            ctx.client("s3"),
            ctx.client("kms"),
            values["ExistingBucketName"],
            values.get("ExistingBucketKmsKeyArn", ""),
            emulated,
        )
    checks.append(check_downstream(values.get("DownstreamApiUrl", ""), connector))
    checks += check_secrets(ctx.client("secretsmanager"), values)
    quotas = ctx.client("service-quotas")
    checks.append(check_quotas(quotas, "states", emulated))
    if values.get("EnablePaymentPipeline") == "true":
        checks.append(check_quotas(quotas, "pipes", emulated))
    return checks


def render(checks: Iterable[Check], as_json: bool, stream: Any = None) -> None:
    stream = stream or sys.stdout
    checks = list(checks)
    if as_json:
        failed = any(check.status == FAIL for check in checks)
        json.dump({"ok": not failed, "checks": [asdict(c) for c in checks]}, stream, indent=2)
        stream.write("\n")
        return
    from sluice_local.terminal import printable  # AWS messages may hold terminal escapes

    if stream.isatty():
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        colour = {OK: "green", WARN: "yellow", FAIL: "bold red", SKIP: "dim"}
        table = Table("check", "status", "detail / what to do", show_lines=True)
        for check in checks:
            body = Text(printable(check.detail))
            if check.action:
                body.append(f"\ndo: {printable(check.action)}", style="bold")
            table.add_row(check.name, Text(check.status.upper(), style=colour[check.status]), body)
        Console(file=stream).print(table)
        return
    for check in checks:
        stream.write(f"{check.status.upper():<4}  {check.name}: {printable(check.detail)}\n")
        if check.action:
            stream.write(f"      do: {printable(check.action)}\n")


def run(args: argparse.Namespace) -> int:
    checks = diagnose(args)
    render(checks, args.json)
    return 1 if any(check.status == FAIL for check in checks) else 0
