"""sluice_common.urls: the one rule for where a function may send, and how much of an answer it
reads."""

from __future__ import annotations

import gzip
import zlib
from typing import Any

import pytest
import urllib3
from hypothesis import given
from hypothesis import strategies as st

from sluice_common.urls import REPLY_LIMIT, UrlNotAllowed, checked_url, is_loopback, read_reply
from testkit.fake_http import Connection, CountingBody, Pool

SETTING, PARAMETER = "DOWNSTREAM_API_URL", "DownstreamApiUrl"


@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.com/rows",
        "HTTPS://API.example.com:8443/v1/rows?tenant=7",
        "https://10.0.0.5/rows",  # https anywhere, private addresses included
        "https://[2001:db8::1]:8443/rows",
        "http://127.0.0.1:8080/rows",
        "http://127.255.0.9/rows",  # all of 127.0.0.0/8
        "http://localhost:9",
        "http://LOCALHOST/rows",
        "http://[::1]:8080/rows",
        "https://api.example.com/users/@me",  # an '@' in the path is not userinfo
    ],
)
def test_https_and_loopback_http_are_allowed(url: str) -> None:
    assert checked_url(f"  {url}\n", SETTING, PARAMETER) == url


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://api.example.com/rows", "plain http"),
        ("http://10.0.0.5/rows", "plain http"),
        ("http://127.0.0.1.nip.io/rows", "plain http"),  # a name, resolvable anywhere
        ("http://localhost.example.com/rows", "plain http"),
        ("http://[::ffff:127.0.0.1]/rows", "plain http"),
        ("http://128.0.0.1/rows", "plain http"),
        ("http://0.0.0.0:8080/rows", "plain http"),
        ("ftp://api.example.com/rows", "must start with https://"),
        ("api.example.com/rows", "must start with https://"),
        ("https:/api.example.com/rows", "must start with https://"),
        ("https://", "has no host"),
        ("https://:8443/rows", "has no host"),
        ("https://api.example.com:99999/rows", "not a valid URL"),
        ("https://[::1/rows", "not a valid URL"),
        ("https://api.example.com/ro ws", "space or a control character"),
        ("https://api.example\n.com/rows", "space or a control character"),
        ("", "is empty"),
        ("   ", "is empty"),
    ],
)
def test_other_urls_are_refused_naming_the_setting_and_the_parameter(
    url: str, problem: str
) -> None:
    with pytest.raises(UrlNotAllowed, match=problem) as refused:
        checked_url(url, SETTING, PARAMETER)
    assert str(refused.value).startswith(f"{SETTING} (template parameter {PARAMETER}) ")


@pytest.mark.parametrize(
    "url",
    [
        "https://us3r:pa55@api.example.com/rows",
        "https://us3r@api.example.com/rows",
        "https://:pa55@api.example.com/rows",
        "http://us3r:pa55@127.0.0.1:8080/rows",  # loopback does not make userinfo fine
        "https://us%40r:pa%2F55@api.example.com/rows",
        "https://us3r:pa55@[::1]:8443/rows",
        "https://us3r:pa?55@api.example.com/rows",  # urllib.parse: host us3r, a query
        "https://us3r:pa#55@api.example.com/rows",
        "https://us3r:pa55@@api.example.com/rows",
        "https://us3r:pa\\55@api.example.com/rows",
        "ftp://us3r:pa55@api.example.com/rows",
    ],
)
def test_userinfo_is_refused_and_never_shown(url: str) -> None:
    with pytest.raises(UrlNotAllowed) as refused:
        checked_url(url, SETTING, PARAMETER)
    message = str(refused.value)
    assert "us3r" not in message and "pa55" not in message and "us%40r" not in message, message


# What a person may type as userinfo: RFC 3986's characters plus the ones they forget to
# percent-encode ('?', '#', '@'), never '/' (which ends the authority for every parser).
_USERINFO = st.text(
    alphabet=st.sampled_from("abcXYZ019-._~!$&'()*+,;=:%?#@"), min_size=1, max_size=20
)
_HOSTS = st.sampled_from(
    ["api.example.com", "127.0.0.1", "localhost", "[::1]", "[2001:db8::1]", "10.1.2.3"]
)


@given(
    scheme=st.sampled_from(["http", "https", "HTTPS"]),
    userinfo=_USERINFO,
    host=_HOSTS,
    port=st.sampled_from(["", ":8443"]),
    path=st.sampled_from(["", "/", "/rows", "/rows?x=1"]),
)
def test_any_userinfo_is_refused_and_absent_from_the_message(
    scheme: str, userinfo: str, host: str, port: str, path: str
) -> None:
    marked = f"S3CR3T{userinfo}"
    with pytest.raises(UrlNotAllowed) as refused:
        checked_url(f"{scheme}://{marked}@{host}{port}{path}", SETTING, PARAMETER)
    assert "S3CR3T" not in str(refused.value)


@given(host=st.ip_addresses(v=4))
def test_plain_http_is_allowed_exactly_for_127_0_0_0_slash_8(host: Any) -> None:
    url = f"http://{host}:8080/rows"
    if host.packed[0] == 127:
        assert checked_url(url, SETTING, PARAMETER) == url
    else:
        with pytest.raises(UrlNotAllowed, match="plain http"):
            checked_url(url, SETTING, PARAMETER)


def test_loopback_is_localhost_127_slash_8_and_ipv6_1_only() -> None:
    assert all(map(is_loopback, ["localhost", "127.0.0.1", "127.1.2.3", "::1"]))
    assert not any(
        map(is_loopback, ["localhost.", "127.1", "::ffff:127.0.0.1", "::", "0.0.0.0", "example"])
    )


# -- read_reply --------------------------------------------------------------------------------
def reply(body: CountingBody, **headers: str) -> tuple[urllib3.HTTPResponse, Connection, Pool]:
    pool = Pool()
    response = pool.answer(body, headers={k.replace("_", "-"): v for k, v in headers.items()})
    return response, pool.connections[0], pool


def test_a_multi_megabyte_answer_is_read_to_64_kib_and_its_connection_closed() -> None:
    body = CountingBody(16 * 1024 * 1024)
    response, connection, _ = reply(body)
    read = read_reply(response)
    assert body.read_bytes == REPLY_LIMIT == len(read.data) and read.truncated
    assert connection.closed  # discarded: the unread rest would answer the next request
    assert "longer than 65536 bytes" in read.note()


def test_an_answer_within_the_limit_is_read_whole_and_its_connection_pooled() -> None:
    body = CountingBody(head=b'{"text":"Success","code":0}')
    response, connection, pool = reply(body, Content_Length=str(body.size))
    read = read_reply(response)
    assert read.data == b'{"text":"Success","code":0}' and not read.truncated
    assert pool.pooled == [connection] and not connection.closed and read.note() == ""


def test_an_answer_of_exactly_the_limit_with_a_length_is_complete() -> None:
    body = CountingBody(REPLY_LIMIT)
    response, connection, _ = reply(body, Content_Length=str(REPLY_LIMIT))
    read = read_reply(response)
    assert len(read.data) == REPLY_LIMIT and not read.truncated and not connection.closed


def test_a_compressed_answer_is_decoded_to_the_limit_at_most() -> None:
    bomb = gzip.compress(b"{" + b" " * (64 * 1024 * 1024))  # 64 MiB in about 64 KiB
    body = CountingBody(head=bomb)
    response, _, _ = reply(body, Content_Encoding="gzip")
    read = read_reply(response)
    assert body.read_bytes <= REPLY_LIMIT and len(read.data) <= REPLY_LIMIT and read.truncated

    small = zlib.compress(b'{"linesOk": 3}')
    response, _, _ = reply(CountingBody(head=small), Content_Encoding="deflate")
    assert read_reply(response).data == b'{"linesOk": 3}'


@pytest.mark.parametrize(
    ("coding", "data", "problem"),
    [
        ("br", b"\x0b\x02\x80{}\x03", "br-encoded, which is not read"),
        ("gzip", b"not gzip at all", "not valid gzip"),
    ],
)
def test_an_answer_that_cannot_be_decoded_says_why(coding: str, data: bytes, problem: str) -> None:
    response, _, _ = reply(CountingBody(head=data), Content_Encoding=coding)
    read = read_reply(response)
    assert read.data == b"" and problem in read.note()
