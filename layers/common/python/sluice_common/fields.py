"""Checks of an event's fields that the payment and stream pipelines share.

The events are read with :func:`strict_json` (a key twice, at any depth, is refused: parsers
disagree on which one wins). Each check takes the error type to raise (InvalidPayment,
InvalidStreamEvent, ...), so a step's failures keep the error name its workflow or mapping
matches on. Event times are :mod:`sluice_common.timestamps`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from sluice_common.errors import SluiceError
from sluice_common.payments import ID_PATTERN, MAX_ID_LENGTH, describe, shown
from sluice_common.redact import mask_pans

MAX_LOGGED_FIELDS: Final = 20  # unknown field names returned for the log


class _DuplicateKey(ValueError):
    pass


class _NotJsonConstant(ValueError):
    pass


def required(event: Mapping[str, Any], field: str, error: type[SluiceError]) -> Any:
    """The field's value; missing or null is ``error``."""
    if field not in event:
        raise error(f"{field} is missing")
    value = event[field]
    if value is None:
        raise error(f"{field} is null; it is required")
    return value


def identifier(event: Mapping[str, Any], field: str, error: type[SluiceError]) -> str:
    """An id: 1..MAX_ID_LENGTH characters of A-Z a-z 0-9 . _ : -"""
    value = required(event, field, error)
    if not isinstance(value, str):
        raise error(f"{field} must be a string, got {describe(value)}")
    if not value:
        raise error(f"{field} is empty")
    if len(value) > MAX_ID_LENGTH:
        raise error(f"{field} has {len(value)} characters; at most {MAX_ID_LENGTH} are allowed")
    if not ID_PATTERN.fullmatch(value):
        bad = next(char for char in value if not ID_PATTERN.fullmatch(char))
        raise error(
            f"{field} {shown(value)} contains {bad!r}; only A-Z, a-z, 0-9 and . _ : - are allowed"
        )
    return value


def strict_json(
    text: str,
    what: str,
    error: type[SluiceError],
    *,
    parse_float: Callable[[str], Any],
    allow_constants: Callable[[str], Any] | None = None,
    quote_start: bool = False,
) -> Any:
    """``text`` parsed as JSON, numbers with a fraction through ``parse_float`` (a Decimal,
    never a float); ``error`` naming ``what`` says why it is not JSON this pipeline reads.

    ``allow_constants`` parses NaN and Infinity (for the caller to refuse with a better
    reason); without it they are not JSON. ``quote_start`` adds the text's first characters
    (card numbers masked) to the reason, where they help to tell what the producer sent.
    """
    try:
        return json.loads(
            text,
            parse_float=parse_float,
            parse_constant=allow_constants or _refuse_constant,
            object_pairs_hook=_object_without_duplicates,
        )
    except json.JSONDecodeError as exc:
        start = f" ({what} starts {shown(mask_pans(text)[:20])})" if quote_start else ""
        raise error(
            f"{what} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}{start}"
        ) from None
    except _DuplicateKey as exc:
        raise error(f"{what} has the field {shown(str(exc))} twice") from None
    except _NotJsonConstant as exc:
        raise error(f"{what} is not JSON: {exc} is not a JSON value") from None
    except (ValueError, RecursionError) as exc:  # an integer of over 4300 digits, deep nesting
        raise error(f"{what} is not JSON this pipeline reads: {exc}"[:300]) from None


def _refuse_constant(name: str) -> Any:
    raise _NotJsonConstant(name)


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def unknown_fields(event: Iterable[Any], known: frozenset[str]) -> tuple[str, ...]:
    """The names in ``event`` not in ``known``, sorted, at most :data:`MAX_LOGGED_FIELDS`: an
    unknown field is ignored, not refused, and its name logged. Names are masked like any
    quoted value (a card number sent as a key) and cut to 64 characters."""
    unknown = sorted(mask_pans(str(name))[:64] for name in event if name not in known)
    return tuple(unknown[:MAX_LOGGED_FIELDS])
