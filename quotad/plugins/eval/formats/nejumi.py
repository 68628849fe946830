"""Nejumi LLM Leaderboard (W&B Japan) CSV exports: one row per model, several models per file.

Shape relied on (Leaderboard 3 and 4 exports): a header with ``model_name``, ``TOTAL_SCORE``,
``汎用的言語性能(GLP)_AVG``, ``アラインメント(ALT)_AVG`` and the sub-category columns ``GLP_<name>`` /
``ALT_<name>`` (``GLP_翻訳``, ``ALT_毒性``, ...), every score on 0-1; other columns (``runname``, ``release_date``,
``model_size``, ...) describe the model and are not scores. A cell left empty is a category the model was not
evaluated on and gives no row. Every value read is an average Nejumi computed, so every row is an aggregate;
the catalogue maps the GLP and ALT averages to benchmarks and leaves TOTAL_SCORE (their weighted mean) out of
the board's averages, which would count it twice.

Like MT-Bench judgement files, one file holds several models: the reader keeps the model being ingested (by
``model_name``), or every model for ``--all-models``.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence

from quotad.plugins.eval.catalog import TaskCatalog
from quotad.plugins.eval.formats.base import (
    TASK_LEN,
    ParsedResult,
    ParsedScore,
    ResultFileError,
    as_score,
    as_text,
    check_range,
    shown,
)

__all__ = ["HARNESS", "METRIC", "looks_like", "read", "read_all"]

HARNESS = "nejumi"
METRIC = "nejumi"
TOTAL = "TOTAL_SCORE"
_MODEL_COLUMNS = ("model_name", "model", "runname")


def looks_like(header: Sequence[str]) -> bool:
    return TOTAL in header


def _is_score(column: str) -> bool:
    return column == TOTAL or column.endswith("_AVG") or column.startswith(("GLP_", "ALT_"))


def _rows(source: str, text: str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    try:
        reader = csv.reader(text.splitlines())
        header = next(reader, [])
        rows = [(reader.line_num, dict(zip(header, cells, strict=False))) for cells in reader if any(cells)]
    except csv.Error as exc:
        raise ResultFileError(source, "", f"not a readable CSV: {exc}") from None
    return header, rows


def _model_column(source: str, header: Sequence[str]) -> str:
    for column in _MODEL_COLUMNS:
        if column in header:
            return column
    raise ResultFileError(
        source, "line 1", f"expected a model column ({', '.join(_MODEL_COLUMNS)}), found {shown(list(header))}"
    )


def _result(source: str, line: int, row: dict[str, str], model: str, catalog: TaskCatalog) -> ParsedResult:
    scores: list[ParsedScore] = []
    for column, cell in row.items():
        if not _is_score(column) or cell is None or not cell.strip():
            continue
        key = f"line {line}: {column}"
        as_text(source, key, column, max_len=TASK_LEN)
        value = as_score(source, key, cell, allow_string=True)
        scale = check_range(source, key, value, METRIC, catalog, task=column)
        scores.append(
            ParsedScore(
                task=column,
                metric=METRIC,
                filter="",
                value=value,
                higher_is_better=True,
                scale_max=scale,
                aggregate=True,
            )
        )
    if not scores:
        raise ResultFileError(source, f"line {line}", f"no scores for model {model!r}")
    return ParsedResult(
        harness=HARNESS, harness_version="csv export", scores=tuple(scores), model_in_file=model, multi_model=True
    )


def read_all(source: str, text: str, catalog: TaskCatalog) -> dict[str, ParsedResult]:
    """Every model's row of the file, keyed by the model's name in the file."""
    header, rows = _rows(source, text)
    column = _model_column(source, header)
    out: dict[str, ParsedResult] = {}
    first_line: dict[str, int] = {}
    for line, row in rows:
        name = (row.get(column) or "").strip()
        if not name:
            raise ResultFileError(source, f"line {line}: {column}", "expected a model name, got an empty cell")
        as_text(source, f"line {line}: {column}", name, max_len=TASK_LEN)
        if name in out:
            raise ResultFileError(
                source, f"line {line}", f"model {name!r} appears twice (first on line {first_line[name]})"
            )
        first_line[name] = line
        out[name] = _result(source, line, row, name, catalog)
    if not out:
        raise ResultFileError(source, "", "no model rows in the file")
    return out


def read(source: str, text: str, catalog: TaskCatalog, *, model: str) -> ParsedResult:
    """The row of ``model`` (any row when the file holds one model only)."""
    results = read_all(source, text, catalog)
    if len(results) == 1:
        return next(iter(results.values()))
    if model in results:
        return results[model]
    names = sorted(results)
    listed = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
    raise ResultFileError(source, "model", f"the file has {len(names)} models ({listed}); none is named {model!r}")
