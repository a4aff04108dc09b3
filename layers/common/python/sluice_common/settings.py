"""The one place a function reads its environment: typed settings, each declared once.

A function declares its settings as a frozen dataclass whose fields are :func:`setting`\\ s: the
environment variable, the template parameter it comes from, the type (the field's annotation),
bounds and a default equal to the template parameter's Default. :func:`load` reads and checks
them all at once, so a wrong value fails the first invocation with a message naming the
variable and the parameter to fix, never deep inside a row::

    @dataclass(frozen=True)
    class DrainLeaseSettings:
        table: str = setting("LEASE_TABLE")
        round_s: float = setting("SCALE_COOLDOWN_SECONDS", 30, parameter="ScaleCooldownSeconds",
                                 minimum=0)

    config = load(DrainLeaseSettings)             # os.environ
    config = load(DrainLeaseSettings, {"LEASE_TABLE": "t"})  # tests: an explicit mapping

Supported types: ``str``, ``int``, ``float``, ``bool`` (``true``/``false``) and
``tuple[str, ...]`` (comma-separated, blanks dropped). An empty variable counts as unset (the
template passes ``""`` for an optional parameter left empty).
"""

from __future__ import annotations

import dataclasses
import os
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sluice_common.errors import SluiceError

T = TypeVar("T")

_WHOLE = re.compile(r"-?[0-9]+")
REQUIRED: Any = object()  # no default: the template always sets it
_META = "sluice_setting"


class SettingsError(SluiceError):
    """An environment variable is missing or not a valid value; the message names the variable
    and the template parameter to fix (a redeploy with a valid value fixes it)."""


@dataclass(frozen=True)
class Setting:
    """One environment variable: where it comes from and what it may hold."""

    env: str
    default: Any = REQUIRED
    parameter: str | None = None  # the template parameter whose value the template passes
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def source(self) -> str:
        return f" (template parameter {self.parameter})" if self.parameter else ""


def setting(
    env: str,
    default: Any = REQUIRED,
    *,
    parameter: str | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: tuple[str, ...] = (),
) -> Any:
    """A dataclass field read from ``env`` by :func:`load` (its value comes only from there)."""
    spec = Setting(env, default, parameter, minimum, maximum, choices)
    return field(metadata={_META: spec})


def declared(cls: type) -> dict[str, Setting]:
    """The settings ``cls`` declares, by field name (for the template-consistency tests)."""
    return {f.name: f.metadata[_META] for f in dataclasses.fields(cls) if _META in f.metadata}


def load(
    cls: type[T],
    env: Mapping[str, str] | None = None,
    *,
    error: type[Exception] = SettingsError,
) -> T:
    """An instance of the settings dataclass ``cls`` read from ``env`` (default os.environ).

    Raises ``error`` (default :class:`SettingsError`; a function passes its own where a Catch
    matches that name) naming every variable that is missing or invalid.
    """
    source = os.environ if env is None else env
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    problems: list[str] = []
    for name, spec in declared(cls).items():
        raw = (source.get(spec.env) or "").strip()
        if not raw:
            if spec.required:
                problems.append(f"{spec.env} is not set{spec.source}")
            else:
                values[name] = _typed_default(spec, hints[name])
            continue
        try:
            values[name] = _checked(_parse(raw, hints[name]), spec)
        except ValueError as exc:
            problems.append(f"{spec.env}={raw[:80]!r} {exc}{spec.source}")
    if problems:
        raise error("invalid configuration: " + "; ".join(problems))
    return cls(**values)


def _typed_default(spec: Setting, kind: Any) -> Any:
    default = spec.default
    if isinstance(default, str) and kind is not str:  # written as the template's Default
        return _parse(default, kind)
    if kind is float and type(default) is int:
        return float(default)
    expected = tuple if typing.get_origin(kind) is tuple else kind
    if not isinstance(default, expected) or (kind is int and isinstance(default, bool)):
        # A declaration error, not an operator's: fail every test that loads it.
        raise TypeError(f"{spec.env}: default {default!r} is not a {expected.__name__}")
    return default


def _parse(raw: str, kind: Any) -> Any:
    if kind is str:
        return raw
    if kind is bool:
        lowered = raw.lower()
        if lowered not in ("true", "false"):
            raise ValueError("is not true or false")
        return lowered == "true"
    if kind is int:
        # Plain ASCII digits only: int() would also take "1_40", "+140" and non-ASCII digits.
        if not _WHOLE.fullmatch(raw):
            raise ValueError("is not a whole number")
        return int(raw)
    if kind is float:
        try:
            if "_" in raw or not raw.isascii():
                raise ValueError
            number = float(raw)
        except ValueError:
            raise ValueError("is not a number") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError("is not a finite number")
        return number
    if typing.get_origin(kind) is tuple:
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    raise TypeError(f"unsupported setting type {kind!r}")


def _checked(value: Any, spec: Setting) -> Any:
    if spec.minimum is not None and value < spec.minimum:
        raise ValueError(f"is below the minimum {spec.minimum:g}")
    if spec.maximum is not None and value > spec.maximum:
        raise ValueError(f"is above the maximum {spec.maximum:g}")
    if spec.choices and value not in spec.choices:
        raise ValueError(f"is not one of {', '.join(spec.choices)}")
    return value
