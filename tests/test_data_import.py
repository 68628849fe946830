"""Bulk import from CSV, JSON and CKAN: row-level errors naming file, row and field; good rows land; idempotent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from quotad.plugins.data.ckan import ckan_packages, package_to_raw
from quotad.plugins.data.records import dataset_from_raw
from tests.data_support import CKAN_SEARCH, CKAN_SHOW, CSV_FILE, JSON_FILE, as_json, ok


def _datasets(cli: Any) -> dict[str, dict[str, Any]]:
    return {d["id"]: d for d in as_json(cli("data", "dataset", "list", "--json"))}


def test_csv_rows_fail_alone_with_line_and_field_and_good_rows_land(engine: Engine, cli: Any) -> None:
    result = cli("data", "import", str(CSV_FILE), "--format", "csv", "--now", "2026-11-25T00:00:00")
    assert result.exit_code == 1
    assert "2 created, 0 updated, 0 unchanged, 5 row(s) failed" in result.stdout
    err = result.stderr
    # line numbers are the file's: the quoted description of line 3 spans two lines
    assert f"{CSV_FILE}: line 5 (aozora-nc): commercial: yes contradicts the licence" in err
    assert f"{CSV_FILE}: line 6 (aozora-jp): languages: 'jp' not ISO 639-1" in err
    assert f"{CSV_FILE}: line 7 (aozora-law): id: duplicate of line 2" in err
    assert all(f"line 8 (aozora-custom): {use}: required" in err for use in ("training", "commercial", "derivatives"))
    assert f"{CSV_FILE}: line 9 (ghost-set): holder: no data holder named 'ghost'" in err

    datasets = _datasets(cli)
    assert set(datasets) == {"aozora-law", "aozora-news"}
    law, news = datasets["aozora-law"], datasets["aozora-news"]
    assert (law["licence"], law["uses"], law["size_tokens"], law["source"]) == (
        "CC-BY-4.0", "training, commercial, derivatives", 2_000_000_000, "csv"
    )  # fmt: skip
    assert (news["licence"], news["uses"], news["access_mode"], news["price"]) == (
        "LicenseRef-aozora-terms", "training, commercial", "nda", "3000000 JPY"
    )  # fmt: skip
    assert law["title"] == "Court decisions"  # the duplicate row did not overwrite the first
    show = {r["field"]: r["value"] for r in as_json(cli("data", "dataset", "show", "aozora-news", "--json"))}
    assert show["description_en"] == "Articles 1990-2020,\none per line"
    holders = as_json(cli("data", "holder", "list", "--json"))
    assert [(h["id"], h["name_ja"], h["name_en"], h["datasets"]) for h in holders] == [
        ("aozora", "青空法務", "Aozora Legal", 2)
    ]


def test_importing_the_same_file_twice_changes_nothing(engine: Engine, cli: Any) -> None:
    cli("data", "import", str(CSV_FILE), "--format", "csv", "--now", "2026-11-25T00:00:00")
    before = {k: as_json(cli("data", "dataset", "show", k, "--json")) for k in ("aozora-law", "aozora-news")}
    again = cli("data", "import", str(CSV_FILE), "--format", "csv", "--now", "2026-12-25T00:00:00")
    assert again.exit_code == 1
    assert "0 created, 0 updated, 2 unchanged, 5 row(s) failed" in again.stdout
    after = {k: as_json(cli("data", "dataset", "show", k, "--json")) for k in ("aozora-law", "aozora-news")}
    assert after == before  # not even the updated date moved


def test_a_changed_row_is_an_update(engine: Engine, cli: Any, tmp_path: Path) -> None:
    cli("data", "import", str(CSV_FILE), "--format", "csv")
    lines = CSV_FILE.read_text(encoding="utf-8").splitlines()
    edited = tmp_path / "edited.csv"
    edited.write_text("\n".join([lines[0], lines[1].replace(",2B,", ",3B,")]) + "\n", encoding="utf-8")
    result = cli("data", "import", str(edited), "--format", "csv")
    assert ok(result).strip().endswith("0 created, 1 updated, 0 unchanged, 0 row(s) failed")
    assert _datasets(cli)["aozora-law"]["size_tokens"] == 3_000_000_000


def test_file_level_problems_refuse_the_whole_file(engine: Engine, cli: Any, tmp_path: Path) -> None:
    bad_header = tmp_path / "typo.csv"
    bad_header.write_text(CSV_FILE.read_text(encoding="utf-8").replace("languages", "langauges"), encoding="utf-8")
    result = cli("data", "import", str(bad_header), "--format", "csv")
    assert result.exit_code == 2 and "line 1: unknown column(s) 'langauges'" in result.stderr
    broken = tmp_path / "broken.json"
    broken.write_text('[{"id": "x",\n', encoding="utf-8")
    result = cli("data", "import", str(JSON_FILE), str(broken), "--format", "json")
    assert result.exit_code == 2 and f"{broken}: line 2: not valid JSON" in result.stderr
    # the first file was good as a file, yet nothing landed: files are checked before any is written
    assert _datasets(cli) == {}
    assert cli("data", "import", str(CSV_FILE), "--format", "xml").exit_code == 2


def test_json_rows(engine: Engine, cli: Any) -> None:
    result = cli("data", "import", str(JSON_FILE), "--format", "json")
    assert result.exit_code == 1 and "1 created, 0 updated, 0 unchanged, 2 row(s) failed" in result.stdout
    assert f"{JSON_FILE}: item 2: item: expected a JSON object" in result.stderr
    assert "item 2: id" not in result.stderr  # a non-object is reported once, not field by field
    assert f"{JSON_FILE}: item 3 (kumo-code): colour: unknown field" in result.stderr
    assert f"{JSON_FILE}: item 3 (kumo-code): size_tokens: 'lots'" in result.stderr
    speech = _datasets(cli)["kumo-speech"]
    assert (speech["licence"], speech["modality"], speech["price"], speech["source"]) == (
        "CC-BY-SA-4.0", "audio", "free", "json"
    )  # fmt: skip
    show = {r["field"]: r["value"] for r in as_json(cli("data", "dataset", "show", "kumo-speech", "--json"))}
    assert show["size_bytes"] == 3 * 2**30


def test_ckan_package_show_mapping() -> None:
    (pkg,) = ckan_packages(json.loads(CKAN_SHOW.read_text(encoding="utf-8"))) or []
    raw, problems = package_to_raw(pkg)
    record, more = dataset_from_raw(raw)
    assert problems == [] and more == [] and record is not None
    assert (record.id, record.holder_id, record.title_ja, record.title_en) == ("diet-minutes", "ndl", "国会会議録", "")
    assert record.holder is not None and record.holder.name_ja == "国立国会図書館"
    assert (record.licence_spdx, record.size_bytes, record.size_tokens) == ("CC-BY-4.0", 3000, 300_000_000)
    assert (record.domains, record.access_mode, record.contact_email) == (
        ("government", "politics"), "download", "open-data@ndl.example.jp"
    )  # fmt: skip


@pytest.mark.parametrize(
    "payload",
    [{"success": True, "result": {"results": [{"name": "a"}, {"name": "b"}]}}, [{"name": "a"}, {"name": "b"}]],
)
def test_ckan_search_answers_and_lists_are_packages(payload: Any) -> None:
    assert [p["name"] for p in ckan_packages(payload) or []] == ["a", "b"]


def test_ckan_import(engine: Engine, cli: Any, tmp_path: Path) -> None:
    ok(cli("data", "import", str(CKAN_SHOW), "--format", "ckan"))
    result = cli("data", "import", str(CKAN_SEARCH), "--format", "ckan")
    assert result.exit_code == 1 and "1 created, 0 updated, 0 unchanged, 2 row(s) failed" in result.stdout
    assert f"{CKAN_SEARCH}: package 2 (closed-records): training: required" in result.stderr
    assert f"{CKAN_SEARCH}: package 3 (orphan): organization: required" in result.stderr
    datasets = _datasets(cli)
    assert set(datasets) == {"diet-minutes", "municipal-faq"}
    faq = datasets["municipal-faq"]
    assert (faq["licence"], faq["uses"], faq["languages"], faq["source"]) == (
        "CC-BY-NC-4.0", "training, derivatives", "en,ja", "ckan"
    )  # fmt: skip
    failed = tmp_path / "failed.json"
    failed.write_text('{"success": false, "error": {"message": "Not found"}}', encoding="utf-8")
    refused = cli("data", "import", str(failed), "--format", "ckan")
    assert refused.exit_code == 2 and "failed CKAN API answer" in refused.stderr


# -- hostile values: each one a row-level error naming file, row, id and field; the good rows still land ---------

GOOD_ROW: dict[str, Any] = {
    "id": "kumo-good",
    "holder": "kumo-data",
    "holder_name_en": "Kumo Data",
    "title_en": "Good corpus",
    "languages": ["ja"],
    "modality": "text",
    "licence": "CC-BY-4.0",
    "access_mode": "download",
    "price": "free",
}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("size_tokens", 10**25),
        ("size_bytes", 10**25),
        ("size_tokens", "99999999999999999999999T"),
        ("size_bytes", "1" + "0" * 3000 + "GB"),
        ("price", {"amount_minor": 10**25, "currency": "JPY"}),
        ("price", "99999999999999999999999 JPY"),
    ],
)
def test_a_too_large_number_is_a_row_error_and_the_good_row_lands(
    engine: Engine, cli: Any, tmp_path: Path, field: str, value: Any
) -> None:
    path = tmp_path / "big.json"
    path.write_text(json.dumps([GOOD_ROW, {**GOOD_ROW, "id": "kumo-big", field: value}]), encoding="utf-8")
    result = cli("data", "import", str(path), "--format", "json")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "1 created, 0 updated, 0 unchanged, 1 row(s) failed" in result.stdout
    assert f"{path}: item 2 (kumo-big): {field}:" in result.stderr and "too large" in result.stderr
    assert set(_datasets(cli)) == {"kumo-good"}


def test_a_json_number_too_long_for_python_is_a_file_error(engine: Engine, cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "digits.json"
    path.write_text('[{"id": "x", "size_tokens": ' + "9" * 5000 + "}]", encoding="utf-8")
    result = cli("data", "import", str(path), "--format", "json")
    assert result.exit_code == 2 and f"{path}: not usable JSON" in result.stderr


def test_ckan_tags_that_are_not_a_list_are_a_row_error(engine: Engine, cli: Any, tmp_path: Path) -> None:
    good = json.loads(CKAN_SHOW.read_text(encoding="utf-8"))["result"]
    bad = {**good, "name": "tagged-by-number", "tags": 5}
    path = tmp_path / "tags.json"
    path.write_text(json.dumps([good, bad, {**good, "name": "tags-as-text", "tags": "a,b"}]), encoding="utf-8")
    result = cli("data", "import", str(path), "--format", "ckan")
    assert result.exit_code == 1 and "1 created, 0 updated, 0 unchanged, 2 row(s) failed" in result.stdout
    assert f"{path}: package 2 (tagged-by-number): tags: expected a list" in result.stderr
    assert f"{path}: package 3 (tags-as-text): tags: expected a list" in result.stderr
    assert set(_datasets(cli)) == {"diet-minutes"}


def test_a_csv_field_past_the_csv_limit_is_a_file_error(engine: Engine, cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    lines = CSV_FILE.read_text(encoding="utf-8").splitlines()
    path.write_text(lines[0] + "\n" + lines[1] + "\n" + '"' + "x" * 200_000 + '"\n', encoding="utf-8")
    result = cli("data", "import", str(path), "--format", "csv")
    assert result.exit_code == 2 and f"{path}: line 3: cannot be read as CSV" in result.stderr
