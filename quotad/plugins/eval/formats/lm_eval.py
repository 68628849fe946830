"""EleutherAI lm-evaluation-harness ``results_<timestamp>.json`` (0.4.x; 0.3's un-filtered keys too).

Shape relied on: ``results`` maps each task (and group) to ``{"alias": ..., "<metric>,<filter>": value,
"<metric>_stderr,<filter>": value-or-"N/A"}``; ``groups``/``group_subtasks`` say which entries are group
averages; ``n-shot``, ``higher_is_better`` and ``n-samples`` (``{"original", "effective"}``) are keyed by task;
``config`` carries ``model_args`` and ``limit``; ``lm_eval_version`` and ``date`` (epoch seconds) describe the run.

Stability AI's Japanese fork (``jp-stable`` branch, the JP-LMEH suite: ``jsquad-1.1-0.2``, ``xlsum_ja``, ...)
writes 0.3's ``result.json``: bare metric keys (``acc``, ``exact_match``, no ``,filter``), ``versions``, and
``config.num_fewshot`` as a *list* given on the command line in the order of ``--tasks``, which the file does
not record (``results`` and ``versions`` come in other orders). So a list of equal numbers gives every task
its n-shot, and a list of different numbers gives none rather than a guess. Its JSQuAD ``exact_match``/``f1``
and XL-Sum ``rouge2`` are on 0-100: the task catalogue's ``scales`` say so, and the range check uses them.

Versions: 0.3 (no ``lm_eval_version``) and 0.4.x are the shapes seen; a file that names another version is
refused saying what was expected and what was found, rather than read on the hope that nothing moved.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from quotad.plugins.eval.catalog import TaskCatalog
from quotad.plugins.eval.formats.base import (
    FILTER_LEN,
    METRIC_LEN,
    TASK_LEN,
    ParsedResult,
    ParsedScore,
    ResultFileError,
    as_count,
    as_score,
    as_text,
    check_range,
    shown,
)

__all__ = ["HARNESS", "looks_like", "read"]

HARNESS = "lm-evaluation-harness"
_NOT_METRICS = {"alias", "name", "sample_len", "samples", "sample_count"}
_MARKERS = ("versions", "n-shot", "n-samples", "configs", "config", "lm_eval_version", "higher_is_better")
#: lm_eval_version values of the shapes this reader was written against.
_KNOWN_VERSION = re.compile(r"0\.[34](\.\d+)*([.+-].*)?")


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
    if isinstance(value, str) and value.isdigit() and len(value) < 10:
        return int(value)
    return as_count(source, f"n-shot.{task}", value)


def _fewshot_for_all(source: str, config: Mapping[str, Any]) -> tuple[int | None, bool]:
    """0.3's ``config.num_fewshot`` (an int, or jp-stable's list): the n-shot of every task, and whether a list."""
    value = config.get("num_fewshot")
    if value is None:
        return None, False
    if isinstance(value, list):
        shots = [as_count(source, f"config.num_fewshot[{i}]", v) for i, v in enumerate(value)]
        return (shots[0] if shots and len(set(shots)) == 1 else None), True
    return as_count(source, "config.num_fewshot", value), False


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
    source: str,
    task: str,
    entry: Mapping[str, Any],
    data: Mapping[str, Any],
    catalog: TaskCatalog,
    aggregate: bool,
    default_shot: int | None = None,
) -> list[ParsedScore]:
    as_text(source, f"results.{task}", task, max_len=TASK_LEN)
    values: dict[tuple[str, str], float] = {}
    stderrs: dict[tuple[str, str], float | None] = {}
    for key, value in entry.items():
        if key in _NOT_METRICS:
            continue
        name, _, flt = key.partition(",")
        path = f"results.{task}.{key}"
        as_text(source, path, name, max_len=METRIC_LEN)
        as_text(source, path, flt, max_len=FILTER_LEN)
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
    if n_shot is None:
        n_shot = default_shot
    effective, original = _samples(source, task, _mapping(source, "n-samples", data.get("n-samples")).get(task))
    scores = []
    for (metric, flt), value in sorted(values.items()):
        key = f"results.{task}.{metric},{flt}"
        scale = check_range(source, key, value, metric, catalog, task=task)
        better = hib.get(metric)
        if better is not None and not isinstance(better, bool):
            raise ResultFileError(
                source, f"higher_is_better.{task}.{metric}", f"expected true or false, got {shown(better)}"
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


def _epoch(source: str, value: float) -> int:
    """``date`` as epoch seconds within what a run can have (1970 to 9999), else refused."""
    if not 0 <= value < 253402300800:
        raise ResultFileError(source, "date", f"expected epoch seconds, got {value!r}")
    return int(value)


def read(source: str, data: Mapping[str, Any], catalog: TaskCatalog) -> ParsedResult:
    """Every metric of every task and group in the file, or ``ResultFileError`` at the first bad value."""
    version = data.get("lm_eval_version")
    if version is not None and not (isinstance(version, str) and _KNOWN_VERSION.fullmatch(version)):
        raise ResultFileError(
            source,
            "lm_eval_version",
            f"a format not seen before: expected lm-evaluation-harness 0.3 or 0.4.x, found {shown(version)}",
        )
    config = _mapping(source, "config", data.get("config"))
    default_shot, fewshot_list = _fewshot_for_all(source, config)
    results = _mapping(source, "results", data.get("results"))
    groups = _mapping(source, "groups", data.get("groups"))
    subtasks = _mapping(source, "group_subtasks", data.get("group_subtasks"))
    group_names = set(groups) | {name for name, members in subtasks.items() if members}
    scores: list[ParsedScore] = []
    for task, entry in results.items():
        scores += _task_scores(
            source, task, _mapping(source, f"results.{task}", entry), data, catalog, task in group_names, default_shot
        )
    for group, entry in groups.items():
        if group not in results:
            scores += _task_scores(source, group, _mapping(source, f"groups.{group}", entry), data, catalog, True)
    if not scores:
        raise ResultFileError(source, "results", "no scores in the file")
    raw_limit = config.get("limit")
    limit = None if raw_limit is None else as_score(source, "config.limit", raw_limit)
    partial = any(
        s.samples_effective is not None and s.samples_original is not None and s.samples_effective < s.samples_original
        for s in scores
    )
    git_hash = data.get("git_hash")
    if not isinstance(version, str) or not version:
        if isinstance(git_hash, str) and git_hash:
            version = f"git {git_hash[:40]}"
        elif "versions" in data:
            version = "0.3 (jp-stable)" if fewshot_list else "0.3"
        else:
            version = "unknown"
    date = data.get("date")
    evaluated_at = None if date is None else _epoch(source, as_score(source, "date", date, allow_string=True))
    return ParsedResult(
        harness=HARNESS,
        harness_version=version,
        scores=tuple(scores),
        model_in_file=_model(data),
        limit=limit,
        limited=limit is not None or partial,
        evaluated_at=evaluated_at,
    )
