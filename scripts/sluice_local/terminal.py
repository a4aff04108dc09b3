"""Text chosen by others, made safe to print on an operator's terminal.

S3 keys are whatever the uploader chose, and dead-letter reasons, message attributes, error
causes and stream records carry such text. Printed raw, ESC and CSI sequences can clear the
screen, retitle the window or rewrite earlier lines (some terminals even answer them on the
input), ``\\r`` and ``\\b`` overwrite what a line said, and bidi controls reorder what follows.
Every tool passes each such value through :func:`printable` where it prints it (the value, not
the line: the tool's own line breaks and columns stay).

Here and not in sluice_ops: both the operator tools and the local runtime's reports use it, and
the local runtime does not import the operator tools. This module imports only the standard
library, so the operator tools pull no emulator code in with it.
"""

from __future__ import annotations

import json
import unicodedata

# Cc: C0 controls, DEL and C1 controls (CSI \x9b, OSC \x9d, ...). Cf: format characters (bidi
# embeddings, overrides and isolates, zero-width joiners, soft hyphen, BOM, tags). Cs: lone
# surrogates, left by undecodable bytes, which no UTF-8 terminal can even be sent. Zl, Zp: line
# and paragraph separators, which break lines.
_ACTING = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# The backslash doubles so that the text itself cannot forge an escape.
_SHORT = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char in _SHORT:
        return _SHORT[char]
    if unicodedata.category(char) not in _ACTING:
        return char
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def printable(text: str) -> str:
    """``text`` with each character a terminal acts on written as a Python escape (``\\x1b``,
    ``\\u202e``), backslashes doubled; letters of any script, accents and emoji stay readable.
    Nothing is lost: the result reads back to ``text`` as a Python string literal would."""
    if text.isprintable() and "\\" not in text:  # the usual case: nothing to escape
        return text
    return "".join(map(_escape, text))


def readable_reason(reason: str) -> str:
    """'Error: {Lambda's error JSON}' as 'Error: its errorMessage', what a person needs.

    The drain's Catch puts a function error's Cause, Lambda's error payload (message, type and
    stack trace), into a dead letter's ``sluice-reason``; any other reason stays as it is.
    """
    error, _, cause = reason.partition(": ")
    try:
        parsed = json.loads(cause)
    except ValueError:
        return reason
    if isinstance(parsed, dict) and isinstance(parsed.get("errorMessage"), str):
        return f"{error}: {parsed['errorMessage']}"
    return reason
