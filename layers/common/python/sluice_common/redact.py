"""Error text that names no secret: URLs without userinfo or query, exceptions without tokens.

Error messages travel far (function log, Splunk, X-Ray, a dead letter's ``sluice-reason``, the
alert email), so any message built from a request failure goes through :func:`safe_url` and
:func:`safe_error`. :func:`header_value_problem` checks a token before it becomes a header:
``http.client`` refuses a bad value with an error that quotes the whole header, token included.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

REDACTED = "<redacted>"

# scheme://user:pass@ -> scheme:// (userinfo never contains '/', '@' or whitespace).
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#@\s'\"]*@")
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
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NOT_VISIBLE_ASCII = re.compile(r"[^\x20-\x7e]")


def safe_url(url: str) -> str:
    """``url`` to show in a message: scheme, host, port and path; no userinfo, query, fragment."""
    text = str(url).strip()
    try:
        parts = urlsplit(text)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return "<unparseable URL>"
    if not parts.netloc:  # not scheme://host...: drop whatever precedes an '@' all the same
        return redact(text.rpartition("@")[2].split("?", 1)[0])
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
