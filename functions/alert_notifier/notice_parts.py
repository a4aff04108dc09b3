"""What every alert email says, before it is an email: a :class:`Notice` of fields, links and
steps (alarm_notices.py and alert_notices.py make them; alert_render.py renders them), and the
``sluice-redrive`` steps that notices of dead letters end with."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

SUBJECT_PREFIX = "[Sluice]"
MAX_FIELD_CHARS = 20_000  # a Step Functions cause can be 32 KB; an email is read, not parsed

# Errors of the object or message itself: the same object redriven fails the same way.
REDRIVE_FUTILE = frozenset({"EmptyObject", "NotCsv", "ObjectNotFound", "MalformedEvent"})


@dataclass(frozen=True)
class Field:
    label: str
    value: str
    preformatted: bool = False  # a cause or a JSON document: keep its lines as they are


@dataclass(frozen=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True)
class Step:
    text: str
    commands: tuple[str, ...] = ()


@dataclass(frozen=True)
class Notice:
    kind: str  # "CloudWatchAlarm", an Alert kind, or "Notification"
    subject: str
    headline: str
    severity: str  # "alarm", "ok" or "info": the colour of the headline
    what: tuple[Field, ...] = ()
    why: tuple[Field, ...] = ()
    where: tuple[Link, ...] = ()
    steps: tuple[Step, ...] = ()


def parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


def present(fields: Iterable[Field]) -> tuple[Field, ...]:
    return tuple(item for item in fields if item.value)


def clip(text: str, limit: int = MAX_FIELD_CHARS) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... ({len(text) - limit} more characters)"


def redrive_steps(stack: str, *, key: str = "", error: str = "") -> list[Step]:
    steps = [
        Step(
            "Read the dead letters and their reasons:",
            (redrive_command(stack, "list"),),
        )
    ]
    if error in REDRIVE_FUTILE:
        return steps  # the advice says what to do instead; the list shows what is waiting
    if key:
        steps.append(
            Step(
                "Once the cause is fixed, send this object back to be processed (the first "
                "command shows what the second would send):",
                (
                    redrive_command(stack, "redrive", "--contains", key, "--dry-run"),
                    redrive_command(stack, "redrive", "--contains", key),
                ),
            )
        )
    elif error:
        steps.append(
            Step(
                "Once the cause is fixed, redrive every dead letter with this error:",
                (redrive_command(stack, "redrive", "--error", error),),
            )
        )
    else:
        steps.append(
            Step(
                "Once the cause is fixed, redrive them (filter with --error or --contains):",
                (
                    redrive_command(stack, "redrive", "--dry-run"),
                    redrive_command(stack, "redrive"),
                ),
            )
        )
    return steps


def redrive_command(stack: str, *arguments: str) -> str:
    # Quoted: keys and error names come from the message, and people paste commands.
    stack_argument = shlex.quote(stack) if stack else "<stack-name>"
    return " ".join(
        ["sluice-redrive", "--stack", stack_argument, *(shlex.quote(a) for a in arguments)]
    )
