"""The one module that talks to a mail server: SMTP with STARTTLS or implicit TLS, and AUTH.

Why failures are sorted into two kinds: the outbox must never lose a message, so anything that may work
later — the server down or refusing connections, a timeout, a 4xx reply, an authentication failure (a
password being rotated) — is ``TransientSendError`` and the message is retried with backoff; only a 5xx
refusal of this very message (every recipient refused, the data refused) is ``PermanentSendError``, and
the message is kept as "rejected" with the server's words for an operator to look at.

A third kind sits between them: the connection lost once the message was handed over with DATA and before
the server's final reply (``UncertainSendError``). The server may have taken the message or not; nobody can
tell, so the outbox neither marks it sent nor retries it at the usual backoff (each retry could be one more
copy in the inbox) — see ``quotad.notify.outbox``.

The connection is opened on the first message and reused for the batch (``SmtpTransport`` is a context
manager); the constructor only stores its arguments. A connection whose set-up fails half-way (TLS, AUTH)
is closed before the error is raised.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

from quotad.errors import QuotadError
from quotad.notify.config import SmtpConfig

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

__all__ = [
    "PermanentSendError",
    "SendError",
    "SmtpTransport",
    "TransientSendError",
    "Transport",
    "UncertainSendError",
]


class SendError(QuotadError):
    """A message could not be handed to the server; ``code`` is the SMTP reply code when there was one."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        self.code = code
        super().__init__(message)


class TransientSendError(SendError):
    """Try again later: the server is unreachable, busy, or refused with a 4xx code."""


class PermanentSendError(SendError):
    """The server refused this message for good (5xx)."""


class UncertainSendError(TransientSendError):
    """The connection was lost after DATA and before the final reply: the message may have been delivered."""


class _SMTP(smtplib.SMTP):
    """``smtplib.SMTP`` that notes when ``sendmail`` reaches DATA, so a lost connection can be placed."""

    in_data = False

    def data(self, msg: ReadableBuffer | str) -> tuple[int, bytes]:
        self.in_data = True
        return super().data(msg)


class _SMTPSSL(smtplib.SMTP_SSL):
    """The same for implicit TLS."""

    in_data = False

    def data(self, msg: ReadableBuffer | str) -> tuple[int, bytes]:
        self.in_data = True
        return super().data(msg)


class Transport(Protocol):
    """Hands one message (its exact bytes) to a server for the envelope recipients; returns refused ones."""

    def send(self, sender: str, recipients: Sequence[str], raw: bytes) -> dict[str, str]: ...

    def close(self) -> None: ...


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return f"{code} {text}"


class SmtpTransport:
    """``Transport`` over smtplib, configured by ``[notify.smtp]``; ``password`` is read by the caller."""

    def __init__(self, config: SmtpConfig, *, password: str | None) -> None:
        self.config = config
        self.password = password
        self._conn: _SMTP | _SMTPSSL | None = None

    def __enter__(self) -> SmtpTransport:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def where(self) -> str:
        return f"{self.config.host}:{self.config.resolved_port}"

    def _tls(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.config.ca_file) if self.config.ca_file else None)
        if not self.config.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _open(self) -> _SMTP | _SMTPSSL:
        cfg = self.config
        if cfg.security == "ssl":
            return _SMTPSSL(
                cfg.host, cfg.resolved_port, local_hostname=cfg.local_hostname, timeout=cfg.timeout_s,
                context=self._tls(),
            )
        return _SMTP(cfg.host, cfg.resolved_port, local_hostname=cfg.local_hostname, timeout=cfg.timeout_s)

    def _setup(self, conn: smtplib.SMTP) -> None:
        cfg = self.config
        conn.ehlo()
        if cfg.security == "starttls":
            if not conn.has_extn("starttls"):
                raise TransientSendError(f"{self.where} does not offer STARTTLS (security = 'starttls')")
            conn.starttls(context=self._tls())
            conn.ehlo()
        if cfg.username:
            conn.login(cfg.username, self.password or "")

    def _connect(self) -> _SMTP | _SMTPSSL:
        conn: _SMTP | _SMTPSSL | None = None
        try:
            conn = self._open()
            self._setup(conn)
        except TransientSendError:
            if conn is not None:
                conn.close()
            raise
        except smtplib.SMTPAuthenticationError as exc:
            if conn is not None:
                conn.close()
            reply = _reply(exc.smtp_code, exc.smtp_error)
            raise TransientSendError(f"{self.where}: authentication failed: {reply}", code=exc.smtp_code) from exc
        except smtplib.SMTPResponseException as exc:
            if conn is not None:
                conn.close()
            raise TransientSendError(f"{self.where}: {_reply(exc.smtp_code, exc.smtp_error)}",
                                     code=exc.smtp_code) from exc
        except (smtplib.SMTPException, OSError) as exc:
            if conn is not None:
                conn.close()
            raise TransientSendError(f"{self.where}: cannot connect: {exc}") from exc
        return conn

    def send(self, sender: str, recipients: Sequence[str], raw: bytes) -> dict[str, str]:
        if self._conn is None:
            self._conn = self._connect()
        self._conn.in_data = False
        try:
            refused = self._conn.sendmail(sender, list(recipients), raw)
        except smtplib.SMTPRecipientsRefused as exc:
            self.close()
            codes = [code for code, _ in exc.recipients.values()]
            detail = "; ".join(f"{rcpt}: {_reply(c, m)}" for rcpt, (c, m) in exc.recipients.items())
            kind = PermanentSendError if codes and all(c >= 500 for c in codes) else TransientSendError
            raise kind(f"every recipient refused: {detail}", code=max(codes, default=None)) from exc
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            self.close()
            kind = PermanentSendError if exc.smtp_code >= 500 else TransientSendError
            raise kind(_reply(exc.smtp_code, exc.smtp_error), code=exc.smtp_code) from exc
        except (smtplib.SMTPException, OSError) as exc:
            after_data = self._conn is not None and self._conn.in_data
            self.close()
            if after_data:
                raise UncertainSendError(
                    f"connection lost after DATA, before the server's reply (it may have the message): {exc}"
                ) from exc
            raise TransientSendError(f"connection lost while sending: {exc}") from exc
        return {rcpt: _reply(code, msg) for rcpt, (code, msg) in refused.items()}

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except (smtplib.SMTPException, OSError):
                self._conn.close()
            self._conn = None
