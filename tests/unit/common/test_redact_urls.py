"""sluice_common.redact on URLs in every form a person may configure: the userinfo never shows.

Functions refuse userinfo at start (sluice_common.urls), but a URL reaches messages by other
ways too (an Ingest or HttpDownstream built directly, an operator tool): safe_url and redact
are the second line.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluice_common.redact import redact, safe_url

MARK = "S3CR3T"

# RFC 3986 userinfo characters, and the '?' and '#' a person types into a password unencoded.
_USERINFO = st.text(alphabet=st.sampled_from("abcXYZ019-._~!$&'()*+,;=:%@?#"), max_size=20)
_HOSTS = st.sampled_from(
    ["api.example.com", "127.0.0.1", "localhost", "[::1]", "[2001:db8::1]", "xn--bcher-kva.ch"]
)
_PORTS = st.sampled_from(["", ":8443", ":0", ":notaport"])
_PATHS = st.sampled_from(["", "/", "/rows", "/rows?api_key=k", "/e/env#frag", "/a@b"])
_PREFIXES = st.sampled_from(["https://", "http://", "HTTPS://", "ftp://", "//", ""])


@given(prefix=_PREFIXES, userinfo=_USERINFO, host=_HOSTS, port=_PORTS, path=_PATHS)
def test_safe_url_never_shows_userinfo(
    prefix: str, userinfo: str, host: str, port: str, path: str
) -> None:
    url = f"{prefix}{MARK}{userinfo}@{host}{port}{path}"
    shown = safe_url(url)
    assert MARK not in shown and "api_key" not in shown and "frag" not in shown, (url, shown)


@given(prefix=_PREFIXES, userinfo=_USERINFO, host=_HOSTS, path=_PATHS)
def test_redact_never_shows_userinfo_in_a_message(
    prefix: str, userinfo: str, host: str, path: str
) -> None:
    if not prefix.endswith("://"):
        prefix = "https://"  # redact finds URLs in free text by their scheme
    message = f"cannot reach {prefix}{MARK}{userinfo}@{host}{path}: [Errno 111] refused"
    assert MARK not in redact(message), message


# (url, what safe_url shows of it)
ODD_FORMS = {
    "https://us%40r:pa%2F55@api.example.com/rows": "https://api.example.com/rows",
    "https://us3r:pa55@@api.example.com/rows": "https://api.example.com/rows",
    "https://us3r:pa55@[::1]:8443/e/x": "https://[::1]:8443/e/x",
    "us3r:pa55@api.example.com:8088": "api.example.com:8088",
    "us3r@api.example.com": "api.example.com",
    "//us3r:pa55@api.example.com/rows": "//api.example.com/rows",
    "https://us3r:pa55@api.example.com:notaport/x": "https://api.example.com:notaport/x",
    "https://[us3r:pa55@api.example.com]/x": "<unparseable URL>",
    "garbage us3r:pa55@ @@ ::": " ::",
}


@pytest.mark.parametrize(("url", "shown"), ODD_FORMS.items())
def test_safe_url_strips_userinfo_in_odd_forms(url: str, shown: str) -> None:
    assert safe_url(url) == shown


# A '?' or '#' typed into a password (urllib.parse ends the authority there), a quote in
# userinfo, a fragment after a URL without a scheme.
QUERY_OR_FRAGMENT_IN_USERINFO = (
    "https://us3r:pa?55@api.example.com/rows",
    "https://us3r:pa#55@api.example.com/rows",
    "//us3r:pa?55@api.example.com/rows",
    "api.example.com/callback#access_token=us3r",
)


@pytest.mark.parametrize("url", QUERY_OR_FRAGMENT_IN_USERINFO)
def test_safe_url_strips_userinfo_holding_a_query_or_fragment_character(url: str) -> None:
    shown = safe_url(url)
    assert "us3r" not in shown and "pa55" not in shown and "55@" not in shown, shown


@pytest.mark.parametrize(
    "message",
    [
        "cannot reach https://us3r:pa?55@api.example.com/rows: refused",
        "cannot reach https://us3r:it's@api.example.com/rows: refused",
    ],
)
def test_redact_strips_userinfo_holding_a_query_character_or_a_quote(message: str) -> None:
    assert "us3r" not in redact(message), redact(message)
