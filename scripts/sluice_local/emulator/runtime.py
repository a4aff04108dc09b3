"""Stand the pipeline up in the embedded AWS emulator (moto), from template.yaml itself.

    with LocalPipeline(Path("template.yaml"), overrides={"MaxConcurrency": "3"}) as pipeline:
        pipeline.client("s3").put_object(Bucket=pipeline.outputs["BucketName"], ...)
        pipeline.start_drain()

Deployment goes through moto's CloudFormation (every resource the template declares), then
re-creates each state machine through the Step Functions API with its DefinitionSubstitutions
resolved, because only that path executes (see ../shared/notes/local-aws.md). Functions run
in-process through :mod:`sluice_local.emulator.invoker`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from sluice_local.emulator import ACCOUNT, timescale
from sluice_local.emulator import fixes as emulator_fixes
from sluice_local.emulator.deploy import Deployment
from sluice_local.emulator.iam.enforcer import Enforcer
from sluice_local.emulator.inspection import Inspection
from sluice_local.emulator.invoker import Dispatcher
from sluice_local.emulator.template import TranslatedTemplate, load_and_translate
from sluice_local.sources.pipes import PipeRunner
from sluice_local.sources.schedules import ScheduleRule, Schedules
from sluice_local.sources.streams import StreamMappingRunner

_PAGINATED = {
    "stepfunctions": ("list_executions", "get_execution_history"),
    "cloudformation": ("list_stack_resources",),
}
_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
# The emulator answers only requests sent to AWS's own endpoints (moto intercepts them in
# botocore). A shell that exported AWS_ENDPOINT_URL for `sluice-local up` (or whose profile sets
# an endpoint_url) would send the runtime's and the handlers' calls elsewhere; a profile named
# by AWS_PROFILE that does not exist here would stop every client. Neither applies inside.
_ISOLATED_ENVIRONMENT: dict[str, str | None] = {
    **_FAKE_CREDENTIALS,
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true",
    "AWS_PROFILE": None,
    "AWS_DEFAULT_PROFILE": None,
}


def _skip_unsupported_type_warnings(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("No Moto CloudFormation support for")


class LocalPipeline(Deployment, Schedules, Inspection):
    """The template deployed into moto, its handlers live, its schedules driven."""

    def __init__(
        self,
        template_path: Path,
        overrides: dict[str, str] | None = None,
        *,
        stack_name: str = "sluice-local",
        time_scale: float = 1.0,
        region: str = "us-east-1",
        log_dir: Path | None = None,
        secrets: dict[str, str] | None = None,
        lenient: bool = False,
        lambda_metrics: bool = False,
    ) -> None:
        self.template_path = template_path
        # Publish Lambda's AWS/Lambda metrics (Invocations, Errors, Duration, Throttles,
        # ConcurrentExecutions) as AWS does, for tools that read CloudWatch (`sluice monitor`
        # against `sluice-local up`). Off by default: ~6 ms of CPU an invocation, which the
        # jobs and benchmarks that read the dispatcher's own figures need not pay.
        self.lambda_metrics = lambda_metrics
        # Lenient: AWS's limits are measured and reported, not enforced (to explore).
        self.lenient = lenient
        self.overrides = dict(overrides or {})
        # Parameter name -> secret value: created in Secrets Manager before deployment, and the
        # parameter set to its ARN (the template takes secrets by ARN only).
        self.secrets = dict(secrets or {})
        self.stack_name = stack_name
        self.time_scale = time_scale
        self.region = region
        self.dispatcher = Dispatcher(log_dir, lenient=lenient)
        # IAM and KMS as AWS decides them (sluice_local.emulator.iam.enforcer); lenient: recorded,
        # not refused.
        self.iam = Enforcer(region=region, account=ACCOUNT, lenient=lenient)
        self.outputs: dict[str, str] = {}
        self.resources: dict[str, str] = {}
        self.translated: TranslatedTemplate | None = None
        self.state_machine_arns: dict[str, str] = {}
        self.schedules: list[ScheduleRule] = []
        self.pipes: dict[str, PipeRunner] = {}
        self.stream_mappings: dict[str, StreamMappingRunner] = {}
        self._runners_stop = threading.Event()
        self._mock: Any = None
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self._session: Any = None
        self._scheduler: threading.Thread | None = None
        self._stop = threading.Event()
        self._env_backup: dict[str, str | None] = {}

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> LocalPipeline:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> LocalPipeline:
        import warnings

        from moto import mock_aws

        # moto warns for each skipped type; deploy.SUBSTITUTES says what stands in for each.
        warnings.filterwarnings("ignore", message=".*not supported by moto's CloudFormation.*")
        logging.getLogger("moto").addFilter(_skip_unsupported_type_warnings)
        # A handler that adds no metric on some path (a postponed object, a control message)
        # still flushes: Powertools warns, which is noise in a run's output.
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        # moto logs every IsPresent miss and every caught task error at ERROR level; the
        # outcome is in the execution history, which the runtime reads.
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)

        for key, value in {**_ISOLATED_ENVIRONMENT, "AWS_DEFAULT_REGION": self.region}.items():
            self._env_backup[key] = os.environ.get(key)
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        timescale.set_time_scale(self.time_scale)
        emulator_fixes.install()
        # Process-wide: each start sets it, so a lenient run never leaves it off for the next.
        emulator_fixes.set_strict(not self.lenient)
        emulator_fixes.set_move_tasks(True)
        self.iam.activate()
        self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        self._mock.start()
        try:
            for parameter, value in self.secrets.items():
                self.overrides[parameter] = self.client("secretsmanager").create_secret(
                    Name=f"{self.stack_name}-{parameter}", SecretString=value
                )["ARN"]
            self.translated = load_and_translate(self.template_path, self.overrides)
            self._check_supported(self.translated)
            self._deploy(self.translated)
        except Exception:
            self.stop()
            raise
        return self

    def quiesce(self, timeout: float, hurry: threading.Event | None = None) -> int:
        """Start no more work and let work in progress end, before :meth:`stop` (`sluice-local
        up` on Ctrl-C): schedules, pipes and stream mappings stop, running executions are
        stopped (as the emulator stops them; StopExecution refuses Express executions), and
        their threads and the invocations in flight get up to ``timeout`` seconds (until
        ``hurry`` is set) to end, so that none acts on an emulator that is gone. Returns how
        many threads were still running then (abandoned)."""
        from moto.stepfunctions.parser.utils import TMP_THREADS  # every execution's threads

        self.stop_schedules()
        self._runners_stop.set()
        self._join_runners()
        self._stop_executions()
        deadline = time.monotonic() + timeout
        while True:
            running = sum(self.dispatcher.stats.in_flight.values())
            running += sum(1 for thread in list(TMP_THREADS) if thread.is_alive())
            if not running or time.monotonic() >= deadline or (hurry and hurry.is_set()):
                return running
            time.sleep(0.05)

    def _stop_executions(self) -> None:
        from datetime import UTC, datetime

        from moto.stepfunctions.parser.api import ExecutionStatus
        from moto.stepfunctions.responses import get_backend

        if self._mock is None:
            return
        backend = get_backend(ACCOUNT, self.region)  # the executing (parser) backend
        for machine in list(backend.state_machines):
            for execution in list(getattr(machine, "executions", [])):
                if getattr(execution, "exec_status", None) == ExecutionStatus.RUNNING:
                    execution.stop(stop_date=datetime.now(UTC), error=None, cause=None)

    def stop(self) -> None:
        self._stop.set()
        self._runners_stop.set()
        self._join_runners()
        if self._scheduler is not None:
            self._scheduler.join(timeout=5)
            self._scheduler = None
        self.dispatcher.uninstall()
        emulator_fixes.set_move_tasks(False)
        self.iam.deactivate()
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        for key, value in self._env_backup.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def _join_runners(self) -> None:
        for pipe in self.pipes.values():
            pipe.join(timeout=10)
        for mapping in self.stream_mappings.values():
            mapping.join(timeout=10)

    def client(self, service: str) -> Any:
        """The runtime's own client of a service: one per service, from a session of its own.

        boto3's default session is shared with the handlers, which create clients from many
        threads, and botocore sessions are not thread-safe (boto/boto3#2750); a paginator
        model loaded during such a race came back empty once (OperationNotPageableError on
        list_executions at the end of a demo)."""
        import boto3

        with self._clients_lock:
            if service not in self._clients:
                if self._session is None:
                    self._session = boto3.session.Session(region_name=self.region)
                make_client: Any = self._session.client  # any service name
                client = make_client(service)
                for operation in _PAGINATED.get(service, ()):
                    client.can_paginate(operation)  # load the paginator model now, here
                self._clients[service] = Enforcer.exempt(client)  # stands in for AWS: unchecked
            return self._clients[service]
