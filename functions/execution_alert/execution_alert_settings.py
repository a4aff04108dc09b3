"""ExecutionAlertFunction's settings: every variable template.yaml sets on it, declared once."""

from __future__ import annotations

from dataclasses import dataclass

from sluice_common.settings import setting


@dataclass(frozen=True)
class ExecutionAlertSettings:
    # The alarm topic (a resource of the stack, not a parameter): always set by the template.
    topic_arn: str = setting("ALERT_TOPIC_ARN")
