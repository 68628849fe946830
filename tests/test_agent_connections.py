"""The agent's ledger connections: none held between flushes, jitter and backoff bounded and deterministic.

``test_agent_scale.py`` runs 300 agents against the real PostgreSQL; these are the small, exact checks.
"""

from __future__ import annotations

import random
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.pool import NullPool

from quotad.agent_config import AgentConfig
from quotad.cli.agent import agent_config
from quotad.collectors.nvml.counters import AgentCounters
from quotad.collectors.nvml.pacing import FlushPacing
from quotad.collectors.nvml.service import open_agent
from quotad.collectors.nvml.sink import LedgerSink
from quotad.collectors.nvml.spool import Spool
from quotad.errors import ConfigError
from quotad.ledger.db import create_ledger_engine, upgrade
from tests.conftest import make_settings
from tests.test_nvml_ledger import row
from tests.test_nvml_support import FIXTURES


class Sleeps(list[float]):
    """Records the waits asked for instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def transient() -> OperationalError:
    return OperationalError("connect", {}, Exception('FATAL:  sorry, too many clients already'))


def test_the_jitter_is_bounded_and_replays_under_a_seeded_rng() -> None:
    sleeps = Sleeps()
    pacing = FlushPacing(jitter_s=20.0, retries=3, rng=random.Random(7), sleep=sleeps)
    delays = [pacing.spread() for _ in range(2000)]
    assert all(0.0 <= d <= 20.0 for d in delays) and sleeps == [d for d in delays if d > 0]
    assert max(delays) > 19.0 and min(delays) < 1.0  # the whole window is used, not one corner of it
    again = FlushPacing(jitter_s=20.0, retries=3, rng=random.Random(7), sleep=Sleeps())
    assert [again.spread() for _ in range(2000)] == delays
    assert FlushPacing(jitter_s=0.0, retries=0, sleep=sleeps).spread() == 0.0


def test_backoff_is_full_jitter_under_a_doubling_ceiling() -> None:
    pacing = FlushPacing(jitter_s=5.0, retries=3, rng=random.Random(1), sleep=Sleeps())
    for attempt, ceiling in enumerate([1.0, 2.0, 4.0, 5.0, 5.0]):  # capped by the jitter window
        draws = [pacing.backoff(attempt) for _ in range(500)]
        assert all(0.0 <= d <= ceiling for d in draws) and max(draws) > ceiling * 0.9


def test_a_transient_error_is_retried_a_permanent_one_is_not() -> None:
    sleeps, counters = Sleeps(), AgentCounters()
    pacing = FlushPacing(jitter_s=5.0, retries=3, rng=random.Random(3), sleep=sleeps, counters=counters)
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise transient()
        return "written"

    assert pacing.attempt(flaky, what="flush") == "written"
    assert len(calls) == 3 and len(sleeps) == 2 and counters.get("ledger_retries") == 2

    def always() -> None:
        calls.append(1)
        raise transient()

    calls.clear()
    with pytest.raises(OperationalError):
        pacing.attempt(always, what="flush")
    assert len(calls) == 4  # one attempt and three retries

    def missing_table() -> None:
        calls.append(1)
        raise ProgrammingError("insert", {}, Exception("relation gpu_usage_hourly does not exist"))

    calls.clear()
    sleeps.clear()
    with pytest.raises(ProgrammingError):
        pacing.attempt(missing_table, what="flush")
    assert len(calls) == 1 and sleeps == []


def test_a_stopping_agent_skips_the_spread_but_still_backs_off() -> None:
    sleeps = Sleeps()
    pacing = FlushPacing(jitter_s=20.0, retries=2, rng=random.Random(5), sleep=sleeps)
    pacing.hurry()
    assert pacing.spread() == 0.0 and sleeps == []
    assert 0 < pacing.backoff(1) <= 2.0 and len(sleeps) == 1


def test_a_refused_ledger_is_retried_with_backoff_then_spooled(tmp_path: Path) -> None:
    sleeps, counters = Sleeps(), AgentCounters()
    sink = LedgerSink(
        create_engine("sqlite:////nonexistent-quotad-dir/ledger.sqlite", poolclass=NullPool),
        Spool(tmp_path / "spool", max_bytes=10**6, counters=counters),
        counters=counters,
        pacing=FlushPacing(jitter_s=10.0, retries=2, rng=random.Random(9), sleep=sleeps, counters=counters),
    )
    delivery = sink.deliver([row()], now=1_700_000_000)
    assert delivery.spooled and sink.spool.stats().files == 1
    assert len(sleeps) == 2 and sleeps[0] <= 1.0 and sleeps[1] <= 2.0
    assert counters.get("ledger_retries") == 2 and counters.get("flush_failures") == 1


def test_jitter_setting_defaults_to_a_third_of_the_flush_interval_and_is_bounded(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    assert agent_config(settings, {}).flush_jitter == 20.0
    assert agent_config(settings, {"flush_interval_s": 30}).flush_jitter == 10.0
    assert agent_config(settings, {"flush_jitter_s": 0}).flush_jitter == 0.0
    with pytest.raises(ConfigError) as refused:
        agent_config(settings, {"flush_jitter_s": 31})
    assert "flush_jitter_s = 31" in str(refused.value) and "half of flush_interval_s = 60" in str(refused.value)


def _watch(engine: Engine) -> dict[str, Any]:
    seen: dict[str, Any] = {"open": 0, "opened": 0, "names": []}

    @event.listens_for(engine, "connect")
    def opened(dbapi_conn: Any, _record: Any) -> None:
        seen["open"] += 1
        seen["opened"] += 1
        info = getattr(dbapi_conn, "info", None)
        if info is not None and hasattr(info, "parameter_status"):
            seen["names"].append(info.parameter_status("application_name"))

    @event.listens_for(engine, "close")
    def closed(_dbapi_conn: Any, _record: Any) -> None:
        seen["open"] -= 1

    return seen


def test_the_agent_holds_no_connection_after_a_flush(db_url: str, tmp_path: Path) -> None:
    """Built as ``quotad agent`` builds it: after start and after each flush nothing is left open, on the
    client (pool events) or, on PostgreSQL, on the server (``pg_stat_activity`` by application_name)."""
    settings = make_settings(db_url)
    upgrade(create_ledger_engine(settings))
    node = f"nopool-{tmp_path.name[-12:]}"
    (tmp_path / "proc" / "4242").mkdir(parents=True)  # the fixture's process, in Slurm job 880001
    (tmp_path / "proc" / "4242" / "cgroup").write_text("0::/system.slice/slurmstepd.scope/job_880001/step_0\n")
    config = agent_config(
        settings,
        {"cluster": "c1", "node": node, "spool_dir": tmp_path / "spool", "proc_root": tmp_path / "proc",
         "job_discovery": (), "interval_s": 1, "flush_jitter_s": 0},
    )
    parts = open_agent(settings, config, fake=FIXTURES / "busy_then_idle.json", slurm=False)
    engine = parts.agent.sink.engine
    assert engine is not None and isinstance(engine.pool, NullPool)
    seen = _watch(engine)

    def server_side() -> int:
        if not db_url.startswith("postgresql"):
            return 0
        probe = create_engine(db_url, poolclass=NullPool)
        with probe.connect() as conn:
            count = conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"),
                {"name": f"quotad-agent/{node}"},
            ).scalar_one()
        probe.dispose()
        return int(count)

    parts.agent.start()  # one connection for the start-up reads (table check, resume, companies)
    assert seen["opened"] == 1 and seen["open"] == 0 and server_side() == 0
    for n in range(2):
        parts.agent.sample()
        delivery = parts.agent.flush()  # one connection per flush
        assert not delivery.spooled and delivery.written == 1
        assert seen["opened"] == 2 + n and seen["open"] == 0 and server_side() == 0
    if db_url.startswith("postgresql"):
        assert set(seen["names"]) == {f"quotad-agent/{node}"}
    assert parts.agent.sink.deliver([], now=0).written == 0 and seen["opened"] == 3  # nothing to send: no connection
    parts.agent.stop()
    assert seen["open"] == 0 and server_side() == 0


def test_the_documented_jitter_settings_are_valid_agent_configuration() -> None:
    readme = (Path(__file__).resolve().parents[1] / "deploy" / "README.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"^```toml\n(\[agent\]\nflush_jitter_s.*?)^```", readme, re.M | re.S)
    config = AgentConfig.model_validate(tomllib.loads(block)["agent"])
    assert config.flush_jitter == 20.0 == AgentConfig().flush_jitter and config.flush_retries == AgentConfig().flush_retries
