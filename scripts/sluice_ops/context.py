"""Which deployment a `sluice` subcommand talks to, found the way the AWS CLI finds things.

``--stack-name`` names the CloudFormation stack (default ``sluice``, samconfig.toml's
``stack_name``); every resource comes from its Outputs and Parameters. ``--region``,
``--profile`` and ``--endpoint-url`` mean what they mean to the AWS CLI, and without them the same
environment and config files apply (``AWS_PROFILE``, ``AWS_REGION``/``AWS_DEFAULT_REGION``,
``AWS_ENDPOINT_URL``, ``AWS_MAX_ATTEMPTS``, ``~/.aws/config``): ``sluice-local up`` prints the
``AWS_ENDPOINT_URL`` to export.

Bad input ends as :class:`SluiceCliError` with a message naming what to fix; boto3 is imported
only when a context is resolved.
"""

from __future__ import annotations

import argparse
import os
import threading
from dataclasses import dataclass, field
from typing import Any

DEFAULT_STACK = "sluice"  # samconfig.toml: [default.global.parameters] stack_name
# A stalled connection should fail in seconds, not after botocore's 60 s times each retry.
CONNECT_TIMEOUT_S = 10


class SluiceCliError(Exception):
    """Bad input or an unusable deployment: shown as ``sluice <subcommand>: error: <message>``,
    exit status 2."""


class StackNotFoundError(SluiceCliError):
    """The session opened but the stack does not exist there: ``context`` is ready to use for a
    command that can work without the stack (``sluice doctor`` before a first deploy)."""

    def __init__(self, message: str, context: StackContext) -> None:
        super().__init__(message)
        self.context = context


def add_aws_options(parser: argparse.ArgumentParser) -> None:
    """The options every subcommand shares, named as in the AWS CLI and SAM CLI."""
    group = parser.add_argument_group("deployment (as the AWS CLI finds it)")
    group.add_argument(
        "--stack-name",
        default=DEFAULT_STACK,
        help=f"the Sluice CloudFormation stack (default: {DEFAULT_STACK}, samconfig.toml's)",
    )
    group.add_argument("--region", help="AWS Region (default: AWS_REGION, the profile's)")
    group.add_argument("--profile", help="named profile from ~/.aws/config (default: AWS_PROFILE)")
    group.add_argument(
        "--endpoint-url",
        help="send every AWS call here, e.g. the Endpoint `sluice-local up` prints "
        "(default: AWS_ENDPOINT_URL)",
    )


@dataclass
class StackContext:
    session: Any  # boto3.Session
    stack_name: str
    region: str
    endpoint_url: str | None
    outputs: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    config: Any = None  # botocore.config.Config shared by every client
    memo: dict[Any, Any] = field(default_factory=dict, repr=False)  # readers' caches, per context
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def client(self, service: str) -> Any:
        """One client per service, made once: clients are thread-safe, sessions are not."""
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self.session.client(
                    service, endpoint_url=self.endpoint_url, config=self.config
                )
            return self._clients[service]

    def output(self, key: str) -> str:
        try:
            return self.outputs[key]
        except KeyError:
            known = ", ".join(sorted(self.outputs)) or "none"
            raise SluiceCliError(
                f"stack {self.stack_name} has no output {key} (its outputs: {known}); "
                "is it a Sluice stack, deployed from this version of template.yaml?"
            ) from None

    def where(self) -> str:
        """How to name this deployment in a message."""
        return describe_target(self.endpoint_url, self.region)


def describe_target(endpoint_url: str | None, region: str | None) -> str:
    return f"endpoint {endpoint_url}" if endpoint_url else f"AWS in region {region}"


def resolve(args: argparse.Namespace, *, config: Any = None) -> StackContext:
    """Open the session and read the stack; every failure is a :class:`SluiceCliError`."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        ProfileNotFound,
    )

    profile = getattr(args, "profile", None)
    endpoint_url = getattr(args, "endpoint_url", None) or os.environ.get("AWS_ENDPOINT_URL") or None
    stack_name = getattr(args, "stack_name", None) or DEFAULT_STACK
    try:
        session = boto3.Session(profile_name=profile, region_name=getattr(args, "region", None))
    except ProfileNotFound:
        raise SluiceCliError(
            f"profile {profile!r} not found in ~/.aws/config or ~/.aws/credentials"
        ) from None
    region = session.region_name
    if not region:
        raise SluiceCliError(
            "no AWS Region: give --region, set AWS_REGION, or set region in your profile"
        )
    if session.get_credentials() is None:
        raise SluiceCliError(
            "no AWS credentials found"
            + (f" for profile {profile!r}" if profile else "")
            + ": run `aws configure` (or `aws sso login`), set AWS_PROFILE, or export "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (any values for `sluice-local up`)"
        )
    # AWS CLI v2's default retry mode, "standard" (3 attempts): botocore's "legacy" (5, with
    # longer backoff) makes an unreachable endpoint take 12 s to report. AWS_RETRY_MODE and
    # AWS_MAX_ATTEMPTS still apply.
    retries: Any = None if os.environ.get("AWS_RETRY_MODE") else {"mode": "standard"}
    config = config or Config(connect_timeout=CONNECT_TIMEOUT_S, retries=retries)
    ctx = StackContext(session, stack_name, region, endpoint_url, config=config)
    where = ctx.where()
    try:
        stacks = ctx.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except EndpointConnectionError as exc:
        raise SluiceCliError(
            f"cannot reach {where}: {exc}. Is the endpoint right"
            + (" and `sluice-local up` running?" if endpoint_url else "?")
        ) from None
    except NoCredentialsError:
        raise SluiceCliError("no AWS credentials found (see `aws configure`)") from None
    except NoRegionError:
        raise SluiceCliError("no AWS Region: give --region or set AWS_REGION") from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = str(error.get("Code", "")), str(error.get("Message", ""))
        if code == "ValidationError" and "does not exist" in message:
            raise StackNotFoundError(
                f"stack {stack_name!r} not found at {where}: check --stack-name "
                "(and --region / --endpoint-url)",
                ctx,
            ) from None
        who = f"profile {profile!r}" if profile else "the current credentials"
        raise SluiceCliError(
            f"{where} refused DescribeStacks for stack {stack_name!r} with {who}: {code}: {message}"
        ) from None
    except BotoCoreError as exc:  # a malformed endpoint URL, a TLS failure, a read timeout
        raise SluiceCliError(f"cannot talk to {where}: {exc}") from None
    if not stacks:
        raise StackNotFoundError(f"stack {stack_name!r} not found at {where}", ctx)
    stack = stacks[0]
    ctx.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}
    ctx.parameters = {
        p["ParameterKey"]: p.get("ResolvedValue", p.get("ParameterValue", ""))
        for p in stack.get("Parameters") or []
    }
    return ctx
