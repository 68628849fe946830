"""Spool and replay: ledger unreachable then back, exact totals, idempotent re-flush, size limit, restarts."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, select

from quotad.collectors.nvml.counters import AgentCounters
from quotad.collectors.nvml.service import AgentParts
from quotad.collectors.nvml.slurm import Runner
from quotad.collectors.nvml.spool import Spool
from quotad.ledger.telemetry import GpuUsageRow, upsert_gpu_usage
from quotad.ledger.telemetry_models import GpuUsageHourly
from tests.test_nvml_ledger import row
from tests.test_nvml_support import T0, FakeClock, canned_runner, make_agent, scenario, show_job


def runner_for(node: str) -> Runner:
    """Slurm says: job 5 runs here with GRES index 0."""
    return canned_runner(
        {
            ("scontrol", "listpids"): "PID JOBID STEPID LOCALID GLOBALID\n1 5 batch 0 0\n",
            ("scontrol", "show", "job", "-d", "-o", "5"): show_job(5, "0", node=node),
        }
    )


RUNNER = runner_for("gpu001")
SCENARIO = scenario(
    {"uuid": "GPU-0", "util": [[0, 95], [600, 0]], "memory_used_mib": [[0, 60000]], "power_w": [[0, 600], [600, 80]]},
    {"uuid": "GPU-1"},
)


def unreachable(engine: Engine, how: str) -> Engine:
    """The same ledger, but not reachable: a wrong URL, or (PostgreSQL) a schema the role cannot see."""
    if engine.dialect.name == "sqlite":
        return create_engine("sqlite:////nonexistent-quotad-dir/ledger.sqlite")
    if how == "wrong_url":
        return create_engine(engine.url.set(port=1), connect_args={"connect_timeout": 2})
    return create_engine(engine.url.set(query={"options": "-csearch_path=no_such_schema"}))


def ledger_rows(engine: Engine, node: str) -> list[GpuUsageRow]:
    with engine.connect() as conn:
        found = conn.execute(select(GpuUsageHourly.__table__).where(GpuUsageHourly.node == node)).all()
    names = GpuUsageRow.__dataclass_fields__
    return sorted(
        (GpuUsageRow(**{n: getattr(r, n) for n in names}) for r in found), key=lambda r: (r.gpu_index, r.hour)
    )


def comparable(rows: list[GpuUsageRow]) -> list[tuple[object, ...]]:
    skip = {"node", "updated_at"}
    return [tuple(v for k, v in r.as_dict().items() if k not in skip) for r in rows]


def run(parts: AgentParts, clock: FakeClock, seconds: int, *, every: int = 10, flush_every: int = 60) -> None:
    for _ in range(seconds // every):
        clock.advance(every)
        parts.agent.sample()
        if int(clock.now) % flush_every == 0:
            parts.agent.flush()


# -- the spool itself ----------------------------------------------------------------------------------------


def test_windows_are_written_atomically_in_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", max_bytes=10**6, counters=AgentCounters())
    a = spool.write([row()], created=T0 + 60)
    b = spool.write([row(samples=1)], created=T0 + 60)  # same second: the sequence keeps them apart
    c = spool.write([row(samples=2)], created=T0 + 120)
    assert spool.pending() == [a, b, c]
    assert [spool.read(p)[0].samples for p in spool.pending()] == [360, 1, 2]
    assert not list((tmp_path / "spool").glob("*.tmp"))
    assert spool.stats().files == 3


@pytest.mark.parametrize(("umask", "file_mode", "dir_mode"), [(0o077, 0o600, 0o700), (0o007, 0o660, 0o770)])
def test_the_umask_decides_who_else_may_read_the_spool(tmp_path: Path, umask: int, file_mode: int,
                                                       dir_mode: int) -> None:
    """Private under UMask=0077; group-readable and removable under quotad-agent.service's UMask=0007, so the
    daemon (group quotad) can replay a shared spool."""
    previous = os.umask(umask)
    try:
        path = Spool(tmp_path / "spool", max_bytes=10**6, counters=AgentCounters()).write([row()], created=T0)
    finally:
        os.umask(previous)
    assert (path.stat().st_mode & 0o777) == file_mode and (path.parent.stat().st_mode & 0o777) == dir_mode


def test_over_the_size_limit_the_oldest_windows_are_dropped_loudly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    counters = AgentCounters()
    probe = Spool(tmp_path / "probe", max_bytes=10**6, counters=counters)
    size = probe.write([row()], created=T0).stat().st_size
    spool = Spool(tmp_path / "spool", max_bytes=2 * size + size // 2, counters=counters)
    with caplog.at_level(logging.ERROR, logger="quotad.agent.spool"):
        for k in range(5):
            spool.write([row(samples=k)], created=T0 + 60 * k)
    assert [spool.read(p)[0].samples for p in spool.pending()] == [3, 4]
    assert counters.get("spool_dropped_windows") == 3
    dropped = [r for r in caplog.records if "SPOOL FULL" in r.getMessage()]
    assert len(dropped) == 3 and "DROPPED the oldest window" in dropped[0].getMessage()


def test_an_unreadable_window_is_set_aside(tmp_path: Path) -> None:
    counters = AgentCounters()
    spool = Spool(tmp_path, max_bytes=10**6, counters=counters)
    path = spool.write([row()], created=T0)
    path.write_text('{"version": 99, "rows": []}')
    assert spool.read(path) == [] and spool.pending() == []
    assert (tmp_path / path.with_suffix(".bad").name).exists() and counters.get("spool_bad_windows") == 1


# -- outage and replay through the agent ---------------------------------------------------------------------


@pytest.mark.parametrize("how", ["wrong_url", "unreachable_schema"])
def test_outage_then_recovery_gives_exact_totals(engine: Engine, tmp_path: Path, how: str) -> None:
    control_clock, clock = FakeClock(T0 + 3000), FakeClock(T0 + 3000)
    control, _ = make_agent(
        SCENARIO,
        engine=engine,
        tmp_path=tmp_path / "a",
        clock=control_clock,
        runner=runner_for("control"),
        node="control",
    )
    parts, _ = make_agent(SCENARIO, engine=engine, tmp_path=tmp_path / "b", clock=clock, runner=RUNNER)
    for p in (control, parts):
        p.agent.start()
    run(control, control_clock, 1800)
    control.agent.flush()

    good = parts.agent.sink.engine
    run(parts, clock, 300)
    parts.agent.sink.engine = unreachable(engine, how)  # down across the hour boundary
    run(parts, clock, 900)
    spool = parts.agent.sink.spool
    assert spool.stats().files >= 14 and parts.counters.get("flush_failures") >= 14
    kept = tmp_path / "kept.json"
    shutil.copy(spool.pending()[-1], kept)
    parts.agent.sink.engine = good
    run(parts, clock, 600)
    parts.agent.flush()
    assert spool.pending() == []
    assert parts.counters.get("spool_windows_replayed") >= 14

    final = ledger_rows(engine, "gpu001")
    assert comparable(final) == comparable(ledger_rows(engine, "control"))
    # the first reading (10 s after start) opens the first interval
    assert [(r.hour, r.observed_seconds) for r in final] == [(T0, 590), (T0 + 3600, 1200)]
    first, second = final
    assert first.idle_seconds == 10 and second.idle_seconds == 1200  # busy until 600 s in, exactly
    assert second.idle_since == T0 + 3590
    assert first.energy_mj == 590 * 600_000 and second.energy_mj == 1200 * 80_000

    parts.agent.flush()  # a repeated flush
    os.replace(kept, spool.directory / "000000000001-00000000.json")  # an old window replayed again, late
    parts.agent.flush()
    assert comparable(ledger_rows(engine, "gpu001")) == comparable(final)


def test_restart_resumes_the_hours_totals_from_the_ledger_and_the_spool(engine: Engine, tmp_path: Path) -> None:
    clock = FakeClock(T0)
    parts, _ = make_agent(SCENARIO, engine=engine, tmp_path=tmp_path, clock=clock, runner=RUNNER)
    parts.agent.start()
    run(parts, clock, 600)
    parts.agent.flush()
    # crash (no stop) and start again on the same node, ledger up
    clock.advance(10)
    again, _ = make_agent(SCENARIO, engine=engine, tmp_path=tmp_path, clock=clock, runner=RUNNER)
    again.agent.start()
    run(again, clock, 590)
    again.agent.flush()
    (resumed,) = [r for r in ledger_rows(engine, "gpu001") if r.gpu_index == 0]
    assert resumed.observed_seconds == 590 + 580  # the restart's first reading has no interval before it
    # and again with the ledger down at the restart: the newest spool window carries the totals
    again.agent.sink.engine = unreachable(engine, "wrong_url")
    run(again, clock, 120)
    clock.advance(10)
    third, _ = make_agent(
        SCENARIO, engine=unreachable(engine, "wrong_url"), tmp_path=tmp_path, clock=clock, runner=RUNNER
    )
    third.agent.start()
    third.agent.sink.engine = engine
    run(third, clock, 60)
    third.agent.flush()
    (row0,) = [r for r in ledger_rows(engine, "gpu001") if r.gpu_index == 0 and r.hour == T0]
    assert row0.observed_seconds == 590 + 580 + 120 + 50


def test_upsert_of_spooled_rows_uses_the_same_write_path(engine: Engine, tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10**6, counters=AgentCounters())
    path = spool.write([row(), row(gpu_index=1)], created=T0)
    with engine.begin() as conn:
        upsert_gpu_usage(conn, spool.read(path))
    assert len(ledger_rows(engine, "gpu001")) == 2
