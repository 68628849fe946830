"""Recognise a result file by its shape and hand it to its reader.

Detection looks at structure, never at the file name: an lm-evaluation-harness results object (``results``
beside ``versions``/``n-shot``/``config``...; Stability AI's jp-stable ``result.json`` too), an llm-jp-eval
output (``scores`` beside ``outputs``, or 1.0-1.2's flat ``score_eval.json``), MT-Bench judgement lines
(``question_id``, ``judge``, ...) or a Nejumi leaderboard CSV (``TOTAL_SCORE`` in the header). Anything else is
refused saying what was expected and what was found. The one use of the path is FastChat's folder layout
(``data/<bench>/model_judgment/...``), which is the only place an MT-Bench judgement file says which bench
(Japanese or English) it judged.

Whatever the bytes, the outcome is a result or a ``ResultFileError``: a JSON document that is cut short says
"invalid JSON at line L column C", one nested deeper than Python's parser goes, or holding a number Python
will not convert, is refused as such, so no exception leaves a reader and the other files of a command land.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from quotad.plugins.eval.catalog import TaskCatalog
from quotad.plugins.eval.formats import llm_jp_eval, lm_eval, mt_bench, nejumi
from quotad.plugins.eval.formats.base import ParsedResult, ParsedScore, ResultFileError, shown

__all__ = ["ParsedResult", "ParsedScore", "ResultFileError", "llm_jp_outputs", "read_all_models", "read_result"]

_EXPECTED = (
    "expected an lm-evaluation-harness results JSON (results with versions/n-shot/config), an llm-jp-eval output "
    "(scores with outputs, or 1.0-1.2's flat score_eval.json with csv_line), MT-Bench judgement JSONL "
    "(question_id, model, judge, score, turn) or a Nejumi leaderboard CSV (model_name, TOTAL_SCORE, ...)"
)
_OUTPUTS_ALONE = (
    "this is llm-jp-eval's output_eval.json (each dataset's prompt/input/pred/gold, no scores): ingest it in the "
    "same command as the score_eval.json beside it"
)


@dataclass(frozen=True)
class _Json:
    data: Any


@dataclass(frozen=True)
class _Lines:
    lines: list[str]


@dataclass(frozen=True)
class _Csv:
    text: str


def _found(data: object) -> str:
    if isinstance(data, dict):
        return f"found keys {', '.join(str(k)[:40] for k in sorted(data, key=str)[:8])}"
    return f"found a JSON {type(data).__name__}"


def _decode(source: str, content: bytes) -> str:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ResultFileError(source, "", f"not UTF-8 text (bad byte at offset {exc.start})") from None
    if not text.strip():
        raise ResultFileError(source, "", "the file is empty")
    return text


def _loads(source: str, text: str, where: str = "") -> object:
    try:
        return json.loads(text)
    except RecursionError:
        raise ResultFileError(source, where, "nested too deeply to be a result file") from None
    except json.JSONDecodeError as exc:
        raise ResultFileError(
            source, where, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts (sys.int_info)
        raise ResultFileError(source, where, f"unreadable value: {exc}") from None


def _classify(source: str, content: bytes) -> _Json | _Lines | _Csv:
    """What kind of document the bytes are; refuses what none of the readers takes."""
    text = _decode(source, content)
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        lines = [line for line in text.splitlines() if line.strip()]
        first = lines[0].strip()
        if len(lines) > 1 and first.startswith("{") and first.endswith("}"):
            try:
                head = json.loads(first)
            except (ValueError, RecursionError):
                head = None
            if mt_bench.looks_like(head):
                return _Lines(text.splitlines())
        return _Json(_loads(source, text))
    try:
        header = next(csv.reader([text.splitlines()[0]]), [])
    except csv.Error:
        header = []
    if nejumi.looks_like(header):
        return _Csv(text)
    raise ResultFileError(
        source, "", f"not a known result format: {_EXPECTED}; found text starting {shown(stripped[:40])}"
    )


def _mt_bench_task(path: PurePath | None, catalog: TaskCatalog) -> str:
    if path is not None and len(path.parts) >= 3 and path.parent.name == "model_judgment":
        bench = path.parent.parent.name
        found = catalog.lookup(bench)
        if found is not None and found[0].category == "GEN":
            return found[0].id
    return mt_bench.DEFAULT_TASK


def llm_jp_outputs(content: bytes) -> Mapping[str, Any] | None:
    """The datasets of an llm-jp-eval ``output_eval.json`` (the companion of a 1.0-1.2 score file), else None."""
    try:
        data = json.loads(content.decode("utf-8-sig"))
    except (ValueError, RecursionError):
        return None
    return data if llm_jp_eval.looks_like_outputs(data) else None


def _single(source: str, doc: _Json, catalog: TaskCatalog, outputs: Mapping[str, Any] | None) -> ParsedResult | None:
    data = doc.data
    if lm_eval.looks_like(data):
        assert isinstance(data, dict)
        return lm_eval.read(source, data, catalog)
    if llm_jp_eval.looks_like(data):
        assert isinstance(data, dict)
        return llm_jp_eval.read(source, data, catalog)
    if llm_jp_eval.looks_like_flat(data):
        assert isinstance(data, dict)
        return llm_jp_eval.read_flat(source, data, catalog, outputs=outputs)
    if llm_jp_eval.looks_like_outputs(data):
        raise ResultFileError(source, "", _OUTPUTS_ALONE)
    return None


def read_result(
    source: str,
    content: bytes,
    catalog: TaskCatalog,
    *,
    model: str,
    path: PurePath | None = None,
    outputs: Mapping[str, Any] | None = None,
) -> ParsedResult:
    """Parse one result file of any known format, or raise ``ResultFileError`` with the file and key path.

    ``model`` picks the model of a file that holds several (MT-Bench, Nejumi); ``outputs`` is the companion
    ``output_eval.json`` of an llm-jp-eval 1.0-1.2 score file, when there is one.
    """
    doc = _classify(source, content)
    if isinstance(doc, _Csv):
        return nejumi.read(source, doc.text, catalog, model=model)
    if isinstance(doc, _Json):
        found = _single(source, doc, catalog, outputs)
        if found is not None:
            return found
        if not mt_bench.looks_like(doc.data):  # a one-line judgement file is also a JSON document
            raise ResultFileError(source, "", f"not a known result format: {_EXPECTED}; {_found(doc.data)}")
        return mt_bench.read(source, [json.dumps(doc.data)], catalog, model=model, task=_mt_bench_task(path, catalog))
    return mt_bench.read(source, doc.lines, catalog, model=model, task=_mt_bench_task(path, catalog))


def read_all_models(
    source: str, content: bytes, catalog: TaskCatalog, *, path: PurePath | None = None
) -> dict[str, ParsedResult]:
    """Every model of a file that holds several (MT-Bench, Nejumi), keyed by its name in the file."""
    doc = _classify(source, content)
    if isinstance(doc, _Csv):
        return nejumi.read_all(source, doc.text, catalog)
    if isinstance(doc, _Json):
        if not mt_bench.looks_like(doc.data):
            single = _single(source, doc, catalog, None)
            if single is not None:
                raise ResultFileError(
                    source, "", f"--all-models: a {single.harness} file holds one model's results; name it with --model"
                )
            raise ResultFileError(source, "", f"not a known result format: {_EXPECTED}; {_found(doc.data)}")
        return mt_bench.read_all(source, [json.dumps(doc.data)], catalog, task=_mt_bench_task(path, catalog))
    return mt_bench.read_all(source, doc.lines, catalog, task=_mt_bench_task(path, catalog))
