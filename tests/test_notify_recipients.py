"""Who receives a notice, through a real policy tick and a real SMTP server on loopback (messages parsed back):
each company contact in their language order, the job's user for a job-level finding (mapped by table,
command or pattern), an unmapped user logged and noted on the directive, and a per-user cooldown."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from sqlalchemy import Engine

from quotad.config import Settings
from quotad.directives.config import DirectivesConfig, Rules
from quotad.directives.store import directive_events, list_directives
from quotad.ledger.registry import AccountRef, ContactRef, add_company
from quotad.notify.config import NotifyConfig, SmtpConfig, UsersConfig
from quotad.notify.outbox import deliver
from quotad.notify.recipients import AddressBook, JobUser
from quotad.notify.smtp import SmtpTransport
from quotad.policies.config import PoliciesConfig
from quotad.tick import policy_tick
from tests.conftest import make_settings
from tests.fixtures.policy.builders import DAY, H, Ledger, utc
from tests.fixtures.policy.smtp import Received, SmtpServer, running_server

NOV, MAY = utc("2026-11-01T00:00:00"), utc("2027-05-01T00:00:00")
NOW = utc("2026-11-20T03:00:00")  # a Friday (working day in Japan)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    yield from running_server()


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url, clusters=[{"name": "c1", "default_gpu_type": "h100", "programme_partitions": ["gpu"]}])


def rules_for(server: SmtpServer, **users: object) -> Rules:
    config = NotifyConfig.model_validate(
        {"sender": "quotad@programme.example.jp", "programme_office": ["office@programme.example.jp"],
         "smtp": SmtpConfig(host="127.0.0.1", port=server.port, security="none"), "users": users}
    )
    return Rules(PoliciesConfig(), DirectivesConfig(), config)


def build(engine: Engine, settings: Settings, *, idle_jobs: tuple[tuple[int, str, int], ...]) -> None:
    """Acme (one Japanese and one English contact, well inside its grant) and idle jobs (id, user, minutes)."""
    hour = NOW - NOW % H
    with engine.begin() as conn:
        led = Ledger(conn, settings).setup()
        add_company(conn, company_id="acme", name_ja="アクメ", name_en="Acme",
                    accounts=[AccountRef("c1", "acme")],
                    contacts=[ContactRef("ops@acme.example.jp", "ja"), ContactRef("eng@acme.example.jp", "en")],
                    now=0)
        led.grant("acme", 1000, NOV, MAY)
        led.charge("acme", NOV + DAY, 100 * H)
        for job_id, user, minutes in idle_jobs:
            led.job("acme", start=hour - 5 * H, elapsed=5 * H, gpus=4, state="RUNNING", job_id=job_id, user=user)
            led.gpu(job_id, 0, hour, user_name=user, idle_since=NOW - 30 - minutes * 60, last_sample=NOW - 30,
                    first_sample=hour)


def tick_and_send(engine: Engine, settings: Settings, rules: Rules, now: int = NOW) -> None:
    policy_tick(engine, settings, rules, now=now)
    deliver(engine, SmtpTransport(rules.notify.smtp, password=None), now=now, config=rules.notify.outbox)


def to_of(mail: Received) -> list[str]:
    return sorted(mail.recipients)


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def test_an_idle_job_notice_reaches_the_jobs_user(engine: Engine, settings: Settings, smtp_server: SmtpServer) -> None:
    build(engine, settings, idle_jobs=((4242, "tanaka", 90),))
    tick_and_send(engine, settings, rules_for(smtp_server, pattern="{user}@users.example.jp"))
    by_to = {tuple(to_of(m)): m.message for m in smtp_server.mailbox.received}
    assert set(by_to) == {("ops@acme.example.jp",), ("eng@acme.example.jp",), ("tanaka@users.example.jp",)}

    user = by_to[("tanaka@users.example.jp",)]
    assert user["X-Quotad-Kind"] == "user-notice" and user["Reply-To"] == "office@programme.example.jp"
    body = text_of(user)
    assert body.startswith("tanaka 様") and "Dear tanaka," in body and "4242" in body
    assert "アクメの担当者にもお送りしています" in body

    ja, en = by_to[("ops@acme.example.jp",)], by_to[("eng@acme.example.jp",)]
    assert str(ja["Subject"]).index("アクメ") < str(ja["Subject"]).index("Acme")
    assert str(en["Subject"]).index("Acme") < str(en["Subject"]).index("アクメ")
    assert text_of(en).startswith("Dear Acme team,") and text_of(ja).startswith("アクメ ご担当者様")


def test_an_unmapped_user_is_logged_and_noted_not_dropped(
    engine: Engine, settings: Settings, smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    build(engine, settings, idle_jobs=((4242, "ghost", 90),))
    with caplog.at_level(logging.WARNING, logger="quotad.notify"):
        tick_and_send(engine, settings, rules_for(smtp_server, table={"tanaka": "tanaka@users.example.jp"}))
    assert sorted(tuple(to_of(m)) for m in smtp_server.mailbox.received) == [
        ("eng@acme.example.jp",), ("ops@acme.example.jp",)
    ]
    assert any("c1:ghost has no mail address" in r.getMessage() for r in caplog.records)
    with engine.connect() as conn:
        (idle,) = [d for d in list_directives(conn) if d.policy == "idle_allocation"]
        notes = [e.detail for e in directive_events(conn, idle.id) if e.kind == "note"]
    assert notes and "c1:ghost" in notes[0]


def test_a_user_hears_once_per_cooldown_however_many_jobs_idle(
    engine: Engine, settings: Settings, smtp_server: SmtpServer
) -> None:
    build(engine, settings, idle_jobs=((4242, "tanaka", 90), (4243, "tanaka", 95)))
    rules = rules_for(smtp_server, table={"c1:tanaka": "tanaka@users.example.jp"}, cooldown_hours=6)
    tick_and_send(engine, settings, rules)
    to_user = [m for m in smtp_server.mailbox.received if to_of(m) == ["tanaka@users.example.jp"]]
    company = [m for m in smtp_server.mailbox.received if to_of(m) == ["ops@acme.example.jp"]]
    assert len(company) == 2  # the company hears of both jobs
    assert len(to_user) == 1  # the user once: the second job's notice fell in their cooldown


def test_the_address_book_tries_table_then_command_then_pattern() -> None:
    calls: list[list[str]] = []

    def run(argv: list[str], timeout_s: float) -> tuple[int, str]:
        calls.append(argv)
        if argv[-1] == "sato":
            return 0, "sato:x:1001:1001:Sato Hanako,,,sato.h@corp.example.jp:/home/sato:/bin/bash\n"
        return 2, ""

    book = AddressBook(UsersConfig(table={"c1:tanaka": "t@corp.example.jp"}, command=["getent", "passwd", "{user}"],
                                   pattern="{user}@users.example.jp"), run=run)
    assert book.address(JobUser("c1", "tanaka")) == "t@corp.example.jp"
    assert book.address(JobUser("c1", "sato")) == "sato.h@corp.example.jp"
    assert book.address(JobUser("c1", "kato")) == "kato@users.example.jp"
    assert book.address(JobUser("c1", "sato")) == "sato.h@corp.example.jp"
    assert calls == [["getent", "passwd", "sato"], ["getent", "passwd", "kato"]]  # each looked up once


def test_a_real_lookup_command_runs(tmp_path: object) -> None:
    book = AddressBook(UsersConfig(command=["printf", "%s@cmd.example.jp\\n", "{user}"]))
    assert book.address(JobUser("c1", "yamada")) == "yamada@cmd.example.jp"
    missing = AddressBook(UsersConfig(command=["/nonexistent/lookup", "{user}"]))
    assert missing.address(JobUser("c1", "yamada")) is None


def test_users_config_refuses_what_cannot_work() -> None:
    with pytest.raises(ValueError, match="user"):
        UsersConfig(pattern="everyone@example.jp")
    with pytest.raises(ValueError, match="plain email address"):
        UsersConfig(table={"tanaka": "not an address"})


def test_the_weekly_summary_carries_an_inline_chart_and_keeps_its_table(
    engine: Engine, settings: Settings, smtp_server: SmtpServer
) -> None:
    from quotad.notify.service import send_weekly

    build(engine, settings, idle_jobs=())
    rules = rules_for(smtp_server)
    sent = send_weekly(engine, settings, rules, now=NOW)
    assert sent.delivery is not None and len(sent.delivery.sent) == 1
    (mail,) = smtp_server.mailbox.received
    msg = mail.message
    assert to_of(mail) == ["office@programme.example.jp"]
    images = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 1 and images[0].get_content().startswith(b"\x89PNG")
    cid = str(images[0]["Content-ID"]).strip("<>")
    html = msg.get_body(("html",))
    assert html is not None and f'src="cid:{cid}"' in str(html.get_content())
    text = text_of(msg)  # a client that blocks images still has the figures
    assert "アクメ (acme): 100 / 1,000 GPU時間 (H100) (10.0%)" in text and "Acme (acme): 100 / 1,000" in text
