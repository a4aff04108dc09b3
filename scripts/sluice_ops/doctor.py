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
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sluice_ops.aws_checks import check_bucket, check_quotas, check_secrets
from sluice_ops.checks import FAIL, OK, SKIP, WARN, Check
from sluice_ops.concurrency import check_concurrency, reservations, stack_reservations
from sluice_ops.context import SluiceCliError, StackContext, StackNotFoundError, resolve
from sluice_ops.downstream_check import Connector, check_downstream, connect

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
    from sluice_local.emulator.template import parameter_defaults

    declared = template.get("Parameters") or {}
    return {**parameter_defaults(template), **{k: v for k, v in overrides.items() if k in declared}}


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
    except StackNotFoundError as exc:
        if not planned:
            raise SluiceCliError(
                f"{exc}; before a first deploy, give --parameter-overrides or --config-env"
            ) from None
        return exc.context, False


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
