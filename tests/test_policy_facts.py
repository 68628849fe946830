"""The facts policies read agree with the ledger's own read API: usage cells over any range (whole days from
``usage_daily``, edges from ``usage_hourly``) and company positions equal ``queries.usage_cells`` and
``queries.company_status`` exactly."""

from __future__ import annotations

import random

from sqlalchemy import Engine

from quotad.amounts import NORMALISED
from quotad.config import Settings
from quotad.ledger.facts import LedgerFacts
from quotad.ledger.models import POOL
from quotad.ledger.queries import company_status, split_days, usage_cells
from quotad.ledger.registry import GrantSpec, set_grant
from quotad.units import TFLOP_PER_EFLOPS_HOUR, GpuCatalog
from tests.fixtures.policy.builders import DAY, H, Ledger, utc

NOV, MAY = utc("2026-11-01T00:00:00"), utc("2027-05-01T00:00:00")
NOW = utc("2026-11-20T07:30:00")


def test_split_days() -> None:
    assert split_days(DAY + 5, DAY + 10) == ((DAY + 5, DAY + 10), None, (DAY + 10, DAY + 10))
    assert split_days(DAY - H, 3 * DAY + H) == ((DAY - H, DAY), (DAY, 3 * DAY), (3 * DAY, 3 * DAY + H))
    assert split_days(DAY, 2 * DAY) == ((DAY, DAY), (DAY, 2 * DAY), (2 * DAY, 2 * DAY))
    assert split_days(DAY - H, DAY + H) == ((DAY - H, DAY), None, (DAY, DAY + H))


def test_cells_and_positions_match_the_ledger_api(engine: Engine, settings: Settings) -> None:
    rng = random.Random(7)
    with engine.begin() as conn:
        led = Ledger(conn, settings).setup()
        led.company("acme", accounts=(("c1", "acme"), ("c1", "acme-eval")))
        led.company("fuji", accounts=(("c2", "fuji"), ("c1", "fuji-c1")))
        led.company("none")
        types = list(settings.gpu_types)
        led.grant("acme", 5000, NOV, MAY)
        led.grant("acme", 800, utc("2026-11-10T00:00:00"), MAY, cluster="c2", gpu_type="h200")
        set_grant(conn, GrantSpec("fuji", POOL, NORMALISED, 3 * TFLOP_PER_EFLOPS_HOUR, NOV, MAY), known_gpu_types=types)
        for _ in range(400):
            account, cluster, gpu_type = rng.choice(
                [("acme", "c1", "h100"), ("acme-eval", "c1", "h100"), ("fuji", "c2", "h200"), ("fuji-c1", "c1", "h100"),
                 ("stranger", "c1", "h100"), ("acme", "c2", "h200")]
            )
            hour = NOV - 3 * DAY + rng.randrange(0, 25 * 24) * H
            led.charge(account, hour, rng.randrange(1, 50_000), cluster=cluster, gpu_type=gpu_type,
                       user=rng.choice(["a", "b"]))
    catalog = GpuCatalog(settings.gpu_types)
    with engine.connect() as conn:
        facts = LedgerFacts(conn, now=NOW, catalog=catalog, timezone="UTC", programme_partitions={})
        for _ in range(200):
            start = NOV - 4 * DAY + rng.randrange(0, 30 * DAY)
            end = start + rng.randrange(0, 20 * DAY)
            assert facts.usage_cells(start, end) == usage_cells(conn, start, end), (start, end)
        assert facts.positions() == company_status(conn, catalog, now=NOW)
