"""Shared by the governance tests (holds no tests): companies and small checklist files."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from quotad.ledger.registry import add_company

NOW = 1796083200  # 2026-12-01T00:00:00Z

SECTION_KEYS = (
    "human-centric", "safety", "fairness", "privacy", "security", "transparency", "accountability", "education",
    "fair-competition", "innovation",
)  # fmt: skip


def seed_companies(engine: Engine) -> None:
    with engine.begin() as conn:
        add_company(conn, company_id="sakura", name_ja="さくらAI", name_en="Sakura AI", now=NOW)
        add_company(conn, company_id="fuji", name_ja="富士ラボ", name_en="Fuji Labs", now=NOW)
        add_company(conn, company_id="kumo", name_ja="雲テック", name_en="Kumo Tech", now=NOW)


def checklist_toml(version: str = "9.0", *, items: list[str] | None = None, extra_item: str = "") -> str:
    """A valid checklist with one item per section (``x-<section>``), or the given ``[[items]]`` blocks."""
    blocks = items or [
        f'[[items]]\nkey = "x-{s}"\nsection = "{s}"\nreference = "第2部 C. {n})"\nja = "項目{n}"\nen = "Item {n}"\n'
        for n, s in enumerate(SECTION_KEYS, 1)
    ]
    return (
        f'version = "{version}"\ntitle_ja = "テスト"\ntitle_en = "Test"\n'
        '[guideline]\ntitle_ja = "AI事業者ガイドライン"\ntitle_en = "AI Guidelines for Business"\nversion = "1.0"\n\n'
        + "\n".join(blocks)
        + extra_item
    )


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path
