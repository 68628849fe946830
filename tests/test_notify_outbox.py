"""The outbox against a real SMTP server on loopback: server down then up (retried with backoff, never
lost), a crash between the server's accept and the "sent" mark (sent again after the lease with the same
Message-ID and bytes, which a duplicate-suppressing server delivers once), permanent refusals, idempotent
queueing, and SMTP with STARTTLS + AUTH and with implicit TLS."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from quotad.notify.config import OutboxConfig, SmtpConfig
from quotad.notify.message import build_message, message_id_for
from quotad.notify.outbox import OutgoingMessage, _claim, backoff_s, deliver, enqueue, list_outbox, requeue
from quotad.notify.outbox_models import OutboxMessage
from quotad.notify.render import Rendered
from quotad.notify.smtp import SmtpTransport, TransientSendError
from tests.fixtures.policy.smtp import (
    PASSWORD,
    USER,
    Mailbox,
    SmtpServer,
    authenticator,
    free_port,
    running_server,
    self_signed,
    server_tls,
)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    yield from running_server()


@pytest.fixture
def tls_cert(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed(tmp_path)

NOW = 1_795_000_000
CONFIG = OutboxConfig(retry_base_s=60, retry_max_s=600, lease_s=300)


def message(key: str, to: str = "ops@acme.example.jp") -> OutgoingMessage:
    mid = message_id_for(key, "programme.example.jp")
    msg = build_message(Rendered(f"件名 {key} / subject {key}", "本文\nbody", "<p>本文</p>"),
                        sender="quotad@programme.example.jp", sender_name="quotad", to=[to], message_id=mid, now=NOW)
    return OutgoingMessage(key, mid, "notice", "quotad@programme.example.jp", (to,), key, msg.as_string())


def queue(engine: Engine, *keys: str, to: str = "ops@acme.example.jp") -> None:
    with engine.begin() as conn:
        for key in keys:
            enqueue(conn, message(key, to), now=NOW)


def smtp(port: int, **values: object) -> SmtpTransport:
    config = SmtpConfig.model_validate({"host": "127.0.0.1", "port": port, "security": "none", "timeout_s": 5,
                                        **values})
    return SmtpTransport(config, password=str(values.get("password_", "")) or None)


def states(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return {v.dedup_key: v.state for v in list_outbox(conn)}


def test_backoff_doubles_and_caps() -> None:
    assert [backoff_s(n, CONFIG) for n in (1, 2, 3, 4, 5)] == [60, 120, 240, 480, 600]


def test_queueing_twice_is_one_message(engine: Engine) -> None:
    queue(engine, "notice:1:1")
    queue(engine, "notice:1:1")
    assert states(engine) == {"notice:1:1": "queued"}


def test_server_down_then_up_nothing_lost(engine: Engine, smtp_server: SmtpServer) -> None:
    smtp_server.stop()
    queue(engine, "a", "b")
    report = deliver(engine, smtp(smtp_server.port), now=NOW, config=CONFIG)
    assert report.sent == () and len(report.retrying) == 1 and report.stopped_early
    with engine.connect() as conn:
        rows = {v.dedup_key: v for v in list_outbox(conn)}
    assert rows["a"].attempts == 1 and rows["a"].next_attempt_at == NOW + 60 and "cannot connect" in rows["a"].last_error
    assert rows["b"].attempts == 0  # not tried while the server is known to be down
    assert deliver(engine, smtp(smtp_server.port), now=NOW + 30, config=CONFIG).retrying == (rows["b"].message_id,)
    smtp_server.start()
    assert deliver(engine, smtp(smtp_server.port), now=NOW + 59, config=CONFIG).sent == ()  # "a", "b" not due yet
    later = deliver(engine, smtp(smtp_server.port), now=NOW + 90, config=CONFIG)
    assert len(later.sent) == 2 and states(engine) == {"a": "sent", "b": "sent"}
    assert sorted(str(m.message["Subject"]) for m in smtp_server.mailbox.received) == [
        "件名 a / subject a", "件名 b / subject b"]


def test_crash_after_accept_sends_the_same_message_id_again(engine: Engine, smtp_server: SmtpServer) -> None:
    queue(engine, "notice:7:1")
    with engine.connect() as conn:
        row_id = conn.scalar(select(OutboxMessage.id))
    assert row_id is not None
    # what deliver() does, up to the server's 250 — then the process dies before marking the row sent
    claim = _claim(engine, row_id, NOW)
    assert claim is not None
    row, _ = claim
    transport = smtp(smtp_server.port)
    transport.send(row.sender, [row.recipients], row.raw.encode("ascii"))
    transport.close()
    assert states(engine) == {"notice:7:1": "sending"}
    assert deliver(engine, smtp(smtp_server.port), now=NOW + 10, config=CONFIG).sent == ()  # within the lease
    recovery = deliver(engine, smtp(smtp_server.port), now=NOW + 301, config=CONFIG)
    assert recovery.recovered == 1 and len(recovery.sent) == 1
    first, second = smtp_server.mailbox.transmissions
    assert first.raw == second.raw and first.message["Message-ID"] == second.message["Message-ID"]
    assert len(smtp_server.mailbox.received) == 1  # the duplicate-suppressing server delivered it once
    with engine.connect() as conn:
        (view,) = list_outbox(conn)
    assert view.state == "sent" and view.attempts == 2


def test_permanent_refusal_is_kept_and_can_be_requeued(engine: Engine) -> None:
    class Refusing(Mailbox):
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
            return "550 no such user" if address.startswith("gone@") else await self._accept(envelope, address)

        async def _accept(self, envelope, address):  # type: ignore[no-untyped-def]
            envelope.rcpt_tos.append(address)
            return "250 OK"

    server = SmtpServer(Refusing(), free_port())
    server.start()
    try:
        queue(engine, "x", to="gone@acme.example.jp")
        queue(engine, "y")
        report = deliver(engine, smtp(server.port), now=NOW, config=CONFIG)
        assert len(report.rejected) == 1 and len(report.sent) == 1
        with engine.connect() as conn:
            rejected = next(v for v in list_outbox(conn) if v.dedup_key == "x")
        assert rejected.state == "rejected" and "550" in rejected.last_error
        with engine.begin() as conn:
            requeue(conn, rejected.id, now=NOW + 1)
        assert states(engine)["x"] == "queued"
    finally:
        server.stop()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the refused handshake
def test_starttls_with_auth(engine: Engine, tls_cert: tuple[Path, Path]) -> None:
    cert, key = tls_cert
    server = SmtpServer(Mailbox(), free_port(), kwargs={
        "tls_context": server_tls(cert, key), "require_starttls": True, "authenticator": authenticator,
        "auth_required": True})
    server.start()
    try:
        queue(engine, "tls")
        good = SmtpTransport(SmtpConfig(host="127.0.0.1", port=server.port, security="starttls", username=USER,
                                        ca_file=cert, timeout_s=5), password=PASSWORD)
        bad = SmtpTransport(SmtpConfig(host="127.0.0.1", port=server.port, security="starttls", username=USER,
                                       ca_file=cert, timeout_s=5), password="wrong")
        with pytest.raises(TransientSendError, match="authentication failed"):
            bad.send("q@p.example.jp", ["a@b.example.jp"], b"x")
        unverified = SmtpTransport(SmtpConfig(host="127.0.0.1", port=server.port, security="starttls",
                                              username=USER, timeout_s=5), password=PASSWORD)
        with pytest.raises(TransientSendError, match="CERTIFICATE_VERIFY_FAILED"):
            unverified.send("q@p.example.jp", ["a@b.example.jp"], b"x")
        assert len(deliver(engine, good, now=NOW, config=CONFIG).sent) == 1
        assert server.mailbox.received[0].recipients == ["ops@acme.example.jp"]
    finally:
        server.stop()


def test_implicit_tls(engine: Engine, tls_cert: tuple[Path, Path]) -> None:
    cert, key = tls_cert
    server = SmtpServer(Mailbox(), free_port(), kwargs={"ssl_context": server_tls(cert, key)})
    server.start()
    try:
        queue(engine, "ssl")
        transport = SmtpTransport(SmtpConfig(host="127.0.0.1", port=server.port, security="ssl", ca_file=cert,
                                             timeout_s=5), password=None)
        assert len(deliver(engine, transport, now=NOW, config=CONFIG).sent) == 1
    finally:
        server.stop()


@dataclass
class DropsAfterData(Mailbox):
    """Takes the message, then drops the connection before its 250 (``drops`` times): did it arrive or not?"""

    drops: int = 1_000_000

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        if self.drops > 0:
            self.drops -= 1
            server.transport.close()
        return reply


def dropping_server(drops: int) -> Iterator[SmtpServer]:
    server = SmtpServer(DropsAfterData(dedup=False, drops=drops), free_port())
    server.start()
    yield server
    server.stop()


def test_a_connection_lost_after_data_is_uncertain_and_retried_once_after_a_long_delay(engine: Engine) -> None:
    config = OutboxConfig(retry_base_s=60, retry_max_s=600, lease_s=300, uncertain_retry_s=6 * 3600)
    for server in dropping_server(drops=1_000_000):
        queue(engine, "notice:9:1")
        first = deliver(engine, smtp(server.port), now=NOW, config=config)
        assert first.sent == () and len(first.retrying) == 1 and not first.stopped_early
        with engine.connect() as conn:
            (view,) = list_outbox(conn)
        assert view.state == "uncertain" and view.next_attempt_at == NOW + 6 * 3600
        assert "connection lost after DATA" in view.last_error
        for later in (60, 120, 240, 600, 3600, 6 * 3600 - 1):  # the normal backoff would have retried at each
            assert deliver(engine, smtp(server.port), now=NOW + later, config=config).retrying == ()
        assert len(server.mailbox.transmissions) == 1
        last = deliver(engine, smtp(server.port), now=NOW + 6 * 3600, config=config)  # the one retry
        assert len(last.rejected) == 1
        for later in (7 * 3600, 30 * 86400):
            deliver(engine, smtp(server.port), now=NOW + later, config=config)
        copies = server.mailbox.transmissions
        assert len(copies) == 2 and copies[0].raw == copies[1].raw  # the same bytes, the same Message-ID
        with engine.connect() as conn:
            (view,) = list_outbox(conn)
        assert view.state == "rejected" and "uncertain twice" in view.last_error and view.attempts == 2


def test_an_uncertain_message_whose_retry_is_answered_is_sent(engine: Engine) -> None:
    config = OutboxConfig(retry_base_s=60, retry_max_s=600, lease_s=300, uncertain_retry_s=3600)
    for server in dropping_server(drops=1):
        queue(engine, "notice:9:2")
        deliver(engine, smtp(server.port), now=NOW, config=config)
        assert states(engine) == {"notice:9:2": "uncertain"}
        assert deliver(engine, smtp(server.port), now=NOW + 3600, config=config).sent != ()
        assert states(engine) == {"notice:9:2": "sent"}
        first, second = server.mailbox.transmissions
        assert first.message["Message-ID"] == second.message["Message-ID"] and first.raw == second.raw
