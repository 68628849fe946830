"""Governance checklists: the shipped versions, validation of checklist files, loading and the version diff."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from quotad.errors import ConfigError
from quotad.plugins.community import models as community_models
from quotad.plugins.governance import models as governance_models
from quotad.plugins.governance.checklist import SECTIONS, diff_checklists, parse_checklist, shipped_checklists
from quotad.tables import Base
from tests.governance_support import SECTION_KEYS, checklist_toml, write


def test_shipped_checklists_cover_the_ten_principles_in_both_languages() -> None:
    shipped = shipped_checklists()
    assert set(shipped) == {"1.0", "1.1"}
    assert [s.key for s in SECTIONS] == list(SECTION_KEYS)
    for checklist in shipped.values():
        assert checklist.guideline_version == checklist.version
        assert {i.section for i in checklist.items} == set(SECTION_KEYS)
        for item in checklist.items:
            assert item.text.ja and item.text.en and item.reference.startswith("第2部 C.")
            assert item.text.ja != item.text.en


def test_shipped_diff_is_by_key() -> None:
    shipped = shipped_checklists()
    diff = {d.key: (d.kind, d.fields, d.answers_carry) for d in diff_checklists(shipped["1.0"], shipped["1.1"])}
    assert diff == {
        "hc-disinformation": ("changed", ("text_ja", "text_en"), False),
        "sf-incidents": ("added", (), False),
        "se-attacks": ("changed", ("text_ja", "text_en"), False),
        "se-updates": ("removed", (), False),
        "tr-ai-content": ("added", (), False),
        "tr-model-card": ("changed", ("text_ja", "text_en"), False),
        "ac-owner": ("changed", ("reference",), True),
    }
    assert diff_checklists(shipped["1.1"], shipped["1.1"]) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (checklist_toml(version="one"), "version: Value error, expected a version"),
        (checklist_toml().replace('ja = "項目3"\n', ""), "items[2] (key 'x-fairness').ja: Field required"),
        (checklist_toml().replace('section = "privacy"', 'section = "ethics"'), "items[3] (key 'x-privacy').section"),
        (checklist_toml().replace('key = "x-safety"', 'key = "x-human-centric"'), "appears more than once"),
        (checklist_toml().replace('section = "innovation"', 'section = "safety"'), "sections without any item: innovation"),
        (checklist_toml() + 'colour = "blue"\n', "colour: Extra inputs are not permitted"),
        ("version = \n", "not valid UTF-8 TOML"),
    ],
)  # fmt: skip
def test_a_bad_checklist_file_names_the_file_and_the_field(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_checklist(text.encode(), "bad.toml")
    assert "bad.toml" in str(info.value) and expected in str(info.value)


def test_checklist_commands(engine: Engine, cli: Any, tmp_path: Path) -> None:
    listed = json.loads(cli("governance", "checklist", "list", "--json").stdout)
    assert [(c["version"], c["items"], c["stored"]) for c in listed] == [("1.0", 26, "no"), ("1.1", 27, "no")]
    shown = json.loads(cli("governance", "checklist", "show", "1.0", "--json").stdout)
    assert shown["version"] == "1.0" and shown["rows"][0]["item"] == "hc-dignity"
    assert json.loads(cli("governance", "checklist", "show", "--json").stdout)["version"] == "1.1"  # latest
    missing = cli("governance", "checklist", "show", "7.0")
    assert missing.exit_code == 2 and "1.0, 1.1" in missing.output

    path = write(tmp_path, "mine.toml", checklist_toml("2.0"))
    loaded = cli("governance", "checklist", "load", str(path))
    assert loaded.exit_code == 0 and "stored" in loaded.stdout
    assert "unchanged" in cli("governance", "checklist", "load", str(path)).stdout
    write(tmp_path, "mine.toml", checklist_toml("2.0").replace("Item 1", "Item one"))
    clash = cli("governance", "checklist", "load", str(path))
    assert clash.exit_code == 2 and "needs a new version number" in clash.output
    bad = cli("governance", "checklist", "load", str(write(tmp_path, "bad.toml", checklist_toml("x"))))
    assert bad.exit_code == 2 and "bad.toml" in bad.output and "version" in bad.output

    stored = {c["version"]: c["stored"] for c in json.loads(cli("governance", "checklist", "list", "--json").stdout)}
    assert stored == {"1.0": "no", "1.1": "no", "2.0": "yes"}
    diff = json.loads(cli("governance", "checklist", "diff", "1.0", "1.1", "--json").stdout)
    assert diff["from"] == "1.0" and {r["item"]: r["change"] for r in diff["rows"]}["se-updates"] == "removed"
    assert len(diff["rows"]) == 7
    md = cli("governance", "checklist", "diff", "1.0", "1.1", "--format", "md")
    assert md.exit_code == 0 and "| tr-ai-content | added |" in md.stdout


def test_migrated_tables_match_the_models(engine: Engine) -> None:
    assert {"community_events", "governance_assessments"} <= set(Base.metadata.tables)
    assert community_models.CommunityEvent.__tablename__ and governance_models.GovernanceItem.__tablename__
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert [d for d in diff if "governance_" in repr(d) or "community_" in repr(d)] == []
