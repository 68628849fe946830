"""Shared by the community tests (holds no tests): a small programme and events added through the CLI."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from quotad.ledger.registry import add_company

#: 2026-12-01T00:00:00Z: every event below lies after it.
NOW = 1796083200
NOW_ISO = "2026-12-01T00:00:00"


def seed_companies(engine: Engine) -> None:
    with engine.begin() as conn:
        add_company(conn, company_id="sakura", name_ja="さくらAI", name_en="Sakura AI", now=NOW)
        add_company(conn, company_id="fuji", name_ja="富士ラボ", name_en="Fuji Labs", now=NOW)


def add_event(
    cli: Any, event_id: str, *extra: str, starts: str = "2026-12-10T14:00", ends: str = "2026-12-10T17:00"
) -> Any:
    """``community event add`` with a bilingual title and a Tokyo venue unless ``extra`` says otherwise."""
    args = [
        "community",
        "event",
        "add",
        event_id,
        "--title-ja",
        f"{event_id} 勉強会",
        "--title-en",
        f"{event_id} study session",
        "--starts",
        starts,
        "--ends",
        ends,
        *extra,
    ]
    if "--online-url" not in extra and "--place-ja" not in extra:
        args += ["--place-ja", "東京会場", "--place-en", "Tokyo venue"]
    result = cli(*args)
    assert result.exit_code == 0, result.output
    return result


def register(cli: Any, event_id: str, email: str, *extra: str) -> Any:
    return cli(
        "community", "register", event_id, "--name", email.split("@")[0], "--email", email, "--now", NOW_ISO, *extra
    )
