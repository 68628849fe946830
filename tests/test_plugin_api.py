"""The plugin API: the ledger view answers through the core's queries, and read transactions refuse writes."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, insert
from sqlalchemy.exc import DBAPIError

from quotad.config import Settings
from quotad.plugins.api import CompanyCompute, LedgerView, PluginContext, read_only
from quotad.plugins.site.models import SiteNews
from quotad.units import GpuCatalog
from tests.test_plugin_common import NOW, ledger, plugin_tables, seed_programme, with_builtins

__all__ = ["ledger", "plugin_tables", "with_builtins"]


@pytest.fixture
def programme(ledger: Engine, settings: Settings) -> Engine:
    seed_programme(ledger, settings)
    return ledger


def test_ledger_view_figures(programme: Engine, settings: Settings) -> None:
    with read_only(programme) as conn:
        view = LedgerView(conn, GpuCatalog(settings.gpu_types))
        assert [c.id for c in view.companies()] == ["fuji", "kumo", "sakura"]
        assert view.company("sakura").name_en == "Sakura AI"
        compute = view.compute_by_company(start=0, end=NOW)
        total = view.compute_total(start=0, end=NOW)
        statuses = {s.company_id: s for s in view.status(now=NOW)}
    assert compute == {
        "sakura": CompanyCompute(360_000, 360_000 * 989),
        "fuji": CompanyCompute(5_531_176, 5_531_176 * 989),
    }
    assert total.gpu_seconds == 360_000 + 5_531_176 and compute["sakura"].gpu_hours == 100.0
    assert compute["sakura"].eflops_days == pytest.approx(360_000 * 989 / (1e6 * 86_400))
    assert statuses["sakura"].used == 360_000


def test_read_transactions_refuse_writes(programme: Engine) -> None:
    with pytest.raises(DBAPIError, match=r"(?i)read.?only"), read_only(programme) as conn:
        conn.execute(
            insert(SiteNews).values(
                day="2026-11-20", title_ja="a", title_en="b", body_ja="", body_en="", created_at=NOW
            )
        )
    with programme.begin() as conn:  # the pooled connection is writable again afterwards
        conn.execute(
            insert(SiteNews).values(
                day="2026-11-20", title_ja="a", title_en="b", body_ja="", body_en="", created_at=NOW
            )
        )


def test_plugin_context_reading_and_writing(programme: Engine, settings: Settings) -> None:
    pc = PluginContext(settings=settings, catalog=GpuCatalog(settings.gpu_types), open_engine=lambda: programme)
    with pc.writing() as (conn, view):
        conn.execute(
            insert(SiteNews).values(
                day="2026-11-21", title_ja="c", title_en="d", body_ja="", body_en="", created_at=NOW
            )
        )
        assert view.company("fuji").name_ja == "富士ラボ"
    with pytest.raises(DBAPIError), pc.reading() as (conn, _view):
        conn.execute(
            insert(SiteNews).values(
                day="2026-11-22", title_ja="e", title_en="f", body_ja="", body_en="", created_at=NOW
            )
        )
