"""EleutherAI lm-evaluation-harness ``results_<timestamp>.json`` (0.4.x; 0.3's un-filtered keys too).

Shape relied on: ``results`` maps each task (and group) to ``{"alias": ..., "<metric>,<filter>": value,
"<metric>_stderr,<filter>": value-or-"N/A"}``; ``groups``/``group_subtasks`` say which entries are group
averages; ``n-shot``, ``higher_is_better`` and ``n-samples`` (``{"original", "effective"}``) are keyed by task;
``config`` carries ``model_args`` and ``limit``; ``lm_eval_version`` and ``date`` (epoch seconds) describe the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from quotad.plugins.eval.catalog import TaskCatalog
from quotad.plugins.eval.formats.base import (
    ParsedResult,
    ParsedScore,
    ResultFileError,
    as_count,
    as_score,
    check_range,
)

__all__ = ["HARNESS", "looks_like", "read"]

HARNESS = "lm-evaluation-harness"
_NOT_METRICS = {"alias", "name", "sample_len", "samples", "sample_count"}
_MARKERS = ("versions", "n-shot", "n-samples", "configs", "config", "lm_eval_version", "higher_is_better")


def looks_like(data: object) -> bool:
    return isinstance(data, dict) and isinstance(data.get("results"), dict) and any(k in data for k in _MARKERS)


def _mapping(source: str, key: str, value: object) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ResultFileError(source, key, f"expected an object, got {type(value).__name__}")
    return value


def _n_shot(source: str, task: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return as_count(source, f"n-shot.{task}", value)


def _samples(source: str, task: str, value: object) -> tuple[int | None, int | None]:
    if value is None:
        return None, None
    entry = _mapping(source, f"n-samples.{task}", value)
    original = entry.get("original")
    effective = entry.get("effective")
    orig = None if original is None else as_count(source, f"n-samples.{task}.original", original)
    eff = None if effective is None else as_count(source, f"n-samples.{task}.effective", effective)
    if orig is not None and eff is not None and eff > orig:
        raise ResultFileError(source, f"n-samples.{task}", f"effective {eff} exceeds original {orig}")
    return eff, orig


def _model(data: Mapping[str, Any]) -> str:
    name = data.get("model_name")
    if isinstance(name, str) and name:
        return name
    args = data.get("config", {}).get("model_args") if isinstance(data.get("config"), dict) else None
    if isinstance(args, dict):
        return str(args.get("pretrained", ""))
    if isinstance(args, str):
        for part in args.split(","):
            key, _, value = part.partition("=")
            if key.strip() == "pretrained":
                return value.strip()
    return ""


def _task_scores(
    source: str, task: str, entry: Mapping[str, Any], data: Mapping[str, Any], catalog: TaskCatalog, aggregate: bool
) -> list[ParsedScore]:
    values: dict[tuple[str, str], float] = {}
    stderrs: dict[tuple[str, str], float | None] = {}
    for key, value in entry.items():
        if key in _NOT_METRICS:
            continue
        name, _, flt = key.partition(",")
        path = f"results.{task}.{key}"
        if name.endswith("_stderr"):
            if value in ("N/A", None):
                stderrs[(name.removesuffix("_stderr"), flt or "none")] = None
                continue
            stderr = as_score(source, path, value)
            if stderr < 0:
                raise ResultFileError(source, path, f"a standard error cannot be negative ({stderr!r})")
            stderrs[(name.removesuffix("_stderr"), flt or "none")] = stderr
        else:
            values[(name, flt or "none")] = as_score(source, path, value)
    for metric, flt in sorted(stderrs.keys() - values.keys()):
        raise ResultFileError(
            source, f"results.{task}.{metric}_stderr,{flt}", f"a stderr for {metric} without its value"
        )
    hib = _mapping(
        source, f"higher_is_better.{task}", _mapping(source, "higher_is_better", data.get("higher_is_better")).get(task)
    )
    n_shot = _n_shot(source, task, _mapping(source, "n-shot", data.get("n-shot")).get(task))
    effective, original = _samples(source, task, _mapping(source, "n-samples", data.get("n-samples")).get(task))
    scores = []
    for (metric, flt), value in sorted(values.items()):
        key = f"results.{task}.{metric},{flt}"
        scale = check_range(source, key, value, metric, catalog)
        better = hib.get(metric)
        if better is not None and not isinstance(better, bool):
            raise ResultFileError(
                source, f"higher_is_better.{task}.{metric}", f"expected true or false, got {better!r}"
            )
        if better is None and catalog.metric(metric) is not None:
            better = catalog.metrics[metric].higher_is_better
        scores.append(
            ParsedScore(
                task=task,
                metric=metric,
                filter=flt,
                value=value,
                stderr=stderrs.get((metric, flt)),
                n_shot=n_shot,
                higher_is_better=better,
                scale_max=scale,
                aggregate=aggregate,
                samples_effective=effective,
                samples_original=original,
            )
        )
    return scores


def read(source: str, data: Mapping[str, Any], catalog: TaskCatalog) -> ParsedResult:
    """Every metric of every task and group in the file, or ``ResultFileError`` at the first bad value."""
    results = _mapping(source, "results", data.get("results"))
    groups = _mapping(source, "groups", data.get("groups"))
    subtasks = _mapping(source, "group_subtasks", data.get("group_subtasks"))
    group_names = set(groups) | {name for name, members in subtasks.items() if members}
    scores: list[ParsedScore] = []
    for task, entry in results.items():
        scores += _task_scores(
            source, task, _mapping(source, f"results.{task}", entry), data, catalog, task in group_names
        )
    for group, entry in groups.items():
        if group not in results:
            scores += _task_scores(source, group, _mapping(source, f"groups.{group}", entry), data, catalog, True)
    if not scores:
        raise ResultFileError(source, "results", "no scores in the file")
    config = _mapping(source, "config", data.get("config"))
    raw_limit = config.get("limit")
    limit = None if raw_limit is None else as_score(source, "config.limit", raw_limit)
    partial = any(
        s.samples_effective is not None and s.samples_original is not None and s.samples_effective < s.samples_original
        for s in scores
    )
    version = data.get("lm_eval_version")
    git_hash = data.get("git_hash")
    if not isinstance(version, str) or not version:
        version = f"git {git_hash}" if isinstance(git_hash, str) and git_hash else "unknown"
    date = data.get("date")
    evaluated_at = None if date is None else int(as_score(source, "date", date, allow_string=True))
    return ParsedResult(
        harness=HARNESS,
        harness_version=version,
        scores=tuple(scores),
        model_in_file=_model(data),
        limit=limit,
        limited=limit is not None or partial,
        evaluated_at=evaluated_at,
    )
