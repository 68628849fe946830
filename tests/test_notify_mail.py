"""A policy tick's notice, delivered to a real SMTP server on loopback and parsed back with ``email``: one
message, Japanese first then English, in the subject and both bodies, carrying the figures, the threshold
and the ask; and no company or account name can inject a header or markup."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from sqlalchemy import Engine, select

from quotad.config import Settings
from quotad.directives.config import DirectivesConfig, Rules
from quotad.notify.config import NotifyConfig, SmtpConfig
from quotad.notify.message import build_message, header_text
from quotad.notify.outbox import deliver
from quotad.notify.outbox_models import OutboxMessage
from quotad.notify.render import Rendered
from quotad.notify.smtp import SmtpTransport
from quotad.policies.config import PoliciesConfig
from quotad.tick import policy_tick
from tests.conftest import make_settings
from tests.fixtures.policy.builders import DAY, H, Ledger, utc
from tests.fixtures.policy.smtp import SmtpServer, running_server


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    yield from running_server()

NOV, MAY = utc("2026-11-01T00:00:00"), utc("2027-05-01T00:00:00")
NOW = utc("2026-11-20T03:00:00")  # a Friday (working day in Japan)


def rules_for(server: SmtpServer, **notify: object) -> Rules:
    config = NotifyConfig.model_validate(
        {"sender": "quotad@programme.example.jp", "programme_office": ["office@programme.example.jp"],
         "smtp": SmtpConfig(host="127.0.0.1", port=server.port, security="none"), **notify}
    )
    return Rules(PoliciesConfig(), DirectivesConfig(), config)


def send_all(engine: Engine, rules: Rules, now: int = NOW) -> None:
    deliver(engine, SmtpTransport(rules.notify.smtp, password=None), now=now, config=rules.notify.outbox)


def build(engine: Engine, settings: Settings, *, name_ja: str = "アクメ", name_en: str = "Acme & Co <R&D>",
          used_h: int = 1000, account: str = "acme") -> None:
    with engine.begin() as conn:
        led = Ledger(conn, settings).setup()
        led.company("acme", accounts=(("c1", account),), contacts=("ops@acme.example.jp", "dev@acme.example.jp"),
                    name_ja=name_ja, name_en=name_en)
        led.grant("acme", 1000, NOV, MAY)
        led.charge(account, NOV + DAY, used_h * H)


def body(msg: EmailMessage, kind: str) -> str:
    part = msg.get_body(preferencelist=(kind,))
    assert part is not None
    return str(part.get_content())


def test_a_notice_arrives_bilingual_with_its_figures(engine: Engine, settings: Settings,
                                                      smtp_server: SmtpServer) -> None:
    build(engine, settings)
    rules = rules_for(smtp_server)
    report = policy_tick(engine, settings, rules, now=NOW)
    assert [f.policy for f in report.findings] == ["quota_threshold"]
    send_all(engine, rules)
    (mail,) = smtp_server.mailbox.received
    msg = mail.message
    assert sorted(mail.recipients) == ["dev@acme.example.jp", "ops@acme.example.jp"]
    subject = str(msg["Subject"])
    assert subject.index("アクメ") < subject.index("Acme") and "【緊急】" in subject and "[Critical]" in subject
    assert "100%" in subject and "\n" not in subject
    text = body(msg, "plain")
    ja, en = text.index("様の有効な割当"), text.index("has used")
    assert ja < en
    for figure in ("1,000.0", "100.0", "2027-04-30"):
        assert text.count(figure) >= 2, figure  # in both languages
    assert "割当を使い切りました" in text and "The grant is used up" in text
    assert "閾値: 100% 以上" in text and "Threshold: >= 100%" in text
    assert "directives ack" not in text  # the reader cannot run quotad: the footer says to reply
    assert "このメールにそのまま返信" in text and "reply to this mail" in text
    assert str(msg["Reply-To"]) == "office@programme.example.jp"
    assert "Acme & Co <R&D>" in text  # plain text is not escaped
    html = body(msg, "html")
    assert html.index('lang="ja"') < html.index('lang="en"')
    assert "Acme &amp; Co &lt;R&amp;D&gt;" in html and "<R&D>" not in html
    with engine.connect() as conn:
        row = conn.execute(select(OutboxMessage.__table__)).one()
    assert row.state == "sent" and msg["Message-ID"] == row.message_id
    assert msg["X-Quotad-Directive"] == str(row.directive_id) and msg["Auto-Submitted"] == "auto-generated"


def test_names_with_line_breaks_cannot_inject_headers(engine: Engine, smtp_server: SmtpServer, db_url: str) -> None:
    settings = make_settings(db_url, clusters=[{"name": "c1", "default_gpu_type": "h100",
                                                "programme_partitions": ["gpu"]}])
    evil_ja = "悪い\r\nBcc: victim@example.com\r\n会社"
    evil_en = "Evil\nX-Injected: yes\rInc"
    build(engine, settings, name_ja=evil_ja, name_en=evil_en)
    with engine.begin() as conn:  # an account as Slurm might print anything
        Ledger(conn, settings).job("ev\r\nil: x", start=NOW - H, elapsed=H, gpus=1, state="RUNNING")
    rules = rules_for(smtp_server)
    policy_tick(engine, settings, rules, now=NOW)
    send_all(engine, rules)
    assert len(smtp_server.mailbox.received) == 2
    for mail in smtp_server.mailbox.received:
        msg = mail.message
        assert msg["Bcc"] is None and msg["X-Injected"] is None and msg["il"] is None
        assert all(r.endswith("example.jp") for r in mail.recipients)
        subject = str(msg["Subject"])
        assert "\r" not in subject and "\n" not in subject
    subjects = " ".join(str(m.message["Subject"]) for m in smtp_server.mailbox.received)
    assert "悪い Bcc: victim@example.com 会社" in subjects and "Evil X-Injected: yes Inc" in subjects
    assert "ev il: x" in subjects  # the out_of_programme notice names the account, on one line


def test_header_text_and_build_message_are_safe() -> None:
    assert header_text("a\r\nb\tc\x00d\u2028e") == "a b c d e"
    msg = build_message(
        Rendered("件名\r\nBcc: x@y.z", "本文 text", "<p>本文</p>"), sender="q@p.example.jp",
        sender_name="quotad\r\nX-Evil: 1", to=["a@b.example.jp"], message_id="<x@p.example.jp>", now=0,
    )
    raw = msg.as_bytes()
    assert raw.isascii() and b"\r\nBcc:" not in raw and b"\r\nX-Evil:" not in raw
    assert str(msg["Subject"]) == "件名 Bcc: x@y.z"
    with pytest.raises(ValueError):
        build_message(Rendered("s", "t", "h"), sender="q@p.example.jp", sender_name="q",
                      to=["a@b.example.jp\r\nBcc: x@y.z"], message_id="<x@y>", now=0)
