"""(Japanese) MT-Bench single-answer judgements: FastChat ``llm_judge`` ``model_judgment/<judge>_single.jsonl``.

Shape relied on, one JSON object a line: ``question_id``, ``model``, ``judge`` (``["gpt-4", "single-v1"]``: the
judge model and its prompt), ``score`` (1-10, or -1 when the judge's verdict could not be parsed), ``turn``
(1 or 2), and optionally ``user_prompt``, ``judgment``, ``tstamp``. One file holds every judged model, so the
reader keeps the model being ingested. Like FastChat's ``show_result`` it leaves -1 out of the mean; those
judgements count as original but not effective samples. Pairwise files (``model_1``/``model_2``) are refused.

Rows: ``score`` (mean over both turns), ``score_turn1`` and ``score_turn2``, one set per judge model, which is
the row's filter (scores by different judges are not comparable).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean, stdev
from typing import Any

from quotad.plugins.eval.catalog import TaskCatalog
from quotad.plugins.eval.formats.base import (
    FILTER_LEN,
    TASK_LEN,
    ParsedResult,
    ParsedScore,
    ResultFileError,
    as_score,
    as_text,
    shown,
)

__all__ = ["DEFAULT_TASK", "HARNESS", "looks_like", "read", "read_all"]

HARNESS = "mt-bench"
DEFAULT_TASK = "japanese_mt_bench"
_REQUIRED = ("question_id", "model", "judge", "score", "turn")
_FAILED = -1.0


def looks_like(first: object) -> bool:
    """Whether the first record of a JSONL file is an MT-Bench judgement (single or pairwise)."""
    return isinstance(first, dict) and "question_id" in first and "judge" in first


@dataclass(frozen=True)
class _Judgement:
    line_no: int
    question: str
    model: str
    judge: str
    prompt: str
    score: float
    turn: int
    tstamp: float | None


def _record(source: str, line_no: int, obj: Any, catalog: TaskCatalog) -> _Judgement:
    where = f"line {line_no}"
    if not isinstance(obj, dict):
        raise ResultFileError(source, where, "expected a JSON object")
    if "model_1" in obj or "g1_winner" in obj:
        raise ResultFileError(
            source, where, "pairwise judgements (model_1/model_2) are not supported; use single grading"
        )
    missing = [k for k in _REQUIRED if k not in obj]
    if missing:
        raise ResultFileError(source, where, f"missing {', '.join(missing)}")
    question = obj["question_id"]
    if isinstance(question, bool) or not isinstance(question, int | str) or question == "":
        raise ResultFileError(source, f"{where}: question_id", f"expected an id, got {shown(question)}")
    model = obj["model"]
    if not isinstance(model, str) or not model:
        raise ResultFileError(source, f"{where}: model", f"expected a model name, got {shown(model)}")
    as_text(source, f"{where}: model", model, max_len=TASK_LEN)
    judge = obj["judge"]
    if isinstance(judge, list) and judge and all(isinstance(j, str) for j in judge):
        judge_model, prompt = judge[0], (judge[1] if len(judge) > 1 else "")
    elif isinstance(judge, str) and judge:
        judge_model, prompt = judge, ""
    else:
        raise ResultFileError(source, f"{where}: judge", f"expected [judge model, prompt], got {shown(judge)}")
    as_text(source, f"{where}: judge", judge_model, max_len=FILTER_LEN)
    score = as_score(source, f"{where}: score", obj["score"])
    spec = catalog.metric("score")
    low, high = (spec.min, spec.max) if spec else (1.0, 10.0)
    if score != _FAILED and not ((low is None or score >= low) and (high is None or score <= high)):
        raise ResultFileError(source, f"{where}: score", f"{score!r} is outside 1-10 (or -1 for a failed judgement)")
    turn = obj["turn"]
    if turn not in (1, 2) or isinstance(turn, bool):
        raise ResultFileError(source, f"{where}: turn", f"expected 1 or 2, got {shown(turn)}")
    stamp = obj.get("tstamp")
    tstamp = None if stamp is None else as_score(source, f"{where}: tstamp", stamp)
    if tstamp is not None and not 0 <= tstamp < 253402300800:
        raise ResultFileError(source, f"{where}: tstamp", f"expected epoch seconds, got {shown(stamp)}")
    return _Judgement(line_no, str(question), model, judge_model, prompt, score, int(turn), tstamp)


def _pick_model(source: str, records: list[_Judgement], model: str) -> list[_Judgement]:
    models = sorted({r.model for r in records})
    if len(models) == 1:
        return records
    if model in models:
        return [r for r in records if r.model == model]
    raise ResultFileError(
        source, "model", f"the file judges {len(models)} models ({', '.join(models)}); none is named {model!r}"
    )


def _row(task: str, metric: str, judge: str, group: Sequence[_Judgement], scale: float | None) -> ParsedScore | None:
    valid = [r.score for r in group if r.score != _FAILED]
    if not valid:
        return None
    err = stdev(valid) / math.sqrt(len(valid)) if len(valid) > 1 else None
    return ParsedScore(
        task=task,
        metric=metric,
        filter=judge,
        value=fmean(valid),
        stderr=err,
        n_shot=0,
        higher_is_better=True,
        scale_max=scale,
        samples_effective=len(valid),
        samples_original=len(group),
    )


def _records(source: str, lines: Sequence[str], catalog: TaskCatalog) -> list[_Judgement]:
    records: list[_Judgement] = []
    for line_no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ResultFileError(source, f"line {line_no}", f"not JSON: {exc.msg} at column {exc.colno}") from None
        except RecursionError:
            raise ResultFileError(source, f"line {line_no}", "nested too deeply to be a judgement") from None
        except ValueError as exc:  # e.g. an integer of more digits than Python converts
            raise ResultFileError(source, f"line {line_no}", f"unreadable value: {exc}") from None
        records.append(_record(source, line_no, obj, catalog))
    if not records:
        raise ResultFileError(source, "", "no judgements in the file")
    return records


def read(
    source: str, lines: Sequence[str], catalog: TaskCatalog, *, model: str, task: str = DEFAULT_TASK
) -> ParsedResult:
    """The judgements of ``model`` (of the only model when the file judges one)."""
    return _result(source, _pick_model(source, _records(source, lines, catalog), model), catalog, task)


def read_all(
    source: str, lines: Sequence[str], catalog: TaskCatalog, *, task: str = DEFAULT_TASK
) -> dict[str, ParsedResult]:
    """Every judged model's result, keyed by the model's name in the file."""
    by_model: defaultdict[str, list[_Judgement]] = defaultdict(list)
    for record in _records(source, lines, catalog):
        by_model[record.model].append(record)
    return {name: _result(source, chosen, catalog, task) for name, chosen in sorted(by_model.items())}


def _result(source: str, chosen: list[_Judgement], catalog: TaskCatalog, task: str) -> ParsedResult:
    seen: dict[tuple[str, int, str], int] = {}
    for r in chosen:
        key = (r.question, r.turn, r.judge)
        if key in seen:
            raise ResultFileError(
                source,
                f"line {r.line_no}",
                f"question {r.question} turn {r.turn} judged twice (first on line {seen[key]})",
            )
        seen[key] = r.line_no
    spec = catalog.metric("score")
    scale = spec.max if spec else 10.0
    by_judge: defaultdict[str, list[_Judgement]] = defaultdict(list)
    for r in chosen:
        by_judge[r.judge].append(r)
    scores: list[ParsedScore] = []
    for judge, group in sorted(by_judge.items()):
        candidates = [
            _row(task, "score", judge, group, scale),
            _row(task, "score_turn1", judge, [r for r in group if r.turn == 1], scale),
            _row(task, "score_turn2", judge, [r for r in group if r.turn == 2], scale),
        ]
        scores += [c for c in candidates if c is not None]
    if not scores:
        raise ResultFileError(source, "score", "every judgement failed (score -1): nothing to store")
    stamps = [r.tstamp for r in chosen if r.tstamp is not None]
    prompts = sorted({r.prompt for r in chosen if r.prompt})
    return ParsedResult(
        harness=HARNESS,
        harness_version=", ".join(prompts) or "unknown",
        scores=tuple(scores),
        model_in_file=chosen[0].model,
        evaluated_at=int(max(stamps)) if stamps else None,
        multi_model=True,
    )
