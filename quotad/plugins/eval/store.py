"""Reads and writes of the eval plugin's own tables; the only module that touches them.

Writing is idempotent by content: a file is keyed by its sha256 and a run by (file, model), so ingesting the
same bytes again changes nothing, whatever name the file has now. A file that judges several models (MT-Bench)
may give one run per model; any other file belongs to the one run it was first ingested as.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, delete, func, insert, select, update

from quotad.errors import NotFoundError
from quotad.plugins.eval.catalog import TaskCatalog
from quotad.plugins.eval.formats import ParsedResult, ResultFileError
from quotad.plugins.eval.models import EvalComputeLink, EvalFile, EvalRun, EvalScore
from quotad.plugins.eval_config import Visibility

__all__ = [
    "ComputeLink",
    "IngestOutcome",
    "RunSpec",
    "StoredRun",
    "StoredScore",
    "clear_link",
    "load_links",
    "load_runs",
    "load_scores",
    "score_counts",
    "set_link",
    "set_visibility",
    "store_result",
]


@dataclass(frozen=True)
class RunSpec:
    """What the operator says about a file: whose model, which checkpoint, who may see it."""

    company_id: str
    model: str
    checkpoint: int | None
    visibility: Visibility


@dataclass(frozen=True)
class IngestOutcome:
    source: str
    sha256: str
    run_id: int
    status: Literal["ingested", "unchanged"]
    scores: int
    harness: str
    harness_version: str
    limited: bool
    model: str = ""


@dataclass(frozen=True)
class StoredRun:
    id: int
    company_id: str
    model: str
    checkpoint: int | None
    visibility: str
    harness: str
    harness_version: str
    limited: bool
    limit_value: float | None
    evaluated_at: int | None
    ingested_at: int
    file_sha256: str
    file_name: str


@dataclass(frozen=True)
class StoredScore:
    run: StoredRun
    task: str
    metric: str
    filter: str
    n_shot: int | None
    value: float
    stderr: float | None
    scale_max: float | None
    higher_is_better: bool | None
    aggregate: bool
    language: str | None
    category: str | None
    samples_effective: int | None
    samples_original: int | None


def _column_text(text: str, length: int) -> str:
    """A descriptive string (file name, harness version) as a column holds it: no NUL, cut to its length."""
    return text.replace("\x00", "")[:length]


def sha256_of(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def store_result(
    conn: Connection,
    *,
    source: str,
    content: bytes,
    parsed: ParsedResult,
    spec: RunSpec,
    catalog: TaskCatalog,
    now: int,
) -> IngestOutcome:
    """Store one parsed file as one run in the caller's transaction; the same file again is a no-op."""
    sha = sha256_of(content)
    runs = conn.execute(select(EvalRun.id, EvalRun.company_id, EvalRun.model).where(EvalRun.file_sha256 == sha)).all()
    for run_id, company_id, model in runs:
        if model == spec.model:
            count = conn.scalar(select(func.count()).select_from(EvalScore).where(EvalScore.run_id == run_id)) or 0
            return IngestOutcome(
                source,
                sha,
                run_id,
                "unchanged",
                count,
                parsed.harness,
                parsed.harness_version,
                parsed.limited,
                spec.model,
            )
        if not parsed.multi_model:
            raise ResultFileError(
                source, "", f"this file was already ingested as model {model!r} of {company_id!r} (run {run_id})"
            )
    if not runs:
        conn.execute(
            insert(EvalFile).values(
                sha256=sha,
                name=_column_text(source, 512),
                size=len(content),
                format=parsed.harness,
                content=content,
                ingested_at=now,
            )
        )
    run_id = conn.execute(
        insert(EvalRun)
        .values(
            file_sha256=sha,
            company_id=spec.company_id,
            model=spec.model,
            checkpoint=spec.checkpoint,
            visibility=spec.visibility,
            harness=parsed.harness,
            harness_version=_column_text(parsed.harness_version, 64),
            model_in_file=_column_text(parsed.model_in_file, 10_000),
            limit_value=parsed.limit,
            limited=parsed.limited,
            evaluated_at=parsed.evaluated_at,
            ingested_at=now,
        )
        .returning(EvalRun.id)
    ).scalar_one()
    rows = []
    for s in parsed.scores:
        found = catalog.lookup(s.task)
        rows.append(
            {
                "run_id": run_id,
                "task": s.task,
                "metric": s.metric,
                "filter": s.filter,
                "n_shot": s.n_shot,
                "value": s.value,
                "stderr": s.stderr,
                "scale_max": s.scale_max,
                "higher_is_better": s.higher_is_better,
                "aggregate": s.aggregate,
                "language": found[0].language if found else None,
                "category": found[0].category if found else None,
                "samples_effective": s.samples_effective,
                "samples_original": s.samples_original,
            }
        )
    conn.execute(insert(EvalScore), rows)
    return IngestOutcome(
        source, sha, run_id, "ingested", len(rows), parsed.harness, parsed.harness_version, parsed.limited, spec.model
    )


def load_runs(
    conn: Connection, *, visibilities: Collection[str] | None = None, company_id: str | None = None
) -> list[StoredRun]:
    """Runs, oldest first, restricted to ``visibilities`` (None: every run) and one company if given."""
    r = EvalRun
    stmt = (
        select(
            r.id,
            r.company_id,
            r.model,
            r.checkpoint,
            r.visibility,
            r.harness,
            r.harness_version,
            r.limited,
            r.limit_value,
            r.evaluated_at,
            r.ingested_at,
            r.file_sha256,
            EvalFile.name,
        )
        .join(EvalFile, EvalFile.sha256 == r.file_sha256)
        .order_by(r.id)
    )
    if visibilities is not None:
        stmt = stmt.where(r.visibility.in_(list(visibilities)))
    if company_id is not None:
        stmt = stmt.where(r.company_id == company_id)
    return [
        StoredRun(
            id=row.id,
            company_id=row.company_id,
            model=row.model,
            checkpoint=row.checkpoint,
            visibility=row.visibility,
            harness=row.harness,
            harness_version=row.harness_version,
            limited=row.limited,
            limit_value=row.limit_value,
            evaluated_at=row.evaluated_at,
            ingested_at=row.ingested_at,
            file_sha256=row.file_sha256,
            file_name=row.name,
        )
        for row in conn.execute(stmt)
    ]


def load_scores(
    conn: Connection,
    *,
    visibilities: Collection[str] | None,
    include_limited: bool,
    company_id: str | None = None,
) -> list[StoredScore]:
    """Score rows of the visible runs; limited runs only when asked for (they are not full evaluations)."""
    runs = {r.id: r for r in load_runs(conn, visibilities=visibilities, company_id=company_id)}
    if not include_limited:
        runs = {i: r for i, r in runs.items() if not r.limited}
    if not runs:
        return []
    stmt = select(EvalScore).where(EvalScore.run_id.in_(list(runs)))
    stmt = stmt.order_by(EvalScore.run_id, EvalScore.task, EvalScore.metric, EvalScore.filter)
    return [
        StoredScore(
            run=runs[row.run_id],
            task=row.task,
            metric=row.metric,
            filter=row.filter,
            n_shot=row.n_shot,
            value=row.value,
            stderr=row.stderr,
            scale_max=row.scale_max,
            higher_is_better=row.higher_is_better,
            aggregate=row.aggregate,
            language=row.language,
            category=row.category,
            samples_effective=row.samples_effective,
            samples_original=row.samples_original,
        )
        for row in conn.execute(stmt)
    ]


def score_counts(conn: Connection) -> dict[int, int]:
    """Number of score rows per run id."""
    stmt = select(EvalScore.run_id, func.count()).group_by(EvalScore.run_id)
    return {int(run_id): int(n) for run_id, n in conn.execute(stmt)}


def set_visibility(conn: Connection, run_id: int, visibility: Visibility) -> StoredRun:
    """Change who may see one run (the office publishes results after review)."""
    result = conn.execute(update(EvalRun).where(EvalRun.id == run_id).values(visibility=visibility))
    if result.rowcount == 0:
        raise NotFoundError("eval run", str(run_id), hint="see `quotad eval runs`")
    return next(r for r in load_runs(conn) if r.id == run_id)


@dataclass(frozen=True)
class ComputeLink:
    """Which compute produced a model: explicit Slurm job ids, or an account's use over [start, end)."""

    company_id: str
    model: str
    job_ids: tuple[str, ...] = ()
    account: str | None = None
    start: int | None = None
    end: int | None = None

    @property
    def kind(self) -> Literal["jobs", "account"]:
        return "account" if self.account is not None else "jobs"

    def describe(self) -> str:
        if self.account is not None:
            return f"account {self.account} [{self.start}, {self.end})"
        return f"{len(self.job_ids)} job{'s' if len(self.job_ids) != 1 else ''}"


def set_link(conn: Connection, link: ComputeLink, *, now: int) -> None:
    """Link a model to its compute, replacing an earlier link of the same model (one link per model)."""
    clear_link(conn, link.company_id, link.model)
    conn.execute(
        insert(EvalComputeLink).values(
            company_id=link.company_id,
            model=link.model,
            kind=link.kind,
            job_ids=",".join(link.job_ids),
            account=link.account,
            start=link.start,
            end=link.end,
            linked_at=now,
        )
    )


def clear_link(conn: Connection, company_id: str, model: str) -> bool:
    """Remove a model's link; whether there was one."""
    stmt = delete(EvalComputeLink).where(EvalComputeLink.company_id == company_id, EvalComputeLink.model == model)
    return bool(conn.execute(stmt).rowcount)


def load_links(conn: Connection, *, company_id: str | None = None) -> list[ComputeLink]:
    stmt = select(EvalComputeLink).order_by(EvalComputeLink.company_id, EvalComputeLink.model)
    if company_id is not None:
        stmt = stmt.where(EvalComputeLink.company_id == company_id)
    return [
        ComputeLink(
            row.company_id,
            row.model,
            tuple(j for j in row.job_ids.split(",") if j),
            row.account,
            row.start,
            row.end,
        )
        for row in conn.execute(stmt)
    ]
