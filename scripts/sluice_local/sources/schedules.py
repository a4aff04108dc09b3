"""EventBridge schedules, driven by the local runtime: moto stores the rules but fires nothing.
Each ``rate(...)`` rule of the template fires on its period (time-scaled), its targets checked
against the rule's role as EventBridge checks them. A mixin of
:class:`sluice_local.emulator.runtime.LocalPipeline`."""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sluice_local.emulator import ACCOUNT
from sluice_local.emulator.template import TemplateError, TranslatedTemplate

if TYPE_CHECKING:
    from sluice_local.emulator.iam.enforcer import Enforcer


@dataclass(frozen=True)
class ScheduleRule:
    name: str
    expression: str
    period_seconds: float
    targets: tuple[dict[str, Any], ...]


def parse_rate(expression: str) -> float:
    """Seconds between firings of an EventBridge ``rate(...)`` expression."""
    text = expression.strip()
    if not (text.startswith("rate(") and text.endswith(")")):
        raise TemplateError(
            f"schedule {expression!r}: the local runtime drives rate(...) schedules only; "
            "cron(...) schedules are not fired locally (start the target by hand)"
        )
    value, _, unit = text[5:-1].strip().partition(" ")
    seconds = {
        "minute": 60,
        "minutes": 60,
        "hour": 3600,
        "hours": 3600,
        "day": 86400,
        "days": 86400,
    }
    if unit not in seconds or not value.isdigit() or int(value) < 1:
        raise TemplateError(f"schedule {expression!r} is not a valid rate expression")
    return int(value) * seconds[unit]


class Schedules:
    """The schedules of LocalPipeline (which holds the state they use)."""

    region: str
    time_scale: float
    iam: Enforcer
    resources: dict[str, str]
    schedules: list[ScheduleRule]
    _scheduler: threading.Thread | None
    _stop: threading.Event

    if TYPE_CHECKING:

        def client(self, service: str) -> Any: ...

    def _read_schedules(self, translated: TranslatedTemplate) -> None:
        events = self.client("events")
        for logical_id in translated.schedule_rules:
            if logical_id not in self.resources:
                continue  # its Condition is false
            name = self.resources[logical_id]
            rule = events.describe_rule(Name=name)
            if rule.get("State") == "DISABLED":
                continue
            targets = events.list_targets_by_rule(Rule=name)["Targets"]
            self.schedules.append(
                ScheduleRule(
                    name=logical_id,
                    expression=rule["ScheduleExpression"],
                    period_seconds=parse_rate(rule["ScheduleExpression"]),
                    targets=tuple(targets),
                )
            )

    def fire(self, schedule: ScheduleRule) -> list[str]:
        """Deliver one scheduled event to each target, as EventBridge would."""
        started = []
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "region": self.region,
            "resources": [f"arn:aws:events:{self.region}:123456789012:rule/{schedule.name}"],
            "detail": {},
        }
        rule_arn = f"arn:aws:events:{self.region}:{ACCOUNT}:rule/{self.resources[schedule.name]}"
        for target in schedule.targets:
            arn = target["Arn"]
            payload = target.get("Input") or json.dumps(event)
            if not self.iam.schedule_target_allowed(rule_arn, target):
                continue  # AWS: a FailedInvocation; nothing starts
            if ":states:" in arn:
                name = f"{schedule.name}-{uuid.uuid4().hex[:12]}"
                self.client("stepfunctions").start_execution(
                    stateMachineArn=arn, name=name, input=payload
                )
                started.append(name)
            elif ":lambda:" in arn:
                self.client("lambda").invoke(
                    FunctionName=arn, InvocationType="Event", Payload=payload.encode()
                )
                started.append(arn)
            else:
                raise TemplateError(f"schedule {schedule.name}: target {arn} is not supported")
        return started

    def start_schedules(self, fire_now: bool = True) -> None:
        """Fire every schedule of the template on its period (time-scaled)."""
        if self._scheduler is not None:
            return
        self._stop.clear()

        def run() -> None:
            next_due = {
                s.name: time.monotonic() + (0 if fire_now else s.period_seconds * self.time_scale)
                for s in self.schedules
            }
            while not self._stop.is_set():
                now = time.monotonic()
                for schedule in self.schedules:
                    if now >= next_due[schedule.name]:
                        self.fire(schedule)
                        next_due[schedule.name] = now + schedule.period_seconds * self.time_scale
                self._stop.wait(0.05)

        self._scheduler = threading.Thread(target=run, name="sluice-scheduler", daemon=True)
        self._scheduler.start()

    def stop_schedules(self) -> None:
        self._stop.set()
        if self._scheduler is not None:
            self._scheduler.join(timeout=5)
            self._scheduler = None
