"""Maintenance windows from Slurm MAINT reservations: the parser on captured text, and the real test cluster.

The real test creates a MAINT reservation on the test cluster's node 400 days ahead (so no test job with an
unlimited time limit is held back by it), imports it through ``quotad maintenance import-slurm``, checks that
the pool takes it out of reserved capacity, deletes it and imports again (the future window disappears).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import typer
from sqlalchemy import Engine
from typer.testing import CliRunner

from quotad.cli import maintenance
from quotad.cli.context import AppState
from quotad.cli.main import QuotadGroup
from quotad.config import Settings
from quotad.errors import InputError
from quotad.ledger.db import create_ledger_engine, upgrade
from quotad.ledger.ingest import sync_clusters
from quotad.pool.maintenance import list_windows
from quotad.pool.registry import ProviderSpec, ReservationSpec, set_provider, set_reservation
from quotad.pool.slurm_maint import import_scontrol_reservations, parse_reservations
from quotad.pool.view import pool_view
from quotad.units import GpuCatalog
from tests.conftest import make_settings

#: ``scontrol show reservation --oneliner`` of Slurm 22.05 with SLURM_TIME_FORMAT=%s (captured on the test cluster).
CAPTURED = [
    "ReservationName=quotad_probe StartTime=1830691027 EndTime=1830693727 Duration=00:45:00 Nodes=vm NodeCnt=1 "
    "CoreCnt=2 Features=(null) PartitionName=(null) Flags=MAINT,IGNORE_JOBS,SPEC_NODES TRES=cpu=2 Users=root "
    "Groups=(null) Accounts=(null) Licenses=(null) State=INACTIVE BurstBuffer=(null) Watts=n/a MaxStartDelay=(null)",
    "ReservationName=training StartTime=2028-01-05T13:17:07 EndTime=2028-01-06T13:17:07 Duration=1-00:00:00 "
    "Nodes=vm NodeCnt=1 CoreCnt=2 Features=(null) PartitionName=(null) Flags=SPEC_NODES TRES=cpu=2 Users=alice",
    "ReservationName=maint_local StartTime=2028-01-05T13:17:07 EndTime=2028-01-05T14:02:07 Duration=00:45:00 "
    "Nodes=gpu[001-010] NodeCnt=10 Flags=MAINT,SPEC_NODES Users=root",
]


def test_only_maint_reservations_become_windows() -> None:
    specs = parse_reservations(CAPTURED, cluster="c1", timezone="Asia/Tokyo")
    assert [(s.reference, s.start, s.end, s.node_count, s.nodes, s.source) for s in specs] == [
        ("quotad_probe", 1830691027, 1830693727, 1, "vm", "slurm"),
        ("maint_local", 1830658627, 1830661327, 10, "gpu[001-010]", "slurm"),  # local times read in the zone
    ]
    assert parse_reservations(["No reservations in the system"], cluster="c1", timezone="UTC") == []
    with pytest.raises(InputError, match="EndTime is not after"):
        parse_reservations(
            ["ReservationName=x StartTime=20 EndTime=10 Flags=MAINT NodeCnt=1"], cluster="c1", timezone="UTC"
        )


def test_import_reconciles_with_the_cluster(engine: Engine, settings: Settings) -> None:
    text = "\n".join(CAPTURED)
    with engine.begin() as conn:
        sync_clusters(conn, settings)
        first = import_scontrol_reservations(conn, cluster="c1", timezone="UTC", text=text, now=1_800_000_000)
        gone = import_scontrol_reservations(conn, cluster="c1", timezone="UTC", text="", now=1_800_000_000)
    assert (first.added, gone.removed) == (2, 2)


_app = typer.Typer(cls=QuotadGroup)


@_app.callback()
def _main(ctx: typer.Context, config: Path = typer.Option(..., "-c")) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s", force=True)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    ctx.obj = AppState(config_path=config)


_app.add_typer(maintenance.app, name="maintenance")


def _scontrol(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["scontrol", *args], capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.slurm
def test_a_real_maint_reservation_is_imported_and_taken_out_of_capacity(
    slurm_cluster: str, db_url: str, tmp_path: Path
) -> None:
    settings = make_settings(db_url, clusters=[{"name": slurm_cluster, "default_gpu_type": "h100", "timezone": "UTC"}])
    engine = create_ledger_engine(settings)
    upgrade(engine)
    config = tmp_path / "quotad.toml"
    config.write_text(
        f'[database]\nurl = "{db_url}"\n[[clusters]]\nname = "{slurm_cluster}"\ndefault_gpu_type = "h100"\n',
        encoding="utf-8",
    )
    name = f"quotad_maint_{uuid.uuid4().hex[:8]}"
    created = _scontrol(
        "create", "reservation", f"reservationname={name}", "starttime=now+400days", "duration=00:45:00",
        "nodes=ALL", "users=root", "flags=maint,ignore_jobs",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    try:
        imported = CliRunner().invoke(_app, ["-c", str(config), "maintenance", "import-slurm"])
        assert imported.exit_code == 0, imported.output
        assert f"{slurm_cluster}: 1 added" in imported.output
        listed = json.loads(CliRunner().invoke(_app, ["-c", str(config), "maintenance", "list", "--json"]).stdout)
        mine = [w for w in listed if w["reference"] == name]
        assert len(mine) == 1 and mine[0]["source"] == "slurm" and mine[0]["hours"] == 0.75
        with engine.begin() as conn:
            window = next(w for w in list_windows(conn) if w.reference == name)
            assert window.end - window.start == 45 * 60 and window.start > time.time() + 399 * 86400
            sync_clusters(conn, settings)
            set_provider(conn, ProviderSpec("test", "テスト", "Test", "cloud"), now=window.start)
            set_reservation(
                conn,
                ReservationSpec("test", slurm_cluster, "vm", "h100", 8, 1, window.start - 3600, window.end + 3600),
                known_gpu_types=["h100"],
            )
            view = pool_view(
                conn, GpuCatalog({"h100": 989}), start=window.start - 3600, end=window.end + 3600,
                now=window.end + 3600, tz="UTC",
            )  # fmt: skip
        assert view.total.figures.maintenance == 45 * 60 * 8  # the node's 8 GPUs for 45 minutes
        assert view.total.figures.reserved == (2 * 3600 + 45 * 60) * 8
        again = CliRunner().invoke(_app, ["-c", str(config), "maintenance", "import-slurm"])
        assert f"{slurm_cluster}: 0 added, 0 updated, 1 unchanged, 0 removed" in again.output
    finally:
        deleted = _scontrol("delete", f"reservationname={name}")
    assert deleted.returncode == 0, deleted.stderr
    after = CliRunner().invoke(_app, ["-c", str(config), "maintenance", "import-slurm"])
    assert after.exit_code == 0 and "1 removed" in after.output  # deleted before it began: gone here too
    engine.dispose()
