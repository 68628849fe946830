"""``quotad provider``, ``pool`` and ``maintenance`` end to end (both databases), including CSV row errors.

The groups are mounted on a test app the way ``quotad.cli.main`` will mount them.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from quotad.cli import maintenance, pool, provider
from quotad.cli.context import AppState
from quotad.cli.main import QuotadGroup
from quotad.config import Settings
from quotad.ledger.ingest import load_records, sync_clusters
from quotad.ledger.records import JobRecord
from quotad.pool.maintenance import MaintenanceSpec, set_window
from quotad.pool.models import ProviderContract, ReservedCapacity
from tests.helpers import utc

H = 3600
_app = typer.Typer(cls=QuotadGroup)


@_app.callback()
def _main(ctx: typer.Context, config: Path = typer.Option(..., "-c")) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s", force=True)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    ctx.obj = AppState(config_path=config)


_app.add_typer(provider.app, name="provider")
_app.add_typer(pool.app, name="pool")
_app.add_typer(maintenance.app, name="maintenance")


class Run:
    def __init__(self, config: Path) -> None:
        self.config = config

    def __call__(self, *args: str) -> Any:
        return CliRunner().invoke(_app, ["-c", str(self.config), *args])


@pytest.fixture
def run(config_file: Path, engine: Engine) -> Run:
    return Run(config_file)


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return result


def test_provider_contract_and_reservation_commands(run: Run, engine: Engine) -> None:
    ok(run("provider", "add", "abci", "--name-ja", "産総研", "--name-en", "AIST ABCI", "--kind", "national-hpc"))
    assert (
        "updated"
        in ok(
            run("provider", "add", "abci", "--name-ja", "産総研", "--name-en", "ABCI 3.0", "--kind", "national-hpc")
        ).output
    )
    ok(run("provider", "contract", "add", "abci", "--ref", "MOU-2026-01", "--kind", "memorandum",
           "--start", "2026-04-01", "--end", "2026-09-30", "--contact", "ops@abci.example.jp"))  # fmt: skip
    out = ok(run("provider", "reserve", "add", "abci", "--cluster", "c1", "--node-type", "rt_HF", "--nodes", "75",
                 "--gpus-per-node", "8", "--gpu-type", "h100", "--start", "2026-04-15", "--end", "2026-08-15",
                 "--price", "450", "--currency", "JPY", "--contract", "MOU-2026-01")).output  # fmt: skip
    assert "75 × 8 H100 on c1" in out and "450 JPY/GPU-h" in out
    rows = json.loads(ok(run("provider", "reserve", "list", "--json")).stdout)
    assert rows[0] | {"id": 0} == {
        "id": 0, "provider": "abci", "contract": "MOU-2026-01", "cluster": "c1", "node_type": "rt_HF", "nodes": 75,
        "gpus_per_node": 8, "gpu_type": "h100", "gpus": 600, "start": "2026-04-15", "last_day": "2026-08-15",
        "price_per_gpu_hour": 450.0, "currency": "JPY", "note": "",
    }  # fmt: skip
    listed = json.loads(ok(run("provider", "list", "--json")).stdout)
    assert listed[0]["name_en"] == "ABCI 3.0" and listed[0]["reserved_blocks"] == 1
    assert "MOU-2026-01 (memorandum" in listed[0]["contracts"]
    bad = [
        run("provider", "add", "x", "--name-ja", "x", "--name-en", "x", "--kind", "grid"),
        run("provider", "reserve", "add", "nobody", "--cluster", "c1", "--node-type", "n", "--nodes", "1",
            "--gpus-per-node", "8", "--gpu-type", "h100", "--start", "2026-04-15", "--end", "2026-04-16"),
        run("provider", "reserve", "add", "abci", "--cluster", "zz", "--node-type", "n", "--nodes", "1",
            "--gpus-per-node", "8", "--gpu-type", "h100", "--start", "2026-04-15", "--end", "2026-04-16"),
        run("provider", "reserve", "add", "abci", "--cluster", "c1", "--node-type", "n", "--nodes", "1",
            "--gpus-per-node", "8", "--gpu-type", "h100", "--start", "2026-04-15", "--end", "2026-04-16",
            "--price", "450"),
    ]  # fmt: skip
    assert [r.exit_code for r in bad] == [2, 2, 2, 2]


def write(path: Path, lines: Sequence[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_csv_imports_land_good_rows_and_name_bad_ones(run: Run, engine: Engine, tmp_path: Path) -> None:
    providers = write(tmp_path / "p.csv", ["id,name_ja,name_en,kind", "abci,産総研,ABCI,national-hpc",
                                           "sakura,さくら,Sakura Cloud,cloud", "Bad Id,x,y,cloud", "kumo,雲,Kumo,satellite"])  # fmt: skip
    result = run("provider", "import", str(providers))
    assert result.exit_code == 1
    assert "4 providers row(s), 2 written, 2 refused" in result.output
    assert f"{providers}:4: provider id 'Bad Id'" in result.output and f"{providers}:5: provider kind" in result.output
    contracts = write(tmp_path / "c.csv", ["provider,reference,start,end,kind",
                                           "abci,MOU-1,2026-04-01,2026-09-30,memorandum", "abci,C-2,2026-04-01,2026-03-01,"])  # fmt: skip
    assert run("provider", "contract", "import", str(contracts)).exit_code == 1
    blocks = write(tmp_path / "r.csv", [
        "provider,cluster,node_type,gpu_type,gpus_per_node,nodes,start,end,price,currency,contract",
        "abci,c1,rt_HF,h100,8,75,2026-04-15,2026-08-15,450,JPY,MOU-1",
        "sakura,c2,H200x8,h200,8,10,2026-04-01,2026-09-30,,,",
        "sakura,c2,H200x8b,h200,eight,10,2026-04-01,2026-09-30,,,",
        "sakura,c9,H200x8,h200,8,10,2026-04-01,2026-09-30,,,",
        "abci,c1,rt_HG,h100,8,5,2026-04-15,2026-08-15,1.5,JPY,",
        "abci,c1,rt_HH,h100,8,5,2026-04-15,2026-08-15,,,NOPE",
    ])  # fmt: skip
    result = run("provider", "reserve", "import", str(blocks))
    assert result.exit_code == 1 and "6 reservations row(s), 2 written, 4 refused" in result.output
    for line, reason in ((4, "gpus_per_node 'eight'"), (5, "no cluster named 'c9'"), (6, "price '1.5' has more decimals"),
                         (7, "no contract named 'NOPE'")):  # fmt: skip
        assert f"{blocks}:{line}: {reason}" in result.output
    again = run("provider", "reserve", "import", str(blocks))  # re-import: replaces, never duplicates
    assert "2 written" in again.output
    with engine.connect() as conn:
        assert len(conn.execute(select(ReservedCapacity.id)).all()) == 2
        assert len(conn.execute(select(ProviderContract.id)).all()) == 1
    header = write(tmp_path / "h.csv", ["provider,cluster,nodes,colour", "abci,c1,1,red"])
    refused = run("provider", "reserve", "import", str(header))
    assert refused.exit_code == 2 and "missing column(s) node_type" in refused.output and "colour" in refused.output


def test_maintenance_commands_and_pool_views(run: Run, engine: Engine, settings: Settings, tmp_path: Path) -> None:
    ok(run("provider", "add", "abci", "--name-ja", "産総研", "--name-en", "ABCI", "--kind", "national-hpc"))
    ok(run("provider", "reserve", "add", "abci", "--cluster", "c1", "--node-type", "rt_HF", "--nodes", "2",
           "--gpus-per-node", "8", "--gpu-type", "h100", "--start", "2026-04-29", "--end", "2026-05-01",
           "--price", "450", "--currency", "JPY"))  # fmt: skip
    ok(run("maintenance", "add", "--cluster", "c1", "--start", "2026-04-30T22:00", "--end", "2026-05-01T02:00",
           "--ref", "ABCI-MAINT-7", "--reason", "power work"))  # fmt: skip
    windows = write(tmp_path / "m.csv", ["cluster,start,end,nodes,reference", "c1,2026-04-29T03:00,2026-04-29T03:45,1,cloud-1",
                                         "c1,2026-04-29T05:00,2026-04-29T04:00,,bad"])  # fmt: skip
    assert run("maintenance", "import", str(windows)).exit_code == 1
    listed = json.loads(ok(run("maintenance", "list", "--json")).stdout)
    assert [(w["source"], w["hours"], w["nodes"]) for w in listed] == [("csv", 0.75, 1), ("manual", 4.0, "all")]
    with engine.begin() as conn:
        sync_clusters(conn, settings)
        job = JobRecord("c1", "7", 7, utc("2026-04-30T19:00:00"), "acme", "alice", "gpu", "COMPLETED",
                        utc("2026-04-30T20:00:00"), utc("2026-05-01T04:00:00"), 8 * H, (("h100", 8),))  # fmt: skip
        load_records(conn, [job], source="t", kind="sacct", now=utc("2026-05-02T00:00:00"))
    now = ["--now", "2026-05-02T00:00:00"]
    status = ok(run("pool", "status", "--start", "2026-04-29", "--end", "2026-05-01", *now, "--json"))
    payload = json.loads(status.stdout)
    total = payload["rows"][-1]
    assert total["day"] == "period total"
    assert (total["reserved_gpu_hours"], total["maintenance_gpu_hours"], total["allocated_gpu_hours"]) == (1152, 70, 64)
    assert total["busy_gpu_hours"] is None and total["unallocated_cost"] == f"{(1152 - 70 - 32) * 450} JPY"
    # the warning names the command and range that list the same segments (per node, up to now)
    hint = "see `quotad maintenance overlaps --start 2026-04-29 --end 2026-05-01`"
    assert "1 job segment(s) ran on nodes under maintenance" in status.output and hint in status.output
    same = json.loads(ok(run("maintenance", "overlaps", "--start", "2026-04-29", "--end", "2026-05-01", *now,
                             "--json")).stdout)
    assert len(same) == 1
    human = ok(run("pool", "status", "--period", "2026-04", "--by", "cluster", *now))
    assert "c1 / h100" in human.stdout and "n/a" in human.stdout
    overlaps = json.loads(ok(run("maintenance", "overlaps", "--period", "2026-05", *now, "--json")).stdout)
    assert [(o["job_id"], o["overlap_hours"]) for o in overlaps] == [("7", 2.0)]
    assert run("pool", "status", "--period", "2026-04", "--start", "2026-04-01", *now).exit_code == 2
    ok(run("maintenance", "remove", str(listed[0]["id"])))
    assert run("maintenance", "remove", "9999").exit_code == 2


def test_pool_status_and_maintenance_overlaps_agree_per_node(run: Run, engine: Engine, settings: Settings) -> None:
    """A window on two nodes: the job whose NodeList names one is the overlap in both commands, the job on other
    nodes is none, and the job whose nodes nothing records is counted apart as "node unknown" in both."""
    start = utc("2026-05-01T04:00:00")
    with engine.begin() as conn:
        sync_clusters(conn, settings)
        set_window(conn, MaintenanceSpec("c1", start, start + 4 * H, source="slurm", reference="maint_gpu01",
                                         node_count=2, nodes="gpu[01-02]"), now=start)  # fmt: skip
        jobs = [JobRecord("c1", str(n), n, start - 60, "acme", "alice", "gpu", "COMPLETED", start, start + 2 * H, 2 * H,
                          (("h100", 8),), nodes) for n, nodes in ((1, "gpu[02-03]"), (2, "gpu[05-06]"), (3, None))]  # fmt: skip
        load_records(conn, jobs, source="t", kind="sacct", now=start + 24 * H)
    now = ["--now", "2026-05-02T00:00:00"]
    status = ok(run("pool", "status", "--start", "2026-05-01", "--end", "2026-05-01", *now, "--json"))
    days = "--start 2026-05-01 --end 2026-05-01"
    assert f"1 job segment(s) ran on nodes under maintenance (16.0 GPU-h, still charged): see `quotad maintenance overlaps {days}`" in status.output
    unknown = "1 job segment(s) ran while some nodes of their cluster were under maintenance, on nodes not known"
    assert unknown in status.output and f"`quotad maintenance overlaps --node-unknown {days}`" in status.output
    listed = ok(run("maintenance", "overlaps", *days.split(), *now, "--json"))
    assert [(o["job_id"], o["node_from"], o["overlap_gpu_hours"]) for o in json.loads(listed.stdout)] == [("1", "node list", 16.0)]
    assert unknown in listed.stderr
    apart = json.loads(ok(run("maintenance", "overlaps", "--node-unknown", *days.split(), *now, "--json")).stdout)
    assert [(o["job_id"], o["node_from"]) for o in apart] == [("3", "unknown")]


def test_maintenance_add_names_nodes_and_flags_only_jobs_on_them(
    run: Run, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """``maintenance add --nodes gpu[01-10]`` on an 80-node cluster: of three jobs running then, only the one on
    those nodes is an overlap, in ``maintenance overlaps`` and ``pool status`` alike; a bad hostlist is a usage
    error naming it; the CSV ``nodes`` column takes a hostlist too; ``maintenance list`` shows the names."""
    ok(run("provider", "add", "abci", "--name-ja", "産総研", "--name-en", "ABCI", "--kind", "national-hpc"))
    ok(run("provider", "reserve", "add", "abci", "--cluster", "c1", "--node-type", "rt_HF", "--nodes", "80",
           "--gpus-per-node", "8", "--gpu-type", "h100", "--start", "2026-05-01", "--end", "2026-05-31"))  # fmt: skip
    window = ["--cluster", "c1", "--start", "2026-05-01T04:00", "--end", "2026-05-01T08:00", "--ref", "M-1"]
    bad = run("maintenance", "add", *window, "--nodes", "gpu[01-10")
    assert bad.exit_code == 2 and "--nodes: hostlist 'gpu[01-10'" in bad.output and "Traceback" not in bad.output
    ok(run("maintenance", "add", *window, "--nodes", "gpu[01-10]"))
    start = utc("2026-05-01T04:00:00")
    with engine.begin() as conn:
        sync_clusters(conn, settings)
        jobs = [JobRecord("c1", str(n), n, start - 60, "acme", "alice", "gpu", "COMPLETED", start, start + 2 * H, 2 * H,
                          (("h100", 16),), nodes) for n, nodes in ((1, "gpu[10-11]"), (2, "gpu[11-12]"), (3, "gpu80"))]  # fmt: skip
        load_records(conn, jobs, source="t", kind="sacct", now=start + 24 * H)
    days, now = ["--start", "2026-05-01", "--end", "2026-05-01"], ["--now", "2026-05-02T00:00:00"]
    listed = json.loads(ok(run("maintenance", "overlaps", *days, *now, "--json")).stdout)
    assert [(o["job_id"], o["node_from"], o["overlap_gpu_hours"]) for o in listed] == [("1", "node list", 32.0)]
    status = ok(run("pool", "status", *days, *now, "--json"))
    assert "1 job segment(s) ran on nodes under maintenance (32.0 GPU-h, still charged)" in status.output
    total = json.loads(status.stdout)["rows"][-1]
    assert total["maintenance_gpu_hours"] == 10 * 8 * 4  # the 10 named nodes, not the cluster's 80
    csv_file = write(tmp_path / "m.csv", ["cluster,start,end,nodes,reference",
                                          "c1,2026-05-03T00:00,2026-05-03T01:00,\"gpu[20-21],gpu30\",M-2",
                                          "c1,2026-05-04T00:00,2026-05-04T01:00,gpu[2-,M-3"])  # fmt: skip
    refused = run("maintenance", "import", str(csv_file))
    assert refused.exit_code == 1 and "nodes: hostlist 'gpu[2-'" in refused.output
    shown = json.loads(ok(run("maintenance", "list", "--json")).stdout)
    assert [(w["reference"], w["nodes"], w["node_names"]) for w in shown] == [
        ("M-1", 10, "gpu[01-10]"), ("M-2", 3, "gpu[20-21],gpu30")
    ]


def test_pool_check_warns_and_exits_1_when_grants_exceed_reservations(run: Run, engine: Engine, cli: Any) -> None:
    ok(run("provider", "add", "abci", "--name-ja", "産総研", "--name-en", "ABCI", "--kind", "national-hpc"))
    ok(run("provider", "reserve", "add", "abci", "--cluster", "c1", "--node-type", "rt_HF", "--nodes", "1",
           "--gpus-per-node", "8", "--gpu-type", "h100", "--start", "2026-04-01", "--end", "2026-04-30"))  # fmt: skip
    ok(cli("company", "add", "acme", "--name-ja", "アクメ", "--name-en", "Acme", "-a", "c1:acme"))
    ok(
        cli(
            "grant",
            "set",
            "acme",
            "--cluster",
            "c1",
            "--gpu-hours",
            "5000",
            "--start",
            "2026-04-01",
            "--end",
            "2026-04-30",
        )
    )
    fits = ok(run("pool", "check", "--json"))
    assert all(r["status"] == "ok" for r in json.loads(fits.stdout))
    ok(
        cli(
            "grant",
            "set",
            "acme",
            "--cluster",
            "c1",
            "--gpu-hours",
            "6000",
            "--start",
            "2026-04-01",
            "--end",
            "2026-04-30",
        )
    )
    over = run("pool", "check")
    assert over.exit_code == 1
    assert "grants 6,000 GPU-h (H100) exceed reserved (by 240" in over.output  # 30 days × 8 GPUs = 5,760 GPU-h
    warned = run("pool", "status", "--period", "2026-04", "--now", "2026-05-01T00:00:00")
    assert warned.exit_code == 0 and "exceed reserved" in warned.output
