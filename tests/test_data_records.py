"""Validation of dataset fields: licences and the uses they imply, languages, sizes, prices, every problem at once."""

from __future__ import annotations

from typing import Any

import pytest

from quotad.plugins.data.records import Price, dataset_from_raw, parse_price, parse_size
from quotad.plugins.data.vocab import canonical_licence
from tests.data_support import BASE_DATASET, dataset


def _problems(**overrides: Any) -> dict[str, str]:
    raw = {k: v for k, v in {**BASE_DATASET, **overrides}.items() if v is not None}
    record, problems = dataset_from_raw(raw)
    assert (record is None) == bool(problems)
    return {p.field: p.message for p in problems}


def test_an_open_licence_allows_every_use_by_default() -> None:
    ds = dataset(licence="cc-by-4.0")
    assert ds.licence_spdx == "CC-BY-4.0"  # canonical SPDX spelling
    assert (ds.allow_training, ds.allow_commercial, ds.allow_derivatives) == (True, True, True)


@pytest.mark.parametrize(
    ("licence", "commercial", "derivatives"),
    [("CC-BY-NC-4.0", False, True), ("CC-BY-ND-4.0", True, False), ("CC-BY-NC-ND-4.0", False, False)],
)
def test_nc_and_nd_licences_forbid_by_default(licence: str, commercial: bool, derivatives: bool) -> None:
    ds = dataset(licence=licence)
    assert (ds.allow_commercial, ds.allow_derivatives) == (commercial, derivatives)
    assert ds.allow_training


def test_an_explicit_use_against_the_licence_is_an_error_but_stricter_terms_are_kept() -> None:
    assert "CC-BY-NC-4.0 forbids commercial" in _problems(licence="CC-BY-NC-4.0", commercial="yes")["commercial"]
    assert "forbids derivatives" in _problems(licence="CC-BY-ND-4.0", derivatives=True)["derivatives"]
    stricter = dataset(licence="CC-BY-4.0", training="no")
    assert not stricter.allow_training and stricter.allow_commercial


def test_custom_licences_need_every_use_stated() -> None:
    problems = _problems(licence="LicenseRef-holder-terms")
    assert set(problems) == {"training", "commercial", "derivatives"}
    assert "no default applies" in problems["training"]
    ds = dataset(licence="LicenseRef-holder-terms", training="yes", commercial="no", derivatives="yes")
    assert (ds.licence_spdx, ds.allow_commercial) == ("LicenseRef-holder-terms", False)
    named = dataset(licence=None, licence_name="Holder's own terms", training=1, commercial=0, derivatives=0)
    assert named.licence_spdx is None and named.licence_name == "Holder's own terms"


def test_unknown_licence_and_missing_licence_are_refused() -> None:
    assert "unknown licence 'CC-BY-4'" in _problems(licence="CC-BY-4")["licence"]
    assert "required" in _problems(licence=None)["licence"]
    with pytest.raises(ValueError, match="LicenseRef"):
        canonical_licence("LicenseRef-")


def test_languages_must_be_iso_639_1_and_are_normalised() -> None:
    assert "'jp'" in _problems(languages="ja;jp")["languages"]
    assert "required" in _problems(languages="")["languages"]
    assert dataset(languages=["EN", "ja", "en"]).languages == ("en", "ja")


def test_every_problem_of_a_row_is_reported_at_once() -> None:
    problems = _problems(id="Bad Id", modality="txt", access_mode="", price="lots", colour="blue")
    assert {"id", "modality", "access_mode", "price", "colour"} <= set(problems)
    assert problems["colour"] == "unknown field"
    assert "required" in problems["access_mode"]


@pytest.mark.parametrize(
    ("text", "unit", "expected"),
    [
        ("2.5B", "tokens", 2_500_000_000),
        ("300M", "tokens", 300_000_000),
        ("1,000", "tokens", 1000),
        (42, "tokens", 42),
        ("12GB", "bytes", 12_000_000_000),
        ("3GiB", "bytes", 3 * 2**30),
        ("", "bytes", None),
    ],
)
def test_sizes(text: object, unit: str, expected: int | None) -> None:
    assert parse_size(text, unit=unit) == expected


@pytest.mark.parametrize("text", ["lots", "1.5", "-3", "2 parsecs", True])
def test_bad_sizes(text: object) -> None:
    with pytest.raises(ValueError):
        parse_size(text, unit="tokens")


def test_prices() -> None:
    assert parse_price("free") == Price(0)
    assert parse_price("") == Price(None)
    assert parse_price("500000 jpy") == Price(500000, "JPY")
    assert parse_price({"amount_minor": 1250, "currency": "usd"}) == Price(1250, "USD")
    for bad in ("500000", "5.5 JPY", "100 YEN", {"amount_minor": -1, "currency": "JPY"}):
        with pytest.raises(ValueError):
            parse_price(bad)
