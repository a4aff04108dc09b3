"""sluice-local payments and iam-report print dead-letter reasons and refusals escaped: they
quote rejected payment fields and object keys, which publishers and uploaders choose."""

from __future__ import annotations

import unicodedata

import pytest

from sluice_local.emulator.iam.report import format_report
from sluice_local.emulator.inspection import DeadLetter
from sluice_local.jobs.payments import PaymentReport, print_report

HOSTILE = "\x1b[2J\x1b]0;pwned\x07\x9b31m\rok\b\u202egpj.csv"
SHOWN = "\\x1b[2J\\x1b]0;pwned\\x07\\x9b31m\\rok\\x08\\u202egpj.csv"


def acting(text: str) -> list[str]:
    return [c for c in text if c != "\n" and unicodedata.category(c) in {"Cc", "Cf", "Zl", "Zp"}]


def test_the_payments_summary_prints_reasons_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    dead = DeadLetter(
        body="{}",
        attributes={
            "sluice-step": f"ValidatePayment{HOSTILE}",
            "sluice-reason": f"InvalidPayment: currency {HOSTILE} is not ISO 4217",
        },
    )
    print_report(PaymentReport(published=1, stored=0, dead_lettered=[dead], duplicates_published=0))
    out = capsys.readouterr().out
    assert not acting(out)
    reason = f"InvalidPayment: currency {SHOWN} is not ISO 4217"
    assert f"    dead letter: ValidatePayment{SHOWN} -> {reason}" in out.splitlines()


def test_iam_report_prints_a_refused_resource_escaped() -> None:
    reason = (
        f"User: fn is not authorized to perform: s3:GetObject on resource: arn:aws:s3:::b/{HOSTILE}"
    )
    text = format_report({"calls_checked": 1, "denied_calls": 1, "denied": [{"reason": reason}]})
    assert not acting(text)
    assert f"  DENIED x1: {reason.replace(HOSTILE, SHOWN)}" in text.splitlines()
