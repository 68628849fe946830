"""The formats the companies actually produce (#17) and hostile input to every reader (#15), parsed directly.

Fixtures are written to the real shapes (see the README in each fixture folder for the public source).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from quotad.plugins.eval.catalog import load_catalog
from quotad.plugins.eval.formats import ParsedResult, ParsedScore, ResultFileError, read_all_models, read_result
from tests.test_plugin_common import FIXTURES, LLM_JP_EVAL, LM_EVAL_EN, MT_BENCH

CATALOG = load_catalog()
FLAT = FIXTURES / "llm_jp_eval_flat" / "score_eval.json"
FLAT_OUTPUTS = FIXTURES / "llm_jp_eval_flat" / "output_eval.json"
JP_STABLE = FIXTURES / "jp_stable" / "result.json"
NEJUMI = FIXTURES / "nejumi" / "leaderboard.csv"


def parse_bytes(content: bytes, name: str = "upload.json", model: str = "m", **kw: Any) -> ParsedResult:
    return read_result(name, content, CATALOG, model=model, **kw)


def parse_json(data: Any, name: str = "upload.json", model: str = "m") -> ParsedResult:
    return parse_bytes(json.dumps(data).encode(), name, model)


def by_key(result: ParsedResult) -> dict[tuple[str, str, str], ParsedScore]:
    return {(s.task, s.metric, s.filter): s for s in result.scores}


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_llm_jp_eval_flat_score_file() -> None:
    result = parse_bytes(FLAT.read_bytes(), "score_eval.json")
    assert (result.harness, result.harness_version, result.limited) == ("llm-jp-eval", "1.0-1.2", False)
    scores = by_key(result)
    assert scores[("jsts", "spearman", "")].value == pytest.approx(-0.1544)  # a negative correlation, as a string
    assert scores[("jemhopqa", "char_f1", "")].value == pytest.approx(0.4630)
    assert scores[("AVR", "avg", "")].aggregate and scores[("STS", "avg", "")].value == pytest.approx(-0.0234)
    assert ("csv_line", "", "") not in scores and len(result.scores) == 6 + 11
    assert scores[("jsquad", "char_f1", "")].samples_effective is None  # no companion given


def test_llm_jp_eval_flat_with_its_companion_outputs() -> None:
    outputs = load(FLAT_OUTPUTS)
    result = parse_bytes(FLAT.read_bytes(), "score_eval.json", outputs=outputs)
    assert by_key(result)[("jsquad", "char_f1", "")].samples_effective == len(outputs["jsquad"]) == 10


def test_llm_jp_eval_outputs_alone_are_refused_saying_what_they_are() -> None:
    with pytest.raises(ResultFileError, match=r"output_eval\.json .*no scores"):
        parse_bytes(FLAT_OUTPUTS.read_bytes(), "output_eval.json")


@pytest.mark.parametrize(
    ("change", "key", "reason"),
    [
        (lambda d: d.update({"jsts_pearson": "n/a"}), "jsts_pearson", "expected a number, got 'n/a'"),
        (lambda d: d.update({"jsts_pearson": "-1.5"}), "jsts_pearson", "outside the range of pearson [-1, 1]"),
        (lambda d: d.update({"csv_line": 3}), "csv_line", "expected the comma-separated values, got 3"),
        (lambda d: d.update({"mystery_thing": "0.5"}), "mystery_thing", "cannot tell the dataset"),
    ],
)
def test_llm_jp_eval_flat_refusals_name_key_and_value(change: Any, key: str, reason: str) -> None:
    data = load(FLAT)
    change(data)
    with pytest.raises(ResultFileError) as exc:
        parse_json(data, "score_eval.json")
    assert (exc.value.source, exc.value.key) == ("score_eval.json", key) and reason in exc.value.reason


def test_jp_stable_result_keeps_raw_values_on_their_own_scale() -> None:
    result = parse_bytes(JP_STABLE.read_bytes(), "result.json")
    assert (result.harness, result.harness_version) == ("lm-evaluation-harness", "0.3 (jp-stable)")
    assert result.model_in_file == "sakura-ai/sakura-13b-v1"
    scores = by_key(result)
    em = scores[("jsquad-1.1-0.2", "exact_match", "none")]
    assert em.value == pytest.approx(63.23728050427735) and em.scale_max == 100  # raw, and its full scale
    assert scores[("xlsum_ja", "rouge2", "none")].scale_max == 100
    assert scores[("jaqket_v2-0.2-0.3", "f1", "none")].scale_max == 100
    acc = scores[("jcommonsenseqa-1.1-0.2", "acc", "none")]
    assert acc.scale_max == 1 and acc.stderr == pytest.approx(0.012908554049212417)
    # num_fewshot [2, 3, 3, 3, 1, 1, 0, 5] is in --tasks order, which the file does not record: no guess
    assert {s.n_shot for s in result.scores} == {None}


def test_jp_stable_equal_fewshot_list_applies_to_every_task() -> None:
    data = load(JP_STABLE)
    data["config"]["num_fewshot"] = [3] * 8
    assert {s.n_shot for s in parse_json(data).scores} == {3}


def test_jp_stable_scale_applies_only_to_that_harness_name() -> None:
    data = load(JP_STABLE)
    data["results"]["jsquad-1.1-0.2"]["exact_match"] = 100.5
    with pytest.raises(ResultFileError) as exc:
        parse_json(data, "result.json")
    assert exc.value.key == "results.jsquad-1.1-0.2.exact_match,none"
    assert "100.5 is outside the range of exact_match for jsquad-1.1-0.2 [0, 100]" in exc.value.reason
    data = load(LM_EVAL_EN)  # lm-eval 0.4's exact_match stays 0-1
    data["results"]["gsm8k"]["exact_match,strict-match"] = 34.5
    with pytest.raises(ResultFileError, match=r"outside the range of exact_match \[0, 1\]"):
        parse_json(data)


def test_nejumi_csv_row_chosen_by_model_name() -> None:
    result = parse_bytes(NEJUMI.read_bytes(), "leaderboard.csv", model="fuji-ai/fuji-7b-chat")
    assert (result.harness, result.model_in_file, result.multi_model) == ("nejumi", "fuji-ai/fuji-7b-chat", True)
    scores = by_key(result)
    assert scores[("TOTAL_SCORE", "nejumi", "")].value == pytest.approx(0.4905)
    assert scores[("汎用的言語性能(GLP)_AVG", "nejumi", "")].value == pytest.approx(0.4612)
    assert scores[("ALT_毒性", "nejumi", "")].scale_max == 1 and all(s.aggregate for s in result.scores)
    assert ("model_size", "nejumi", "") not in scores and len(result.scores) == 3 + 10 + 6


def test_nejumi_csv_needs_a_model_it_holds() -> None:
    with pytest.raises(ResultFileError) as exc:
        parse_bytes(NEJUMI.read_bytes(), "leaderboard.csv", model="kumo-1b")
    assert exc.value.key == "model" and "the file has 3 models" in exc.value.reason and "'kumo-1b'" in exc.value.reason


def test_nejumi_csv_bad_cell_names_line_column_and_value() -> None:
    text = NEJUMI.read_text(encoding="utf-8").replace("0.4905", "1.4905")
    with pytest.raises(ResultFileError) as exc:
        parse_bytes(text.encode(), "lb.csv", model="fuji-ai/fuji-7b-chat")
    assert exc.value.key == "line 3: TOTAL_SCORE" and "1.4905 is outside the range of nejumi" in exc.value.reason


def test_every_model_of_multi_model_files() -> None:
    nejumi = read_all_models("lb.csv", NEJUMI.read_bytes(), CATALOG)
    assert sorted(nejumi) == ["fuji-ai/fuji-7b-chat", "gpt-4o-2024-05-13", "sakura-ai/sakura-13b-v1-instruct"]
    judged = read_all_models(MT_BENCH.name, MT_BENCH.read_bytes(), CATALOG)
    assert sorted(judged) == ["fuji-7b-chat", "sakura-13b-v1-instruct"]
    assert (
        judged["fuji-7b-chat"].scores == read_result("j", MT_BENCH.read_bytes(), CATALOG, model="fuji-7b-chat").scores
    )
    with pytest.raises(ResultFileError, match="holds one model's results; name it with --model"):
        read_all_models("r.json", LM_EVAL_EN.read_bytes(), CATALOG)


def test_truncated_json_says_where() -> None:
    content = LLM_JP_EVAL.read_bytes()[:300]
    with pytest.raises(ResultFileError) as exc:
        parse_bytes(content, "cut.json")
    line = content.decode().count("\n") + 1
    assert exc.value.reason.startswith(f"invalid JSON at line {line} column ")


@pytest.mark.parametrize(
    ("change", "key", "found"),
    [
        (
            lambda d: d.update({"lm_eval_version": "0.5.0"}),
            "lm_eval_version",
            "lm-evaluation-harness 0.3 or 0.4.x, found '0.5.0'",
        ),
        (lambda d: d.update({"lm_eval_version": 7}), "lm_eval_version", "found 7"),
    ],
)
def test_a_version_not_seen_before_is_refused(change: Any, key: str, found: str) -> None:
    data = load(LM_EVAL_EN)
    change(data)
    with pytest.raises(ResultFileError) as exc:
        parse_json(data)
    assert exc.value.key == key and "not seen before: expected " in exc.value.reason and found in exc.value.reason
    data = load(LLM_JP_EVAL)
    data["config"]["metainfo"]["version"] = "2.0.0"
    with pytest.raises(ResultFileError, match=r"expected llm-jp-eval 1\.x, found '2\.0\.0'"):
        parse_json(data)


def _results(value: str) -> bytes:
    return b'{"results": {"hellaswag": {"acc,none": ' + value.encode() + b'}}, "versions": {"hellaswag": 1}}'


@pytest.mark.parametrize(
    ("content", "key", "reason"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "", "nested too deeply"),
        (b'{"results": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5001, "", "nested too deeply"),
        (_results("1" * 5000), "", "unreadable value"),  # beyond Python's int-from-string limit
        (_results("1" * 400), "results.hellaswag.acc,none", "expected a finite number"),  # beyond a float
        (_results("1e999"), "results.hellaswag.acc,none", "expected a finite number, got inf"),  # json: inf
        (b'{"results": {"a\\u0000b": {"acc,none": 0.5}}, "versions": {}}', "results.a\x00b", "NUL"),
        (
            b'{"results": {"' + b"t" * 300 + b'": {"acc,none": 0.5}}, "versions": {}}',
            "results." + "t" * 300,
            "longer than 200",
        ),
        (
            b'{"results": {"x": {"acc,none": 0.5}}, "n-shot": {"x": ' + b"9" * 30 + b"}}",
            "n-shot.x",
            "non-negative integer",
        ),
        (b'{"results": {"x": {"acc,none": 0.5}}, "versions": {}, "date": 1e300}', "date", "epoch seconds"),
    ],
)
def test_hostile_values_are_refused_not_raised(content: bytes, key: str, reason: str) -> None:
    with pytest.raises(ResultFileError) as exc:
        parse_bytes(content, "evil.json")
    assert exc.value.source == "evil.json" and exc.value.key == key and reason in exc.value.reason
    assert len(str(exc.value)) < 1000  # the value is quoted, not dumped


def test_hostile_mt_bench_lines() -> None:
    good = MT_BENCH.read_text(encoding="utf-8").splitlines()[0]
    deep = "[" * 50_000 + "]" * 50_000
    with pytest.raises(ResultFileError, match="line 2: nested too deeply"):
        parse_bytes(f"{good}\n{deep}\n".encode(), "j.jsonl", model="fuji-7b-chat")
    stamp = json.loads(good) | {"tstamp": 1e300}
    with pytest.raises(ResultFileError, match="line 2: tstamp: expected epoch seconds"):
        parse_bytes(f"{good}\n{json.dumps(stamp)}\n".encode(), "j.jsonl", model="sakura-13b-v1-instruct")


def test_copy_is_untouched() -> None:
    data = load(FLAT)
    before = copy.deepcopy(data)
    parse_json(data)
    assert data == before
