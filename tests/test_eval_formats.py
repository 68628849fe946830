"""Result-file readers on realistic fixtures, and refusals that name the file and the key path."""

from __future__ import annotations

import copy
import json
from pathlib import Path, PurePath
from typing import Any

import pytest

from quotad.plugins.eval.catalog import load_catalog
from quotad.plugins.eval.formats import ParsedResult, ParsedScore, ResultFileError, read_result
from tests.test_plugin_common import FIXTURES, LLM_JP_EVAL, LM_EVAL_EN, LM_EVAL_JA, LM_EVAL_LIMITED, MT_BENCH

CATALOG = load_catalog()


def parse(path: Path, *, model: str = "sakura-13b-v1", as_path: PurePath | None = None) -> ParsedResult:
    return read_result(path.name, path.read_bytes(), CATALOG, model=model, path=as_path or path)


def parse_json(data: Any, name: str = "results.json", model: str = "m") -> ParsedResult:
    return read_result(name, json.dumps(data).encode(), CATALOG, model=model)


def by_key(result: ParsedResult) -> dict[tuple[str, str, str], ParsedScore]:
    return {(s.task, s.metric, s.filter): s for s in result.scores}


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_lm_eval_results_file() -> None:
    result = parse(LM_EVAL_EN)
    assert (result.harness, result.harness_version) == ("lm-evaluation-harness", "0.4.7")
    assert result.model_in_file == "sakura-ai/sakura-13b-v1" and not result.limited and result.limit is None
    assert result.evaluated_at == 1794993164  # "date" (epoch float) of 2026-11-18T09:12:44Z
    scores = by_key(result)
    gsm = scores[("gsm8k", "exact_match", "strict-match")]
    assert gsm.value == pytest.approx(0.3457164518574678) and gsm.stderr == pytest.approx(0.01310, abs=1e-4)
    assert (gsm.n_shot, gsm.samples_effective, gsm.samples_original) == (5, 1319, 1319)
    assert ("gsm8k", "exact_match", "flexible-extract") in scores
    arc = scores[("arc_challenge", "acc_norm", "none")]
    assert arc.n_shot == 25 and arc.higher_is_better is True and arc.scale_max == 1 and not arc.aggregate
    assert scores[("ai2_arc", "acc", "none")].aggregate  # the group row is kept, marked as an average
    assert len(result.scores) == 2 + 2 + 2 + 2 + 2 + 1 + 1  # ai2_arc, arc_*, gsm8k, hellaswag, truthfulqa, winogrande


def test_lm_eval_group_stderr_na_and_japanese_tasks() -> None:
    scores = by_key(parse(LM_EVAL_JA))
    group = scores[("japanese_leaderboard", "acc", "none")]
    assert group.aggregate and group.stderr is None  # "N/A" in the file
    assert scores[("ja_leaderboard_jcommonsenseqa", "acc", "none")].n_shot == 3


def test_lm_eval_limited_run_is_flagged() -> None:
    result = parse(LM_EVAL_LIMITED, model="fuji-7b-base")
    assert result.limited and result.limit == 100
    hs = by_key(result)[("hellaswag", "acc", "none")]
    assert (hs.samples_effective, hs.samples_original) == (100, 10042)


def test_partial_samples_without_a_limit_are_flagged_too() -> None:
    data = load(LM_EVAL_EN)
    data["n-samples"]["winogrande"]["effective"] = 500
    assert parse_json(data).limited


def test_llm_jp_eval_output() -> None:
    result = parse(LLM_JP_EVAL)
    assert (result.harness, result.harness_version) == ("llm-jp-eval", "1.4.1")
    assert result.model_in_file == "sakura-13b-v1" and result.limited and result.limit == 10
    scores = by_key(result)
    jsquad = scores[("jsquad", "char_f1", "")]
    assert jsquad.value == pytest.approx(0.8833) and jsquad.n_shot == 4 and jsquad.samples_effective == 10
    assert scores[("mmlu_en", "exact_match", "")].value == pytest.approx(0.6)  # dataset with an underscore
    assert scores[("alt-e-to-j", "comet_wmt22", "")].scale_max == 1
    assert scores[("alt-e-to-j", "bleu_ja", "")].scale_max == 100
    assert scores[("NLI", "avg", "")].aggregate and scores[("AVG", "avg", "")].aggregate
    assert not any(s.aggregate for s in result.scores if s.task.islower())


def test_llm_jp_eval_with_the_configuration_at_the_top_level() -> None:
    data = load(LLM_JP_EVAL)
    config = data.pop("config")
    flat = {**config, "scores": data["scores"], "outputs": data["outputs"]}
    result = parse_json(flat, "flat.json")
    assert result.harness_version == "1.4.1" and by_key(result)[("jsquad", "char_f1", "")].n_shot == 4


def test_llm_jp_eval_key_split_falls_back_to_known_metrics() -> None:
    data = load(LLM_JP_EVAL)
    data["outputs"] = {}
    scores = by_key(parse_json(data))
    assert ("alt-j-to-e", "comet_wmt22", "") in scores and ("jemhopqa", "char_f1", "") in scores


def test_mt_bench_judgements_of_one_model_of_several() -> None:
    result = parse(MT_BENCH, model="fuji-7b-chat")
    assert result.harness == "mt-bench" and result.multi_model and result.model_in_file == "fuji-7b-chat"
    assert result.harness_version == "single-math-v1, single-math-v1-multi-turn, single-v1, single-v1-multi-turn"
    scores = by_key(result)
    overall = scores[("japanese_mt_bench", "score", "gpt-4")]
    lines = [json.loads(line) for line in MT_BENCH.read_text(encoding="utf-8").splitlines()]
    mine = [x["score"] for x in lines if x["model"] == "fuji-7b-chat" and x["score"] != -1]
    assert overall.value == pytest.approx(sum(mine) / len(mine))
    assert (overall.samples_effective, overall.samples_original) == (159, 160)  # one failed judgement (-1)
    assert overall.scale_max == 10 and overall.n_shot == 0 and overall.stderr is not None
    assert scores[("japanese_mt_bench", "score_turn2", "gpt-4")].samples_original == 80
    assert not result.limited


def test_mt_bench_needs_the_model_when_the_file_holds_several() -> None:
    with pytest.raises(
        ResultFileError, match=r"judges 2 models \(fuji-7b-chat, sakura-13b-v1-instruct\); none is named 'gpt'"
    ):
        parse(MT_BENCH, model="gpt")


def test_mt_bench_bench_comes_from_fastchat_folders() -> None:
    english = PurePath("data/mt_bench/model_judgment/gpt-4_single.jsonl")
    result = parse(MT_BENCH, model="fuji-7b-chat", as_path=english)
    assert {s.task for s in result.scores} == {"mt_bench"}
    elsewhere = parse(MT_BENCH, model="fuji-7b-chat", as_path=PurePath("uploads/judge.jsonl"))
    assert {s.task for s in elsewhere.scores} == {"japanese_mt_bench"}


def _mutated_lm_eval(change: Any) -> Any:
    data = copy.deepcopy(load(LM_EVAL_EN))
    change(data)
    return data


@pytest.mark.parametrize(
    ("change", "key", "reason"),
    [
        (
            lambda d: d["results"]["hellaswag"].update({"acc,none": float("nan")}),
            "results.hellaswag.acc,none",
            "finite",
        ),
        (
            lambda d: d["results"]["hellaswag"].update({"acc,none": "0.59"}),
            "results.hellaswag.acc,none",
            "expected a number",
        ),
        (
            lambda d: d["results"]["hellaswag"].update({"acc,none": 1.7}),
            "results.hellaswag.acc,none",
            "outside the range of acc",
        ),
        (
            lambda d: d["results"]["winogrande"].update({"acc_stderr,none": -0.1}),
            "results.winogrande.acc_stderr,none",
            "negative",
        ),
        (
            lambda d: d["results"]["winogrande"].pop("acc,none"),
            "results.winogrande.acc_stderr,none",
            "without its value",
        ),
        (lambda d: d["n-samples"]["gsm8k"].update({"effective": 2000}), "n-samples.gsm8k", "exceeds original"),
        (lambda d: d["n-shot"].update({"gsm8k": -5}), "n-shot.gsm8k", "non-negative integer"),
        (
            lambda d: d["higher_is_better"]["gsm8k"].update({"exact_match": "yes"}),
            "higher_is_better.gsm8k.exact_match",
            "true or false",
        ),
        (lambda d: d["results"].update({"hellaswag": [0.5]}), "results.hellaswag", "expected an object"),
        (lambda d: d["config"].update({"limit": "ten"}), "config.limit", "expected a number"),
    ],
)
def test_lm_eval_broken_values_are_refused_with_the_key_path(change: Any, key: str, reason: str) -> None:
    with pytest.raises(ResultFileError) as exc:
        parse_json(_mutated_lm_eval(change), "results_x.json")
    assert exc.value.source == "results_x.json" and exc.value.key == key and reason in exc.value.reason


@pytest.mark.parametrize(
    ("change", "key", "reason"),
    [
        (lambda d: d["scores"].update({"jsquad_char_f1": "n/a"}), "scores.jsquad_char_f1", "expected a number"),
        (lambda d: d["scores"].update({"jsquad_char_f1": "1.5"}), "scores.jsquad_char_f1", "outside the range"),
        (lambda d: d["scores"].update({"mystery": "0.5"}), "scores.mystery", "cannot tell the dataset"),
        (
            lambda d: d["config"]["metainfo"].update({"num_few_shots": "four"}),
            "config.metainfo.num_few_shots",
            "integer",
        ),
    ],
)
def test_llm_jp_eval_broken_values_are_refused(change: Any, key: str, reason: str) -> None:
    data = copy.deepcopy(load(LLM_JP_EVAL))
    change(data)
    with pytest.raises(ResultFileError) as exc:
        parse_json(data)
    assert exc.value.key == key and reason in exc.value.reason


def _mt_lines(change: Any) -> bytes:
    lines = [json.loads(line) for line in MT_BENCH.read_text(encoding="utf-8").splitlines()][:6]
    change(lines)
    return "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines).encode()


@pytest.mark.parametrize(
    ("change", "key", "reason"),
    [
        (lambda ls: ls[2].update({"score": 11}), "line 3: score", "outside 1-10"),
        (lambda ls: ls[2].update({"score": "8"}), "line 3: score", "expected a number"),
        (lambda ls: ls[3].update({"turn": 3}), "line 4: turn", "expected 1 or 2"),
        (lambda ls: ls[1].pop("judge"), "line 2", "missing judge"),
        (lambda ls: ls.append(dict(ls[0])), "line 7", "judged twice (first on line 1)"),
    ],
)
def test_mt_bench_broken_lines_are_refused_with_the_line(change: Any, key: str, reason: str) -> None:
    with pytest.raises(ResultFileError) as exc:
        read_result("gpt-4_single.jsonl", _mt_lines(change), CATALOG, model="sakura-13b-v1-instruct")
    assert exc.value.key == key and reason in exc.value.reason


def test_a_line_that_is_not_json_is_refused() -> None:
    content = [*MT_BENCH.read_bytes().splitlines(keepends=True)[:3], b"{oops\n"]
    with pytest.raises(ResultFileError, match=r"gpt-4_single.jsonl: line 4: not JSON"):
        read_result("gpt-4_single.jsonl", b"".join(content), CATALOG, model="sakura-13b-v1-instruct")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (FIXTURES / "broken" / "config.json", r"not a known result format: .*found keys architectures"),
        (FIXTURES / "broken" / "gpt-4_pair.jsonl", r"line 1: pairwise judgements .* are not supported"),
    ],
)
def test_files_of_no_known_format_are_refused(path: Path, message: str) -> None:
    with pytest.raises(ResultFileError, match=message):
        parse(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"\xff\xfe\x00binary", "not UTF-8"),
        (b"model,task,score\nx,y,1\n", "not a known result format"),
        (b'["a", "b"]', "not a known result format"),
    ],
)
def test_other_unknown_inputs_are_refused(content: bytes, message: str) -> None:
    with pytest.raises(ResultFileError, match=message):
        read_result("upload.bin", content, CATALOG, model="m")
