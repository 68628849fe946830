"""Matching: hard filters (and which one excluded a dataset), the additive score, deterministic order, the CLI."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from quotad.plugins.data.match import hard_filter, match_need
from quotad.plugins.data_config import MatchWeights
from tests.data_support import as_json, dataset, need, ok, seed_companies

WEIGHTS = MatchWeights()


@pytest.mark.parametrize(
    ("overrides", "need_kwargs", "expected"),
    [
        ({"licence": "CC-BY-NC-4.0"}, {"uses": ("training", "commercial")}, "uses"),
        ({"licence": "CC-BY-ND-4.0"}, {"uses": ("derivatives",)}, "uses"),
        ({"languages": "zh"}, {"languages": ("ja", "en")}, "language"),
        ({"modality": "image"}, {"modalities": ("text", "code")}, "modality"),
        ({"access_mode": "on-premises"}, {"access": ("download", "nda")}, "access"),
        # fails uses and language: the first filter in the documented order is the one reported
        ({"licence": "CC-BY-NC-4.0", "languages": "zh"}, {"uses": ("commercial",)}, "uses"),
    ],
)
def test_each_hard_filter_excludes_and_names_itself(
    overrides: dict[str, Any], need_kwargs: dict[str, Any], expected: str
) -> None:
    excluded = hard_filter(need(**need_kwargs), dataset(**overrides))
    assert excluded is not None and excluded.filter == expected
    assert hard_filter(need(**need_kwargs), dataset()) is None  # the base dataset passes the same need


def test_a_need_without_languages_or_modalities_takes_any() -> None:
    assert hard_filter(need(languages=()), dataset(languages="zh", modality="image")) is None


def test_hand_computed_scores_and_order_with_a_tie_broken_by_id() -> None:
    wanted = need(domains=("legal", "medical"), languages=("ja", "en"), min_tokens=1_000_000_000)
    half = {"domains": "legal", "languages": "ja", "size_tokens": "500M"}
    best = dataset(id="zeta", domains="legal;medical", languages="ja;en", size_tokens="2B", access_mode="nda",
                   price="100000 JPY", pii="pseudonymised", copyright="mixed")  # fmt: skip
    result = match_need(wanted, [dataset(id="alpha-2", **half), best, dataset(id="alpha", **half)], WEIGHTS)
    assert [(c.dataset.id, c.rank, c.score) for c in result.candidates] == [
        ("zeta", 1, 85.0),  # 25 + 25 + 20 + 10*0.5 + 10*0.5 + 5*0.5 + 5*0.5
        ("alpha", 2, 65.0),  # 25*0.5 + 25*0.5 + 20*0.5 + 10 + 10 + 5 + 5
        ("alpha-2", 3, 65.0),
    ]
    for c in result.candidates:
        assert c.score == round(sum(t.points for t in c.terms), 2)
        assert [t.name for t in c.terms] == ["domain", "language", "size", "access", "price", "pii", "copyright"]
    alpha = result.candidates[1]
    assert {t.name: t.value for t in alpha.terms}["size"] == 0.5
    assert "20.00 behind zeta" in alpha.why and "domain -12.50" in alpha.why
    assert "tied with alpha at 65.00" in result.candidates[2].why and "by dataset id" in result.candidates[2].why
    assert "20.00 ahead of alpha" in result.candidates[0].why


def test_unknown_size_scores_nothing_and_no_minimum_scores_full() -> None:
    unknown = dataset(size_tokens=None)
    (with_min,) = match_need(need(min_tokens=10), [unknown], WEIGHTS).candidates
    (without,) = match_need(need(), [unknown], WEIGHTS).candidates
    assert {t.name: t.points for t in with_min.terms}["size"] == 0.0
    assert {t.name: t.points for t in without.terms}["size"] == 20.0
    assert without.why == "only candidate passing the hard filters"


def test_weights_change_the_order() -> None:
    free = dataset(id="free", price="free", copyright="unknown")
    cleared = dataset(id="cleared", price="", copyright="cleared")
    default = match_need(need(), [free, cleared], WEIGHTS)
    assert [c.dataset.id for c in default.candidates] == ["free", "cleared"]  # free: 10 + 0; cleared: 10 x 0.25 + 5
    weighted = match_need(need(), [free, cleared], MatchWeights(copyright=50.0))
    assert [c.dataset.id for c in weighted.candidates] == ["cleared", "free"]


def _add_datasets(cli: Any) -> None:
    ok(cli("data", "holder", "add", "nii", "--name-en", "NII", "--name-ja", "国立情報学研究所"))
    common = ["--holder", "nii", "--modality", "text", "--access", "download", "--pii", "none"]
    ok(
        cli(
            "data",
            "dataset",
            "add",
            "law",
            "--title-en",
            "Law",
            "--language",
            "ja",
            "--domain",
            "legal",
            "--tokens",
            "2B",
            "--licence",
            "CC-BY-4.0",
            "--price",
            "free",
            "--copyright",
            "cleared",
            *common,
        )
    )
    ok(
        cli(
            "data",
            "dataset",
            "add",
            "law-nc",
            "--title-en",
            "Law NC",
            "--language",
            "ja",
            "--domain",
            "legal",
            "--tokens",
            "2B",
            "--licence",
            "CC-BY-NC-4.0",
            *common,
        )
    )
    ok(
        cli(
            "data",
            "dataset",
            "add",
            "news",
            "--title-en",
            "News",
            "--language",
            "ja,en",
            "--domain",
            "news",
            "--tokens",
            "500M",
            "--licence",
            "CC0-1.0",
            *common,
        )
    )
    ok(cli("data", "dataset", "add", "chinese", "--title-en", "Chinese", "--language", "zh", "--licence",
           "CC0-1.0", *common))  # fmt: skip


def test_match_command_filters_ranks_and_explains(engine: Engine, cli: Any) -> None:
    seed_companies(engine)
    _add_datasets(cli)
    ok(
        cli(
            "data",
            "need",
            "add",
            "--company",
            "sakura",
            "--domain",
            "legal",
            "--language",
            "ja",
            "--min-tokens",
            "1B",
            "--require",
            "training",
            "--require",
            "commercial",
            "--priority",
            "1",
        )
    )
    ok(cli("data", "need", "add", "--company", "fuji", "--language", "en", "--require", "training"))  # fmt: skip

    (sakura,) = as_json(cli("data", "match", "--company", "sakura", "--json", "--all"))
    assert [c["dataset"] for c in sakura["candidates"]] == ["law", "news"]
    law = sakura["candidates"][0]
    assert law["score"] == 100.0 and law["score"] == sum(t["points"] for t in law["terms"])
    assert {e["dataset"]: e["filter"] for e in sakura["excluded"]} == {"law-nc": "uses", "chinese": "language"}
    assert "commercial" in next(e["reason"] for e in sakura["excluded"] if e["dataset"] == "law-nc")

    everyone = as_json(cli("data", "match", "--json"))
    assert [(m["need"], m["company"]) for m in everyone] == [(1, "sakura"), (2, "fuji")]  # priority order
    assert [c["dataset"] for c in everyone[1]["candidates"]] == ["news"]
    assert "excluded" not in everyone[1] and everyone[1]["excluded_count"] == 3

    table = ok(cli("data", "match", "--company", "sakura", "--all", "-f", "md"))
    assert "excluded by uses" in table and "domain 25x1.00=25.00" in table and "ahead of news" in table


def test_match_and_needs_refuse_unknown_companies(engine: Engine, cli: Any) -> None:
    seed_companies(engine)
    result = cli("data", "match", "--company", "nobody")
    assert result.exit_code == 2 and "nobody" in result.stderr
    result = cli("data", "need", "add", "--company", "nobody", "--language", "ja")
    assert result.exit_code == 2
    assert as_json(cli("data", "need", "list", "--json")) == []
    bad = cli("data", "need", "add", "--company", "sakura", "--language", "jp")
    assert bad.exit_code == 2 and "--language" in bad.stderr
