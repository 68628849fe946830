"""One rounding rule (#17): the public site and the leaderboard agree to the last printed digit; ``--json``; a
``table`` that fits the terminal."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlalchemy import Engine

from quotad.config import Settings
from quotad.plugins.eval.figures import points, rounded, text
from quotad.plugins.host import PluginRegistry
from tests.test_eval_board import ingest_programme_results
from tests.test_plugin_common import (
    PluginCli,
    ledger,
    plugin_cli,
    plugin_tables,
    registry,
    seed_programme,
    with_builtins,
)
from tests.test_site_build import build_programme_site, site_settings

__all__ = ["ledger", "plugin_cli", "plugin_tables", "registry", "with_builtins"]

NOW = "2026-11-25T00:00:00"


class _Tables(HTMLParser):
    """Every <table> of a page as rows of cell texts, keyed by its <section id>."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._section = ""
        self._cell: list[str] | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "section":
            self._section = dict(attrs).get("id") or ""
            self.tables.setdefault(self._section, [])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables.setdefault(self._section, []).append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _md_rows(md: str) -> list[dict[str, str]]:
    lines = [line for line in md.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True)) for line in lines[2:]]


def test_rounding_rule() -> None:
    assert [text(points(x)) for x in (0.58, 0.8, 0.6512, 0.620249999, 0.62025)] == [
        "58.00",
        "80.00",
        "65.12",
        "62.02",
        "62.03",  # half up on the decimal value, not banker's rounding of the binary one
    ]
    assert rounded(2.675) == 2.68 and text(None) is None and points(None) is None


def test_site_and_leaderboard_agree_to_the_last_printed_digit(
    ledger: Engine, db_url: str, registry: PluginRegistry, tmp_path: Path, plugin_cli: PluginCli
) -> None:
    site = build_programme_site(ledger, site_settings(db_url), registry, tmp_path)
    config = tmp_path / "with-eval.toml"  # the site's settings: winogrande is not redistributable
    config.write_text(
        plugin_cli.config.read_text(encoding="utf-8") + "\n[eval.tasks.winogrande]\nredistributable = false\n",
        encoding="utf-8",
    )
    plugin_cli = PluginCli(config, registry)
    parser = _Tables()
    parser.feed((site / "en" / "results.html").read_text(encoding="utf-8"))
    summary = parser.tables["eval-summary"]
    head, site_rows = summary[0], {r[0]: dict(zip(summary[0], r, strict=True)) for r in summary[1:]}
    assert head[:5] == ["Model", "Company", "Japanese avg.", "English avg.", "Overall"]
    md = plugin_cli("eval", "leaderboard", "--audience", "public", "--format", "md", "--now", NOW)
    assert md.exit_code == 0, md.output
    board = {r["Model"]: r for r in _md_rows(md.stdout)}
    assert set(board) == set(site_rows) and board
    compared = 0
    for model, row in board.items():
        for site_col, board_col in (("Japanese avg.", "Avg ja"), ("English avg.", "Avg en"), ("Overall", "Avg (all)")):
            assert site_rows[model][site_col] == row[board_col], (model, site_col)
            compared += row[board_col] != "—"
        for lang in ("ja", "en"):
            table = parser.tables.get(f"eval-{lang}", [])
            if not table:
                continue
            for site_row in table[1:]:
                if site_row[0] != model:
                    continue
                for heading, value in zip(table[0][2:], site_row[2:], strict=True):
                    assert row[heading] == value, (model, heading)
                    compared += 1
    assert compared >= 10
    assert all(re.fullmatch(r"\d+\.\d\d|—", v) for r in board.values() for k, v in r.items() if k.startswith("Avg"))


@pytest.fixture
def cli(ledger: Engine, plugin_cli: PluginCli, settings: Settings, tmp_path: Path) -> PluginCli:
    """The board tests' programme (same results, same ledger) behind the CLI."""
    seed_programme(ledger, settings)
    ingest_programme_results(ledger, settings, tmp_path)
    return plugin_cli


def test_leaderboard_json_carries_raw_values_points_and_compute(cli: PluginCli) -> None:
    plugin_cli = cli
    result = plugin_cli("eval", "leaderboard", "--json", "--now", NOW)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    top = data["rows"][0]
    gsm = top["tasks"]["gsm8k"]
    assert gsm["value"] == pytest.approx(0.3457164518574678) and gsm["points"] == 34.57 and gsm["rescaled"] is False
    assert top["compute"]["basis"] == "company total" and top["compute"]["gpu_seconds"] == 100 * 3600
    assert top["averages"]["all"] == pytest.approx(top["averages"]["all"]) and "rounding" in data


@pytest.mark.parametrize("columns", [80, 120])
def test_table_output_fits_the_terminal(cli: PluginCli, columns: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    result = cli("eval", "leaderboard", "--audience", "office", "--format", "table", "--now", NOW)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= columns, result.stdout
    assert "columns left out" in result.stdout and "sakura-13b-v1" in result.stdout
    assert "all" in result.stdout  # the overall average is among the last to go


def test_a_wide_terminal_gets_the_whole_table(cli: PluginCli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    narrow = cli("eval", "leaderboard", "--lang", "en", "--category", "MR", "--format", "table", "--now", NOW)
    assert narrow.exit_code == 0 and "left out" not in narrow.stdout, narrow.stdout
    assert "GSM8K (exact_match,strict-match)" in narrow.stdout and "Avg en" in narrow.stdout
