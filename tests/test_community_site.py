"""Community events on the public site: public scheduled events only, and nothing about who registered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from quotad.config import Settings
from quotad.plugins.api import LedgerView, PublishRequest, read_only
from quotad.plugins.community.publish import publish
from quotad.units import GpuCatalog
from tests.community_support import NOW, NOW_ISO, add_event, register, seed_companies


def _programme(engine: Engine, cli: Any) -> None:
    seed_companies(engine)
    add_event(
        cli, "open-day", "--public", "--info-url", "https://programme.example/open-day", "--online-url",
        "https://meet.example/secret-room", "--capacity", "1", "--place-ja", "東京会場", "--place-en", "Tokyo venue",
    )  # fmt: skip
    add_event(cli, "board-meeting", "--private")
    add_event(cli, "cancelled-talk", "--public")
    add_event(cli, "online-only", "--public", "--online-url", "https://meet.example/other", starts="2026-12-20T10:00",
              ends="2026-12-20T11:00")  # fmt: skip
    add_event(cli, "last-month", "--public", starts="2026-11-10T10:00", ends="2026-11-10T12:00")
    assert cli("community", "event", "cancel", "cancelled-talk").exit_code == 0
    for email in ("hanako.yamada@sakura.example", "taro.suzuki@fuji.example"):
        assert register(cli, "open-day", email, "--company", "sakura").exit_code == 0


def test_publish_returns_only_public_scheduled_upcoming_events(engine: Engine, cli: Any, settings: Settings) -> None:
    _programme(engine, cli)
    with read_only(engine) as conn:
        content = publish(
            PublishRequest(settings=settings, ledger=LedgerView(conn, GpuCatalog({})), conn=conn, now=NOW)
        )
    assert [(e.day, e.title.en, e.place.en, e.url) for e in content.events] == [
        ("2026-12-10", "open-day study session", "Tokyo venue and online", "https://programme.example/open-day"),
        ("2026-12-20", "online-only study session", "Online", ""),
    ]
    assert content.tables == ()


def test_site_build_shows_a_public_event_and_not_a_private_one(engine: Engine, cli: Any, tmp_path: Path) -> None:
    _programme(engine, cli)
    out = tmp_path / "site"
    result = cli("site", "build", str(out), "--now", NOW_ISO)
    assert result.exit_code == 0, result.output
    pages = {p: p.read_text(encoding="utf-8") for p in out.rglob("*.html")}
    news_en, news_ja = pages[out / "en" / "news.html"], pages[out / "ja" / "news.html"]
    assert "open-day study session" in news_en and "open-day 勉強会" in news_ja
    assert 'href="https://programme.example/open-day"' in news_en
    everything = "\n".join(pages.values())
    for hidden in (
        "board-meeting", "cancelled-talk", "last-month", "secret-room", "meet.example",
        "hanako", "taro", "sakura.example", "fuji.example",
    ):  # fmt: skip
        assert hidden not in everything, hidden
