"""sluice_common.redact.mask_pans and fingerprint, and the quoting of rejected values
(payments.shown, describe) built on them: no card number reaches a message in full."""

from __future__ import annotations

import hashlib
import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluice_common.payments import SHOWN_CHARS, describe, shown
from sluice_common.redact import fingerprint, mask_pans

TEST_PAN = "4111111111111111"  # Visa's published test number
DIGIT = re.compile(r"\d")  # a decimal digit of any script (Unicode Nd), as the masking reads them


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (TEST_PAN, "*" * 16),
        ("card 4111 1111 1111 1111 ok", "card **** **** **** **** ok"),
        ("4111-1111-1111-1111", "****-****-****-****"),
        ("378282246310005", "*" * 15),  # Amex, 15 digits
        ("3782 822463 10005", "**** ****** *****"),
        ("123456789012", "*" * 12),
        ("\uff11\uff12\uff13\uff14\uff15\uff16" * 2, "*" * 12),  # full-width digits count
        ("pay-20261102-000417", "pay-********-******"),  # 14 digits: masked all the same
    ],
)
def test_a_digit_run_of_twelve_or_more_is_masked_digit_by_digit(text: str, masked: str) -> None:
    assert mask_pans(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "12345678901",  # 11 digits
        "4111 1111 111",
        "tel 030 1234 5678",
        "2026-11-02T10:41:55.187Z",
        "4111  1111  1111  1111",  # two spaces between groups: four short runs
        "4111/1111/1111/1111",
        "amount 12.30 EUR",
        "",
    ],
)
def test_shorter_runs_and_other_separators_are_left_alone(text: str) -> None:
    assert mask_pans(text) == text


NO_DIGITS = st.text(st.characters(blacklist_categories=["Nd"]), max_size=60)
PAN_DIGITS = st.text(alphabet=string.digits, min_size=12, max_size=40)


@given(before=NO_DIGITS, run=PAN_DIGITS, after=NO_DIGITS)
def test_no_digit_of_a_long_run_survives(before: str, run: str, after: str) -> None:
    masked = mask_pans(before + run + after)

    assert masked == before + "*" * len(run) + after


@given(
    before=NO_DIGITS,
    groups=st.lists(st.text(alphabet=string.digits, min_size=1, max_size=6), min_size=2),
    separators=st.data(),
    after=NO_DIGITS,
)
def test_a_run_written_in_groups_is_masked_when_it_has_twelve_digits(
    before: str, groups: list[str], separators: st.DataObject, after: str
) -> None:
    run = groups[0]
    for group in groups[1:]:
        run += separators.draw(st.sampled_from([" ", "-"])) + group
    masked = mask_pans(before + run + after)

    if sum(map(len, groups)) >= 12:
        assert not DIGIT.search(masked)
    else:
        assert masked == before + run + after


@given(st.text())
def test_masking_keeps_everything_but_digits(text: str) -> None:
    masked = mask_pans(text)

    assert len(masked) == len(text)
    assert all(m == t or (m == "*" and DIGIT.match(t)) for m, t in zip(masked, text, strict=True))
    assert mask_pans(masked) == masked


@given(before=NO_DIGITS, run=PAN_DIGITS, after=NO_DIGITS)
def test_a_quoted_value_shows_no_digit_of_a_card_number_even_where_it_is_cut(
    before: str, run: str, after: str
) -> None:
    # Masked, then cut: a cut first could leave 11 digits of the number in the message.
    quoted = shown(before + run + after)

    assert not DIGIT.search(quoted)
    assert len(quoted) <= SHOWN_CHARS + 2 + quoted.count("\\")


def test_a_rejected_number_is_described_masked() -> None:
    assert describe(int(TEST_PAN)) == f"a number ({'*' * 16})"
    assert describe(TEST_PAN) == f"a string ('{'*' * 16}')"
    assert describe(12.5) == "a number (12.5)"


def test_a_fingerprint_is_a_short_sha256_prefix() -> None:
    assert fingerprint("u-48213") == "sha256:" + hashlib.sha256(b"u-48213").hexdigest()[:16]
    assert fingerprint("u-48213") != fingerprint("u-48214")
    assert "48213" not in fingerprint("u-48213")
