"""Writes for the programme's reference data: companies, their accounts and contacts, grants and plans.

Each function validates against what the ledger already holds (a cluster must be configured, an account
belongs to at most one company) and raises ``UsageError``/``NotFoundError`` naming the offending value, so the
CLI can print it and exit 2 without a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select, update

from quotad.amounts import NORMALISED
from quotad.errors import NotFoundError, UsageError
from quotad.ledger.models import POOL, Cluster, Company, CompanyAccount, Contact, Grant, GrantPlan

__all__ = ["AccountRef", "ContactRef", "GrantSpec", "add_company", "set_grant"]

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class AccountRef:
    cluster: str
    account: str

    @classmethod
    def parse(cls, text: str) -> AccountRef:
        cluster, sep, account = text.partition(":")
        if not sep or not cluster or not account:
            raise UsageError(f"account {text!r}: expected CLUSTER:ACCOUNT, e.g. abci:sakura-llm")
        return cls(cluster, account)


@dataclass(frozen=True)
class ContactRef:
    email: str
    language: str = "ja"
    name: str = ""

    @classmethod
    def parse(cls, text: str) -> ContactRef:
        email, _, language = text.partition(":")
        language = language or "ja"
        if not _EMAIL.match(email):
            raise UsageError(f"contact {text!r}: {email!r} is not an email address")
        if language not in ("ja", "en"):
            raise UsageError(f"contact {text!r}: language must be 'ja' or 'en', got {language!r}")
        return cls(email, language)


def _clusters(conn: Connection) -> set[str]:
    return set(conn.scalars(select(Cluster.name)))


def company_exists(conn: Connection, company_id: str) -> bool:
    return conn.scalar(select(Company.id).where(Company.id == company_id)) is not None


def require_company(conn: Connection, company_id: str) -> None:
    if not company_exists(conn, company_id):
        known = ", ".join(conn.scalars(select(Company.id).order_by(Company.id))) or "none yet"
        raise NotFoundError("company", company_id, hint=f"known: {known}")


def add_company(
    conn: Connection,
    *,
    company_id: str,
    name_ja: str,
    name_en: str,
    accounts: Sequence[AccountRef] = (),
    contacts: Sequence[ContactRef] = (),
    now: int,
) -> None:
    """Create a company with its Slurm accounts and contacts; refuses ids and accounts already taken."""
    if not _SLUG.match(company_id):
        raise UsageError(f"company id {company_id!r}: expected lower-case letters, digits, '-' or '_'")
    if not name_ja.strip() or not name_en.strip():
        raise UsageError(f"company {company_id!r}: both --name-ja and --name-en are required")
    if company_exists(conn, company_id):
        raise UsageError(f"company {company_id!r} already exists")
    conn.execute(insert(Company).values(id=company_id, name_ja=name_ja, name_en=name_en, created_at=now))
    add_accounts(conn, company_id, accounts)
    for contact in contacts:
        conn.execute(
            insert(Contact).values(
                company_id=company_id, email=contact.email, language=contact.language, name=contact.name
            )
        )


def add_accounts(conn: Connection, company_id: str, accounts: Sequence[AccountRef]) -> None:
    clusters = _clusters(conn)
    for ref in accounts:
        if ref.cluster not in clusters:
            raise NotFoundError("cluster", ref.cluster, hint="configure it under [[clusters]]")
        owner = conn.scalar(
            select(CompanyAccount.company_id).where(
                CompanyAccount.cluster == ref.cluster, CompanyAccount.account == ref.account
            )
        )
        if owner is not None:
            raise UsageError(f"account {ref.cluster}:{ref.account} already belongs to company {owner!r}")
        conn.execute(insert(CompanyAccount).values(company_id=company_id, cluster=ref.cluster, account=ref.account))


@dataclass(frozen=True)
class GrantSpec:
    """A grant in ledger units: ``amount`` GPU-seconds of ``gpu_type``, or TFLOP when ``gpu_type`` is '*'."""

    company_id: str
    cluster: str  # a cluster name or POOL
    gpu_type: str  # a GPU type or NORMALISED
    amount: int
    period_start: int
    period_end: int
    plan: Mapping[int, int] | None = None  # month start epoch -> amount in the grant's unit
    note: str = ""


def set_grant(conn: Connection, spec: GrantSpec, *, known_gpu_types: Sequence[str]) -> int:
    """Create or replace the grant keyed by (company, cluster, GPU type, period start); returns its id."""
    require_company(conn, spec.company_id)
    if spec.cluster != POOL and spec.cluster not in _clusters(conn):
        raise NotFoundError("cluster", spec.cluster, hint="configure it under [[clusters]] or use --pool")
    if spec.gpu_type != NORMALISED and spec.gpu_type not in known_gpu_types:
        raise NotFoundError("GPU type", spec.gpu_type, hint=f"known: {', '.join(sorted(known_gpu_types))}")
    if spec.amount <= 0:
        raise UsageError("a grant amount must be positive")
    if spec.period_end <= spec.period_start:
        raise UsageError("a grant's end must be after its start")
    for month in spec.plan or {}:
        if not spec.period_start <= month < spec.period_end:
            raise UsageError("every plan month must fall inside the grant period")
    values = {
        "unit": "tflop" if spec.gpu_type == NORMALISED else "gpu_seconds",
        "amount": spec.amount,
        "period_end": spec.period_end,
        "note": spec.note,
    }
    key = (
        Grant.company_id == spec.company_id,
        Grant.cluster == spec.cluster,
        Grant.gpu_type == spec.gpu_type,
        Grant.period_start == spec.period_start,
    )
    grant_id = conn.scalar(select(Grant.id).where(*key))
    if grant_id is None:
        result = conn.execute(
            insert(Grant).values(
                company_id=spec.company_id,
                cluster=spec.cluster,
                gpu_type=spec.gpu_type,
                period_start=spec.period_start,
                **values,
            )
        )
        pk = result.inserted_primary_key
        assert pk is not None
        grant_id = int(pk[0])
    else:
        conn.execute(update(Grant).where(Grant.id == grant_id).values(**values))
    if spec.plan is not None:
        conn.execute(delete(GrantPlan).where(GrantPlan.grant_id == grant_id))
        if spec.plan:
            conn.execute(
                insert(GrantPlan),
                [{"grant_id": grant_id, "month_start": m, "amount": a} for m, a in sorted(spec.plan.items())],
            )
    return int(grant_id)
