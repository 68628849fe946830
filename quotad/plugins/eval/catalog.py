"""The task catalogue: which benchmark a harness task name is, its language, category and publication rule.

Harnesses name the same benchmark differently (``jsquad`` in llm-jp-eval, ``ja_leaderboard_jsquad`` in
lm-evaluation-harness, ``jsquad-1.2-0.2`` in older forks), and the programme's questions (does every model cover
Japanese and English? what may go public?) are about benchmarks, not names. The mapping is data the office
maintains (``tasks.toml`` in this package), extended or overridden from ``[eval]`` in the configuration.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from importlib.resources import files
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from quotad.errors import ConfigError
from quotad.plugins.api import Bilingual, Language
from quotad.plugins.eval_config import EvalConfig, MetricOverride, TaskOverride

__all__ = [
    "MATCH_ALIAS",
    "MATCH_EXACT",
    "MATCH_PATTERN",
    "MetricSpec",
    "TaskCatalog",
    "TaskInfo",
    "TaskScale",
    "load_catalog",
]

MATCH_EXACT, MATCH_ALIAS, MATCH_PATTERN = 0, 1, 2
_PATTERN_CHARS = set("*?[")


@dataclass(frozen=True)
class MetricSpec:
    """Valid range of a metric and, through ``max``, its full scale (None: shown but never averaged)."""

    name: str
    min: float | None = None
    max: float | None = None
    higher_is_better: bool = True

    def contains(self, value: float) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


@dataclass(frozen=True)
class TaskScale:
    """A harness that reports some of this task's metrics on another scale than the metric's own.

    ``names`` are harness task names (fnmatch patterns), so the rule applies to the harness that writes the
    scale and not to another that writes the same metric on 0-1 (llm-jp-eval's ``jsquad`` vs jp-stable's
    ``jsquad-1.1-0.2``).
    """

    names: tuple[str, ...]
    metrics: tuple[str, ...]
    max: float

    def applies(self, raw_task: str, metric: str) -> bool:
        return metric in self.metrics and any(fnmatchcase(raw_task, name) for name in self.names)


@dataclass(frozen=True)
class TaskInfo:
    id: str
    language: Language
    category: str
    name: Bilingual
    aliases: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    redistributable: bool = True
    scales: tuple[TaskScale, ...] = ()


@dataclass(frozen=True)
class TaskCatalog:
    tasks: dict[str, TaskInfo]
    metrics: dict[str, MetricSpec]
    categories: dict[str, Bilingual] = field(default_factory=dict)

    def lookup(self, raw_task: str) -> tuple[TaskInfo, int] | None:
        """The benchmark a harness task name means, and how it matched (exact < alias < pattern)."""
        if raw_task in self.tasks:
            return self.tasks[raw_task], MATCH_EXACT
        best: tuple[TaskInfo, int] | None = None
        for task in self.tasks.values():
            for alias in task.aliases:
                if _PATTERN_CHARS & set(alias):
                    if fnmatchcase(raw_task, alias) and best is None:
                        best = (task, MATCH_PATTERN)
                elif alias == raw_task:
                    return task, MATCH_ALIAS
        return best

    def metric(self, name: str) -> MetricSpec | None:
        return self.metrics.get(name)

    def task_scale(self, raw_task: str, metric: str) -> float | None:
        """The full scale of ``metric`` as the harness task ``raw_task`` reports it, when the task says so."""
        found = self.lookup(raw_task)
        if found is None:
            return None
        for rule in found[0].scales:
            if rule.applies(raw_task, metric):
                return rule.max
        return None

    def rescaled(self, metric: str, scale_max: float | None) -> bool:
        """Whether a stored value's full scale is not its metric's own but a task's (jp-stable's 0-100 F1, XL-Sum
        ROUGE-2, which has no scale of its own)."""
        spec = self.metrics.get(metric)
        return scale_max is not None and (spec is None or spec.max != scale_max)

    def category_name(self, code: str) -> Bilingual:
        return self.categories.get(code, Bilingual(code, code))


class _ScaleFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    names: list[str] = Field(min_length=1)
    metrics: list[str] = Field(min_length=1)
    max: float = Field(gt=0)


class _TaskFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    language: Literal["ja", "en"]
    category: str
    name_ja: str
    name_en: str
    aliases: list[str] = Field(default_factory=list)
    metrics: list[str] = Field(default_factory=list)
    redistributable: bool = True
    scales: list[_ScaleFile] = Field(default_factory=list)


class _CatalogFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    categories: dict[str, dict[Literal["ja", "en"], str]] = Field(default_factory=dict)
    metrics: dict[str, MetricOverride] = Field(default_factory=dict)
    tasks: dict[str, _TaskFile] = Field(default_factory=dict)


def _builtin() -> _CatalogFile:
    raw: dict[str, Any] = tomllib.loads(files("quotad.plugins.eval").joinpath("tasks.toml").read_text("utf-8"))
    try:
        return _CatalogFile.model_validate(raw)
    except ValidationError as exc:  # the packaged file is ours; this is a packaging bug, said plainly
        raise ConfigError("the built-in eval task mapping (tasks.toml) is invalid:", problems=[str(exc)]) from exc


def _metric(name: str, spec: MetricOverride, base: MetricSpec | None = None) -> MetricSpec:
    base = base or MetricSpec(name)
    return MetricSpec(
        name,
        spec.min if spec.min is not None else base.min,
        spec.max if spec.max is not None else base.max,
        spec.higher_is_better if spec.higher_is_better is not None else base.higher_is_better,
    )


def _override(task_id: str, spec: TaskOverride, base: TaskInfo | None) -> TaskInfo:
    if base is None:
        missing = [k for k in ("language", "category") if getattr(spec, k) is None]
        if missing:
            raise ConfigError(
                f"[eval.tasks.{task_id}]: a task not in the built-in mapping needs {' and '.join(missing)}"
            )
        assert spec.language is not None and spec.category is not None
        name = Bilingual(spec.name_ja or task_id, spec.name_en or task_id)
        base = TaskInfo(task_id, spec.language, spec.category, name)
    return replace(
        base,
        language=spec.language or base.language,
        category=spec.category or base.category,
        name=Bilingual(spec.name_ja or base.name.ja, spec.name_en or base.name.en),
        aliases=(*base.aliases, *spec.aliases),
        metrics=tuple(spec.metrics) or base.metrics,
        redistributable=base.redistributable if spec.redistributable is None else spec.redistributable,
    )


def load_catalog(config: EvalConfig | None = None) -> TaskCatalog:
    """The built-in mapping with the configuration's ``[eval.tasks]`` and ``[eval.metrics]`` applied."""
    config = config or EvalConfig()
    builtin = _builtin()
    metrics = {name: _metric(name, spec) for name, spec in builtin.metrics.items()}
    for name, spec in config.metrics.items():
        metrics[name] = _metric(name, spec, metrics.get(name))
    tasks = {
        task_id: TaskInfo(
            task_id,
            t.language,
            t.category,
            Bilingual(t.name_ja, t.name_en),
            tuple(t.aliases),
            tuple(t.metrics),
            t.redistributable,
            tuple(TaskScale(tuple(r.names), tuple(r.metrics), r.max) for r in t.scales),
        )
        for task_id, t in builtin.tasks.items()
    }
    for task_id, override in config.tasks.items():
        tasks[task_id] = _override(task_id, override, tasks.get(task_id))
    categories = {
        code: Bilingual(names.get("ja", code), names.get("en", code)) for code, names in builtin.categories.items()
    }
    return TaskCatalog(tasks, metrics, categories)
