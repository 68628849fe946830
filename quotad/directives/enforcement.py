"""Optional enforcement: what a policy's ``enforcement`` setting does to Slurm, logged with its reason.

Off by default for every policy. When switched on, it acts only on a directive whose finding is
*enforceable* (idle past ``hold_after_minutes``; a grant used past ``enforce_from_pct``) and that has been
notified — the company is always told first, in the same tick for urgent findings:

- ``hold`` (idle_allocation): ``scontrol requeuehold JOB``. A plain ``scontrol hold`` of a running job
  only zeroes its priority and leaves it holding its GPUs (checked on Slurm 22.05); requeue-and-hold frees
  them and keeps the job pending until its owner runs ``scontrol release JOB``.
- ``cancel`` (idle_allocation): ``scancel JOB``.
- ``sync-limits`` (quota_threshold, forecast_overrun): ``quotad slurm sync-limits --apply`` for the
  company's clusters (``quotad.enforce.slurm_limits.sync_limits``), which writes the remaining grant as the
  company's GrpTRESMins and verifies it.

Each action is done once per directive and target (and, for sync-limits, per level), recorded in
``directive_actions`` with the exact command, the reason and the outcome, and in the directive's events.
A dry run records nothing and returns the exact commands it would run.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy import Connection, Engine, insert, select

from quotad.collectors.runner import CommandFailed, Runner
from quotad.config import ClusterConfig, Settings
from quotad.directives.codec import DirectiveView
from quotad.directives.models import DirectiveAction, DirectiveEvent
from quotad.enforce.sacctmgr import SlurmCommandError, SlurmError
from quotad.enforce.slurm_limits import RunnerFor, sync_limits
from quotad.errors import QuotadError
from quotad.policies.config import PoliciesConfig

__all__ = ["ActionOutcome", "PlannedAction", "execute", "plan_actions", "slurm_argv"]

log = logging.getLogger("quotad.enforcement")

Action = Literal["hold", "cancel", "sync-limits"]
TIMEOUT_S = 60
_JOB_ACTIONS: dict[str, Action] = {"hold": "hold", "cancel": "cancel"}


@dataclass(frozen=True)
class PlannedAction:
    directive_id: int
    policy: str
    action: Action
    cluster: str | None
    target: str
    command: str
    reason: str


@dataclass(frozen=True)
class ActionOutcome:
    planned: PlannedAction
    outcome: Literal["ok", "failed", "dry-run"]
    detail: str


def _tool(cluster: ClusterConfig, name: str) -> str:
    folder = Path(cluster.sacct.command).parent
    return str(folder / name) if folder != Path(".") else name


def slurm_argv(cluster: ClusterConfig, action: Action, job_id: int) -> list[str]:
    """The exact command for holding or cancelling ``job_id`` on ``cluster``."""
    flag = ["-M", cluster.name] if cluster.sacct.use_cluster_flag else []
    if action == "hold":
        return [_tool(cluster, "scontrol"), *flag, "requeuehold", str(job_id)]
    if action == "cancel":
        return [_tool(cluster, "scancel"), *flag, str(job_id)]
    raise ValueError(f"{action!r} is not a job action")


def _done(conn: Connection, directive_id: int) -> set[tuple[str, str]]:
    a = DirectiveAction
    stmt = select(a.action, a.target).where(a.directive_id == directive_id, a.outcome == "ok")
    return {(act, target) for act, target in conn.execute(stmt)}


def plan_actions(
    conn: Connection, candidates: Sequence[DirectiveView], *, policies: PoliciesConfig, settings: Settings
) -> list[PlannedAction]:
    """The actions the enforceable, notified directives call for that have not been done yet."""
    out: list[PlannedAction] = []
    for d in candidates:
        action = policies.enforcement(d.policy)
        if action == "off" or not d.enforceable or d.notices == 0:
            continue
        done = _done(conn, d.id)
        reason = f"directive #{d.id} ({d.policy}, {d.level}): {d.summary}"
        job_action = _JOB_ACTIONS.get(action)
        if job_action is not None:
            for ref in d.finding.job_refs:
                cluster = settings.cluster(ref.cluster)
                if cluster is None or (job_action, str(ref.job_id)) in done:
                    continue
                argv = slurm_argv(cluster, job_action, ref.job_id)
                out.append(PlannedAction(d.id, d.policy, job_action, ref.cluster, str(ref.job_id), shlex.join(argv),
                                         reason))
        elif action == "sync-limits":
            target = f"{d.company_id}@{d.level}"
            if ("sync-limits", target) in done or d.company_id is None:
                continue
            out.append(PlannedAction(d.id, d.policy, "sync-limits", None, target,
                                     "quotad slurm sync-limits --apply", reason))
    return out


def _record(conn: Connection, result: ActionOutcome, now: int) -> None:
    p = result.planned
    conn.execute(
        insert(DirectiveAction).values(
            directive_id=p.directive_id, at=now, action=p.action, target=p.target, command=p.command,
            outcome=result.outcome, reason=p.reason, detail=result.detail[-4000:],
        )
    )
    conn.execute(
        insert(DirectiveEvent).values(
            directive_id=p.directive_id, at=now, kind="enforced", actor="quotad",
            detail=f"{p.action} {p.target}: {result.outcome}: {p.command}",
        )
    )


def _run(planned: PlannedAction, runner: Runner) -> ActionOutcome:
    argv = shlex.split(planned.command)
    try:
        code, stdout, stderr = runner(argv, timeout=TIMEOUT_S)
    except CommandFailed as exc:
        error = SlurmCommandError(shlex.join(argv), reason=exc.reason, stderr=exc.stderr)
        return ActionOutcome(planned, "failed", str(error))
    except SlurmCommandError as exc:
        return ActionOutcome(planned, "failed", str(exc))
    if code != 0:
        return ActionOutcome(planned, "failed", f"exit {code}: {(stderr or stdout).strip()}")
    return ActionOutcome(planned, "ok", stdout.strip())


def execute(
    engine: Engine,
    actions: Sequence[PlannedAction],
    *,
    settings: Settings,
    runner_for: RunnerFor,
    now: int,
    dry_run: bool,
) -> list[ActionOutcome]:
    """Run (or, dry, only print) each action; each real one is logged in its own transaction."""
    results = []
    for planned in actions:
        if dry_run:
            log.info("dry run: would %s for directive #%d: %s", planned.action, planned.directive_id, planned.command)
            results.append(ActionOutcome(planned, "dry-run", ""))
            continue
        log.warning("enforcing directive #%d: %s (%s)", planned.directive_id, planned.command, planned.reason)
        if planned.action == "sync-limits":
            try:
                with engine.connect() as conn:
                    done = sync_limits(conn, settings, now=now, apply=True, runner_for=runner_for)
                result = ActionOutcome(planned, "ok", "; ".join(done.commands) or "limits already in place")
            except (SlurmError, QuotadError) as exc:
                result = ActionOutcome(planned, "failed", str(exc))
        else:
            cluster = settings.cluster(planned.cluster or "")
            if cluster is None:
                result = ActionOutcome(planned, "failed", f"cluster {planned.cluster!r} is not configured")
            else:
                result = _run(planned, runner_for(cluster))
        if result.outcome == "failed":
            log.error("enforcement for directive #%d failed: %s", planned.directive_id, result.detail)
        with engine.begin() as conn:
            _record(conn, result, now)
        results.append(result)
    return results
