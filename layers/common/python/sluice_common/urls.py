"""Outbound HTTP, the same for every function that calls out: where it may send, how much it reads.

:func:`checked_url` is the one rule for a configured URL (the downstream, Splunk HEC, Dynatrace):
https, or plain http only to this machine, and never userinfo. A bearer token and business data
travel with every request, so plain http across a network would show both to anyone on the path;
userinfo would not even be sent (urllib3 drops it) yet would be printed wherever the URL is named.
The template's AllowedPattern refuses the same URLs at deploy time; this check also covers a
function whose environment was edited by hand.

:func:`read_reply` reads at most :data:`REPLY_LIMIT` bytes of an answer: a server, or anything
between it and the function, must not be able to make a function buffer an endless reply.

Imports only the standard library, plus :mod:`sluice_common.redact` when a URL is refused.
"""

from __future__ import annotations

import ipaddress
import re
import zlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

REPLY_LIMIT = 64 * 1024  # bytes of any answer's body a function reads, at most

_IPV4_LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
_IPV6_LOOPBACK = ipaddress.ip_address("::1")
# Whitespace or control characters inside a URL: urlsplit silently drops some (tab, newline),
# so the URL checked would not be the one a person reads.
_NOT_URL_CHARACTER = re.compile(r"[\x00-\x20\x7f]")


class UrlNotAllowed(ValueError):
    """A configured URL a function must not send to; the message names the setting, never the
    URL's userinfo. Each function raises it as its own configuration error."""


def checked_url(url: str, setting: str, parameter: str) -> str:
    """``url`` without surrounding whitespace, if a function may send a token and data to it.

    Allowed: ``https://host...``, and ``http://`` only to a loopback host (``localhost``,
    127.0.0.0/8, ``[::1]``), where nothing crosses a network. Refused with
    :class:`UrlNotAllowed`, naming the environment variable ``setting`` and the template
    parameter ``parameter``: any other scheme or plain http, a URL that does not parse, no host,
    and userinfo. Userinfo is any ``@`` before the first ``/`` after ``scheme://``, even past a
    ``?``, ``#`` or backslash: parsers disagree about where the authority ends
    (``https://user:pa?ss@host`` is host ``user`` to urllib.parse, userinfo to a person), so the
    stricter reading is the safe one. A refused URL with userinfo is never shown.
    """
    named = f"{setting} (template parameter {parameter})"
    text = (url or "").strip()
    if not text:
        raise UrlNotAllowed(f"{named} is empty: set it to an https:// URL")
    if _NOT_URL_CHARACTER.search(text):
        raise UrlNotAllowed(
            f"{named} has a space or a control character inside it: set it to the URL alone"
        )
    scheme, separator, rest = text.partition("://")
    if not separator or scheme.lower() not in {"http", "https"}:
        raise UrlNotAllowed(f"{named} must start with https:// (it is not an http(s) URL)")
    if "@" in rest.partition("/")[0]:
        raise UrlNotAllowed(
            f"{named} has userinfo (an '@' before the path, as in user:password@host): remove "
            "it (it is never sent, and credentials do not belong in a URL)"
        )
    try:
        parts = urlsplit(text)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number 0-65535
    except ValueError:
        raise UrlNotAllowed(f"{named} is not a valid URL: check its host and port") from None
    if not host:
        raise UrlNotAllowed(f"{named} has no host: set it to https://<host>[:port][/path]")
    if parts.scheme == "http" and not is_loopback(host):
        from sluice_common.redact import safe_url

        raise UrlNotAllowed(
            f"{named} is {safe_url(text)}: plain http would send the token and every request "
            "unencrypted across the network. Use https:// (plain http is allowed only to "
            "loopback: localhost, 127.0.0.0/8, [::1])"
        )
    return text


def is_loopback(host: str) -> bool:
    """``host`` (as urlsplit gives it: lower case, no brackets) is this machine.

    Only ``localhost`` among names: any other name can resolve anywhere. IPv4-mapped and
    scoped IPv6 forms are not loopback here (the template's pattern takes none of them either).
    """
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv4Address):
        return address in _IPV4_LOOPBACK
    return address == _IPV6_LOOPBACK


@dataclass(frozen=True)
class ReplyBody:
    """What was read of an answer's body."""

    data: bytes  # at most REPLY_LIMIT bytes, decoded when the server compressed it anyway
    truncated: bool  # the body went on past REPLY_LIMIT: ``data`` is only its beginning
    problem: str = ""  # why ``data`` is empty although the body was not

    def note(self) -> str:
        """A clause for a message about an answer that could not be parsed; "" if complete."""
        if self.problem:
            return f" ({self.problem})"
        if self.truncated:
            return f" (the answer was longer than {REPLY_LIMIT} bytes; only those were read)"
        return ""


def read_reply(response: Any, limit: int = REPLY_LIMIT) -> ReplyBody:
    """At most ``limit`` bytes of a urllib3 ``response`` (``preload_content=False``), then its
    connection released: back to the pool when the body ended within the limit, closed when
    bytes were left unread (they would be the next request's "answer").

    Raw bytes are counted (no urllib3 decoding, which may read on and on for a stream that
    decodes to nothing). http.client asks for ``Accept-Encoding: identity``; a server that
    compresses all the same gets gzip/deflate decoded here up to ``limit`` bytes too.
    """
    chunks: list[bytes] = []
    size = 0
    ended = False
    try:
        while size < limit:
            chunk = response.read1(limit - size, decode_content=False)
            if not chunk:
                ended = True
                break
            chunks.append(chunk)
            size += len(chunk)
        # Exactly ``limit`` bytes: the end is known only from the length (none when chunked).
        ended = ended or response.length_remaining == 0
    finally:
        if not ended:
            response.close()  # closes the connection too: it is pooled closed, not half-read
        response.release_conn()
    data = b"".join(chunks)
    coding = str(response.headers.get("Content-Encoding") or "").strip().lower()
    if coding in {"", "identity"}:
        return ReplyBody(data, not ended)
    if coding not in {"gzip", "x-gzip", "deflate"}:
        return ReplyBody(b"", not ended, f"the answer is {coding}-encoded, which is not read")
    decoder = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header, whichever it has
    try:
        decoded = decoder.decompress(data, limit)
    except zlib.error:
        return ReplyBody(b"", not ended, f"the answer is not valid {coding}")
    return ReplyBody(decoded, not ended or bool(decoder.unconsumed_tail))
