"""Shared by the data plugin's tests (holds no tests of its own): fixture paths, record builders, companies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from quotad.ledger.registry import add_company
from quotad.plugins.data.records import DatasetRecord, dataset_from_raw
from quotad.plugins.data.store import NeedRecord
from quotad.plugins.data.vocab import Use

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "data"
CSV_FILE = FIXTURES / "datasets.csv"
JSON_FILE = FIXTURES / "datasets.json"
CKAN_SHOW = FIXTURES / "ckan_package_show.json"
CKAN_SEARCH = FIXTURES / "ckan_package_search.json"

#: 2026-11-25T00:00:00Z
NOW = 1795564800

BASE_DATASET: dict[str, Any] = {
    "id": "base",
    "holder": "holder-a",
    "title_en": "Base corpus",
    "languages": "ja",
    "modality": "text",
    "licence": "CC-BY-4.0",
    "access_mode": "download",
    "pii": "none",
    "copyright": "cleared",
    "price": "free",
}


def dataset(**overrides: Any) -> DatasetRecord:
    """A valid dataset record: ``BASE_DATASET`` with ``overrides`` (a None override removes the key)."""
    raw = {**BASE_DATASET, **overrides}
    record, problems = dataset_from_raw({k: v for k, v in raw.items() if v is not None})
    assert record is not None, problems
    return record


def need(
    *,
    domains: tuple[str, ...] = (),
    languages: tuple[str, ...] = ("ja",),
    modalities: tuple[str, ...] = (),
    min_tokens: int | None = None,
    uses: tuple[Use, ...] = ("training",),
    access: tuple[str, ...] = (),
    company: str = "sakura",
) -> NeedRecord:
    return NeedRecord(company, domains, languages, modalities, min_tokens, uses, access, 3, "", 1)


def seed_companies(engine: Engine) -> None:
    with engine.begin() as conn:
        add_company(conn, company_id="sakura", name_ja="さくらAI", name_en="Sakura AI", now=NOW)
        add_company(conn, company_id="fuji", name_ja="富士ラボ", name_en="Fuji Labs", now=NOW)


def ok(result: Any) -> str:
    """The stdout of a CLI result that must have succeeded (else the assertion shows its stderr)."""
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return str(result.stdout)


def as_json(result: Any) -> Any:
    return json.loads(ok(result))
