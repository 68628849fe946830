"""An agent restarted while the ledger is unreachable (and its spool empty) adds the hour's earlier totals later.

Each test runs the same restart twice on the same clock: on node ``gpu001`` with the ledger down at the
restart, and on node ``control`` with the ledger up (an ordinary resume). The rows must come out equal, field
by field: nothing the previous process wrote is lost, nothing is counted twice.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import Engine

from quotad.collectors.nvml.aggregate import stack
from quotad.collectors.nvml.counters import AgentCounters
from quotad.collectors.nvml.service import AgentParts
from quotad.collectors.nvml.sink import LedgerSink
from quotad.collectors.nvml.spool import Spool
from tests.test_nvml_ledger import row
from tests.test_nvml_spool import RUNNER, SCENARIO, comparable, ledger_rows, run, runner_for, unreachable
from tests.test_nvml_support import T0, FakeClock, make_agent


class Pair:
    """The node under test and its control, started, sampled and flushed together at the same times."""

    def __init__(self, engine: Engine, tmp_path: Path, start: int) -> None:
        self.engine, self.tmp_path = engine, tmp_path
        self.clock, self.control_clock = FakeClock(start), FakeClock(start)
        self.parts, self.control = self._start(ledger_down=False)

    def _start(self, *, ledger_down: bool) -> tuple[AgentParts, AgentParts]:
        engine = unreachable(self.engine, "wrong_url") if ledger_down else self.engine
        parts, _ = make_agent(SCENARIO, engine=engine, tmp_path=self.tmp_path / "a", clock=self.clock, runner=RUNNER)
        control, _ = make_agent(SCENARIO, engine=self.engine, tmp_path=self.tmp_path / "b", clock=self.control_clock,
                                runner=runner_for("control"), node="control")  # fmt: skip
        parts.agent.start()
        control.agent.start()
        return parts, control

    def restart(self, *, ledger_down: bool, gap: int = 10) -> None:
        """A crash (no final flush) and a new process ``gap`` seconds later; ``gpu001``'s ledger down or not."""
        self.clock.advance(gap)
        self.control_clock.advance(gap)
        self.parts, self.control = self._start(ledger_down=ledger_down)

    def run(self, seconds: int) -> None:
        run(self.parts, self.clock, seconds)
        run(self.control, self.control_clock, seconds)

    def flush(self) -> None:
        self.parts.agent.flush()
        self.control.agent.flush()

    def ledger_back(self) -> None:
        self.parts.agent.sink.engine = self.engine

    def ledger_down(self) -> None:
        self.parts.agent.sink.engine = unreachable(self.engine, "wrong_url")

    def assert_equal(self) -> None:
        assert comparable(ledger_rows(self.engine, "gpu001")) == comparable(ledger_rows(self.engine, "control"))


def test_the_first_flush_that_reaches_the_ledger_adds_the_previous_totals(engine: Engine, tmp_path: Path) -> None:
    pair = Pair(engine, tmp_path, T0)
    pair.run(600)
    pair.flush()
    (before,) = [r for r in ledger_rows(engine, "gpu001") if r.gpu_index == 0]
    assert before.observed_seconds == 590

    pair.restart(ledger_down=True)
    assert pair.parts.agent.pending_base is not None and pair.parts.agent.aggregator.rows(updated_at=0) == []
    pair.ledger_back()
    pair.run(300)  # flushes at 660, 720, ...: the first one adds the base
    assert pair.parts.agent.pending_base is None
    pair.flush()
    (after,) = [r for r in ledger_rows(engine, "gpu001") if r.gpu_index == 0]
    assert after.observed_seconds == 590 + 290  # the restart's first reading has no interval before it
    assert after.samples == before.samples + 30 and after.first_sample == before.first_sample
    assert after.energy_mj == before.energy_mj + 290 * 600_000  # the fake's scenario starts again: busy, 600 W
    pair.assert_equal()

    once = ledger_rows(engine, "gpu001")
    pair.flush()  # a repeated flush: nothing added again
    pair.flush()
    assert comparable(ledger_rows(engine, "gpu001")) == comparable(once)
    pair.run(120)  # and counting goes on from the sum
    pair.assert_equal()


def test_windows_spooled_before_the_ledger_returns_do_not_replace_the_sum(engine: Engine, tmp_path: Path) -> None:
    pair = Pair(engine, tmp_path, T0 + 2400)
    pair.run(600)
    pair.flush()
    pair.restart(ledger_down=True)
    pair.run(900)  # several flushes spooled, across the hour boundary: the hour's buckets are kept meanwhile
    spool = pair.parts.agent.sink.spool
    assert spool.stats().files >= 14
    assert ledger_rows(engine, "gpu001")[0].observed_seconds == 590  # nothing of this run reached the ledger
    pair.ledger_back()
    pair.run(60)  # one flush: base read, spool replayed, sum written (the ended hour's windows end as it does)
    assert spool.pending() == [] and pair.parts.agent.pending_base is None
    first, second = ledger_rows(engine, "gpu001")
    assert (first.hour, first.observed_seconds) == (T0, 590 + 580)  # 3010..3600: 580 s after the first reading
    assert (second.hour, second.observed_seconds) == (T0 + 3600, 360)  # up to the flush at 3960
    pair.assert_equal()
    pair.run(240)
    pair.flush()
    pair.assert_equal()


@pytest.mark.parametrize("start", [T0, T0 + 2400])
def test_a_restart_from_a_window_spooled_without_the_base_still_adds_it(
    engine: Engine, tmp_path: Path, start: int
) -> None:
    """Restarted twice with the ledger down: the second run resumes from the first one's newest window, which
    is marked, so it still adds the base; from ``T0 + 2400`` the first run's outage crosses the hour boundary
    and the base is that of the hour before the second run's."""
    pair = Pair(engine, tmp_path, start)
    pair.run(600)
    pair.flush()
    pair.restart(ledger_down=True)
    pair.run(900)  # spooled without the base, and marked so
    pair.restart(ledger_down=True)  # resumes from the newest window: the base is still pending
    assert pair.parts.agent.pending_base is not None and pair.parts.agent.aggregator.rows(updated_at=0) != []
    pair.ledger_back()
    pair.run(300)
    pair.assert_equal()
    (row0, *_) = [r for r in ledger_rows(engine, "gpu001") if r.gpu_index == 0]
    # each run counted up to its last flush; the restarts' first readings have no interval before them
    assert row0.observed_seconds == (590 + 880 + 270 if start == T0 else 590 + 580)


def test_this_runs_own_window_replayed_elsewhere_is_no_base(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The daemon's spool_replay wrote one of this run's windows first: it is not added as a base (no double
    count); the previous totals it replaced are reported lost."""
    pair = Pair(engine, tmp_path, T0)
    pair.run(600)
    pair.flush()
    pair.restart(ledger_down=True)
    pair.run(120)
    counters = AgentCounters()
    assert LedgerSink(engine, Spool(pair.parts.agent.sink.spool.directory, max_bytes=1 << 40, counters=counters),
                      counters=counters).replay() == 2  # fmt: skip
    pair.ledger_back()
    with caplog.at_level(logging.ERROR, logger="quotad.agent.sink"):
        pair.run(60)
    (row0,) = [r for r in ledger_rows(engine, "gpu001") if r.gpu_index == 0]
    assert row0.observed_seconds == 160  # this run's only, up to its flush at 780
    assert any("earlier totals are lost" in r.getMessage() for r in caplog.records)


def test_stack_adds_sums_keeps_maxima_and_spans_the_samples() -> None:
    base = row(samples=10, observed_seconds=100, idle_seconds=40, util_max=90, mem_used_max=5, energy_mj=7,
               xid_events=1, last_xid=13, first_sample=T0, last_sample=T0 + 100, idle_since=T0 + 60,
               throttle_mask=1, allocated=False)  # fmt: skip
    later = row(samples=3, observed_seconds=20, idle_seconds=20, util_max=10, mem_used_max=9, energy_mj=2,
                xid_events=0, last_xid=None, first_sample=T0 + 110, last_sample=T0 + 130, idle_since=T0 + 110,
                throttle_mask=4, allocated=True)  # fmt: skip
    s = stack(base, later)
    assert (s.samples, s.observed_seconds, s.idle_seconds, s.energy_mj, s.xid_events) == (13, 120, 60, 9, 1)
    assert (s.util_max, s.mem_used_max, s.throttle_mask, s.allocated, s.last_xid) == (90, 9, 5, True, 13)
    assert (s.first_sample, s.last_sample, s.idle_since) == (T0, T0 + 130, T0 + 60)  # one idle streak
    assert stack(base, later.__class__(**{**later.as_dict(), "idle_since": T0 + 120})).idle_since == T0 + 120
    with pytest.raises(ValueError, match="different keys"):
        stack(base, row(gpu_index=7))
