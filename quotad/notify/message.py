"""Building the RFC 5322 message: headers no name can break, both languages, a stable Message-ID.

Why sanitise before the ``email`` package sees a value: a company, job or account name comes from people
and from Slurm. A CR or LF in it must not start a new header (header injection), and the stdlib would
raise on it rather than send; so every header value is reduced to one line of printable text first, and
non-ASCII text (Japanese names, subjects) is left to ``email.policy.SMTP`` to encode as RFC 2047 words.
Bodies go base64-encoded in UTF-8, so the stored message is plain ASCII and needs no 8BITMIME/SMTPUTF8
from the server; the HTML part is the alternative to the plain text one.

The Message-ID is derived from the outbox idempotency key (``directive 42, notice 3``) and the configured
domain, so the same notice always carries the same id — on a retry, and after a crash.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from quotad.notify.render import Rendered

__all__ = ["build_message", "header_text", "message_id_for", "subject_header"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")
_SPACE = re.compile(r"\s+")
MAX_HEADER_TEXT = 240


def header_text(value: str, *, limit: int = MAX_HEADER_TEXT) -> str:
    """One line of text: control characters (CR, LF, TAB, NUL, Unicode line separators) become spaces."""
    text = _SPACE.sub(" ", _CONTROL.sub(" ", value)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def subject_header(value: str) -> str:
    """The Subject as it goes on the wire: RFC 2047 words folded by ``email.header.Header``.

    Why not leave it to ``email.policy.SMTP``: its folder may break a line at the space between two
    encoded words, and a reader drops whitespace between encoded words (RFC 2047 §6.2), so
    ``さくらAI株式会社: 本日の指示一覧`` arrived as ``さくらAI株式会社:本日の指示一覧``. ``Header`` encodes
    spaces inside the words, so the decoded subject is exactly the one rendered.
    """
    text = header_text(value)
    if text.isascii():
        return text
    return Header(text, "utf-8", header_name="Subject").encode(linesep="\r\n")


def message_id_for(key: str, domain: str) -> str:
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<quotad.{digest}@{header_text(domain).replace(' ', '')}>"


def build_message(
    rendered: Rendered,
    *,
    sender: str,
    sender_name: str,
    to: Sequence[str],
    cc: Sequence[str] = (),
    reply_to: str | None = None,
    message_id: str,
    now: int,
    extra: Sequence[tuple[str, str]] = (),
) -> EmailMessage:
    """A multipart/alternative message (text, then HTML) with every header made safe."""
    msg = EmailMessage(policy=SMTP)
    msg.set_raw("Subject", subject_header(rendered.subject))
    msg["From"] = Address(display_name=header_text(sender_name), addr_spec=sender)
    msg["To"] = tuple(Address(addr_spec=a) for a in to)
    if cc:
        msg["Cc"] = tuple(Address(addr_spec=a) for a in cc)
    if reply_to:
        msg["Reply-To"] = Address(addr_spec=reply_to)
    msg["Date"] = format_datetime(datetime.fromtimestamp(now, UTC))
    msg["Message-ID"] = message_id
    msg["Content-Language"] = "ja, en"
    msg["Auto-Submitted"] = "auto-generated"
    for name, value in extra:
        msg[name] = header_text(value)
    msg.set_content(rendered.text, subtype="plain", charset="utf-8", cte="base64")
    msg.add_alternative(rendered.html, subtype="html", charset="utf-8", cte="base64")
    if rendered.images:
        html_part = msg.get_body(("html",))
        assert isinstance(html_part, EmailMessage)
        for cid, data in rendered.images:
            html_part.add_related(data, maintype="image", subtype="png", cid=f"<{cid}>", filename="chart.png")
    return msg
