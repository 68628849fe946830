"""Status and report figures on a constructed ledger, computed by hand."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from quotad.amounts import NORMALISED, Unit
from quotad.collectors.slurm import ingest_sacct_text
from quotad.config import Settings
from quotad.errors import NotFoundError, UsageError
from quotad.ledger.ingest import sync_clusters
from quotad.ledger.models import POOL
from quotad.ledger.queries import company_status, get_company, list_companies, usage_report
from quotad.ledger.registry import AccountRef, ContactRef, GrantSpec, add_company, set_grant
from quotad.units import TFLOP_PER_EFLOPS_HOUR, GpuCatalog
from tests.helpers import row, sacct_text, utc

CATALOG = GpuCatalog({"h100": 989, "h200": 989, "a100": 312})
H = 3600



NOV, MAY = utc("2026-11-01T00:00:00"), utc("2027-05-01T00:00:00")
NOW = utc("2026-11-20T00:00:00")


@pytest.fixture
def programme(engine: Engine, settings: Settings) -> Engine:
    with engine.begin() as conn:
        sync_clusters(conn, settings)
        add_company(
            conn,
            company_id="acme",
            name_ja="アクメ",
            name_en="Acme",
            now=NOW,
            accounts=[AccountRef("c1", "acme"), AccountRef("c1", "acme-eval")],
            contacts=[ContactRef("ops@acme.example.jp", "ja")],
        )
        add_company(
            conn, company_id="fuji", name_ja="富士", name_en="Fuji", now=NOW, accounts=[AccountRef("c2", "fuji")]
        )
        add_company(conn, company_id="idle", name_ja="暇", name_en="Idle", now=NOW)
        types = ["h100", "h200", "a100"]
        set_grant(conn, GrantSpec("acme", "c1", "h100", 1000 * H, NOV, MAY), known_gpu_types=types)
        set_grant(conn, GrantSpec("fuji", POOL, NORMALISED, 2 * TFLOP_PER_EFLOPS_HOUR, NOV, MAY), known_gpu_types=types)
        lines = sacct_text(
            # acme: 100 GPU-h early in the month (8 GPUs x 12.5 h), 70 GPU-h in the last 7 days (7 x 10 h)
            row("1", 1, start="2026-11-02T00:00:00", end="2026-11-02T12:30:00", elapsed=45000, gpus="gres/gpu=8"),
            row(
                "2",
                2,
                start="2026-11-15T00:00:00",
                end="2026-11-15T10:00:00",
                elapsed=36000,
                gpus="gres/gpu=7",
                account="acme-eval",
                user="bob",
            ),
            # acme running now with 4 GPUs, nothing charged yet
            row("3", 3, state="RUNNING", start="2026-11-20T00:00:00", elapsed=0, gpus="gres/gpu=4"),
            # before the grant period: not counted as used
            row(
                "4",
                4,
                submit="2026-10-01T00:00:00",
                start="2026-10-01T00:00:00",
                end="2026-10-01T10:00:00",
                elapsed=36000,
                gpus="gres/gpu=1",
            ),
            # fuji on the Tokyo H200 cluster: 1000 GPU-h
            row(
                "10",
                10,
                cluster="c2",
                account="fuji",
                submit="2026-11-10T09:00:00",
                start="2026-11-10T09:00:00",
                end="2026-11-11T09:00:00",
                elapsed=86400,
                gpus="gres/gpu:h200=8,gres/gpu=8",
                user="fu1",
            ),
            row(
                "11",
                11,
                cluster="c2",
                account="fuji",
                submit="2026-11-12T09:00:00",
                start="2026-11-12T09:00:00",
                end="2026-11-13T23:00:00",
                elapsed=136800,
                gpus="gres/gpu=4",
                user="fu2",
                partition="debug",
            ),
            # an account nobody claims
            row(
                "20",
                20,
                account="stranger",
                start="2026-11-05T00:00:00",
                end="2026-11-05T01:00:00",
                elapsed=3600,
                gpus="gres/gpu=2",
            ),
        )
        ingest_sacct_text(conn, settings, lines, source="t", now=NOW)
    return engine


def test_status_figures(programme: Engine) -> None:
    with programme.connect() as conn:
        rows = {r.company_id: r for r in company_status(conn, CATALOG, now=NOW)}
    acme = rows["acme"]
    assert acme.unit == Unit("h100")
    assert (acme.granted, acme.used, acme.used_last_7d) == (1000 * H, 170 * H, 70 * H)
    assert acme.burn_per_day == pytest.approx(10 * H)
    assert acme.projected == 170 * H + 10 * H * (MAY - NOW) // 86400
    assert acme.gpus_held == 4 and acme.period_end == MAY
    assert acme.used_ratio == pytest.approx(0.17)
    fuji = rows["fuji"]
    assert fuji.unit == Unit(NORMALISED)
    assert fuji.used == (86400 * 8 + 136800 * 4) * 989 and fuji.granted == 2 * TFLOP_PER_EFLOPS_HOUR
    # the trailing week starts 2026-11-13T00:00Z: only job 11's last 14 h (4 GPUs) fall in it
    assert fuji.used_last_7d == 14 * H * 4 * 989
    idle = rows["idle"]
    assert idle.unit is None and idle.granted == 0 and idle.gpus_held == 0


def test_status_of_a_company_with_grants_of_two_types_is_normalised(programme: Engine) -> None:
    with programme.begin() as conn:
        set_grant(conn, GrantSpec("acme", "c2", "h200", 500 * H, NOV, MAY), known_gpu_types=["h100", "h200"])
    with programme.connect() as conn:
        acme = next(r for r in company_status(conn, CATALOG, now=NOW) if r.company_id == "acme")
    assert acme.unit == Unit(NORMALISED)
    assert acme.granted == 1500 * H * 989 and acme.used == 170 * H * 989


def test_report_by_company_for_a_month(programme: Engine) -> None:
    with programme.connect() as conn:
        rows = {r.key: r for r in usage_report(conn, CATALOG, start=NOV, end=utc("2026-12-01T00:00:00"), by="company")}
    assert rows["acme"].gpu_seconds == {"h100": 170 * H}
    assert rows["fuji"].gpu_seconds == {"h200": 86400 * 8 + 136800 * 4}
    assert rows["(unclaimed) c1:stranger"].gpu_seconds == {"h100": 2 * H}
    assert rows["acme"].tflop == 170 * H * 989
    with programme.connect() as conn:
        october = usage_report(conn, CATALOG, start=utc("2026-10-01T00:00:00"), end=NOV, by="company")
    assert [(r.key, r.total_gpu_seconds) for r in october] == [("acme", 10 * H)]


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        ("cluster", {"c1": 172 * H, "c2": 86400 * 8 + 136800 * 4}),
        ("partition", {"c1:gpu": 172 * H, "c2:gpu": 86400 * 8, "c2:debug": 136800 * 4}),
        ("gpu-type", {"h100": 172 * H, "h200": 86400 * 8 + 136800 * 4}),
        ("user", {"c1:alice": 102 * H, "c1:bob": 70 * H, "c2:fu1": 86400 * 8, "c2:fu2": 136800 * 4}),
    ],
)
def test_report_groupings(programme: Engine, by: str, expected: dict[str, int]) -> None:
    with programme.connect() as conn:
        rows = usage_report(conn, CATALOG, start=NOV, end=utc("2026-12-01T00:00:00"), by=by)  # type: ignore[arg-type]
    assert {r.key: r.total_gpu_seconds for r in rows} == expected


def test_companies_and_lookups(programme: Engine) -> None:
    with programme.connect() as conn:
        assert [c.id for c in list_companies(conn)] == ["acme", "fuji", "idle"]
        acme = get_company(conn, "acme")
        assert acme.accounts == (AccountRef("c1", "acme"), AccountRef("c1", "acme-eval"))
        assert acme.contacts == (ContactRef("ops@acme.example.jp", "ja"),)
        with pytest.raises(NotFoundError, match="known: acme, fuji, idle"):
            get_company(conn, "acne")


def test_registry_refuses_conflicts(programme: Engine) -> None:
    with programme.begin() as conn, pytest.raises(UsageError, match="already belongs to company 'acme'"):
        add_company(conn, company_id="copy", name_ja="x", name_en="x", now=NOW, accounts=[AccountRef("c1", "acme")])
    with programme.begin() as conn, pytest.raises(NotFoundError, match="cluster"):
        add_company(conn, company_id="far", name_ja="x", name_en="x", now=NOW, accounts=[AccountRef("c9", "far")])
    with programme.begin() as conn, pytest.raises(UsageError, match="plan month"):
        set_grant(conn, GrantSpec("acme", "c1", "h100", H, NOV, MAY, plan={MAY: 1}), known_gpu_types=["h100"])
