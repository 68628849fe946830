"""Push each company's remaining grant into Slurm as a GPU-minutes limit, and check that Slurm agrees.

Why a QOS with ``Flags=NoDecay``, not ``GrpTRESMins`` on the associations
-------------------------------------------------------------------------
Association usage (what an association's ``GrpTRESMins`` is compared with) decays with
``PriorityDecayHalfLife`` and is zeroed by ``PriorityUsageResetPeriod``: on a site that runs fair-share with a
half-life, an association limit silently hands a company back part of its used grant every day. A QOS with
``Flags=NoDecay`` (Slurm >= 21.08, so available on 22.05) keeps its ``GrpTRESMins`` usage raw whatever those two
settings are. So each company gets one QOS per cluster's slurmdbd, ``quotad-<company>``, with
``Flags+=NoDecay`` and ``GrpTRESMins`` on its GPU TRES, and every association of its accounts on the cluster
(the account rows and their user rows) gets that QOS as its only allowed and its default QOS, so a user cannot
escape the limit with ``--qos=normal``. The decay settings then do not matter and are not required to be off.
(Tested on 22.05.8: a job over the limit pends with Reason ``QOSGrpGRESMinutes``.)

The limit value
---------------
A QOS's usage counter starts when the QOS starts being used, not when the grant started, and the ledger is the
source of truth for what has been used. So the value written is::

    limit = slurm_used + remaining            (per TRES, whole GPU-minutes)
    slurm_used = what slurmctld has counted against the QOS (``scontrol show assoc_mgr flags=qos qos=Q``,
                 the ``USED`` of ``GrpTRESMins=TRES=LIMIT(USED)``; 0 for a QOS that does not exist yet)
    remaining  = max(0, granted - used_in_ledger) // 60          (GPU-seconds -> GPU-minutes, rounded down)

Slurm lets the QOS use ``limit - slurm_used = remaining`` more minutes from now. Slurm prints ``USED`` truncated
to whole minutes, which only makes the headroom smaller, and ``remaining`` is rounded down, so the limit never
lets a company past its grant as the ledger knows it. In steady state (ledger and Slurm both up to date) the
value stays the same from one sync to the next. What the ledger has not seen yet (running jobs since the last
sacct poll) is counted by Slurm but not by the ledger, so run ``sync-limits`` right after a poll; the overrun is
bounded by the usage in between.

Which TRES: if every active grant covering the cluster (its own and pool grants) is GPU-hours of one type, the
limit is ``gres/gpu:<type>`` (one entry per type when there are several typed grants); if any of them is
normalised (EFLOPS-h/PFLOPS-days), the normalised remainder becomes plain ``gres/gpu`` minutes at the highest
peak TFLOPS of the GPU types the cluster has (its ``default_gpu_type`` and every type seen in its usage), so it
is never more than the grant. GPU TRES on the QOS that are not wanted any more are cleared (``=-1``).

Limits of this design (each checked or warned about):
- QOS live in slurmdbd, not in a cluster: two configured clusters sharing one slurmdbd would share
  ``quotad-<company>`` and its one limit while each slurmctld counts its own usage. That is refused.
- A pool grant on two clusters lets each cluster use the whole pool remainder until the next sync.
- Enforcement needs ``AccountingStorageEnforce`` with ``limits`` (or ``safe``) and ``qos``; without ``safe``,
  jobs start and are killed when the limit is reached instead of being held. Missing ones are warned about.
- Under ``safe``, a job needs ``--time``: its time × GPUs must fit in what is left.
- A company without an active grant covering a cluster is left as it is (warned), not blocked.

Everything here reads the ledger through ``quotad.ledger.queries`` and Slurm through ``quotad.enforce.sacctmgr``;
nothing is written to the ledger.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import Connection

from quotad.collectors.runner import Runner
from quotad.config import ClusterConfig, Settings
from quotad.enforce.sacctmgr import (
    Association,
    QosRecord,
    SlurmError,
    SlurmOutputError,
    SlurmTools,
    default_runner,
    format_tres,
    slurm_tools,
)
from quotad.errors import NotFoundError, UsageError
from quotad.ledger.models import POOL
from quotad.ledger.queries import (
    CompanyInfo,
    GrantInfo,
    StatusRow,
    UsageCells,
    company_status,
    list_companies,
    list_grants,
    usage_cells,
)
from quotad.units import SECONDS_PER_DAY, GpuCatalog

__all__ = [
    "QOS_PREFIX",
    "AccountProblem",
    "CompanyTarget",
    "Difference",
    "LimitMismatchError",
    "LimitRow",
    "RunnerFor",
    "SlurmSetupError",
    "SyncResult",
    "burn_warnings",
    "check_accounts",
    "qos_name",
    "remaining_minutes",
    "sync_limits",
]

log = logging.getLogger("quotad.slurm")

QOS_PREFIX = "quotad-"
GPU_TRES = "gres/gpu"
SECONDS_PER_MINUTE = 60

RunnerFor = Callable[[ClusterConfig], Runner]
ProblemKind = Literal["unclaimed", "missing", "limit", "config"]


class SlurmSetupError(SlurmError):
    """The cluster cannot carry the limits (a GPU TRES it does not account, QOS shared between clusters)."""


class LimitMismatchError(SlurmError):
    """After ``--apply``, what Slurm reads back differs from what was written; ``differences`` says where."""

    def __init__(self, differences: Sequence[Difference], *, command: str) -> None:
        self.differences = list(differences)
        lines = "".join(f"\n  - {d}" for d in self.differences)
        super().__init__(f"Slurm read back different limits than were written:{lines}", command=command)


def qos_name(company_id: str) -> str:
    return f"{QOS_PREFIX}{company_id}"


def _is_gpu_tres(name: str) -> bool:
    return name == GPU_TRES or name.startswith(GPU_TRES + ":")


# -- the ledger side ---------------------------------------------------------------------------------------


def remaining_minutes(
    grants: Sequence[GrantInfo],
    cells: UsageCells,
    *,
    company_id: str,
    cluster: str,
    catalog: GpuCatalog,
    cluster_gpu_types: Sequence[str],
) -> dict[str, int]:
    """GPU-minutes left per Slurm TRES for ``company_id`` on ``cluster``; ``{}`` when no grant covers it.

    ``grants`` are the active ones, ``cells`` the usage since the earliest of their starts. Usage a grant scope
    covers is counted once even where scopes overlap (as ``company_status`` does). Rounded down, never negative.
    """
    relevant = [g for g in grants if g.company_id == company_id and g.cluster in (POOL, cluster)]
    if not relevant:
        return {}
    mine = {(cl, ty): s for (co, cl, ty), s in cells.items() if co == company_id}
    if not any(g.unit.normalised for g in relevant):
        out: dict[str, int] = {}
        for gpu_type in sorted({g.unit.gpu_type for g in relevant}):
            of_type = [g for g in relevant if g.unit.gpu_type == gpu_type]
            granted = sum(g.amount for g in of_type)
            used = sum(s for (cl, ty), s in mine.items() if any(g.covers(cl, ty) for g in of_type))
            out[f"{GPU_TRES}:{gpu_type}"] = max(0, granted - used) // SECONDS_PER_MINUTE
        return out
    granted_tflop = sum(g.amount if g.unit.normalised else catalog.tflop(g.amount, g.unit.gpu_type) for g in relevant)
    used_tflop = sum(catalog.tflop(s, ty) for (cl, ty), s in mine.items() if any(g.covers(cl, ty) for g in relevant))
    peak = max(catalog.peak(t) for t in cluster_gpu_types)
    return {GPU_TRES: max(0, granted_tflop - used_tflop) // (peak * SECONDS_PER_MINUTE)}


def burn_warnings(rows: Sequence[StatusRow], company_ids: set[str]) -> list[str]:
    """Companies that reach their grant within a day at their trailing 7-day burn rate (or already have)."""
    out = []
    for r in rows:
        if r.company_id not in company_ids or r.unit is None or not r.granted:
            continue
        left = max(0, r.granted - r.used)
        # left <= burn per day, in integers: left × window <= used_7d × day
        if left * r.burn_window_s > r.used_last_7d * SECONDS_PER_DAY:
            continue
        unit = r.unit
        if left == 0:
            out.append(
                f"{r.company_id}: grant used up ({unit.format(r.used)} of {unit.format(r.granted)} {unit.label})"
            )
            continue
        hours = left * r.burn_window_s / (r.used_last_7d * 3600)
        out.append(
            f"{r.company_id}: reaches its limit in about {hours:.1f} h at its 7-day burn rate "
            f"({unit.format(left)} {unit.label} left, {unit.format(round(r.burn_per_day))} {unit.label} a day)"
        )
    return out


# -- what sync-limits would set, and how Slurm differs ---------------------------------------------------------


@dataclass(frozen=True)
class CompanyTarget:
    """What one company's QOS and associations on one cluster should say."""

    cluster: str
    company_id: str
    qos: str
    accounts: tuple[str, ...]
    remaining: Mapping[str, int]
    slurm_used: Mapping[str, int]

    @property
    def limits(self) -> dict[str, int]:
        return {tres: self.slurm_used.get(tres, 0) + left for tres, left in self.remaining.items()}


@dataclass(frozen=True)
class Difference:
    """One setting Slurm holds that differs from what sync-limits would set."""

    cluster: str
    company_id: str
    subject: str
    setting: str
    expected: str
    actual: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.setting} expected {self.expected}, Slurm has {self.actual}"


@dataclass(frozen=True)
class LimitRow:
    cluster: str
    company_id: str
    qos: str
    tres: str
    remaining_minutes: int
    slurm_used_minutes: int
    limit_minutes: int
    current_minutes: int | None

    @property
    def changes(self) -> bool:
        return self.current_minutes != self.limit_minutes


@dataclass(frozen=True)
class AccountProblem:
    cluster: str
    kind: ProblemKind
    subject: str
    detail: str
    company_id: str | None = None


@dataclass(frozen=True)
class SyncResult:
    rows: list[LimitRow]
    commands: list[str]
    warnings: list[str]
    applied: bool


@dataclass
class _ClusterState:
    tools: SlurmTools
    config: dict[str, str]
    associations: list[Association]
    qos: dict[str, QosRecord]

    def of_account(self, account: str) -> list[Association]:
        return [a for a in self.associations if a.account == account]

    def accounts(self) -> set[str]:
        return {a.account for a in self.associations if not a.user}


@dataclass
class _Plan:
    targets: list[CompanyTarget] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problems: list[AccountProblem] = field(default_factory=list)


def _current_gpu_limits(record: QosRecord | None) -> dict[str, int]:
    if record is None:
        return {}
    return {t: v for t, v in record.grp_tres_mins.items() if _is_gpu_tres(t)}


def _differences(target: CompanyTarget, slurm: _ClusterState, *, tolerance: int = 0) -> list[Difference]:
    def diff(subject: str, setting: str, expected: str, actual: str) -> Difference:
        return Difference(target.cluster, target.company_id, subject, setting, expected, actual)

    out = []
    record = slurm.qos.get(target.qos)
    subject = f"QOS {target.qos}"
    if record is None:
        out.append(diff(subject, "existence", "a QOS", "none"))
    elif "nodecay" not in {f.lower() for f in record.flags}:
        out.append(diff(subject, "Flags", "NoDecay", ",".join(sorted(record.flags)) or "(none)"))
    current = _current_gpu_limits(record)
    wanted = target.limits
    for tres in sorted(set(wanted) | set(current)):
        exp, act = wanted.get(tres), current.get(tres)
        if exp is None or act is None or abs(exp - act) > tolerance:
            shown = "unset" if act is None else str(act)
            out.append(diff(subject, f"GrpTRESMins {tres}", "unset" if exp is None else str(exp), shown))
    for account in target.accounts:
        for assoc in slurm.of_account(account):
            if assoc.qos != {target.qos}:
                out.append(
                    diff(f"association {assoc.label}", "QOS", target.qos, ",".join(sorted(assoc.qos)) or "(none)")
                )
            if assoc.default_qos != target.qos:
                out.append(diff(f"association {assoc.label}", "DefaultQOS", target.qos, assoc.default_qos or "(none)"))
    return out


def _commands(target: CompanyTarget, slurm: _ClusterState) -> list[list[str]]:
    tools, record = slurm.tools, slurm.qos.get(target.qos)
    out = []
    if record is None:
        out.append(tools.add_qos_argv(target.qos))
    settings = []
    if record is None or "nodecay" not in {f.lower() for f in record.flags}:
        settings.append("Flags+=NoDecay")
    current, wanted = _current_gpu_limits(record), target.limits
    if current != wanted:
        settings.append(f"GrpTRESMins={format_tres({**{t: -1 for t in current if t not in wanted}, **wanted})}")
    if settings:
        out.append(tools.modify_qos_argv(target.qos, settings))
    for account in target.accounts:
        if any(a.qos != {target.qos} or a.default_qos != target.qos for a in slurm.of_account(account)):
            out.append(tools.set_account_qos_argv(account, target.qos))
    return out


def _rows(target: CompanyTarget, slurm: _ClusterState) -> list[LimitRow]:
    current = _current_gpu_limits(slurm.qos.get(target.qos))
    return [
        LimitRow(
            target.cluster,
            target.company_id,
            target.qos,
            tres,
            left,
            target.slurm_used.get(tres, 0),
            target.limits[tres],
            current.get(tres),
        )
        for tres, left in sorted(target.remaining.items())
    ]


def _select_clusters(settings: Settings, cluster: str | None) -> list[ClusterConfig]:
    if cluster is not None:
        chosen = settings.cluster(cluster)
        if chosen is None:
            known = ", ".join(c.name for c in settings.clusters) or "none configured"
            raise NotFoundError("cluster", cluster, hint=f"known: {known}")
        if chosen.scheduler != "slurm":
            raise UsageError(f"cluster {cluster!r} is scheduled by {chosen.scheduler}, not Slurm")
        return [chosen]
    clusters = [c for c in settings.clusters if c.scheduler == "slurm"]
    if not clusters:
        raise UsageError('no Slurm cluster is configured ([[clusters]] with scheduler = "slurm")')
    return clusters


def _read_cluster(cfg: ClusterConfig, settings: Settings, runner_for: RunnerFor) -> _ClusterState:
    tools = slurm_tools(cfg, runner_for(cfg))
    shared = sorted(set(tools.dbd_clusters()) & {c.name for c in settings.clusters} - {cfg.name})
    if shared:
        raise SlurmSetupError(
            f"cluster {cfg.name} shares its slurmdbd with configured cluster(s) {', '.join(shared)}: a QOS belongs to "
            "the slurmdbd, so one quotad-<company> QOS cannot carry a limit for each cluster; not supported",
            command=shlex.join([tools.sacctmgr, "show", "cluster"]),
        )
    return _ClusterState(tools, tools.config(), tools.associations(), tools.qos_records())


def _enforcement_warnings(slurm: _ClusterState) -> list[str]:
    cluster = slurm.tools.cluster
    enforce = {part.strip().lower() for part in slurm.config.get("AccountingStorageEnforce", "").split(",")}
    out = []
    if not enforce & {"limits", "safe"}:
        out.append(f"{cluster}: AccountingStorageEnforce lacks 'limits': Slurm will not enforce GrpTRESMins")
    if "qos" not in enforce:
        out.append(f"{cluster}: AccountingStorageEnforce lacks 'qos': users can submit under another QOS")
    if "safe" not in enforce and enforce & {"limits"}:
        out.append(f"{cluster}: AccountingStorageEnforce lacks 'safe': jobs start and are killed at the limit")
    return out


def _plan(
    conn: Connection,
    settings: Settings,
    *,
    runner_for: RunnerFor,
    now: int,
    cluster: str | None,
) -> tuple[_Plan, dict[str, _ClusterState], list[CompanyInfo]]:
    clusters = _select_clusters(settings, cluster)
    catalog = GpuCatalog(settings.gpu_types)
    companies = list_companies(conn)
    grants = [g for g in list_grants(conn) if g.active(now)]
    start = min((g.period_start for g in grants), default=now)
    cells = usage_cells(conn, start, now)  # hours begun before now, as company_status
    status = company_status(conn, catalog, now=now)
    plan = _Plan()
    states: dict[str, _ClusterState] = {}
    for cfg in clusters:
        slurm = states[cfg.name] = _read_cluster(cfg, settings, runner_for)
        plan.warnings += _enforcement_warnings(slurm)
        tracked = {t.strip() for t in slurm.config.get("AccountingStorageTRES", "").split(",")}
        in_slurm = slurm.accounts()
        gpu_types = sorted({cfg.default_gpu_type} | {ty for (_co, cl, ty) in cells if cl == cfg.name})
        for company in companies:
            ledger_accounts = [a.account for a in company.accounts if a.cluster == cfg.name]
            for account in ledger_accounts:
                if account not in in_slurm:
                    plan.warnings.append(f"{cfg.name}: {company.id}: account {account} has no association in Slurm")
            accounts = tuple(a for a in ledger_accounts if a in in_slurm)
            if not accounts:
                continue
            remaining = remaining_minutes(
                grants, cells, company_id=company.id, cluster=cfg.name, catalog=catalog, cluster_gpu_types=gpu_types
            )
            if not remaining:
                plan.warnings.append(f"{cfg.name}: {company.id}: no active grant covers this cluster; not limited")
                continue
            untracked = sorted(set(remaining) - tracked)
            if untracked:
                raise SlurmSetupError(
                    f"cluster {cfg.name} does not account {', '.join(untracked)} (AccountingStorageTRES = "
                    f"{slurm.config.get('AccountingStorageTRES', '')}): add it to slurm.conf to limit {company.id}",
                    command=shlex.join(slurm.tools.scontrol_argv("show", "config")),
                )
            qos = qos_name(company.id)
            used: dict[str, int] = {}
            if qos in slurm.qos:
                counted = slurm.tools.qos_usage(qos)
                if counted is None:
                    argv = slurm.tools.scontrol_argv("show", "assoc_mgr", "flags=qos", f"qos={qos}")
                    raise SlurmOutputError(
                        shlex.join(argv),
                        expected=f"slurmctld's usage record of QOS {qos} (it exists in slurmdbd; retry in a minute)",
                        got="no record",
                    )
                used = {tres: counted.get(tres, 0) for tres in remaining}
            plan.targets.append(CompanyTarget(cfg.name, company.id, qos, accounts, remaining, used))
    claimed = {c.id for c in companies if any(t.company_id == c.id for t in plan.targets)}
    plan.warnings += burn_warnings(status, claimed)
    return plan, states, companies


def sync_limits(
    conn: Connection,
    settings: Settings,
    *,
    now: int,
    cluster: str | None = None,
    apply: bool = False,
    runner_for: RunnerFor = default_runner,
) -> SyncResult:
    """Plan (and with ``apply`` run and verify) the sacctmgr commands that put remaining grants into Slurm.

    Warnings (burn rate, enforcement, accounts missing in Slurm) are logged before anything is run and returned.
    A failed command raises ``SlurmCommandError``; a read-back that differs raises ``LimitMismatchError``.
    """
    plan, states, _companies = _plan(conn, settings, runner_for=runner_for, now=now, cluster=cluster)
    for warning in plan.warnings:
        log.warning("%s", warning)
    steps: list[tuple[SlurmTools, list[str]]] = []
    rows: list[LimitRow] = []
    for target in plan.targets:
        slurm = states[target.cluster]
        steps += [(slurm.tools, argv) for argv in _commands(target, slurm)]
        rows += _rows(target, slurm)
    if apply:
        for tools, argv in steps:
            log.info("%s: running %s", tools.cluster, shlex.join(argv))
            tools.run(argv)
        differences = []
        for name, slurm in states.items():
            reread = _ClusterState(slurm.tools, slurm.config, slurm.tools.associations(), slurm.tools.qos_records())
            differences += [d for t in plan.targets if t.cluster == name for d in _differences(t, reread)]
        if differences:
            readback = "; ".join(shlex.join(s.tools.qos_argv()) for s in states.values())
            raise LimitMismatchError(differences, command=readback)
    return SyncResult(rows, [shlex.join(argv) for _tools, argv in steps], plan.warnings, applied=apply)


def check_accounts(
    conn: Connection,
    settings: Settings,
    *,
    now: int,
    cluster: str | None = None,
    tolerance_minutes: int = 0,
    runner_for: RunnerFor = default_runner,
) -> list[AccountProblem]:
    """Slurm accounts no company claims, ledger accounts Slurm lacks, and limits that differ from sync-limits'."""
    plan, states, companies = _plan(conn, settings, runner_for=runner_for, now=now, cluster=cluster)
    problems: list[AccountProblem] = []
    for name, slurm in states.items():
        problems += [
            AccountProblem(name, "config", "slurm.conf", w.removeprefix(f"{name}: "))
            for w in _enforcement_warnings(slurm)
        ]
        claimed = {a.account: c.id for c in companies for a in c.accounts if a.cluster == name}
        for account in sorted(slurm.accounts() - set(claimed) - {"root"}):
            problems.append(AccountProblem(name, "unclaimed", account, "Slurm account that no company claims"))
        for account in sorted(set(claimed) - slurm.accounts()):
            problems.append(
                AccountProblem(
                    name, "missing", account, "ledger account with no association in Slurm", claimed[account]
                )
            )
        for target in plan.targets:
            if target.cluster == name:
                problems += [
                    AccountProblem(
                        name,
                        "limit",
                        d.subject,
                        f"{d.setting}: expected {d.expected}, Slurm has {d.actual}",
                        d.company_id,
                    )
                    for d in _differences(target, slurm, tolerance=tolerance_minutes)
                ]
    if cluster is None:
        configured = {c.name for c in settings.clusters}
        for company in companies:
            if not any(a.cluster in configured for a in company.accounts):
                problems.append(
                    AccountProblem("*", "missing", company.id, "company has no Slurm account in the ledger", company.id)
                )
    return problems
