"""Who receives a message, and in which language order.

Why these rules:
- A company's contacts each read their preferred language first: contacts whose language is ``ja`` get one
  message (Japanese, then English), those with ``en`` another (English, then Japanese). The first group keeps
  the plain idempotency key (``notice:42:3``), the other adds its language (``notice:42:3:en``).
- A job-level finding (idle allocation, low efficiency, out-of-programme) is about jobs someone submitted; that
  person can act at once, so the job's user gets the notice too (Princeton's Job Defense Shield does the same).
  The Slurm user name becomes an address by ``[notify.users]`` (table, command, pattern). A user nobody can map
  is logged and noted on the directive — never dropped silently.
- A user with many idle jobs would get one mail per job; per-user cooldown (per policy, like a company's per
  directive) keeps it to one per ``cooldown_hours``, urgent notices excepted.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import Connection, select

from quotad.collectors.runner import CommandFailed, run_captured
from quotad.directives.models import Directive
from quotad.ledger.queries import CompanyInfo
from quotad.notify.config import NotifyConfig, UsersConfig
from quotad.notify.outbox_models import OutboxMessage
from quotad.policies.base import Finding

__all__ = [
    "LANGUAGES",
    "AddressBook",
    "Audience",
    "JobUser",
    "company_audiences",
    "job_users",
    "plain_addresses",
    "user_in_cooldown",
]

log = logging.getLogger("quotad.notify")

LANGUAGES = ("ja", "en")
_PLAIN_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
_ADDRESS_IN_TEXT = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")


@dataclass(frozen=True)
class JobUser:
    """A job's Slurm user on one cluster."""

    cluster: str
    user: str

    @property
    def key(self) -> str:
        return f"{self.cluster}:{self.user}"


@dataclass(frozen=True)
class Audience:
    """One message's readers: their language order, To and Cc, and what makes its idempotency key unique."""

    languages: tuple[str, ...]
    to: tuple[str, ...]
    cc: tuple[str, ...] = ()
    key_suffix: str = ""
    #: Set when the message goes to a job's user (the greeting names them).
    user: JobUser | None = None


def plain_addresses(addresses: Iterable[str]) -> list[str]:
    """Plain ``user@domain`` addresses, first occurrence kept (case-insensitive); others logged and skipped."""
    seen: list[str] = []
    for address in addresses:
        if not _PLAIN_ADDRESS.match(address):
            log.warning("notify: skipping %r: not a plain email address", address)
            continue
        if address.lower() not in {s.lower() for s in seen}:
            seen.append(address)
    return seen


def order_for(language: str) -> tuple[str, ...]:
    """The reader's language first, then the other (unknown languages read Japanese first)."""
    first = language if language in LANGUAGES else LANGUAGES[0]
    return (first, *(lang for lang in LANGUAGES if lang != first))


def company_audiences(company: CompanyInfo | None, config: NotifyConfig, *, escalated: bool) -> list[Audience]:
    """The messages a company notice becomes: one per preferred language among its contacts (Japanese
    first), the office in Cc of the first when escalated; the office alone when there is no contact."""
    office = plain_addresses(config.programme_office)
    groups: dict[str, list[str]] = {}
    for contact in company.contacts if company is not None else ():
        groups.setdefault(order_for(contact.language)[0], []).append(contact.email)
    audiences: list[Audience] = []
    taken: set[str] = set()
    for language in sorted(groups, key=LANGUAGES.index):
        to = [a for a in plain_addresses(groups[language]) if a.lower() not in taken]
        taken |= {a.lower() for a in to}
        if to:
            suffix = f":{language}" if audiences else ""
            audiences.append(Audience(order_for(language), tuple(to), key_suffix=suffix))
    if not audiences:
        return [Audience(LANGUAGES, tuple(office))] if office else []
    if escalated:
        first = audiences[0]
        cc = tuple(a for a in office if a.lower() not in taken)
        audiences[0] = Audience(first.languages, first.to, cc, first.key_suffix)
    return audiences


def job_users(finding: Finding) -> list[JobUser]:
    """The distinct users of the jobs a finding names, in the finding's order."""
    users: list[JobUser] = []
    for job in finding.jobs:
        user = JobUser(job.cluster, job.user_name)
        if job.user_name and user not in users:
            users.append(user)
    return users


def _run(argv: list[str], timeout_s: float) -> tuple[int, str]:
    done = run_captured(argv, timeout_s=timeout_s)
    return done.returncode, done.stdout


@dataclass
class AddressBook:
    """Slurm user -> address by ``[notify.users]``; each user looked up once per instance (one tick).
    ``run`` runs the lookup command (injected in tests)."""

    config: UsersConfig
    run: Callable[[list[str], float], tuple[int, str]] = _run
    _cache: dict[JobUser, str | None] = field(default_factory=dict)

    def address(self, who: JobUser) -> str | None:
        if who not in self._cache:
            self._cache[who] = self._lookup(who)
        return self._cache[who]

    def _lookup(self, who: JobUser) -> str | None:
        table = self.config.table
        found = table.get(who.key) or table.get(who.user)
        if found:
            return found
        if self.config.command:
            found = self._command(who)
            if found:
                return found
        if self.config.pattern:
            address = self.config.pattern.replace("{user}", who.user).replace("{cluster}", who.cluster)
            if _PLAIN_ADDRESS.match(address):
                return address
            log.warning("notify: [notify.users] pattern gives %r for user %s, not a plain address", address, who.key)
        return None

    def _command(self, who: JobUser) -> str | None:
        argv = [arg.replace("{user}", who.user).replace("{cluster}", who.cluster) for arg in self.config.command]
        try:
            returncode, stdout = self.run(argv, self.config.command_timeout_s)
        except CommandFailed as exc:
            log.warning("notify: looking up user %s: %s", who.key, exc)
            return None
        if returncode != 0:
            log.info("notify: %s exited %d for user %s", argv[0], returncode, who.key)
            return None
        match = _ADDRESS_IN_TEXT.search(stdout)
        return match.group(0) if match else None


def user_in_cooldown(conn: Connection, who: JobUser, *, policy: str, now: int, cooldown_s: int) -> bool:
    """Whether ``who`` was sent a notice of ``policy`` within ``cooldown_s`` (their own messages in the outbox)."""
    o, d = OutboxMessage, Directive
    suffix = f"%:user:{who.key}"
    found = conn.execute(
        select(o.id)
        .join(d, d.id == o.directive_id)
        .where(o.kind == "user-notice", o.dedup_key.like(suffix), d.policy == policy, o.created_at > now - cooldown_s)
        .limit(1)
    ).first()
    return found is not None
