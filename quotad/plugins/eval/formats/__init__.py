"""Recognise a result file by its shape and hand it to its reader.

Detection looks at structure, never at the file name: an lm-evaluation-harness results object (``results``
beside ``versions``/``n-shot``/``config``...), an llm-jp-eval output (``scores`` beside ``outputs``) or MT-Bench
judgement lines (``question_id``, ``judge``, ...). Anything else is refused naming what was found. The one use
of the path is FastChat's folder layout (``data/<bench>/model_judgment/...``), which is the only place an
MT-Bench judgement file says which bench (Japanese or English) it judged.
"""

from __future__ import annotations

import json
from pathlib import PurePath

from quotad.plugins.eval.catalog import TaskCatalog
from quotad.plugins.eval.formats import llm_jp_eval, lm_eval, mt_bench
from quotad.plugins.eval.formats.base import ParsedResult, ParsedScore, ResultFileError

__all__ = ["ParsedResult", "ParsedScore", "ResultFileError", "read_result"]

_EXPECTED = (
    "expected an lm-evaluation-harness results JSON (results with versions/n-shot/config), an llm-jp-eval output "
    "(scores with outputs) or MT-Bench judgement JSONL (question_id, model, judge, score, turn)"
)


def _mt_bench_task(path: PurePath | None, catalog: TaskCatalog) -> str:
    if path is not None and len(path.parts) >= 3 and path.parent.name == "model_judgment":
        bench = path.parent.parent.name
        found = catalog.lookup(bench)
        if found is not None and found[0].category == "GEN":
            return found[0].id
    return mt_bench.DEFAULT_TASK


def read_result(
    source: str, content: bytes, catalog: TaskCatalog, *, model: str, path: PurePath | None = None
) -> ParsedResult:
    """Parse one result file of any known format, or raise ``ResultFileError`` with the file and key path."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ResultFileError(source, "", f"not UTF-8 text (bad byte at offset {exc.start})") from None
    if not text.strip():
        raise ResultFileError(source, "", "the file is empty")
    try:
        data: object = json.loads(text)
        whole_json = True
    except json.JSONDecodeError:
        whole_json = False
    if whole_json:
        if lm_eval.looks_like(data):
            assert isinstance(data, dict)
            return lm_eval.read(source, data, catalog)
        if llm_jp_eval.looks_like(data):
            assert isinstance(data, dict)
            return llm_jp_eval.read(source, data, catalog)
        if not mt_bench.looks_like(data):  # a one-line judgement file is also a JSON document
            found = f"; found keys {', '.join(sorted(data)[:8])}" if isinstance(data, dict) else ""
            raise ResultFileError(source, "", f"not a known result format: {_EXPECTED}{found}")
    lines = text.splitlines()
    first_line = next(line for line in lines if line.strip())
    try:
        first: object = json.loads(first_line)
    except json.JSONDecodeError:
        raise ResultFileError(source, "", f"not a known result format: {_EXPECTED}") from None
    if not mt_bench.looks_like(first):
        raise ResultFileError(source, "line 1", f"not a known result format: {_EXPECTED}")
    return mt_bench.read(source, lines, catalog, model=model, task=_mt_bench_task(path, catalog))
