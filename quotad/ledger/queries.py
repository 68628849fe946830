"""The ledger's read API: what status, reports, policies, metrics and plugins may ask.

Everything here reads the hourly rollups (never the job table, except for "what runs now"), so the cost of a
status or a monthly report does not grow with the number of jobs. Results are typed, integer-valued objects;
conversion to hours or EFLOPS happens at the display edge.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import ColumnElement, Connection, and_, func, or_, select

from quotad.amounts import NORMALISED, Amount, Unit
from quotad.errors import NotFoundError
from quotad.ledger.models import (
    OPEN_SEGMENT,
    POOL,
    Company,
    CompanyAccount,
    Contact,
    Grant,
    GrantPlan,
    Job,
    UsageDaily,
    UsageHourly,
    UsageUserDaily,
)
from quotad.ledger.records import decode_gpus
from quotad.ledger.registry import AccountRef, ContactRef
from quotad.units import SECONDS_PER_DAY, SECONDS_PER_HOUR, GpuCatalog

__all__ = [
    "AGENT_READS",
    "REPORT_KEYS",
    "UNCLAIMED_WINDOW_S",
    "CellKey",
    "CellsSince",
    "CompanyInfo",
    "GrantInfo",
    "JobCompute",
    "Position",
    "ReportRow",
    "StatusRow",
    "UsageCells",
    "account_companies",
    "account_owners",
    "account_window_compute",
    "allocated_gpus",
    "charged_by_hour",
    "company_status",
    "get_company",
    "gpus_held_now",
    "grant_position",
    "jobs_compute",
    "key_totals",
    "list_companies",
    "list_grants",
    "memoised_cells",
    "range_cells",
    "running_gpu_types",
    "running_job_gpu_types",
    "split_days",
    "status_rows",
    "unclaimed_since",
    "unclaimed_usage",
    "usage_cells",
    "usage_report",
]

#: (company, cluster, GPU type)
CellKey = tuple[str, str, str]
#: (company_id, cluster, gpu_type) -> GPU-seconds
UsageCells = dict[CellKey, int]
ReportKey = Literal["company", "cluster", "partition", "gpu-type", "user"]
REPORT_KEYS: tuple[ReportKey, ...] = ("company", "cluster", "partition", "gpu-type", "user")
BURN_WINDOW = 7 * SECONDS_PER_DAY
#: How far back ``quotad status``'s unclaimed-accounts line and ``quotad_unclaimed_gpu_seconds`` look.
UNCLAIMED_WINDOW_S = 30 * SECONDS_PER_DAY


@dataclass(frozen=True)
class CompanyInfo:
    id: str
    name_ja: str
    name_en: str
    accounts: tuple[AccountRef, ...]
    contacts: tuple[ContactRef, ...]


@dataclass(frozen=True)
class GrantInfo:
    id: int
    company_id: str
    cluster: str
    unit: Unit
    amount: int
    period_start: int
    period_end: int
    plan: tuple[tuple[int, int], ...]
    note: str

    def covers(self, cluster: str, gpu_type: str) -> bool:
        """Whether usage on (cluster, gpu_type) counts against this grant."""
        in_scope = self.cluster in (POOL, cluster)
        return in_scope and (self.unit.normalised or self.unit.gpu_type == gpu_type)

    def active(self, at: int) -> bool:
        return self.period_start <= at < self.period_end


#: The registry tables ``account_companies`` reads: all the NVML node agent reads besides its own rows
#: (``quotad db roles`` grants its role SELECT on exactly these).
AGENT_READS: tuple[str, ...] = (CompanyAccount.__tablename__,)


def account_companies(conn: Connection, cluster: str) -> dict[str, str]:
    """Account -> company id on ``cluster``: the node agent's company labels.

    Why not ``list_companies``: the agent runs on machines where users run arbitrary code, so its database
    role reads ``company_accounts`` alone (``AGENT_READS``), not the companies' names or contacts' addresses.
    """
    stmt = select(CompanyAccount.account, CompanyAccount.company_id).where(CompanyAccount.cluster == cluster)
    return {account: company for account, company in conn.execute(stmt)}


def list_companies(conn: Connection) -> list[CompanyInfo]:
    accounts: defaultdict[str, list[AccountRef]] = defaultdict(list)
    for acc in conn.execute(select(CompanyAccount).order_by(CompanyAccount.cluster, CompanyAccount.account)):
        accounts[acc.company_id].append(AccountRef(acc.cluster, acc.account))
    contacts: defaultdict[str, list[ContactRef]] = defaultdict(list)
    for contact in conn.execute(select(Contact).order_by(Contact.id)):
        contacts[contact.company_id].append(ContactRef(contact.email, contact.language, contact.name))
    return [
        CompanyInfo(row.id, row.name_ja, row.name_en, tuple(accounts[row.id]), tuple(contacts[row.id]))
        for row in conn.execute(select(Company).order_by(Company.id))
    ]


def get_company(conn: Connection, company_id: str) -> CompanyInfo:
    for company in list_companies(conn):
        if company.id == company_id:
            return company
    known = ", ".join(c.id for c in list_companies(conn)) or "none yet"
    raise NotFoundError("company", company_id, hint=f"known: {known}")


def list_grants(conn: Connection, *, company_id: str | None = None) -> list[GrantInfo]:
    plans: defaultdict[int, list[tuple[int, int]]] = defaultdict(list)
    for row in conn.execute(select(GrantPlan).order_by(GrantPlan.month_start)):
        plans[row.grant_id].append((row.month_start, row.amount))
    stmt = select(Grant).order_by(Grant.company_id, Grant.period_start, Grant.cluster)
    if company_id is not None:
        stmt = stmt.where(Grant.company_id == company_id)
    return [
        GrantInfo(
            id=row.id,
            company_id=row.company_id,
            cluster=row.cluster,
            unit=Unit(NORMALISED if row.unit == "tflop" else row.gpu_type),
            amount=row.amount,
            period_start=row.period_start,
            period_end=row.period_end,
            plan=tuple(plans[row.id]),
            note=row.note,
        )
        for row in conn.execute(stmt)
    ]


def usage_cells(conn: Connection, start: int, end: int) -> UsageCells:
    """GPU-seconds per (company, cluster, GPU type) charged in hours [start, end); unclaimed accounts excluded.

    Whole UTC days inside the range are read from the daily rollup, only the hours at either edge from
    ``usage_hourly``: a grant period is months of hours (a quarter of a million rows on a 1M-job ledger) but
    a few hundred days. The rollup equals its hours by construction (triggers on ``usage_hourly``), which
    ``quotad db check-rollups`` and the daemon's ``rollup_upkeep`` verify.
    """
    head, days, tail = split_days(start, end)
    cells: defaultdict[tuple[str, str, str], int] = defaultdict(int)
    parts = [_hourly_cells(conn, *head), _hourly_cells(conn, *tail)]
    if days is not None:
        parts.append(_daily_cells(conn, *days))
    for part in parts:
        for key, seconds in part.items():
            cells[key] += seconds
    return dict(cells)


def _hourly_cells(conn: Connection, start: int, end: int) -> UsageCells:
    if start >= end:
        return {}
    uh, ca = UsageHourly, CompanyAccount
    stmt = (
        select(ca.company_id, uh.cluster, uh.gpu_type, func.sum(uh.gpu_seconds))
        .join(ca, and_(ca.cluster == uh.cluster, ca.account == uh.account))
        .where(uh.hour >= start, uh.hour < end)
        .group_by(ca.company_id, uh.cluster, uh.gpu_type)
    )
    return {(c, cl, t): int(s) for c, cl, t, s in conn.execute(stmt)}


def split_days(start: int, end: int) -> tuple[tuple[int, int], tuple[int, int] | None, tuple[int, int]]:
    """[start, end) as (head, whole UTC days or None, tail); head and tail each lie within one UTC day and
    may be empty."""
    first = -(-start // SECONDS_PER_DAY) * SECONDS_PER_DAY
    last = end // SECONDS_PER_DAY * SECONDS_PER_DAY
    if first > last:  # start and end fall in the same day
        return (start, end), None, (end, end)
    if first == last:  # they straddle one midnight
        return (start, first), None, (last, end)
    return (start, first), (first, last), (last, end)


#: (cluster, account, GPU type) -> GPU-seconds, before accounts are mapped to companies.
_AccountCells = defaultdict[tuple[str, str, str], int]


def range_cells(
    conn: Connection,
    start: int,
    end: int,
    *,
    daily: bool = True,
    now: int | None = None,
    owners: Mapping[tuple[str, str], str] | None = None,
) -> UsageCells:
    """``usage_cells(start, end)`` without its zero cells, reading whole UTC days from ``usage_daily``.

    The one reader of "usage since a grant started" (policies through ``LedgerFacts``, the exporter's
    snapshot). Six months of hourly rows for 600 cells are millions; of daily rows, about a hundred thousand,
    and ``usage_daily`` is kept equal to the hourly sums by triggers, so the answer stays exact to the second.
    The partial days at either end are read from ``usage_hourly`` directly, or as their whole day minus the
    hours outside the range when those span less time (as the day in progress does: nothing is charged
    after ``now``). Sums are taken per (cluster, account, GPU type) in the database and mapped to companies
    here (``owners``: (cluster, account) -> company, read when not given): the join with company_accounts
    would cost one index seek per hourly row; this costs one per account. ``daily=False`` takes
    ``usage_cells``'s path instead (the company join in the database), which the tests compare it with.
    """
    if not daily:
        return {k: v for k, v in usage_cells(conn, start, end).items() if v}
    totals = _account_totals(conn, start, end, now=now)
    if owners is None:
        owners = account_owners(conn)
    cells: defaultdict[tuple[str, str, str], int] = defaultdict(int)
    for (cluster, account, gpu_type), seconds in totals.items():
        owner = owners.get((cluster, account))
        if owner is not None:
            cells[(owner, cluster, gpu_type)] += seconds
    return {k: v for k, v in cells.items() if v}


def account_owners(conn: Connection) -> dict[tuple[str, str], str]:
    """(cluster, account) -> company, for mapping per-account sums to companies outside the database."""
    return {(a.cluster, a.account): a.company_id for a in conn.execute(select(CompanyAccount))}


def _account_totals(conn: Connection, start: int, end: int, *, now: int | None) -> _AccountCells:
    """GPU-seconds per (cluster, account, GPU type) charged in [start, end): whole UTC days from
    ``usage_daily``, the partial days at either end from ``usage_hourly`` (see ``range_cells``)."""
    totals: _AccountCells = defaultdict(int)
    for (cluster, account, gpu_type), seconds in key_totals(conn, start, end, ("cluster", "account"), now=now).items():
        totals[(cluster, account, gpu_type)] += seconds
    return totals


#: ``usage_hourly`` columns ``key_totals`` may group by; the ones ``usage_daily`` carries as well.
KEY_COLUMNS = ("cluster", "account", "user_name", "partition")
_DAILY_COLUMNS = frozenset({"cluster", "account"})


def key_totals(
    conn: Connection, start: int, end: int, columns: Sequence[str], *, now: int | None = None
) -> dict[tuple[str, ...], int]:
    """GPU-seconds charged in [start, end) per (``columns``..., GPU type), without zero sums.

    Whole UTC days are read from a daily rollup (``usage_daily`` when ``columns`` are among cluster and
    account, else ``usage_user_daily``, which keeps every ``usage_hourly`` key), the partial days at either
    end from ``usage_hourly``, or as their whole day minus the hours outside the range when those span less
    time (nothing is charged after ``now``). Both rollups equal their hours by triggers, which ``quotad db
    check-rollups`` and the daemon's ``rollup_upkeep`` verify, so the sums are exact to the second. A range
    in another time zone (a Tokyo month starts at 15:00 UTC) is the same: its whole UTC days plus its hours.
    """
    unknown = [c for c in columns if c not in KEY_COLUMNS]
    if unknown:
        raise ValueError(f"not a usage key column: {', '.join(unknown)}")
    daily_model = UsageDaily if _DAILY_COLUMNS.issuperset(columns) else UsageUserDaily
    totals: defaultdict[tuple[str, ...], int] = defaultdict(int)

    def add(daily: bool, lo: int, hi: int, sign: int) -> None:
        if lo >= hi:
            return
        model: type[UsageHourly | UsageDaily | UsageUserDaily] = daily_model if daily else UsageHourly
        at = daily_model.day if daily else UsageHourly.hour
        group = [getattr(model, c) for c in columns] + [model.gpu_type]
        stmt = select(*group, func.sum(model.gpu_seconds)).where(at >= lo, at < hi).group_by(*group)
        for *key, seconds in conn.execute(stmt):
            totals[tuple(key)] += sign * int(seconds or 0)

    head, days, tail = split_days(start, end)
    if days is not None:
        add(True, days[0], days[1], 1)
    for lo, hi in (head, tail):
        if lo >= hi:
            continue
        day = lo - lo % SECONDS_PER_DAY
        after = min(day + SECONDS_PER_DAY, max(hi, now + 1)) if now is not None else day + SECONDS_PER_DAY
        if (lo - day) + (after - hi) < hi - lo:
            add(True, day, day + SECONDS_PER_DAY, 1)
            add(False, day, lo, -1)
            add(False, hi, day + SECONDS_PER_DAY, -1)
        else:
            add(False, lo, hi, 1)
    return {key: seconds for key, seconds in totals.items() if seconds}


def _daily_cells(conn: Connection, start: int, end: int) -> UsageCells:
    """Like ``_hourly_cells`` over whole UTC days [start, end) (both multiples of a day), from the rollup."""
    ud, ca = UsageDaily, CompanyAccount
    stmt = (
        select(ca.company_id, ud.cluster, ud.gpu_type, func.sum(ud.gpu_seconds))
        .join(ca, and_(ca.cluster == ud.cluster, ca.account == ud.account))
        .where(ud.day >= start, ud.day < end, ud.gpu_seconds != 0)
        .group_by(ca.company_id, ud.cluster, ud.gpu_type)
    )
    return {(c, cl, t): int(s) for c, cl, t, s in conn.execute(stmt)}

def unclaimed_usage(
    conn: Connection, start: int, end: int, *, now: int | None = None
) -> dict[tuple[str, str, str], int]:
    """GPU-seconds per (cluster, account, GPU type) in hours [start, end) of accounts no company claims.

    The complement of ``usage_cells``: usage the ledger keeps but charges to nobody (a new account not yet
    added with ``company add-account``, or someone computing outside the programme). Whole days are read from
    ``usage_daily`` like ``range_cells`` (``now``: nothing is charged after it): a 30-day window of hourly rows
    is every user's every hour, which at 100,000 GPUs took ``quotad status`` past a second (``bench/scale.py``).
    """
    owners = account_owners(conn)
    return {
        key: seconds
        for key, seconds in sorted(_account_totals(conn, start, end, now=now).items())
        if seconds and (key[0], key[1]) not in owners
    }


def unclaimed_since(conn: Connection, now: int) -> dict[tuple[str, str, str], int]:
    """Unclaimed accounts' GPU-seconds in the whole hours of the trailing ``UNCLAIMED_WINDOW_S`` up to ``now``
    (what ``quotad status`` lists and ``quotad_unclaimed_gpu_seconds`` serves)."""
    start = (now - UNCLAIMED_WINDOW_S) // SECONDS_PER_HOUR * SECONDS_PER_HOUR
    return unclaimed_usage(conn, start, now, now=now)


def gpus_held_now(conn: Connection) -> dict[str, int]:
    """GPUs held by each company's running jobs, as of the last collection."""
    stmt = (
        select(CompanyAccount.company_id, func.sum(Job.gpu_count))
        .join(CompanyAccount, and_(CompanyAccount.cluster == Job.cluster, CompanyAccount.account == Job.account))
        .where(Job.state == "RUNNING")
        .group_by(CompanyAccount.company_id)
    )
    return {company: int(n or 0) for company, n in conn.execute(stmt)}


@dataclass(frozen=True)
class StatusRow:
    """One company's position against its active grants at ``now``; all amounts in ``unit``."""

    company_id: str
    name_ja: str
    name_en: str
    unit: Unit | None
    granted: int
    used: int
    used_last_7d: int
    burn_window_s: int
    projected: int
    period_start: int | None
    period_end: int | None
    gpus_held: int
    grant_ids: tuple[int, ...] = field(default=())

    @property
    def used_ratio(self) -> float | None:
        return self.used / self.granted if self.granted else None

    @property
    def burn_per_day(self) -> float:
        """Use per day over the trailing window, in ``unit``'s integer base (scaled for display by the caller)."""
        return self.used_last_7d * SECONDS_PER_DAY / self.burn_window_s if self.burn_window_s else 0.0

    def amount(self, value: int) -> Amount | None:
        return Amount(value, self.unit) if self.unit else None


@dataclass(frozen=True)
class Position:
    """Grants taken together (one company's, or one grant) against the usage they cover at ``now``.

    The one place the programme's grant arithmetic lives: ``quotad status``, the policies, the exporter and
    the plugins' ledger view all read their grant figures from here, so they cannot disagree.
    """

    unit: Unit
    granted: int
    used: int
    used_last_7d: int
    burn_window_s: int
    projected: int
    period_start: int
    period_end: int


#: usage cells of the hours that began before ``now`` ([start, now)) for a start; callers memoise it, since
#: companies share starts. Strictly before: at ``--now 2026-07-01T00:00:00`` the hour starting then is not counted.
CellsSince = Callable[[int], UsageCells]


def _covered(unit: Unit, cells: UsageCells, company: str, grants: Sequence[GrantInfo], catalog: GpuCatalog) -> int:
    """Usage of cells any of ``grants`` covers, each cell counted once even where grant scopes overlap."""
    total = 0
    for (owner, cluster, gpu_type), seconds in cells.items():
        if owner == company and any(g.covers(cluster, gpu_type) for g in grants):
            total += unit.convert(seconds, gpu_type, catalog)
    return total


def grant_position(grants: Sequence[GrantInfo], cells_since: CellsSince, catalog: GpuCatalog, *, now: int) -> Position:
    """``grants`` (non-empty, one company's) at ``now``: in their common unit, or normalised when they differ.

    Used is what the grants' scopes cover since the earliest start; the burn rate is the trailing 7 days (or
    the part of the period so far, if shorter); projected = used + rate x time left to the latest end.
    """
    units = {g.unit for g in grants}
    unit = units.pop() if len(units) == 1 else Unit(NORMALISED)
    company = grants[0].company_id
    start = min(g.period_start for g in grants)
    end = max(g.period_end for g in grants)
    recent_start = max(start, now - BURN_WINDOW)
    used = _covered(unit, cells_since(start), company, grants, catalog)
    recent = _covered(unit, cells_since(recent_start), company, grants, catalog)
    window = now - recent_start
    projected = used + (recent * (end - now) // window if window > 0 else 0)
    granted = sum(g.amount if g.unit == unit else catalog.tflop(g.amount, g.unit.gpu_type) for g in grants)
    return Position(unit, granted, used, recent, window, projected, start, end)


def memoised_cells(conn: Connection, *, now: int) -> CellsSince:
    """``usage_cells(start, now)`` (without zero cells: the hours that began before ``now``) read once per
    distinct start, through ``range_cells``: whole days from the daily rollup, so ``quotad status`` costs the
    same in a grant's sixth month as in its first (the hourly join it used took two seconds at 20,000 GPUs,
    ``bench/scale.py``)."""
    ranges: dict[int, UsageCells] = {}
    owners = account_owners(conn)

    def cells_since(start: int) -> UsageCells:
        if start not in ranges:
            ranges[start] = range_cells(conn, start, now, now=now, owners=owners)
        return ranges[start]

    return cells_since


def status_rows(
    companies: Iterable[CompanyInfo],
    active_grants: Iterable[GrantInfo],
    held: Mapping[str, int],
    cells_since: CellsSince,
    catalog: GpuCatalog,
    *,
    now: int,
) -> list[StatusRow]:
    """One ``StatusRow`` per company from already-read parts (the policies' facts read them once per tick)."""
    by_company: defaultdict[str, list[GrantInfo]] = defaultdict(list)
    for grant in active_grants:
        by_company[grant.company_id].append(grant)
    rows = []
    for company in companies:
        grants = by_company.get(company.id, [])
        gpus = held.get(company.id, 0)
        if not grants:
            rows.append(StatusRow(company.id, company.name_ja, company.name_en, None, 0, 0, 0, 0, 0, None, None, gpus))
            continue
        p = grant_position(grants, cells_since, catalog, now=now)
        rows.append(
            StatusRow(
                company.id, company.name_ja, company.name_en, p.unit, p.granted, p.used, p.used_last_7d,
                p.burn_window_s, p.projected, p.period_start, p.period_end, gpus, tuple(g.id for g in grants),
            )
        )  # fmt: skip
    return rows


def company_status(conn: Connection, catalog: GpuCatalog, *, now: int) -> list[StatusRow]:
    """One row per company: grant, used, trailing burn and projection to the end of its active grants."""
    return status_rows(
        list_companies(conn),
        [g for g in list_grants(conn) if g.active(now)],
        gpus_held_now(conn),
        memoised_cells(conn, now=now),
        catalog,
        now=now,
    )


@dataclass(frozen=True)
class ReportRow:
    key: str
    gpu_seconds: dict[str, int]  # by GPU type
    tflop: int

    @property
    def total_gpu_seconds(self) -> int:
        return sum(self.gpu_seconds.values())


def usage_report(conn: Connection, catalog: GpuCatalog, *, start: int, end: int, by: ReportKey) -> list[ReportRow]:
    """Usage in hours [start, end) grouped by ``by``; unclaimed accounts appear as '(unclaimed) cluster:account'.

    Whole UTC days come from the daily rollups (``usage_daily``; ``usage_user_daily`` for partition and user)
    and only the partial days at either end from ``usage_hourly`` (``key_totals``), exact to the second.
    """
    if by not in REPORT_KEYS:
        raise ValueError(by)
    columns = {"partition": ("cluster", "account", "partition"), "user": ("cluster", "account", "user_name")}
    owners = account_owners(conn)
    cells: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (cluster, account, *rest, gpu_type), seconds in key_totals(
        conn, start, end, columns.get(by, ("cluster", "account"))
    ).items():
        by_key: dict[str, list[str | None]] = {
            "company": [owners.get((cluster, account)), cluster, account], "cluster": [cluster], "gpu-type": []
        }
        parts = by_key.get(by, [cluster, *rest])
        cells[_key(by, parts, gpu_type)][gpu_type] += seconds
    rows = [
        ReportRow(key, dict(sorted(types.items())), sum(catalog.tflop(s, t) for t, s in types.items()))
        for key, types in cells.items()
    ]
    return sorted(rows, key=lambda r: (-r.total_gpu_seconds, r.key))


def _key(by: ReportKey, parts: list[str | None], gpu_type: str) -> str:
    if by == "company":
        company, cluster, account = parts
        return company if company is not None else f"(unclaimed) {cluster}:{account}"
    if by == "gpu-type":
        return gpu_type
    return ":".join(str(p) for p in parts) if by != "cluster" else str(parts[0])


@dataclass(frozen=True)
class JobCompute:
    """GPU-seconds per GPU type charged for a chosen set of one company's jobs (a model's training compute)."""

    gpu_seconds: dict[str, int]
    #: Job segments counted (a requeued job has several).
    segments: int
    #: Job ids asked for that the ledger does not hold under the company's accounts.
    missing: tuple[str, ...] = ()

    @property
    def total_gpu_seconds(self) -> int:
        return sum(self.gpu_seconds.values())


def _company_accounts(conn: Connection, company_id: str) -> list[tuple[str, str]]:
    ca = CompanyAccount
    return [(c, a) for c, a in conn.execute(select(ca.cluster, ca.account).where(ca.company_id == company_id))]


def jobs_compute(conn: Connection, *, company_id: str, job_ids: Sequence[str]) -> JobCompute:
    """What the jobs ``job_ids`` (Slurm JobID as printed, e.g. ``12345`` or ``900_3``) were charged, counting only
    jobs on the company's own accounts: a link cannot borrow another company's compute. Equal to the ledger's
    charge to the second (every segment's ElapsedRaw x GPUs per type)."""

    wanted = set(job_ids)
    accounts = set(_company_accounts(conn, company_id))
    seconds: defaultdict[str, int] = defaultdict(int)
    found: set[str] = set()
    segments = 0
    ordered = sorted(wanted)
    for chunk_start in range(0, len(ordered), 500):
        chunk = ordered[chunk_start : chunk_start + 500]
        stmt = select(Job.cluster, Job.account, Job.job_id, Job.start_time, Job.elapsed_raw, Job.gpu_alloc).where(
            Job.job_id.in_(chunk)
        )
        for cluster, account, job_id, start, elapsed, alloc in conn.execute(stmt):
            if (cluster, account) not in accounts:
                continue
            found.add(job_id)
            segments += 1
            if start is None or elapsed <= 0:
                continue
            for gpu_type, count in decode_gpus(alloc):
                seconds[gpu_type] += elapsed * count
    return JobCompute(dict(sorted(seconds.items())), segments, tuple(sorted(wanted - found)))


def account_window_compute(conn: Connection, *, company_id: str, account: str, start: int, end: int) -> JobCompute:
    """GPU-seconds per GPU type charged to one of the company's accounts (on any cluster) in hours [start, end)."""
    clusters = [c for c, a in _company_accounts(conn, company_id) if a == account]
    if not clusters:
        raise NotFoundError(f"account of {company_id}", account, hint="see `quotad company show`")
    uh = UsageHourly
    stmt = (
        select(uh.gpu_type, func.sum(uh.gpu_seconds))
        .where(uh.account == account, uh.cluster.in_(clusters), uh.hour >= start, uh.hour < end)
        .group_by(uh.gpu_type)
    )
    seconds = {str(t): int(s) for t, s in conn.execute(stmt)}
    return JobCompute(dict(sorted(seconds.items())), 0)
def allocated_gpus(conn: Connection) -> dict[CellKey, int]:
    """GPUs held by running jobs per (company, cluster, GPU type), as of the last Slurm poll.

    The open-segment predicate is named verbatim so that every backend reads the running jobs through
    ``ix_jobs_open`` (SQLite matches a partial index only term for term, and ``state = ?`` is not one).
    """
    stmt = (
        select(CompanyAccount.company_id, Job.cluster, Job.gpu_alloc, func.count())
        .join(CompanyAccount, and_(CompanyAccount.cluster == Job.cluster, CompanyAccount.account == Job.account))
        .where(OPEN_SEGMENT, Job.state == "RUNNING", Job.gpu_count > 0)
        .group_by(CompanyAccount.company_id, Job.cluster, Job.gpu_alloc)
    )
    cells: defaultdict[CellKey, int] = defaultdict(int)
    for company, cluster, alloc, jobs in conn.execute(stmt):
        for gpu_type, count in decode_gpus(alloc):
            cells[(company, cluster, gpu_type)] += count * int(jobs)
    return dict(cells)


def running_gpu_types(conn: Connection) -> dict[tuple[str, int], str]:
    """The single GPU type of every running job (jobs of mixed types are left out), by (cluster, job id).

    The exporter's aggregate keeps this between polls (``metrics/snapshot.py``) so a scrape labels idle GPUs
    without reading the running jobs again.
    """
    stmt = select(Job.cluster, Job.job_id_raw, Job.gpu_alloc).where(OPEN_SEGMENT, Job.state == "RUNNING",
                                                                     Job.gpu_count > 0)  # fmt: skip
    types: dict[tuple[str, int], str] = {}
    for cluster, job_id, alloc in conn.execute(stmt):
        kinds = {t for t, _ in decode_gpus(alloc)}
        if len(kinds) == 1:
            types[(cluster, int(job_id))] = kinds.pop()
    return types


def running_job_gpu_types(conn: Connection, jobs: set[tuple[str, int]]) -> dict[tuple[str, int], str]:
    """The single GPU type of each running job among ``jobs`` (jobs of mixed types are left out)."""
    ids = sorted({job_id for _, job_id in jobs})
    clusters = sorted({cluster for cluster, _ in jobs})
    # Cluster and open state named, so each id is one seek in ``ix_jobs_open`` rather than a filter over every
    # running job (the exporter asks at every scrape).
    stmt = select(Job.cluster, Job.job_id_raw, Job.gpu_alloc).where(
        Job.cluster.in_(clusters), OPEN_SEGMENT, Job.state == "RUNNING", Job.job_id_raw.in_(ids)
    )
    types: dict[tuple[str, int], str] = {}
    for cluster, job_id, alloc in conn.execute(stmt):
        kinds = {t for t, _ in decode_gpus(alloc)}
        if (cluster, int(job_id)) in jobs and len(kinds) == 1:
            types[(cluster, int(job_id))] = kinds.pop()
    return types


def charged_by_hour(
    conn: Connection, cells: Sequence[tuple[str, str]], start: int, end: int, partitions: Mapping[str, Sequence[str]]
) -> dict[tuple[str, str, int], int]:
    """GPU-seconds charged per (cluster, GPU type, hour); only programme partitions where a cluster lists them."""
    uh = UsageHourly
    clusters = sorted({c for c, _ in cells})
    if not clusters:
        return {}
    scoped: list[ColumnElement[bool]] = []
    for cluster in clusters:
        parts = list(partitions.get(cluster, ()))
        scoped.append(and_(uh.cluster == cluster, uh.partition.in_(parts)) if parts else uh.cluster == cluster)
    stmt = (
        select(uh.cluster, uh.gpu_type, uh.hour, func.sum(uh.gpu_seconds))
        .where(uh.hour >= start - start % SECONDS_PER_HOUR, uh.hour < end, or_(*scoped))
        .group_by(uh.cluster, uh.gpu_type, uh.hour)
    )
    wanted = set(cells)
    return {(c, t, int(h)): int(s) for c, t, h, s in conn.execute(stmt) if (c, t) in wanted}
