"""printable(): text from outside shown with every character a terminal acts on as a visible
escape, nothing lost, readable text left as it is; the demo's summary prints through it."""

from __future__ import annotations

import codecs
import subprocess
import sys
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluice_local.jobs.demo import JobReport
from sluice_local.terminal import printable

ACTING = {"Cc", "Cf", "Cs", "Zl", "Zp"}
HOSTILE = "\x1b[2J\x1b]0;pwned\x07\x9b31m\rok\b\u202egpj.csv"
SHOWN = "\\x1b[2J\\x1b]0;pwned\\x07\\x9b31m\\rok\\x08\\u202egpj.csv"
# Any character, lone surrogates included, with the ones terminals act on drawn often.
TEXT = st.text(
    st.one_of(
        st.characters(exclude_categories=()),
        st.sampled_from("\x1b\x07\x9b\x9d\r\n\t\b\x7f\\\u202a\u202e\u2066\u2069\u200b\u2028\udc80"),
    )
)


def _unescape(shown: str) -> str:
    """What printable() was given, read back from what it printed (as Python reads escapes)."""
    return codecs.decode(shown.encode("latin-1", "backslashreplace"), "unicode_escape")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (HOSTILE, SHOWN),
        ("a\nb\tc", "a\\nb\\tc"),  # a value's line breaks are not the tool's
        ("\x00\x7f\x85\x9d", "\\x00\\x7f\\x85\\x9d"),  # NUL, DEL, C1 NEL and OSC
        ("\u2066x\u2069\u200b\u200d\ufeff", "\\u2066x\\u2069\\u200b\\u200d\\ufeff"),  # bidi, ZW
        ("\u2028\u2029", "\\u2028\\u2029"),  # line and paragraph separators
        ("\U000e0001", "\\U000e0001"),  # a format character beyond the BMP (LANGUAGE TAG)
        ("\udcff", "\\udcff"),  # a lone surrogate (an undecodable byte), unprintable as UTF-8
        ("C:\\x1b", "C:\\\\x1b"),  # a literal backslash doubles: text cannot forge an escape
    ],
)
def test_characters_a_terminal_acts_on_become_visible_escapes(text: str, shown: str) -> None:
    assert printable(text) == shown


@pytest.mark.parametrize(
    "text",
    ["incoming/naïve café/ümlaut ✓.csv", "订单/注文 2024.csv", "a b\u00a0c", "emoji 🚀", ""],
)
def test_readable_text_is_left_as_it_is(text: str) -> None:
    assert printable(text) == text


@given(TEXT)
def test_no_character_a_terminal_acts_on_survives(text: str) -> None:
    assert not [c for c in printable(text) if unicodedata.category(c) in ACTING]


@given(TEXT)
def test_nothing_is_lost_the_output_reads_back_to_the_input(text: str) -> None:
    assert _unescape(printable(text)) == text


def test_the_demo_summary_prints_dead_letter_keys_and_reasons_escaped() -> None:
    report = JobReport(
        uploaded=2,
        processed=0,
        dead_lettered={f"incoming/{HOSTILE}": f"NotCsv{HOSTILE}: s3://b/incoming/{HOSTILE}"},
        unaccounted=[f"incoming/u{HOSTILE}"],
        rows_expected=0,
        rows_received=0,
        duplicate_rows=0,
        peak_in_flight=0,
        max_concurrency=1,
        state_transitions=0,
        executions=0,
        wall_seconds=1.0,
        time_scale=0.05,
    )
    table = report.table()
    assert not [c for c in table if c != "\n" and unicodedata.category(c) in ACTING]
    lines = table.splitlines()
    assert f"    dead letter: incoming/{SHOWN} -> NotCsv{SHOWN}: s3://b/incoming/{SHOWN}" in lines
    assert f"    UNACCOUNTED: incoming/u{SHOWN}" in lines
    dead = next(line for line in lines if "objects dead-lettered" in line)
    assert dead.endswith(f"1  (NotCsv{SHOWN}: 1)")


def test_the_operator_tools_import_it_without_the_emulator() -> None:
    # It lives in sluice_local so that the local runtime never imports sluice_ops; the
    # operator tools that import it must not pull in moto with it.
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, sluice_ops.cli, sluice_ops.stream, sluice_ops.dashboard; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in {'moto', 'boto3'}))",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    assert loaded.stdout.strip() == "[]"
