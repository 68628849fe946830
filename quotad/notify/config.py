"""``[notify]``, ``[notify.smtp]``, ``[notify.outbox]``, ``[notify.calendar]``: how mail goes out.

Why the SMTP password never sits in the TOML file: as with the database, it comes from the environment
(``QUOTAD_NOTIFY__SMTP__PASSWORD``) or from ``password_file``, is held as ``SecretStr`` and is read only
when a connection is opened (``SmtpConfig.secret``), so neither a model dump nor a log line can carry it.
Addresses and the subject prefix are refused if they contain a line break: they end up in headers.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, SecretStr, field_validator

from quotad.errors import ConfigError

__all__ = ["JOB_POLICIES", "CalendarConfig", "NotifyConfig", "OutboxConfig", "SmtpConfig", "UsersConfig"]

_EMAIL = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$|^[^@\s<>,;\"]+@localhost$")
_DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}


def _address(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError(f"{value!r} is not a plain email address (user@example.jp)")
    return value


def _one_line(value: str) -> str:
    if any(ch in value for ch in "\r\n\x00"):
        raise ValueError("must not contain line breaks (it goes into a mail header)")
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SmtpConfig(_Section):
    """The submission server. ``security``: STARTTLS on 587, implicit TLS on 465, or plain (loopback relay)."""

    host: str = "localhost"
    port: int | None = Field(default=None, gt=0, lt=65536)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    timeout_s: PositiveFloat = 30.0
    verify_tls: bool = True
    ca_file: Path | None = None
    local_hostname: str | None = None

    @property
    def resolved_port(self) -> int:
        return self.port if self.port is not None else _DEFAULT_PORTS[self.security]

    def secret(self) -> str | None:
        """The password from the environment or ``password_file`` (``ConfigError`` if the file is unreadable)."""
        if self.password is not None:
            return self.password.get_secret_value()
        if self.password_file is not None:
            try:
                return self.password_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"notify.smtp.password_file: cannot read {self.password_file}: {exc}") from exc
        return None


class OutboxConfig(_Section):
    """Retry policy: attempt n waits ``retry_base_s × 2^(n-1)``, at most ``retry_max_s``; never given up."""

    retry_base_s: PositiveInt = 60
    retry_max_s: PositiveInt = 3600
    #: A message left "sending" longer than this is taken to have been interrupted and is sent again.
    lease_s: PositiveInt = 600
    #: Messages per delivery run.
    batch: PositiveInt = 200
    #: After a connection lost between DATA and the server's reply (the server may have the message), the one
    #: further attempt waits this long instead of the backoff; an uncertain retry is not retried again.
    uncertain_retry_s: PositiveInt = 6 * 3600


class CalendarConfig(_Section):
    """Working days for non-urgent notices: weekdays minus the country's public holidays and ``extra_holidays``."""

    #: ISO country code for the ``holidays`` package ("JP": Japanese public holidays, substitute days included).
    country: str = "JP"
    extra_holidays: list[date] = Field(default_factory=list)
    #: 0 = Monday ... 6 = Sunday.
    working_weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)
    #: Whose days these are; default the programme's time zone.
    timezone: str | None = None

    @field_validator("working_weekdays")
    @classmethod
    def _weekdays(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(not 0 <= d <= 6 for d in value):
            raise ValueError("expected weekday numbers 0 (Monday) to 6 (Sunday)")
        return value


#: Policies whose findings are about jobs: their notices also go to each job's user.
JOB_POLICIES = ("idle_allocation", "low_efficiency", "out_of_programme")


class UsersConfig(_Section):
    """``[notify.users]``: how a Slurm user name becomes a mail address, so the person whose job holds idle
    GPUs hears about it, not only the company contact.

    Tried in order: ``table`` (``"user"`` or ``"cluster:user"`` -> address), then ``command`` (argv with
    ``{user}`` and ``{cluster}`` replaced, e.g. ``["getent", "passwd", "{user}"]`` or an LDAP lookup script;
    the first address in its output is taken), then ``pattern`` (``"{user}@example.jp"``). A user none of them
    maps is logged and noted on the directive, never dropped silently.
    """

    table: dict[str, str] = Field(default_factory=dict)
    command: list[str] = Field(default_factory=list)
    command_timeout_s: PositiveFloat = 5.0
    pattern: str | None = None
    #: Policies whose notices also go to the jobs' users (job-level findings).
    policies: tuple[str, ...] = JOB_POLICIES
    #: A user hears about one policy at most once in this many hours (urgent notices go at once).
    cooldown_hours: PositiveFloat = 24.0

    @field_validator("table")
    @classmethod
    def _table(cls, value: dict[str, str]) -> dict[str, str]:
        return {user: _address(address) for user, address in value.items()}

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if "{user}" not in value:
            raise ValueError(f"{value!r}: expected a pattern with {{user}}, e.g. \"{{user}}@example.jp\"")
        _address(value.replace("{user}", "user").replace("{cluster}", "cluster"))
        return value

    @field_validator("command")
    @classmethod
    def _command(cls, value: list[str]) -> list[str]:
        if value and not any("{user}" in arg for arg in value):
            raise ValueError(
                f"{value!r}: expected {{user}} in one of the arguments, e.g. [\"getent\", \"passwd\", \"{{user}}\"]"
            )
        return value

    @property
    def cooldown_s(self) -> int:
        return round(self.cooldown_hours * 3600)


class NotifyConfig(_Section):
    """Who mail comes from and who else hears: the programme office (escalations, weekly summary)."""

    sender: str = "quotad@localhost"
    sender_name: str = "quotad"
    reply_to: str | None = None
    programme_office: list[str] = Field(default_factory=list)
    #: Right-hand side of every Message-ID (default: the sender's domain).
    message_id_domain: str | None = None
    subject_prefix: str = "[quotad]"
    #: A folder of templates that replace the built-in ones of the same name (wording without code changes).
    templates_dir: Path | None = None
    smtp: SmtpConfig = Field(default_factory=SmtpConfig)
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)
    calendar: CalendarConfig = Field(default_factory=CalendarConfig)
    users: UsersConfig = Field(default_factory=UsersConfig)

    @field_validator("sender", "reply_to")
    @classmethod
    def _sender(cls, value: str | None) -> str | None:
        return None if value is None else _address(value)

    @field_validator("programme_office")
    @classmethod
    def _office(cls, value: list[str]) -> list[str]:
        return [_address(v) for v in value]

    @field_validator("sender_name", "subject_prefix", "message_id_domain")
    @classmethod
    def _header_safe(cls, value: str | None) -> str | None:
        return None if value is None else _one_line(value)

    @property
    def reply_address(self) -> str:
        """Where an answer goes: ``reply_to``, else the first programme office address ("" if neither)."""
        return self.reply_to or (self.programme_office[0] if self.programme_office else "")

    @property
    def domain(self) -> str:
        return self.message_id_domain or self.sender.rpartition("@")[2]
