"""Leaderboard and coverage: pure functions from stored scores, the catalogue and ledger figures to rows.

Rules, each chosen so a board cannot say more than its audience may see or less than is true:

- **Visibility.** The office sees every run; the consortium board consortium and public runs; the public board
  public runs only, and never a benchmark whose licence forbids redistribution, nor a task the catalogue does
  not know. Callers load only visible runs; the board checks again.
- **Full runs.** Runs with a ``limit`` are not evaluations of the model and are left out unless asked for.
- **One checkpoint per model.** A row shows the latest checkpoint that has visible results; mixing checkpoints
  in one row would describe a model that never existed.
- **Headline metric.** One metric per benchmark (the catalogue's preference), from the best-matching task name
  (exact, then alias, then subtask pattern), then the most recent run.
- **Averages.** Scores normalised by their full scale (the metric's, or the task's where a harness writes the
  metric on another scale: jp-stable's JSQuAD F1 on 0-100 counts as 0.76, not 76, and is flagged "rescaled");
  metrics without a declared scale, or where lower is better, are shown but not averaged. The overall average
  is the mean of the language averages and exists only when every requested language is covered, so a model
  evaluated in one language does not outrank one evaluated in both.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import Literal

from quotad.plugins.api import LANGUAGES, Bilingual, CompanyCompute, Language, LinkedCompute
from quotad.plugins.eval.catalog import TaskCatalog, TaskInfo
from quotad.plugins.eval.store import StoredScore

__all__ = [
    "AUDIENCES",
    "AUDIENCE_VISIBILITY",
    "Audience",
    "BoardCell",
    "BoardRow",
    "CoverageRow",
    "LangFilter",
    "Leaderboard",
    "TaskColumn",
    "build_coverage",
    "build_leaderboard",
]

Audience = Literal["office", "consortium", "public"]
AUDIENCES: tuple[Audience, ...] = ("office", "consortium", "public")
AUDIENCE_VISIBILITY: dict[Audience, frozenset[str]] = {
    "office": frozenset({"private", "consortium", "public"}),
    "consortium": frozenset({"consortium", "public"}),
    "public": frozenset({"public"}),
}
LangFilter = Literal["ja", "en", "all"]
OVERALL = "all"


@dataclass(frozen=True)
class TaskColumn:
    task: TaskInfo
    metric: str  # "metric" or "metric,filter" as shown

    @property
    def key(self) -> str:
        return self.task.id


@dataclass(frozen=True)
class BoardCell:
    value: float
    stderr: float | None
    normalised: float | None
    metric: str
    filter: str
    n_shot: int | None
    limited: bool
    run_id: int
    #: The harness wrote this value on another scale than its metric's (jp-stable's 0-100 F1): shown raw,
    #: normalised by the task's scale for averages, and flagged on every board.
    rescaled: bool = False


@dataclass(frozen=True)
class BoardRow:
    company_id: str
    company_name: Bilingual
    model: str
    checkpoint: int | None
    cells: Mapping[str, BoardCell]
    averages: Mapping[str, float | None]
    compute: CompanyCompute | None
    #: True when ``compute`` is the model's own linked compute (``eval link``), False when it is the company's
    #: total use (the same for every model of the company), said as such wherever it is shown.
    compute_linked: bool = False

    @property
    def compute_basis(self) -> str | None:
        if self.compute is None:
            return None
        return "linked" if self.compute_linked else "company total"

    @property
    def overall(self) -> float | None:
        return self.averages.get(OVERALL)

    @property
    def score_per_eflops_day(self) -> float | None:
        """Overall average (0-100) per EFLOPS-day of the compute shown (the model's if linked, else the company's)."""
        if self.overall is None or self.compute is None or self.compute.eflops_days <= 0:
            return None
        return 100 * self.overall / self.compute.eflops_days


@dataclass(frozen=True)
class Leaderboard:
    audience: Audience
    lang: LangFilter
    category: str | None
    columns: tuple[TaskColumn, ...]
    average_keys: tuple[str, ...]
    rows: tuple[BoardRow, ...]
    include_limited: bool = False


def _metric_rank(task: TaskInfo, score: StoredScore, catalog: TaskCatalog) -> int | None:
    """Position in the task's metric preference; None when the metric cannot headline the task."""
    for i, pref in enumerate(task.metrics):
        if pref in (score.metric, f"{score.metric},{score.filter}"):
            return i
    spec = catalog.metric(score.metric)
    if spec is not None and spec.max is not None and spec.higher_is_better and score.higher_is_better is not False:
        return len(task.metrics)
    return None


def _normalised(score: StoredScore) -> float | None:
    if score.higher_is_better is False or not score.scale_max:
        return None
    return score.value / score.scale_max


def _checkpoint_key(checkpoint: int | None) -> int:
    return -1 if checkpoint is None else checkpoint


def _select(
    scores: Sequence[StoredScore], catalog: TaskCatalog, keep: Callable[[TaskInfo], bool]
) -> dict[str, tuple[TaskInfo, StoredScore]]:
    """The headline score per benchmark id among one model's scores (see module rules)."""
    best: dict[str, tuple[tuple[int, int, int, int, int], TaskInfo, StoredScore]] = {}
    for score in scores:
        found = catalog.lookup(score.task)
        if found is None:
            continue
        task, quality = found
        if not keep(task):
            continue
        rank = _metric_rank(task, score, catalog)
        if rank is None:
            continue
        flt_rank = 0 if score.filter in ("none", "") else 1
        recency = score.run.evaluated_at or score.run.ingested_at
        key = (quality, rank, flt_rank, -recency, -score.run.id)
        if task.id not in best or key < best[task.id][0]:
            best[task.id] = (key, task, score)
    return {tid: (task, score) for tid, (_, task, score) in best.items()}


def _mean(values: Sequence[float]) -> float | None:
    return fmean(values) if values else None


def build_leaderboard(
    scores: Sequence[StoredScore],
    catalog: TaskCatalog,
    *,
    company_names: Mapping[str, Bilingual],
    compute: Mapping[str, CompanyCompute],
    audience: Audience,
    lang: LangFilter = "all",
    category: str | None = None,
    include_limited: bool = False,
    linked: Mapping[tuple[str, str], LinkedCompute] | None = None,
) -> Leaderboard:
    """One row per (company, model) at its latest visible checkpoint; ``compute`` holds what may be shown.

    ``linked`` is the compute linked to a (company, model), used instead of the company's total; only for the
    companies whose compute is in ``compute`` (a board that may not show a company's compute shows neither).
    """
    linked = linked or {}
    allowed = AUDIENCE_VISIBILITY[audience]
    languages: tuple[Language, ...] = LANGUAGES if lang == "all" else (lang,)

    def keep(task: TaskInfo) -> bool:
        if audience == "public" and not task.redistributable:
            return False
        return task.language in languages and (category is None or task.category == category)

    by_model: defaultdict[tuple[str, str], list[StoredScore]] = defaultdict(list)
    for s in scores:
        if s.run.visibility in allowed and (include_limited or not s.run.limited):
            by_model[(s.run.company_id, s.run.model)].append(s)
    columns: dict[str, TaskColumn] = {}
    rows: list[BoardRow] = []
    for (company_id, model), model_scores in sorted(by_model.items()):
        latest = max(_checkpoint_key(s.run.checkpoint) for s in model_scores)
        current = [s for s in model_scores if _checkpoint_key(s.run.checkpoint) == latest]
        chosen = _select(current, catalog, keep)
        if not chosen:
            continue
        cells: dict[str, BoardCell] = {}
        for task_id, (task, s) in chosen.items():
            label = s.metric if s.filter in ("none", "") else f"{s.metric},{s.filter}"
            columns.setdefault(task_id, TaskColumn(task, label))
            cells[task_id] = BoardCell(
                s.value,
                s.stderr,
                _normalised(s),
                s.metric,
                s.filter,
                s.n_shot,
                s.run.limited,
                s.run.id,
                catalog.rescaled(s.metric, s.scale_max),
            )
        pooled: defaultdict[str, list[float]] = defaultdict(list)
        for task_id, cell in cells.items():
            task = chosen[task_id][0]
            if cell.normalised is not None:
                pooled[task.language].append(cell.normalised)
                pooled[f"{task.language}/{task.category}"].append(cell.normalised)
        averages: dict[str, float | None] = {language: _mean(pooled[language]) for language in languages}
        for task, _ in chosen.values():
            key = f"{task.language}/{task.category}"
            averages[key] = _mean(pooled[key])
        lang_means = [averages[language] for language in languages]
        averages[OVERALL] = (
            fmean([m for m in lang_means if m is not None]) if all(m is not None for m in lang_means) else None
        )
        own = linked.get((company_id, model)) if company_id in compute else None
        rows.append(
            BoardRow(
                company_id,
                company_names.get(company_id, Bilingual(company_id, company_id)),
                model,
                None if latest < 0 else latest,
                cells,
                averages,
                own if own is not None else compute.get(company_id),
                own is not None,
            )
        )
    ordered_columns = tuple(
        sorted(columns.values(), key=lambda c: (LANGUAGES.index(c.task.language), c.task.category, c.key))
    )
    category_keys = sorted(
        {k for r in rows for k in r.averages if "/" in k}, key=lambda k: (not k.startswith("ja/"), k)
    )
    average_keys = (*languages, *category_keys, OVERALL)
    ranked = sorted(rows, key=lambda r: (r.overall is None, -(r.overall or 0.0), r.company_id, r.model))
    return Leaderboard(audience, lang, category, ordered_columns, average_keys, tuple(ranked), include_limited)


@dataclass(frozen=True)
class CoverageRow:
    """Which languages a company's model has full results in; ``model`` None: the company has no results."""

    company_id: str
    model: str | None
    tasks: Mapping[Language, tuple[str, ...]]
    limited_only: tuple[Language, ...]
    unmapped: tuple[str, ...]

    @property
    def missing(self) -> tuple[Language, ...]:
        return tuple(lang for lang in LANGUAGES if not self.tasks.get(lang))


def build_coverage(
    scores: Sequence[StoredScore], catalog: TaskCatalog, company_ids: Sequence[str]
) -> list[CoverageRow]:
    """Per company and model: benchmarks covered per language by full runs, and what is missing."""
    full: defaultdict[tuple[str, str], dict[Language, set[str]]] = defaultdict(
        lambda: {lang: set() for lang in LANGUAGES}
    )
    limited: defaultdict[tuple[str, str], set[Language]] = defaultdict(set)
    unmapped: defaultdict[tuple[str, str], set[str]] = defaultdict(set)
    for s in scores:
        key = (s.run.company_id, s.run.model)
        found = catalog.lookup(s.task)
        if found is None:
            full[key]  # the model exists even if none of its tasks is mapped
            if not s.aggregate:
                unmapped[key].add(s.task)
            continue
        task = found[0]
        if s.run.limited:
            limited[key].add(task.language)
            full[key]
        else:
            full[key][task.language].add(task.id)
    rows = [
        CoverageRow(
            company,
            model,
            {lang: tuple(sorted(ids)) for lang, ids in langs.items()},
            tuple(lang for lang in LANGUAGES if lang in limited[(company, model)] and not langs[lang]),
            tuple(sorted(unmapped[(company, model)])),
        )
        for (company, model), langs in sorted(full.items())
    ]
    with_results = {r.company_id for r in rows}
    rows += [CoverageRow(c, None, {}, (), ()) for c in company_ids if c not in with_results]
    return sorted(rows, key=lambda r: (r.company_id, r.model or ""))
