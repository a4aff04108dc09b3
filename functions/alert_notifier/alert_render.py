"""A notice as an email: plain text first, the HTML alternative second, both from the same
notice so that they always say the same thing; every value from a message is escaped."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from notice_parts import Field, Notice

MAX_SUBJECT_CHARS = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_MSGID_UNSAFE = re.compile(r"[^A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]")


def build_email(
    notice: Notice,
    *,
    sender: str,
    recipients: Sequence[str],
    unique_id: str | None = None,
    date: datetime | None = None,
    footer: str = "",
) -> EmailMessage:
    """The email for ``notice``: plain text first, the HTML alternative second.

    ``unique_id`` (e.g. the SNS message id) makes the Message-ID: a retried delivery of the
    same message carries the same Message-ID, and mail clients fold the duplicates.
    """
    message = EmailMessage()
    message["Subject"] = _one_line(notice.subject, MAX_SUBJECT_CHARS)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(date or datetime.now(UTC))
    message["Message-ID"] = (
        f"<{_MSGID_UNSAFE.sub('-', unique_id)}@{_domain(sender)}>"
        if unique_id
        else make_msgid(domain=_domain(sender))
    )
    # RFC 3834: vacation responders and ticket systems must not answer an alert.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Sluice-Alert"] = _one_line(notice.kind, 100)
    message.set_content(render_text(notice, footer))
    message.add_alternative(render_html(notice, footer), subtype="html")
    return message


def render_text(notice: Notice, footer: str = "") -> str:
    lines = [notice.headline, ""]
    for title, fields in (("What happened", notice.what), ("Why", notice.why)):
        if fields:
            lines += [title, *_text_fields(fields), ""]
    if notice.where:
        lines += ["Where", *(f"  {link.label}:\n    {link.url}" for link in notice.where), ""]
    if notice.steps:
        lines.append("What to do")
        for number, step in enumerate(notice.steps, 1):
            lines.append(f"  {number}. {step.text}")
            lines += [f"       $ {command}" for command in step.commands]
        lines.append("")
    if footer:
        lines += ["-- ", footer]
    return "\n".join(lines).rstrip("\n") + "\n"


def _text_fields(fields: Iterable[Field]) -> list[str]:
    lines = []
    for item in fields:
        if item.preformatted or "\n" in item.value:
            lines.append(f"  {item.label}:")
            lines += [f"    {line}" for line in item.value.splitlines()]
        else:
            lines.append(f"  {item.label}: {item.value}")
    return lines


_COLOURS = {"alarm": "#b3261e", "ok": "#1e7b34", "info": "#1f4e99"}
_CELL = "padding:2px 12px 2px 0;vertical-align:top"
_PRE = (
    "margin:0;padding:6px;background:#f4f4f4;white-space:pre-wrap;"
    "font-family:Menlo,Consolas,monospace;font-size:12px"
)


def render_html(notice: Notice, footer: str = "") -> str:
    e = html.escape
    colour = _COLOURS.get(notice.severity, _COLOURS["info"])
    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8"></head>',
        '<body style="font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#222">',
        f'<h2 style="color:{colour};margin:0 0 12px">{e(notice.headline)}</h2>',
    ]
    for title, fields in (("What happened", notice.what), ("Why", notice.why)):
        if fields:
            parts.append(f"<h3>{e(title)}</h3>")
            parts.append('<table style="border-collapse:collapse">')
            for item in fields:
                value = (
                    f'<pre style="{_PRE}">{e(item.value)}</pre>'
                    if item.preformatted
                    else e(item.value)
                )
                parts.append(
                    f'<tr><th style="{_CELL};text-align:left">{e(item.label)}</th>'
                    f'<td style="{_CELL}">{value}</td></tr>'
                )
            parts.append("</table>")
    if notice.where:
        parts.append("<h3>Where</h3><ul>")
        parts += [
            f'<li><a href="{e(link.url, quote=True)}">{e(link.label)}</a></li>'
            for link in notice.where
        ]
        parts.append("</ul>")
    if notice.steps:
        parts.append("<h3>What to do</h3><ol>")
        for step in notice.steps:
            commands = "".join(
                f'<pre style="{_PRE}">$ {e(command)}</pre>' for command in step.commands
            )
            parts.append(f"<li>{e(step.text)}{commands}</li>")
        parts.append("</ol>")
    if footer:
        parts.append(f'<hr><p style="color:#666;font-size:12px">{e(footer)}</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _one_line(text: str, limit: int) -> str:
    # Header values may not hold line breaks (the email package refuses them).
    flat = " ".join(_CONTROL.sub(" ", text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _domain(address: str) -> str:
    domain = parseaddr(address)[1].rpartition("@")[2]
    return domain or "sluice.invalid"
