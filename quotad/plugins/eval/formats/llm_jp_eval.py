"""llm-jp-eval result JSON: ``{"scores": {...}, "outputs": {...}, "config": {...}}``.

Shape relied on: ``scores`` maps ``<dataset>_<metric>`` (``jsquad_char_f1``, ``jmmlu_exact_match``,
``alt-e-to-j_comet_wmt22``) and category averages (upper-case keys: ``NLI``, ``QA``, ..., ``AVG``) to numbers or
to the numeric strings llm-jp-eval writes (``"0.8123"``); ``outputs`` maps each dataset to its evaluated samples;
``config.metainfo`` carries ``version``, ``num_few_shots``, ``max_num_samples`` (-1 = every sample) and the model.
Some versions put the configuration at the top level instead of under ``config``; both are read.

Dataset names and metric names both contain underscores, so a key is split on the longest dataset named in
``outputs`` and, failing that, on the longest known metric suffix; a key that fits neither is refused rather
than guessed.
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

HARNESS = "llm-jp-eval"
#: Metrics llm-jp-eval computes that the catalogue may not list (no declared range: shown, not averaged).
_METRICS = {
    "exact_match",
    "exact_match_figure",
    "char_f1",
    "set_f1",
    "pearson",
    "spearman",
    "bleu_ja",
    "bleu_en",
    "bert_score_ja_f1",
    "bert_score_en_f1",
    "comet_wmt22",
    "rouge1",
    "rouge2",
    "rougeLsum",
    "rouge2_scaling",
    "code_exec",
    "pylint_check",
    "mathematical_equivalence",
    "entity_labeling_acc",
    "ool",
}


def looks_like(data: object) -> bool:
    return isinstance(data, dict) and isinstance(data.get("scores"), dict) and "outputs" in data


def _mapping(source: str, key: str, value: object) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ResultFileError(source, key, f"expected an object, got {type(value).__name__}")
    return value


def _split(source: str, key: str, datasets: list[str], metrics: list[str]) -> tuple[str, str]:
    for dataset in datasets:
        if key.startswith(dataset + "_") and len(key) > len(dataset) + 1:
            return dataset, key[len(dataset) + 1 :]
    for metric in metrics:
        if key.endswith("_" + metric) and len(key) > len(metric) + 1:
            return key[: -len(metric) - 1], metric
    raise ResultFileError(
        source, f"scores.{key}", "cannot tell the dataset from the metric (no such dataset in outputs, no known metric)"
    )


def _setting(source: str, *candidates: tuple[str, object], allow_all: bool = False) -> int | None:
    """The first of ``candidates`` (key path, value) that is set; ``allow_all`` accepts -1 ("every sample")."""
    for path, value in candidates:
        if value is None:
            continue
        if allow_all and value == -1 and type(value) is int:
            return -1
        return as_count(source, path, value)
    return None


def read(source: str, data: Mapping[str, Any], catalog: TaskCatalog) -> ParsedResult:
    scores_in = _mapping(source, "scores", data.get("scores"))
    outputs = _mapping(source, "outputs", data.get("outputs"))
    config = _mapping(source, "config", data.get("config")) if "config" in data else data
    prefix = "config." if "config" in data else ""
    metainfo = _mapping(source, f"{prefix}metainfo", config.get("metainfo"))
    n_shot = _setting(
        source,
        (f"{prefix}metainfo.num_few_shots", metainfo.get("num_few_shots")),
        (f"{prefix}num_few_shots", config.get("num_few_shots")),
    )
    max_samples = _setting(
        source,
        (f"{prefix}metainfo.max_num_samples", metainfo.get("max_num_samples")),
        (f"{prefix}max_num_samples", config.get("max_num_samples")),
        allow_all=True,
    )
    datasets = sorted(outputs, key=len, reverse=True)
    metrics = sorted(_METRICS | set(catalog.metrics), key=len, reverse=True)
    scores: list[ParsedScore] = []
    for key, raw in scores_in.items():
        path = f"scores.{key}"
        value = as_score(source, path, raw, allow_string=True)
        if key == "ool" or not any(ch.islower() for ch in key):
            metric = "ool" if key == "ool" else "avg"
            check_range(source, path, value, metric, catalog)
            scores.append(
                ParsedScore(
                    task="AVG" if key == "ool" else key,
                    metric=metric,
                    filter="",
                    value=value,
                    n_shot=n_shot,
                    higher_is_better=metric != "ool",
                    aggregate=True,
                )
            )
            continue
        dataset, metric = _split(source, key, datasets, metrics)
        scale = check_range(source, path, value, metric, catalog)
        spec = catalog.metric(metric)
        samples = outputs.get(dataset)
        scores.append(
            ParsedScore(
                task=dataset,
                metric=metric,
                filter="",
                value=value,
                n_shot=n_shot,
                higher_is_better=spec.higher_is_better if spec else True,
                scale_max=scale,
                samples_effective=len(samples) if isinstance(samples, list) else None,
            )
        )
    if not scores:
        raise ResultFileError(source, "scores", "no scores in the file")
    version = metainfo.get("version")
    model = metainfo.get("basemodel_name") or _mapping(source, f"{prefix}model", config.get("model")).get(
        "pretrained_model_name_or_path", ""
    )
    limit = float(max_samples) if max_samples is not None and max_samples > 0 else None
    return ParsedResult(
        harness=HARNESS,
        harness_version=str(version) if version else "unknown",
        scores=tuple(scores),
        model_in_file=str(model or ""),
        limit=limit,
        limited=limit is not None,
    )
