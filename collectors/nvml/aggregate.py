"""Running totals per (job, GPU, UTC hour) and a trailing window per GPU; memory is O(GPUs), never O(samples).

How a sample counts: a reading at integer epoch ``t`` stands for the interval since the GPU's previous
reading, ``(prev, t]``, classified by the reading (idle when utilisation <= ``idle_util_pct``). Seconds are
integers and telescope, so an hour's ``observed_seconds`` is exactly the time it was watched; an interval
that crosses an hour boundary is split between the two buckets. A gap longer than ``max_gap_s`` (agent
stopped, NVML hung) is not counted at all rather than guessed. Energy comes from NVML's total-energy counter
(delta between readings) and, where that is unsupported or reset, from power × seconds.

Why a trailing window next to the hourly totals: a job busy for five hours and idle for the last forty
minutes looks healthy in its whole-job mean; the per-minute ring of the last ``recent_window_s`` seconds (and
``idle_since``, the start of the current idle streak) make "busy, then idle" visible. Both restart when the
GPU's holder changes, so they always describe the current job.

Buckets of an hour that has ended are kept until ``forget_closed`` (called once the caller has written or
spooled them), so the working set is the current hour's (job, GPU) pairs plus, briefly, the previous hour's.
The one exception is the hour an agent started in without knowing that hour's earlier totals (``rebase``):
its buckets stay until those totals have been added, so the sum can still be written.

Why ``stack`` and ``rebase``: an agent that starts while the ledger is unreachable (and has no spool to
resume from) counts the hour from zero. The totals the previous process wrote are still in the ledger, and
are read at the first flush that reaches it; ``stack`` puts this process's totals on top of them field by
field (sums add, maxima take the larger, first/last sample take the earlier/later, state at the last sample
is this process's), so the row written is what one uninterrupted process would have counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields, replace

from quotad.collectors.nvml.attribution import Holder, Ownership
from quotad.collectors.nvml.device import GpuReading
from quotad.ledger.telemetry import GpuUsageRow

__all__ = ["HOUR", "Aggregator", "TrackView", "TrailingWindow", "split", "stack"]

HOUR = 3600
MINUTE = 60


def split(start: int, end: int, size: int) -> list[tuple[int, int]]:
    """(bucket start, seconds) for the interval (start, end] cut at multiples of ``size``."""
    out = []
    while start < end:
        bucket = start // size * size
        stop = min(end, bucket + size)
        out.append((bucket, stop - start))
        start = stop
    return out


class TrailingWindow:
    """Observed/idle seconds and utilisation-seconds over the last ``minutes`` minutes, in per-minute slots."""

    def __init__(self, minutes: int) -> None:
        self.minutes = minutes
        self._minute = [-1] * minutes
        self._observed = [0] * minutes
        self._idle = [0] * minutes
        self._util = [0] * minutes

    def reset(self) -> None:
        for i in range(self.minutes):
            self._minute[i] = -1

    def add(self, minute: int, seconds: int, idle: bool, util: int) -> None:
        slot = (minute // MINUTE) % self.minutes
        if self._minute[slot] != minute:
            self._minute[slot] = minute
            self._observed[slot] = self._idle[slot] = self._util[slot] = 0
        self._observed[slot] += seconds
        if idle:
            self._idle[slot] += seconds
        self._util[slot] += util * seconds

    def totals(self, now: int) -> tuple[int, int, int]:
        """(observed, idle, utilisation-percent-seconds) in the window ending at ``now``."""
        oldest = ((now - 1) // MINUTE - self.minutes + 1) * MINUTE
        observed = idle = util = 0
        for i in range(self.minutes):
            if self._minute[i] >= oldest:
                observed += self._observed[i]
                idle += self._idle[i]
                util += self._util[i]
        return observed, idle, util


@dataclass(frozen=True, slots=True)
class TrackView:
    """A GPU's current idle streak and trailing window, for the exporter."""

    job_id: int | None
    idle_since: int | None
    recent_seconds: int
    recent_idle_seconds: int
    recent_util_pct_seconds: int


@dataclass(slots=True)
class _Track:
    window: TrailingWindow
    prev_t: int | None = None
    prev_energy: int | None = None
    prev_ecc: int | None = None
    idle_since: int | None = None
    job_id: int | None = None
    last_t: int = 0


@dataclass(slots=True)
class _Bucket:
    job_id: int
    gpu_index: int
    hour: int
    gpu_uuid: str
    account: str = ""
    user_name: str = ""
    samples: int = 0
    observed_seconds: int = 0
    idle_seconds: int = 0
    idle_mem_held_seconds: int = 0
    util_pct_seconds: int = 0
    util_max: int = 0
    mem_used_max: int = 0
    mem_total: int = 0
    energy_mj: int = 0
    allocated: bool = False
    job_process_seen: bool = False
    foreign_processes: int = 0
    foreign_job_id: int | None = None
    idle_since: int | None = None
    recent_seconds: int = 0
    recent_idle_seconds: int = 0
    recent_util_pct_seconds: int = 0
    throttle_mask: int = 0
    xid_events: int = 0
    last_xid: int | None = None
    ecc_uncorrected: int = 0
    first_sample: int = 0
    last_sample: int = 0


_ROW_FIELDS = tuple(f.name for f in fields(GpuUsageRow) if f.name not in ("cluster", "node", "updated_at"))


def stack(base: GpuUsageRow, later: GpuUsageRow) -> GpuUsageRow:
    """``later``'s totals counted on top of ``base``'s (same key): the earlier process's row, then this one's.

    Every column of ``gpu_usage_hourly`` is either a sum over the hour (added), a maximum or bit set over the
    hour (the larger, or the union), the hour's first/last sample (min/max), or the GPU's state at the last
    sample: the idle streak, the trailing window, the last xid, the foreign job, the holder's account and the
    memory size are ``later``'s, taken from ``base`` only where ``later`` has none. An idle streak that
    ``later`` began at its first sample, when ``base`` ended idle, is the same streak across the restart
    (as ``Aggregator.seed`` continues it on a normal resume): it keeps ``base``'s start.
    """
    if base.key != later.key:
        raise ValueError(f"stack: rows of different keys {base.key} and {later.key}")
    idle_since = later.idle_since
    if idle_since is not None and base.idle_since is not None and idle_since <= later.first_sample:
        idle_since = base.idle_since
    return replace(
        later,
        gpu_uuid=later.gpu_uuid or base.gpu_uuid,
        account=later.account or base.account,
        user_name=later.user_name or base.user_name,
        samples=base.samples + later.samples,
        observed_seconds=base.observed_seconds + later.observed_seconds,
        idle_seconds=base.idle_seconds + later.idle_seconds,
        idle_mem_held_seconds=base.idle_mem_held_seconds + later.idle_mem_held_seconds,
        util_pct_seconds=base.util_pct_seconds + later.util_pct_seconds,
        util_max=max(base.util_max, later.util_max),
        mem_used_max=max(base.mem_used_max, later.mem_used_max),
        mem_total=later.mem_total or base.mem_total,
        energy_mj=base.energy_mj + later.energy_mj,
        allocated=base.allocated or later.allocated,
        job_process_seen=base.job_process_seen or later.job_process_seen,
        foreign_processes=max(base.foreign_processes, later.foreign_processes),
        foreign_job_id=later.foreign_job_id if later.foreign_job_id is not None else base.foreign_job_id,
        idle_since=idle_since,
        throttle_mask=base.throttle_mask | later.throttle_mask,
        xid_events=base.xid_events + later.xid_events,
        last_xid=later.last_xid if later.last_xid is not None else base.last_xid,
        ecc_uncorrected=base.ecc_uncorrected + later.ecc_uncorrected,
        first_sample=min(base.first_sample, later.first_sample),
        last_sample=max(base.last_sample, later.last_sample),
        updated_at=max(base.updated_at, later.updated_at),
    )


class Aggregator:
    """Folds readings and ownership into hour buckets; ``rows`` gives their absolute values."""

    def __init__(
        self,
        *,
        cluster: str,
        node: str,
        idle_util_pct: int = 0,
        memory_held_bytes: int = 1024 * 1024 * 1024,
        max_gap_s: int = 120,
        recent_window_s: int = 1800,
    ) -> None:
        self.cluster = cluster
        self.node = node
        self.idle_util_pct = idle_util_pct
        self.memory_held_bytes = memory_held_bytes
        self.max_gap_s = max_gap_s
        self.recent_minutes = recent_window_s // MINUTE
        self._tracks: dict[int, _Track] = {}
        self._buckets: dict[tuple[int, int, int], _Bucket] = {}
        self._hour = 0

    @property
    def bucket_count(self) -> int:
        return len(self._buckets)

    def _track(self, index: int) -> _Track:
        track = self._tracks.get(index)
        if track is None:
            track = self._tracks[index] = _Track(window=TrailingWindow(self.recent_minutes))
        return track

    def _bucket(self, holder: Holder, index: int, hour: int, uuid: str, t: int) -> _Bucket:
        key = (holder.job_id, index, hour)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(holder.job_id, index, hour, uuid, first_sample=t, last_sample=t)
        if holder.account:
            bucket.account = holder.account
        if holder.user:
            bucket.user_name = holder.user
        return bucket

    def add(self, reading: GpuReading, ownership: Ownership) -> None:
        """Account one reading of one GPU to each job holding it."""
        t = int(reading.at)
        track = self._track(reading.index)
        track.last_t = t
        if reading.lost:
            track.prev_t = track.prev_energy = track.prev_ecc = None
            return
        prev = track.prev_t
        dt = t - prev if prev is not None and 0 < t - prev <= self.max_gap_s else 0
        track.prev_t = t
        self._hour = max(self._hour, (t - 1 if dt else t) // HOUR * HOUR)

        primary = ownership.primary
        job = primary.job_id if primary is not None else None
        if job != track.job_id:
            track.job_id = job
            track.idle_since = None
            track.window.reset()
        util = reading.util_gpu
        idle = util is not None and util <= self.idle_util_pct
        held = reading.mem_used is not None and reading.mem_used >= self.memory_held_bytes
        if util is not None:
            track.idle_since = (track.idle_since if track.idle_since is not None else t - dt) if idle else None
            for minute, seconds in split(t - dt, t, MINUTE):
                track.window.add(minute, seconds, idle, util)
        energy = self._energy(track, reading, dt)
        ecc = self._ecc(track, reading)
        if not ownership.holders:
            return
        segments = split(t - dt, t, HOUR)
        sample_hour = segments[-1][0] if segments else t // HOUR * HOUR
        recent = track.window.totals(t)
        for holder in ownership.holders:
            spent = 0
            for n, (hour, seconds) in enumerate(segments):
                bucket = self._bucket(holder, reading.index, hour, reading.uuid, t - dt)
                part = energy - spent if n == len(segments) - 1 else energy * seconds // dt
                spent += part
                bucket.energy_mj += part
                bucket.last_sample = max(bucket.last_sample, min(t, hour + HOUR))
                if util is not None:
                    bucket.observed_seconds += seconds
                    bucket.util_pct_seconds += util * seconds
                    if idle:
                        bucket.idle_seconds += seconds
                        if held:
                            bucket.idle_mem_held_seconds += seconds
            b = self._bucket(holder, reading.index, sample_hour, reading.uuid, t)
            b.samples += 1
            b.last_sample = max(b.last_sample, t)
            if util is not None:
                b.util_max = max(b.util_max, util)
            if reading.mem_used is not None:
                b.mem_used_max = max(b.mem_used_max, reading.mem_used)
            if reading.mem_total is not None:
                b.mem_total = reading.mem_total
            b.allocated |= holder.allocated
            b.job_process_seen |= holder.process_seen
            b.foreign_processes = max(b.foreign_processes, holder.foreign_processes)
            if holder.foreign_job_id is not None:
                b.foreign_job_id = holder.foreign_job_id
            b.idle_since = track.idle_since if holder.job_id == track.job_id else None
            if holder.job_id == track.job_id:
                b.recent_seconds, b.recent_idle_seconds, b.recent_util_pct_seconds = recent
            if reading.clock_reasons is not None:
                b.throttle_mask |= reading.clock_reasons
            if reading.xids:
                b.xid_events += len(reading.xids)
                b.last_xid = reading.xids[-1]
            b.ecc_uncorrected += ecc

    def _energy(self, track: _Track, reading: GpuReading, dt: int) -> int:
        counter = reading.energy_mj
        previous, track.prev_energy = track.prev_energy, counter
        if dt == 0:
            return 0
        if counter is not None and previous is not None and counter >= previous:
            return counter - previous
        if reading.power_mw is not None:
            return reading.power_mw * dt
        return 0

    def _ecc(self, track: _Track, reading: GpuReading) -> int:
        counter = reading.ecc_uncorrected
        previous, track.prev_ecc = track.prev_ecc, counter
        if counter is None or previous is None or counter < previous:
            return 0
        return counter - previous

    def track_view(self, index: int) -> TrackView:
        track = self._tracks.get(index)
        if track is None:
            return TrackView(None, None, 0, 0, 0)
        observed, idle, util = track.window.totals(track.last_t)
        return TrackView(track.job_id, track.idle_since, observed, idle, util)

    def _row(self, b: _Bucket, updated_at: int) -> GpuUsageRow:
        return GpuUsageRow(
            cluster=self.cluster,
            node=self.node,
            updated_at=updated_at,
            **{name: getattr(b, name) for name in _ROW_FIELDS},
        )

    def rows(self, *, updated_at: int) -> list[GpuUsageRow]:
        """Absolute values of every bucket held (current hour, and ended hours not yet forgotten)."""
        return [self._row(b, updated_at) for _, b in sorted(self._buckets.items())]

    def forget_closed(self, *, delivered: Iterable[GpuUsageRow], keep_hour: int | None = None) -> int:
        """Drop buckets of ended hours whose values were written or spooled (``delivered``) unchanged; never those
        of ``keep_hour`` (the hour whose earlier totals are still to be added by ``rebase``)."""
        sent = {(r.job_id, r.gpu_index, r.hour): (r.last_sample, r.observed_seconds, r.samples) for r in delivered}
        closed = [
            key
            for key, b in self._buckets.items()
            if b.hour < self._hour
            and b.hour != keep_hour
            and sent.get(key) == (b.last_sample, b.observed_seconds, b.samples)
        ]
        for key in closed:
            del self._buckets[key]
        return len(closed)

    def seed(self, rows: Iterable[GpuUsageRow]) -> int:
        """Resume from rows written before a restart: their totals go on from where they were."""
        count = 0
        latest: dict[int, GpuUsageRow] = {}
        for row in rows:
            if row.cluster != self.cluster or row.node != self.node:
                continue
            key = (row.job_id, row.gpu_index, row.hour)
            if key in self._buckets:
                continue
            self._buckets[key] = _Bucket(**{name: getattr(row, name) for name in _ROW_FIELDS})
            self._hour = max(self._hour, row.hour)
            if row.gpu_index not in latest or latest[row.gpu_index].last_sample < row.last_sample:
                latest[row.gpu_index] = row
            count += 1
        for index, row in latest.items():
            track = self._track(index)
            track.job_id, track.idle_since = row.job_id, row.idle_since
        return count

    def rebase(self, base: Iterable[GpuUsageRow]) -> int:
        """Add an earlier process's rows (read late, see ``stack``) under the totals held: a bucket of the same key
        becomes ``stack(row, bucket)``, a key not held is taken as it is (later readings go on from it, as after
        ``seed``). A GPU's current idle streak continues the row's when ``stack`` says it does. Returns rows used.

        Safe to call after readings were added since the rows to write were taken: every combination is a sum,
        max, min or union, so the order in which the base and the new readings arrive does not matter."""
        count = 0
        for row in base:
            if row.cluster != self.cluster or row.node != self.node:
                continue
            key = (row.job_id, row.gpu_index, row.hour)
            bucket = self._buckets.get(key)
            if bucket is None:
                self._buckets[key] = _Bucket(**{name: getattr(row, name) for name in _ROW_FIELDS})
                self._hour = max(self._hour, row.hour)
            else:
                streak = bucket.idle_since
                combined = stack(row, self._row(bucket, 0))
                for name in _ROW_FIELDS:
                    setattr(bucket, name, getattr(combined, name))
                track = self._tracks.get(row.gpu_index)
                same = track is not None and track.job_id == row.job_id and streak is not None
                if track is not None and same and track.idle_since == streak:
                    track.idle_since = combined.idle_since  # the same streak, begun before the restart
            count += 1
        return count
