"""Error text that names no secret: URLs without userinfo or query, exceptions without tokens.

Error messages travel far (function log, Splunk, X-Ray, a dead letter's ``sluice-reason``, the
alert email), so any message built from a request failure goes through :func:`safe_url` and
:func:`safe_error`. :func:`header_value_problem` checks a token before it becomes a header:
``http.client`` refuses a bad value with an error that quotes the whole header, token included.

Rejected values are quoted in messages too (a payment field, a stream record's data), so
:func:`mask_pans` hides any digit run long enough to be a card number first, and
:func:`fingerprint` stands in for an identifier a log line must not carry as is (a Kinesis
partition key).
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit, urlunsplit

REDACTED = "<redacted>"

# scheme://user:pass@ -> scheme://: up to the last '@' before a '/' or whitespace, past any
# '?', '#' or quote, since a person types those into a password unencoded.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s]*@")
# ``//authority`` (after a scheme or none) up to the path: where userinfo hides.
_AUTHORITY = re.compile(r"^((?:[a-z][a-z0-9+.-]*:)?//)([^/]*)", re.IGNORECASE)
# A query string with parameters (``?api_key=...``): any value may be a token.
_QUERY = re.compile(r"\?[^\s'\"<>()]*=[^\s'\"<>()]*")
# ``Authorization: ...`` / ``'Authorization': '...'`` / ``authorization=...``.
_AUTHORIZATION = re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)[^'\"\r\n,}]+")
# The credential after an auth scheme (Splunk HEC tokens are GUIDs; "Splunk HEC" is not one).
_SCHEME_CREDENTIAL = re.compile(
    r"(?i)\b(Bearer|Basic|Digest|Api-Token|Splunk(?=\s+[0-9a-f]{8}-))(\s+)[^\s'\",;)]+"
)
# http.client: "Invalid header value b'Bearer <token>\r\n'" quotes the whole header.
_INVALID_HEADER = re.compile(r"(?i)(invalid header (?:name|value))\s+.*", re.DOTALL)
# A card number (PAN) has 12 to 19 digits (ISO/IEC 7812) and is often written in groups:
# "4111 1111 1111 1111", "4111-1111-1111-1111". So: 12 or more digits (any script's: \d is
# Unicode), one space or dash allowed between two digits. Longer runs (a 56-digit Kinesis
# sequence number quoted in a rejected value) are masked all the same: nothing tells them apart.
PAN_MIN_DIGITS = 12
_PAN_LIKE = re.compile(rf"\d(?:[ -]?\d){{{PAN_MIN_DIGITS - 1},}}")
_DIGIT = re.compile(r"\d")
MASK = "*"
FINGERPRINT_HEX_CHARS = 16
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NOT_VISIBLE_ASCII = re.compile(r"[^\x20-\x7e]")


def safe_url(url: str) -> str:
    """``url`` to show in a message: scheme, host, port and path; no userinfo, query, fragment.

    Userinfo is whatever precedes the last '@' before the path, even past a '?' or '#':
    urllib.parse ends the authority at those (``https://us3r:pa?55@host`` is host ``us3r`` to
    it), which would show a password's first half.
    """
    text = _AUTHORITY.sub(lambda m: m[1] + m[2].rpartition("@")[2], str(url).strip(), count=1)
    try:
        parts = urlsplit(text)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return "<unparseable URL>"
    if not parts.netloc:  # not scheme://host...: drop whatever precedes an '@' all the same
        return redact(re.split(r"[?#]", text.rpartition("@")[2], maxsplit=1)[0])
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def redact(text: str) -> str:
    """``text`` with URL userinfo, query strings and Authorization credentials taken out."""
    text = _INVALID_HEADER.sub(rf"\1 {REDACTED}", text)
    text = _USERINFO.sub(r"\1", text)
    text = _QUERY.sub(f"?{REDACTED}", text)
    text = _AUTHORIZATION.sub(rf"\1{REDACTED}", text)
    return _SCHEME_CREDENTIAL.sub(rf"\1\2{REDACTED}", text)


def safe_error(exc: BaseException) -> str:
    """``Type: message`` of an exception, redacted (urllib3 errors embed the request's URL)."""
    message = redact(str(exc))
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def header_value_problem(value: str) -> str | None:
    """What makes ``value`` unusable in an HTTP header, never the value itself; None if fine.

    Only visible ASCII and spaces pass: http.client refuses line breaks, cannot encode most
    non-ASCII, and a server may cut a header at any other control character.
    """
    if value and not _NOT_VISIBLE_ASCII.search(value):
        return None  # the common case, in one scan: this runs once per downstream row
    if not value:
        return "is empty"
    if "\r" in value or "\n" in value:
        return "has a line break inside it"
    if _CONTROL.search(value):
        return "has a control character inside it"
    return "has a non-ASCII character inside it"


def mask_pans(text: str) -> str:
    """``text`` with every digit of a PAN-like run (12+ digits, single spaces or dashes between
    them) replaced by ``*``: the run's length and grouping stay visible, no digit of it does.

    Fully masked, not BIN and last four: logs, Splunk and dead-letter attributes store the text,
    where PCI DSS wants PAN unreadable (Requirement 3.5.1; truncation formats differ by brand),
    and displays show at most the BIN and last four (3.4.1). Showing no digit meets both
    without a per-brand table; whoever needs the value reads the dead-lettered message's body,
    under its own key.
    https://www.pcisecuritystandards.org/faq/articles/Frequently_Asked_Question/how-can-an-entity-meet-pci-dss-requirements-for-pan-masking-and-truncation-if-it-has-migrated-to-8-digit-bins/
    """
    return _PAN_LIKE.sub(lambda run: _DIGIT.sub(MASK, run.group()), text)


def fingerprint(value: str) -> str:
    """A stable stand-in for ``value`` in logs: ``sha256:`` and 16 hex digits of its SHA-256.

    Log lines about the same value still match, and someone who has the value can search for
    it (``printf %s VALUE | sha256sum``), but the log does not show it. Unkeyed: it keeps the
    value from a reader of the log, not from one who can guess and hash candidate values.
    """
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return f"sha256:{digest[:FINGERPRINT_HEX_CHARS]}"
