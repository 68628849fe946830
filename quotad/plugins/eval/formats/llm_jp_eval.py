"""llm-jp-eval result JSON: ``{"scores": {...}, "outputs": {...}, "config": {...}}``.

Shape relied on: ``scores`` maps ``<dataset>_<metric>`` (``jsquad_char_f1``, ``jmmlu_exact_match``,
``alt-e-to-j_comet_wmt22``) and category averages (upper-case keys: ``NLI``, ``QA``, ..., ``AVG``) to numbers or
to the numeric strings llm-jp-eval writes (``"0.8123"``); ``outputs`` maps each dataset to its evaluated samples;
``config.metainfo`` carries ``version``, ``num_few_shots``, ``max_num_samples`` (-1 = every sample) and the model.
Some versions put the configuration at the top level instead of under ``config``; both are read.

llm-jp-eval 1.0-1.2 wrote ``score_eval.json`` flat instead: the same category averages (``AVR``, ``NLI``, ...)
and ``<dataset>_<metric>`` keys at the top level, every value a numeric string (negative correlations such as
``"-0.1544"`` too), plus ``csv_line`` repeating the values comma-separated for a spreadsheet; no version, no
configuration. Its samples are in a companion ``output_eval.json`` (dataset -> ``[{prompt, input, pred,
gold}]``), which, when given in the same command from the same folder, supplies the dataset names and sample
counts; alone it holds no scores and is refused saying so.

Dataset names and metric names both contain underscores, so a key is split on the longest dataset named in
``outputs`` and, failing that, on the longest known metric suffix; a key that fits neither is refused rather
than guessed. Versions 1.x are the shapes seen; another is refused naming what was expected and found.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from quotad.plugins.eval.catalog import TaskCatalog
from quotad.plugins.eval.formats.base import (
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

__all__ = ["FLAT_VERSION", "HARNESS", "looks_like", "looks_like_flat", "looks_like_outputs", "read", "read_flat"]

HARNESS = "llm-jp-eval"
FLAT_VERSION = "1.0-1.2"
_KNOWN_VERSION = re.compile(r"v?1\.\d+(\.\d+)*([.+-].*)?")
#: Upper-case keys llm-jp-eval writes for its category averages (AVR is 1.0-1.2's overall average).
_CATEGORY_KEYS = {"AVR", "AVG", "NLI", "QA", "RC", "MC", "EL", "FA", "MR", "MT", "HE", "CG", "SUM", "STS", "TC"}
_SAMPLE_KEYS = {"pred", "gold"}
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


def looks_like_flat(data: object) -> bool:
    """1.0-1.2's ``score_eval.json``: ``csv_line``, or category averages beside ``<dataset>_<metric>`` keys."""
    if not isinstance(data, dict) or "scores" in data or "results" in data:
        return False
    if "csv_line" in data:
        return True
    return any(k in _CATEGORY_KEYS for k in data) and any(isinstance(k, str) and "_" in k for k in data)


def looks_like_outputs(data: object) -> bool:
    """1.0-1.2's companion ``output_eval.json``: each dataset's samples with their predictions and gold answers."""
    if not isinstance(data, dict) or not data:
        return False
    return all(
        isinstance(v, list) and all(isinstance(x, dict) and x.keys() >= _SAMPLE_KEYS for x in v[:3])
        for v in data.values()
    )


def _mapping(source: str, key: str, value: object) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ResultFileError(source, key, f"expected an object, got {type(value).__name__}")
    return value


def _split(source: str, key: str, path: str, datasets: list[str], metrics: list[str]) -> tuple[str, str]:
    for dataset in datasets:
        if key.startswith(dataset + "_") and len(key) > len(dataset) + 1:
            return dataset, key[len(dataset) + 1 :]
    for metric in metrics:
        if key.endswith("_" + metric) and len(key) > len(metric) + 1:
            return key[: -len(metric) - 1], metric
    raise ResultFileError(
        source, path, "cannot tell the dataset from the metric (no such dataset in outputs, no known metric)"
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


def _scores(
    source: str,
    scores_in: Mapping[str, Any],
    prefix: str,
    outputs: Mapping[str, Any],
    catalog: TaskCatalog,
    n_shot: int | None,
) -> list[ParsedScore]:
    """One row per key: an upper-case key is a category average, any other ``<dataset>_<metric>``."""
    datasets = sorted(outputs, key=len, reverse=True)
    metrics = sorted(_METRICS | set(catalog.metrics), key=len, reverse=True)
    scores: list[ParsedScore] = []
    for key, raw in scores_in.items():
        path = f"{prefix}{key}"
        as_text(source, path, key, max_len=TASK_LEN)
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
        dataset, metric = _split(source, key, path, datasets, metrics)
        as_text(source, path, metric, max_len=METRIC_LEN)
        scale = check_range(source, path, value, metric, catalog, task=dataset)
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
                samples_effective=len(samples) if isinstance(samples, list) and len(samples) <= 2**31 - 1 else None,
            )
        )
    return scores


def read_flat(
    source: str, data: Mapping[str, Any], catalog: TaskCatalog, *, outputs: Mapping[str, Any] | None = None
) -> ParsedResult:
    """1.0-1.2's flat ``score_eval.json``, with the companion ``output_eval.json``'s datasets when given."""
    scores_in = {k: v for k, v in data.items() if k != "csv_line"}
    line = data.get("csv_line")
    if line is not None and not isinstance(line, str):
        raise ResultFileError(source, "csv_line", f"expected the comma-separated values, got {shown(line)}")
    scores = _scores(source, scores_in, "", outputs or {}, catalog, None)
    if not scores:
        raise ResultFileError(source, "", "no scores in the file")
    return ParsedResult(harness=HARNESS, harness_version=FLAT_VERSION, scores=tuple(scores))


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
    scores = _scores(source, scores_in, "scores.", outputs, catalog, n_shot)
    if not scores:
        raise ResultFileError(source, "scores", "no scores in the file")
    version = metainfo.get("version")
    if version is not None and not (isinstance(version, str) and _KNOWN_VERSION.fullmatch(version)):
        raise ResultFileError(
            source,
            f"{prefix}metainfo.version",
            f"a format not seen before: expected llm-jp-eval 1.x, found {shown(version)}",
        )
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
