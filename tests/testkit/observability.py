"""The observability servers on 127.0.0.1 (Splunk HEC, the Dynatrace ingest API, an SMTP
relay) and the template parameters and secrets that point a local deployment at them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sluice_local.emulator.runtime import LocalPipeline
from sluice_local.servers.dynatrace import DynatraceServer
from sluice_local.servers.hec import HecServer
from sluice_local.servers.smtp import SmtpServer


@dataclass(frozen=True)
class ObservabilityServers:
    hec: HecServer
    dynatrace: DynatraceServer
    smtp: SmtpServer

    def overrides(self) -> dict[str, str]:
        """Every observability part on, two workers, no stagger."""
        return {
            "MaxConcurrency": "2",
            "StaggerSeconds": "0",
            "SplunkHecUrl": self.hec.url,
            "DynatraceApiUrl": self.dynatrace.url,
            "SmtpHost": "127.0.0.1",
            "SmtpPort": str(self.smtp.port),
            "SmtpStartTls": "false",  # STARTTLS and AUTH: tests/unit/alert_notifier
            "AlertFromAddress": "sluice@example.com",
            "AlertRecipients": "ops@example.com",
        }

    def secrets(self) -> dict[str, str]:
        """The token secrets' values, by the parameter that names each secret."""
        return {
            "SplunkHecTokenSecretArn": self.hec.token,
            "DynatraceTokenSecretArn": self.dynatrace.token,
        }


@contextmanager
def observability_servers() -> Iterator[ObservabilityServers]:
    """HEC, Dynatrace and a plaintext SMTP relay, listening until the block ends."""
    with (
        HecServer() as hec,
        DynatraceServer() as dynatrace,
        SmtpServer(require_starttls=False) as smtp,
    ):
        yield ObservabilityServers(hec, dynatrace, smtp)


def fail_one_drain(pipeline: LocalPipeline) -> None:
    """Fire the drain's schedule with DrainLease failing ("lease table unreachable
    (injected)"), and wait for that execution to end: a failed drain execution, which the
    execution alert reports."""

    def crash(name: str, event: Any) -> None:
        if name == "DrainLeaseFunction":
            raise RuntimeError("lease table unreachable (injected)")

    pipeline.dispatcher.crash_hook = crash
    try:
        [drain] = [s for s in pipeline.schedules if s.name.startswith("DrainStateMachine")]
        pipeline.fire(drain)
        pipeline.wait_for_executions("DrainStateMachine", 60)
    finally:
        pipeline.dispatcher.crash_hook = None
