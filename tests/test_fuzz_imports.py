"""Property-based fuzzing of the data-import readers (CSV, JSON, CKAN) and the configuration reader.

Through the real code paths on SQLite and PostgreSQL: a file is read (``read_rows``) and written (``import_rows`` in one
transaction, a savepoint per row) as ``quotad data import`` does. Properties: no exception but quotad's own
escapes; a bad row is reported with its location (file, line/item/package), every row is either landed or
reported; importing the same file again changes nothing. The configuration reader raises nothing but
``ConfigError`` on any bytes. Profiles in ``tests/fuzz_profiles.py`` (``ci`` by default, ``make fuzz``).
"""

from __future__ import annotations

import csv
import io
import json
import math
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, text

from quotad.config import load_config
from quotad.errors import ConfigError, QuotadError, UsageError
from quotad.ledger.db import create_ledger_engine, upgrade
from quotad.plugins.data.importer import ImportFormat, import_rows, read_rows
from quotad.plugins.data.records import DATASET_FIELDS
from tests.conftest import PG_URL, make_settings
from tests.data_support import CKAN_SHOW
from tests.fuzz_profiles import PROFILE

pytestmark = pytest.mark.fuzz

NOW = 1795564800
GOOD: dict[str, Any] = {
    "id": "fuzz-base",
    "holder": "fuzz-holder",
    "holder_name_en": "Fuzz Holder",
    "title_en": "Fuzzed corpus",
    "languages": "ja",
    "modality": "text",
    "licence": "CC-BY-4.0",
    "access_mode": "download",
    "price": "free",
    "size_tokens": "2B",
}
CKAN_PACKAGE: dict[str, Any] = json.loads(CKAN_SHOW.read_text(encoding="utf-8"))["result"]

hostile_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "\x00", "yes", "no", "2.5B", "12GiB", "1e400", "-1", "free", "500 JPY",
                     "9" * 30, "9" * 30 + "T", "1" + "0" * 200 + " JPY", "ja;en", "CC-BY-NC-4.0", "\uff23\uff23", "\u00b2"]),
)  # fmt: skip
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), hostile_text,
)  # fmt: skip
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)
field_names = st.one_of(st.sampled_from(DATASET_FIELDS), st.sampled_from(["license", "colour", "", "ID"]))
slugs = st.from_regex(r"\A[a-z][a-z0-9-]{0,12}\Z", fullmatch=True)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One ledger per database for every example of the module (hypothesis re-runs a test body, not its
    fixtures): a SQLite file, or a PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'ledger.sqlite'}"
    else:
        schema = f"fuzz_{uuid.uuid4().hex[:12]}"
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    engine = create_ledger_engine(make_settings(url))
    upgrade(engine)
    yield engine
    engine.dispose()
    if request.param == "postgres":
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("files")


def import_twice(engine: Engine, path: Path, fmt: ImportFormat) -> None:
    """The properties every file must have, whatever is in it."""
    try:
        rows = read_rows(path, fmt)
    except UsageError as exc:  # the file as a whole refused: it must say which file
        assert str(path) in str(exc)
        return
    wheres = {row.where for row in rows}
    with engine.begin() as conn:
        first = import_rows(conn, rows, source=str(path), kind=fmt, now=NOW)
    for error in first.errors:
        assert error.source == str(path) and error.where in wheres and error.field and error.message
    landed = set(first.created) | set(first.updated) | set(first.unchanged)
    assert len(landed) + first.failed_rows == len(rows)  # each row is landed or reported, never both or neither
    with engine.begin() as conn:
        again = import_rows(conn, rows, source=str(path), kind=fmt, now=NOW + 86400)
    assert again.created == [] and again.updated == [] and set(again.unchanged) == landed
    assert [(e.where, e.field) for e in again.errors] == [(e.where, e.field) for e in first.errors]


@given(st.lists(st.tuples(slugs, st.dictionaries(field_names, json_values, max_size=4)), min_size=1, max_size=5))
def test_json_imports(ledger: Engine, folder: Path, rows: list[tuple[str, dict[str, Any]]]) -> None:
    items: list[Any] = [{**GOOD, "id": slug, **changes} for slug, changes in rows]
    path = folder / "fuzz.json"
    path.write_text(json.dumps(items, allow_nan=True), encoding="utf-8")
    import_twice(ledger, path, "json")


@given(st.lists(st.tuples(slugs, st.dictionaries(st.sampled_from(DATASET_FIELDS), hostile_text, max_size=4)),
                min_size=1, max_size=5))  # fmt: skip
def test_csv_imports(ledger: Engine, folder: Path, rows: list[tuple[str, dict[str, str]]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(DATASET_FIELDS))
    writer.writeheader()
    for slug, changes in rows:
        writer.writerow({**GOOD, "id": slug, **changes})
    path = folder / "fuzz.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    import_twice(ledger, path, "csv")


ckan_keys = st.sampled_from(
    ["name", "title", "notes", "organization", "author", "maintainer_email", "url", "license_id", "license_title",
     "resources", "tags", "language", "extras", "training", "commercial", "size_tokens", "price", "domains"]
)  # fmt: skip


@given(st.lists(st.tuples(slugs, st.dictionaries(ckan_keys, json_values, max_size=4)), min_size=1, max_size=4))
def test_ckan_imports(ledger: Engine, folder: Path, packages: list[tuple[str, dict[str, Any]]]) -> None:
    answer = {"success": True, "result": {"results": [{**CKAN_PACKAGE, "name": s, **c} for s, c in packages]}}
    path = folder / "fuzz-ckan.json"
    path.write_text(json.dumps(answer, allow_nan=True), encoding="utf-8")
    import_twice(ledger, path, "ckan")


FORMATS: list[ImportFormat] = ["csv", "json", "ckan"]


@given(st.binary(max_size=300), st.sampled_from(FORMATS))
def test_any_bytes_are_a_file_error_or_row_errors(
    ledger: Engine, folder: Path, content: bytes, fmt: ImportFormat
) -> None:
    path = folder / f"bytes.{fmt}"
    path.write_bytes(content)
    import_twice(ledger, path, fmt)


# -- configuration -------------------------------------------------------------------------------------------

SECTIONS = ["database", "programme", "gpu_types", "daemon", "notify", "notify.smtp", "notify.outbox", "policies",
            "directives", "eval", "data", "review", "agent", "bogus"]  # fmt: skip
KEYS = ["url", "password", "password_file", "timezone", "name_ja", "h100", "listen", "host", "port", "office",
        "retry_base_s", "max_workers", "x", "jobs"]  # fmt: skip


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a TOML basic string is a JSON string


toml_values = st.one_of(
    st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(), hostile_text,
    st.lists(st.one_of(st.integers(), hostile_text), max_size=3),
)  # fmt: skip


@given(st.lists(st.tuples(st.sampled_from(SECTIONS), st.sampled_from(KEYS), toml_values), max_size=6))
def test_config_files_load_or_raise_config_error(folder: Path, entries: list[tuple[str, str, Any]]) -> None:
    text = "".join(f"[{section}]\n{key} = {toml_value(value)}\n" for section, key, value in entries)
    path = folder / "fuzz.toml"
    path.write_text(text, encoding="utf-8")
    try:
        load_config(path)
    except ConfigError as exc:
        assert str(path) in str(exc)


@given(st.binary(max_size=400))
def test_any_bytes_as_config_raise_only_config_error(folder: Path, content: bytes) -> None:
    path = folder / "bytes.toml"
    path.write_bytes(content)
    try:
        load_config(path)
    except QuotadError as exc:
        assert isinstance(exc, ConfigError)


def test_the_profile_in_force_is_a_known_one() -> None:
    assert PROFILE in ("ci", "fuzz")
