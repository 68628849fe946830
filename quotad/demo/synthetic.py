"""A deterministic synthetic GPU programme whose job history is printed as real ``sacct`` text.

Why sacct text and not records: the demo and the benchmarks must exercise the very parser that reads
production data (local-time columns, ``CANCELLED by <uid>``, requeued duplicates, job arrays, pending jobs),
so the generator's only output is what ``TZ=<zone> sacct --allocations --duplicates --parsable2
--format=<SACCT_COLUMNS>`` would print on the cluster.

How capacity is kept realistic: every company owns a fixed block of nodes ("lanes", 8 GPUs each) on each of
its clusters and all of its jobs run inside that block, one after another with gaps. A block is recursively
split in halves for a while (so 16-, 8-, 4-, 2- and 1-node jobs coexist), and a single node is sometimes
split further into eight 1-GPU slots for debug and evaluation jobs. Nothing ever runs outside a company's own
nodes, so no instant can exceed ``nodes * gpus_per_node`` and no node ever holds more than its 8 GPUs.

How ``scale`` works: every duration, gap and queue wait is divided by ``scale``. The number of jobs therefore
grows linearly with ``scale`` while the share of time each node is busy, and so every company's GPU-hours
against its grant, stays the same: the benchmark's million lines tell the same story as the demo.

Speed: one ``random.Random`` per cluster, plain tuples, and timestamps formatted from a per-hour string cache
(one ``zoneinfo`` lookup per hour rather than per line) keep generation above 300,000 lines a second, and
the output is a generator that only buffers the jobs of a few simulated days so memory stays flat.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from heapq import heappop, heappush
from operator import itemgetter
from zoneinfo import ZoneInfo

from quotad.collectors.sacct import SACCT_FORMAT

__all__ = [
    "SACCT_COLUMNS",
    "DemoCluster",
    "DemoCompany",
    "DemoProgramme",
    "demo_programme",
    "sacct_lines",
]

#: The ``--format`` the generated text answers, in this order: quotad's collector columns plus context.
SACCT_COLUMNS: tuple[str, ...] = tuple(SACCT_FORMAT.split(","))

_MINUTE = 60
_HOUR = 3600
_DAY = 86400


@dataclass(frozen=True)
class DemoCluster:
    """One Slurm cluster of the demo; its sacct runs under ``TZ=<timezone>`` and so prints local times."""

    name: str
    gpu_type: str
    nodes: int
    gpus_per_node: int
    timezone: str
    partitions: tuple[str, ...]

    @property
    def gpus(self) -> int:
        return self.nodes * self.gpus_per_node


@dataclass(frozen=True)
class DemoCompany:
    """One participating company: its Slurm account per cluster and the GPU-hours granted there.

    ``behaviour`` names the usage pattern the generator gives it, so the demo's status table has one company
    of each kind an operator must recognise: on track, about to overrun, wasting its grant, and so on.
    """

    id: str
    name_ja: str
    name_en: str
    contact_email: str
    language: str
    accounts: dict[str, str]
    grant_gpu_hours: dict[str, int]
    behaviour: str


@dataclass(frozen=True)
class DemoProgramme:
    """The whole synthetic programme; all times are UTC epoch seconds."""

    clusters: tuple[DemoCluster, ...]
    companies: tuple[DemoCompany, ...]
    period_start: int
    period_end: int
    history_start: int
    now: int

    def cluster(self, name: str) -> DemoCluster:
        """The cluster called ``name``; a ``ValueError`` lists the known names otherwise."""
        for cluster in self.clusters:
            if cluster.name == name:
                return cluster
        known = ", ".join(c.name for c in self.clusters)
        raise ValueError(f"no demo cluster {name!r} (known: {known})")


# --------------------------------------------------------------------------------------------------------
# The fixed definition
# --------------------------------------------------------------------------------------------------------

_CLUSTERS = (
    DemoCluster("yamato-ai", "h100", 96, 8, "Asia/Tokyo", ("gpu", "debug")),
    DemoCluster("sora-cloud", "h200", 64, 8, "UTC", ("gpu", "debug")),
)

#: First JobIDRaw per cluster: a long-running national system has large ids, a young cloud one small ids.
_FIRST_RAW_ID = {"yamato-ai": 4_180_001, "sora-cloud": 212_001}


@dataclass(frozen=True)
class _Seat:
    """A company's share of one cluster: its Slurm account, nodes owned, and the grant for the period."""

    account: str
    nodes: int
    grant_gpu_hours: int


@dataclass(frozen=True)
class _Spec:
    """Everything about a company that only the generator needs (nodes, users, job names)."""

    id: str
    behaviour: str
    initials: str
    users: int
    model: str
    language: str
    name_ja: str
    name_en: str
    seats: dict[str, _Seat]


# Grants: roughly what each behaviour's node share delivers over the six months, divided by where that
# behaviour should end: steady ~95 % of its grant, heavy ~118-130 % (exhausted weeks before the end), bursty
# ~80 %, late_start ~60 %, underuse ~20 %, idle_holder ~100 % (of GPU-hours it mostly leaves idle). Their sum
# is 73-75 % of each cluster's capacity over the period; 4 of the national system's nodes belong to nobody.
# fmt: off
_SPECS = (
    _Spec("sakura-ai", "steady", "sa", 6, "sakura-lm", "ja", "さくらAI株式会社", "Sakura AI K.K.",
          {"yamato-ai": _Seat("sakura", 14, 370_000), "sora-cloud": _Seat("sakura_ai", 8, 210_000)}),
    _Spec("hikari-labs", "heavy", "hk", 8, "hikari", "ja", "株式会社ひかりラボ", "Hikari Labs Inc.",
          {"yamato-ai": _Seat("hikari", 16, 400_000)}),
    _Spec("tsubame-tech", "underuse", "tt", 3, "tsubame", "ja",
          "つばめテクノロジー株式会社", "Tsubame Technology Co., Ltd.",
          {"yamato-ai": _Seat("tsubame", 12, 360_000)}),
    _Spec("kaede-gengo", "bursty", "kg", 5, "kaede", "ja",
          "楓言語研究所株式会社", "Kaede Language Research Co., Ltd.",
          {"yamato-ai": _Seat("kaede", 12, 280_000)}),
    _Spec("minato-robotics", "late_start", "mr", 4, "minato-vla", "ja",
          "湊ロボティクス株式会社", "Minato Robotics K.K.",
          {"yamato-ai": _Seat("minato", 10, 280_000), "sora-cloud": _Seat("minato_rb", 8, 220_000)}),
    _Spec("unkai-systems", "idle_holder", "us", 3, "unkai", "ja",
          "雲海システムズ株式会社", "Unkai Systems Co., Ltd.",
          {"yamato-ai": _Seat("unkai", 16, 500_000)}),
    _Spec("aozora-ml", "steady", "am", 7, "aozora", "ja",
          "青空機械学習株式会社", "Aozora Machine Learning K.K.",
          {"yamato-ai": _Seat("aozora", 12, 320_000), "sora-cloud": _Seat("aozora_ml", 10, 270_000)}),
    _Spec("nihonbashi-ai", "heavy", "ni", 6, "nihonbashi", "ja",
          "日本橋インテリジェンス株式会社", "Nihonbashi Intelligence K.K.",
          {"sora-cloud": _Seat("nihonbashi", 14, 390_000)}),
    _Spec("horizon-lm", "steady", "hz", 5, "horizon", "en",
          "ホライゾン言語モデル株式会社", "Horizon Language Models K.K.",
          {"sora-cloud": _Seat("horizon_lm", 12, 320_000)}),
    _Spec("pacific-crest", "bursty", "pc", 4, "crest", "en",
          "パシフィッククレストAI合同会社", "Pacific Crest AI Japan G.K.",
          {"sora-cloud": _Seat("pcrest", 10, 220_000)}),
)
# fmt: on


def _company(spec: _Spec) -> DemoCompany:
    domain = "example.jp" if spec.language == "ja" else "example.com"
    return DemoCompany(
        id=spec.id,
        name_ja=spec.name_ja,
        name_en=spec.name_en,
        contact_email=f"hpc-{spec.id}@{domain}",
        language=spec.language,
        accounts={cluster: seat.account for cluster, seat in spec.seats.items()},
        grant_gpu_hours={cluster: seat.grant_gpu_hours for cluster, seat in spec.seats.items()},
        behaviour=spec.behaviour,
    )


def _add_months(epoch: int, months: int) -> int:
    """00:00 UTC on the 1st of the month ``months`` after the month containing ``epoch``."""
    day = datetime.fromtimestamp(epoch, UTC)
    index = day.year * 12 + day.month - 1 + months
    return int(datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC).timestamp())


def demo_programme(now: int) -> DemoProgramme:
    """The fixed demo programme as seen at ``now``: 10 companies, 2 clusters (1,280 GPUs), a 6-month period.

    The period starts on the 1st of the month that contains ``now - 150 days``, so ``now`` always falls in
    its fifth or sixth month: late enough for overruns and underuse to show, early enough to act on them.
    """
    period_start = _add_months(now - 150 * _DAY, 0)
    return DemoProgramme(
        clusters=_CLUSTERS,
        companies=tuple(_company(spec) for spec in _SPECS),
        period_start=period_start,
        period_end=_add_months(period_start, 6),
        history_start=_add_months(period_start, -1),
        now=now,
    )


# --------------------------------------------------------------------------------------------------------
# Time formatting
# --------------------------------------------------------------------------------------------------------

#: "MM:SS" for every second of an hour: a local time is its hour's prefix plus one of these.
_MMSS = tuple(f"{m:02d}:{s:02d}" for m in range(60) for s in range(60))


class _LocalClock:
    """UTC epoch -> ``YYYY-MM-DDTHH:MM:SS`` in one zone, as sacct prints it under ``TZ=<zone>``.

    The zone offset is looked up once per UTC hour and the hour's text prefix cached: offsets of the zones a
    cluster uses change only on whole UTC hours, so the minutes and seconds are the epoch's own.
    """

    def __init__(self, timezone: str) -> None:
        self._zone = ZoneInfo(timezone)
        self.hours: dict[int, str] = {}

    def text(self, epoch: int) -> str:
        hour, rest = divmod(epoch, _HOUR)
        prefix = self.hours.get(hour)
        if prefix is None:
            prefix = self.prefix(hour)
        if prefix:
            return prefix + _MMSS[rest]
        return datetime.fromtimestamp(epoch, self._zone).strftime("%Y-%m-%dT%H:%M:%S")

    def prefix(self, hour: int) -> str:
        """``YYYY-MM-DDTHH:`` for a UTC hour, or "" where the offset is not whole hours (slow path)."""
        local = datetime.fromtimestamp(hour * _HOUR, self._zone)
        offset = local.utcoffset()
        whole = offset is not None and offset.total_seconds() % _HOUR == 0
        prefix = local.strftime("%Y-%m-%dT%H:") if whole else ""
        self.hours[hour] = prefix
        return prefix


# --------------------------------------------------------------------------------------------------------
# Job outcomes
# --------------------------------------------------------------------------------------------------------

#: (State, ends early?) drawn by index; None stands for "CANCELLED by <uid>" (the uid is filled in later).
_Outcome = tuple[str | None, bool]


def _outcomes(*weights: tuple[str | None, bool, int]) -> tuple[_Outcome, ...]:
    """A lookup table with each outcome repeated by its weight, drawn with one ``random()`` per job."""
    return tuple((state, early) for state, early, weight in weights for _ in range(weight))


_TRAIN = _outcomes(
    ("COMPLETED", False, 64),
    ("FAILED", True, 10),
    (None, True, 8),
    ("TIMEOUT", False, 8),
    ("NODE_FAIL", True, 3),
    ("OUT_OF_MEMORY", True, 3),
    ("PREEMPTED", True, 4),
)
_SINGLE = _outcomes(
    ("COMPLETED", False, 70),
    ("FAILED", True, 10),
    (None, True, 8),
    ("TIMEOUT", False, 5),
    ("OUT_OF_MEMORY", True, 4),
    ("NODE_FAIL", True, 1),
    ("PREEMPTED", True, 2),
)
_DEBUG = _outcomes(
    ("COMPLETED", False, 62),
    ("FAILED", True, 16),
    (None, True, 12),
    ("TIMEOUT", False, 6),
    ("OUT_OF_MEMORY", True, 4),
)
_EVAL = _outcomes(
    ("COMPLETED", False, 90),
    ("FAILED", True, 6),
    ("OUT_OF_MEMORY", True, 2),
    (None, True, 1),
    ("TIMEOUT", False, 1),
)
_CPU = _outcomes(("COMPLETED", False, 88), ("FAILED", True, 8), (None, True, 4))
_HOLD = _outcomes(("COMPLETED", False, 35), ("TIMEOUT", False, 35), (None, True, 25), ("FAILED", True, 5))


# --------------------------------------------------------------------------------------------------------
# Behaviours
# --------------------------------------------------------------------------------------------------------

#: Fraction of its own nodes' time a company keeps busy, by behaviour (bursty: busy / quiet weeks).
_BUSY = {"steady": 0.8, "heavy": 0.96, "underuse": 0.25, "late_start": 0.82, "idle_holder": 0.9}
_BURSTY_BUSY, _BURSTY_QUIET = 0.92, 0.15
#: Before any grant (the trial month) nobody runs flat out.
_TRIAL_BUSY = 0.45

_TRAIN_NAMES = (
    "pretrain-{m}-13b",
    "pretrain-{m}-70b",
    "cpt-{m}-ja",
    "sft-{m}-chat",
    "dpo-{m}",
    "moe-{m}-8x22b",
)
_SINGLE_NAMES = (
    "sft-lora-{m}",
    "reward-model",
    "distill-{m}-1b",
    "vllm-bench",
    "ckpt-convert",
    "rlhf-rollout",
)
_DEBUG_NAMES = ("bash", "interactive", "nccl-test", "debug-{m}", "smoke-test", "jupyter")
_EVAL_NAMES = ("eval-jglue", "eval-jmmlu", "eval-mtbench-ja", "eval-humaneval", "eval-jaster")
_CPU_NAMES = ("dataprep-cc", "dedup-minhash", "tokenize-{m}", "shard-upload", "filter-quality")
_HOLD_NAMES = ("jupyter-lab", "reserve-nodes", "train-ddp-{m}", "interactive-big", "sleep-infinity")


def _names(templates: tuple[str, ...], model: str) -> tuple[str, ...]:
    return tuple(t.format(m=model) for t in templates)


class _Tenant:
    """One company on one cluster: account, users, node block and how busy it keeps those nodes."""

    def __init__(
        self, spec: _Spec, index: int, cluster: DemoCluster, first_node: int, programme: DemoProgramme
    ) -> None:
        seat = spec.seats[cluster.name]
        self.behaviour = spec.behaviour
        self.first_node = first_node
        self.nodes = seat.nodes
        users = [f"u{spec.initials}{n:02d}" for n in range(1, spec.users + 1)]
        base = f"{cluster.name}|{seat.account}|"
        #: Per user: the "Cluster|Account|User|Partition" middle of a line, for each partition.
        self.gpu_mid = tuple(f"{base}{u}|{cluster.partitions[0]}" for u in users)
        self.debug_mid = tuple(f"{base}{u}|{cluster.partitions[-1]}" for u in users)
        self.cancelled = tuple(f"CANCELLED by {21000 + 100 * index + n}" for n in range(1, spec.users + 1))
        # A few users submit most jobs: user k is picked with weight users - k.
        self.pick = tuple(k for k in range(spec.users) for _ in range(spec.users - k))
        self.train_names = _names(_TRAIN_NAMES, spec.model)
        self.single_names = _names(_SINGLE_NAMES, spec.model)
        self.debug_names = _names(_DEBUG_NAMES, spec.model)
        self.eval_names = _names(_EVAL_NAMES, spec.model)
        self.cpu_names = _names(_CPU_NAMES, spec.model)
        self.hold_names = _names(_HOLD_NAMES, spec.model)
        self.period_start = programme.period_start
        self.history_start = programme.history_start
        # late_start: nothing in the trial month nor in the first two months of the period.
        late = spec.behaviour == "late_start"
        self.active_from = _add_months(programme.period_start, 2) if late else programme.history_start

    def busy(self, t: int) -> float:
        """Target busy fraction of this company's nodes at time ``t``."""
        if self.behaviour == "bursty":
            busy = _BURSTY_BUSY if ((t - self.history_start) // (7 * _DAY)) % 2 == 0 else _BURSTY_QUIET
        else:
            busy = _BUSY[self.behaviour]
        return min(busy, _TRIAL_BUSY) if t < self.period_start else busy


# --------------------------------------------------------------------------------------------------------
# The per-cluster simulation
# --------------------------------------------------------------------------------------------------------

#: One buffered output line: (Submit, sequence, box, array task or -1, line middle, State, Start or None,
#: End or None, AllocTRES, NodeList, JobName). The box, ``[first raw id, ids reserved]``, is shared by the
#: segments of a requeued job or the tasks of an array, and is None for a plain job.
_Item = tuple[int, int, list[int] | None, int, str, str, int | None, int | None, str, str, str]


class _Durations:
    """Durations in seconds at ``scale`` 1.0, divided by the scale: log-uniform between two bounds."""

    def __init__(self, rng: random.Random, scale: float) -> None:
        self._random = rng.random
        self._scale = scale

    def log_uniform(self, low: float, high: float) -> int:
        """A duration between ``low`` and ``high`` seconds (before scaling), small ones more likely."""
        return int(low / self._scale * math.exp(math.log(high / low) * self._random())) + 1

    def seconds(self, value: float) -> int:
        return int(value / self._scale) + 1


class _ClusterSim:
    """Generates one cluster's job segments in Submit order, buffering only a few simulated days."""

    def __init__(self, programme: DemoProgramme, cluster: DemoCluster, seed: int, scale: float) -> None:
        if not scale > 0:
            raise ValueError(f"scale must be > 0, got {scale!r}")
        self.programme = programme
        self.cluster = cluster
        self.now = programme.now
        self.rng = random.Random(f"{seed}:{cluster.name}")
        self.scale = scale
        self.dur = _Durations(self.rng, scale)
        self.gpn = cluster.gpus_per_node
        self.max_wait = self.dur.seconds(12 * _HOUR)
        self.min_gap = self.dur.seconds(45)
        self.min_chunk = self.dur.seconds(15 * _MINUTE)
        self.limit_unit = self.dur.seconds(_HOUR)
        self.buffer: list[_Item] = []
        self.seq = 0
        self._tres: dict[tuple[int, int, bool], str] = {}
        self._nodelists: dict[tuple[int, int], str] = {}
        self.tenants = self._tenants()

    def _tenants(self) -> list[_Tenant]:
        tenants = []
        node = 0
        for index, spec in enumerate(_SPECS):
            if self.cluster.name in spec.seats:
                tenant = _Tenant(spec, index, self.cluster, node, self.programme)
                tenants.append(tenant)
                node += tenant.nodes
        if node > self.cluster.nodes:
            raise AssertionError(f"{self.cluster.name}: companies own {node} nodes of {self.cluster.nodes}")
        return tenants

    # -- small cached strings ------------------------------------------------------------------------------

    def tres(self, gpus: int, nodes: int, typed: bool) -> str:
        """AllocTRES as Slurm 22.05 prints it, with or without the typed ``gres/gpu:<type>`` entry."""
        key = (gpus, nodes, typed)
        text = self._tres.get(key)
        if text is None:
            if gpus:
                cpu, gpu = 8 * gpus, f"gres/gpu:{self.cluster.gpu_type}={gpus}," if typed else ""
                text = f"billing={cpu},cpu={cpu},{gpu}gres/gpu={gpus},mem={64000 * gpus}M,node={nodes}"
            else:
                text = f"billing=4,cpu=4,mem=16G,node={nodes}"
            self._tres[key] = text
        return text

    def nodelist(self, first: int, count: int) -> str:
        """``h100n017`` or ``h100n[017-020]`` for ``count`` consecutive nodes from index ``first``."""
        key = (first, count)
        text = self._nodelists.get(key)
        if text is None:
            prefix = f"{self.cluster.gpu_type}n"
            text = f"{prefix}{first + 1:03d}" if count == 1 else f"{prefix}[{first + 1:03d}-{first + count:03d}]"
            self._nodelists[key] = text
        return text

    def gap(self, tenant: _Tenant, t: int, busy_for: int) -> int:
        """Idle time from ``t`` after ``busy_for`` s of work, so the nodes are busy ``busy(t)`` of the time.

        A bursty company's quiet-week gap stops where its next busy week begins, or the long quiet gaps would
        swallow the busy weeks.
        """
        busy = tenant.busy(t)
        gap = int(-math.log(1.0 - self.rng.random()) * busy_for * (1.0 - busy) / busy) + self.min_gap
        if tenant.behaviour == "bursty" and busy < _BURSTY_BUSY:
            week = 7 * _DAY
            busy_again = tenant.history_start + ((t - tenant.history_start) // week + 1) * week
            gap = min(gap, max(busy_again - t, 0) + self.min_gap)
        return gap

    def wait(self, mean: float) -> int:
        """Queue wait before a job started, at most ``max_wait``."""
        return min(int(-math.log(1.0 - self.rng.random()) * mean / self.scale), self.max_wait)

    # -- emitting segments ---------------------------------------------------------------------------------

    def push(
        self,
        submit: int,
        box: list[int] | None,
        task: int,
        mid: str,
        state: str,
        start: int,
        end: int,
        tres: str,
        nodes: str,
        name: str,
    ) -> None:
        """Buffer one segment as sacct shows it at ``now``: unseen, PENDING, RUNNING or finished."""
        now = self.now
        if submit > now:
            return
        if start > now:
            item: _Item = (submit, self.seq, box, task, mid, "PENDING", None, None, "", "None assigned", name)
        elif end > now:
            item = (submit, self.seq, box, task, mid, "RUNNING", start, None, tres, nodes, name)
        else:
            item = (submit, self.seq, box, task, mid, state, start, end, tres, nodes, name)
        self.seq += 1
        self.buffer.append(item)

    def job(
        self,
        tenant: _Tenant,
        user: int,
        mid: str,
        start: int,
        dur: int,
        gpus: int,
        nodes: int,
        first_node: int,
        name: str,
        wait: int,
        table: tuple[_Outcome, ...],
        requeue: float,
    ) -> int:
        """Buffer one job (two segments if it was requeued); return when its GPUs are free again."""
        rng = self.rng
        # One draw: its whole part picks the outcome, its (uniform) fraction the rarer facts about the job.
        draw = rng.random() * len(table)
        state, early = table[int(draw)]
        fraction = draw - int(draw)
        typed = fraction >= 0.05
        tres = self._tres.get((gpus, nodes, typed)) or self.tres(gpus, nodes, typed)
        nodelist = self._nodelists.get((first_node, nodes)) or self.nodelist(first_node, nodes)
        submit = max(start - wait, tenant.active_from)
        box: list[int] | None = None
        if requeue and rng.random() < requeue:
            cut = start + int(dur * (0.1 + 0.6 * rng.random()))
            restart = cut + self.dur.seconds(60 + 540 * rng.random())
            if restart + self.min_gap < start + dur:
                box = [0, 1]
                self.push(submit, box, -1, mid, "REQUEUED", start, cut, tres, nodelist, name)
                submit, dur, start = cut, start + dur - restart, restart
        if state is None:
            state = "CANCELLED by 0" if rng.random() < 0.1 else tenant.cancelled[user]
        if early:
            end = start + max(1, int(dur * (0.02 + 0.78 * rng.random())))
        elif state == "TIMEOUT":
            # Killed at its time limit, a whole number of hours, a few seconds late. Ending after the block's
            # window is fine: callers continue from the returned time.
            end = start + -(-dur // self.limit_unit) * self.limit_unit + int(5 + 55 * rng.random())
        else:
            end = start + dur
        self.push(submit, box, -1, mid, state, start, end, tres, nodelist, name)
        if fraction < 0.02:
            self.cancelled_pending(tenant, user, mid, start, name)
        return end

    def cancelled_pending(self, tenant: _Tenant, user: int, mid: str, t: int, name: str) -> None:
        """A duplicate submission its user cancelled before it ever started (no allocation, no Start)."""
        submit = max(t - self.wait(30 * _MINUTE), tenant.active_from)
        end = submit + self.dur.seconds(30 + 1800 * self.rng.random())
        if end <= self.now:
            item: _Item = (
                submit,
                self.seq,
                None,
                -1,
                mid,
                tenant.cancelled[user],
                None,
                end,
                "",
                "None assigned",
                name,
            )
            self.seq += 1
            self.buffer.append(item)

    # -- filling a block of nodes over a window --------------------------------------------------------------

    def fill(self, tenant: _Tenant, first: int, count: int, t: int, until: int) -> int:
        """Run jobs on nodes ``[first, first+count)`` from ``t`` to about ``until``; return when they are idle.

        The return value can pass ``until`` by the idle gap after the last job, and the caller continues from
        there: truncating gaps at window ends would make lightly used nodes look much busier than intended.
        """
        rng, dur = self.rng, self.dur
        holder = tenant.behaviour == "idle_holder"
        while until - t > self.min_chunk:
            if count >= 2 and rng.random() < (0.85 if holder else _P_WHOLE[count]):
                t = self.multi(tenant, first, count, t, until, holder)
            elif count >= 2:
                window = min(until - t, dur.log_uniform(12 * _HOUR, 3 * _DAY))
                half = count // 2
                left = self.fill(tenant, first, half, t, t + window)
                t = max(left, self.fill(tenant, first + half, count - half, t, t + window))
            elif rng.random() < _P_SLOTS:
                t = self.slots(tenant, first, t, until)
            else:
                t = self.single(tenant, first, t, until)
        return t

    def multi(self, tenant: _Tenant, first: int, count: int, t: int, until: int, holder: bool) -> int:
        """One job holding all ``count`` nodes: training, or for an idle holder days of reservation."""
        rng, user = self.rng, tenant.pick[int(self.rng.random() * len(tenant.pick))]
        if holder:
            length = self.dur.log_uniform(1 * _DAY, 5 * _DAY)
            names, table, requeue = tenant.hold_names, _HOLD, 0.0
        else:
            length = self.dur.log_uniform(2 * _HOUR, 2 * _DAY)
            names, table, requeue = tenant.train_names, _TRAIN, 0.05
        length = min(length, until - t)
        name = names[int(rng.random() * len(names))]
        wait = self.wait(40 * _MINUTE)
        gpus = count * self.gpn
        end = self.job(tenant, user, tenant.gpu_mid[user], t, length, gpus, count, first, name, wait, table, requeue)
        return end + self.gap(tenant, end, end - t)

    def single(self, tenant: _Tenant, node: int, t: int, until: int) -> int:
        """One whole-node job: fine-tuning, reward models, benchmarks."""
        rng, user = self.rng, tenant.pick[int(self.rng.random() * len(tenant.pick))]
        length = min(self.dur.log_uniform(30 * _MINUTE, 24 * _HOUR), until - t)
        name = tenant.single_names[int(rng.random() * len(tenant.single_names))]
        wait = self.wait(20 * _MINUTE)
        mid = tenant.gpu_mid[user]
        end = self.job(tenant, user, mid, t, length, self.gpn, 1, node, name, wait, _SINGLE, 0.02)
        return end + self.gap(tenant, end, end - t)

    def slots(self, tenant: _Tenant, node: int, t: int, until: int) -> int:
        """Split one node into 1-GPU slots for a while: an evaluation array, debug jobs, data preparation."""
        rng = self.rng
        end = min(until, t + self.dur.log_uniform(1 * _HOUR, 4 * _HOUR))
        free = [t] * self.gpn
        if rng.random() < 0.4:
            self.array(tenant, node, free, t, end)
        for slot in range(self.gpn):
            self.debug_stream(tenant, node, free[slot], end)
        for _ in range(int(rng.random() * 3)):
            self.cpu_job(tenant, node, t, end)
        return end + self.gap(tenant, end, end - t)

    def array(self, tenant: _Tenant, node: int, free: list[int], t: int, end: int) -> None:
        """A job array of 1-GPU evaluation tasks sharing one Submit, run as slots free up."""
        rng, user = self.rng, tenant.pick[int(self.rng.random() * len(tenant.pick))]
        mid = tenant.gpu_mid[user]
        name = tenant.eval_names[int(rng.random() * len(tenant.eval_names))]
        submit = max(t - self.wait(10 * _MINUTE), tenant.active_from)
        if submit > self.now:
            return
        tres = self.tres(1, 1, rng.random() >= 0.05)
        nodelist = self.nodelist(node, 1)
        tasks: list[tuple[str, int, int]] = []
        for _ in range(8 + int(rng.random() * 57)):
            slot = min(range(len(free)), key=free.__getitem__)
            start = free[slot] + self.dur.seconds(5 + 25 * rng.random())
            length = self.dur.log_uniform(10 * _MINUTE, 60 * _MINUTE)
            if start + length > end or start > self.now:
                break
            state, early = _EVAL[int(rng.random() * len(_EVAL))]
            if state is None:
                state = tenant.cancelled[user]
            stop = start + (max(1, int(length * (0.02 + 0.78 * rng.random()))) if early else length)
            tasks.append((state, start, stop))
            free[slot] = stop
        box = [0, len(tasks)]
        for task, (state, start, stop) in enumerate(tasks):
            self.push(submit, box, task, mid, state, start, stop, tres, nodelist, name)

    def debug_stream(self, tenant: _Tenant, node: int, t: int, end: int) -> None:
        """Short 1-GPU jobs on the debug partition, one after another on one GPU slot.

        Most lines of the output are these, so this is ``job`` + ``gap`` + ``push`` inlined with locals: it is
        what keeps generation above 300,000 lines a second.
        """
        rng = self.rng
        rand, log, exp = rng.random, math.log, math.exp
        now, buffer, floor, min_gap = self.now, self.buffer, tenant.active_from, self.min_gap
        typed, untyped, nodelist = self.tres(1, 1, True), self.tres(1, 1, False), self.nodelist(node, 1)
        pick, names, mids, cancelled = tenant.pick, tenant.debug_names, tenant.debug_mid, tenant.cancelled
        n_pick, n_names, n_outcomes = len(pick), len(names), len(_DEBUG)
        low, spread = 2 * _MINUTE / self.scale, log(20.0)
        mean_wait, max_wait = 3 * _MINUTE / self.scale, self.max_wait
        bursty = tenant.behaviour == "bursty"
        busy = tenant.busy(t)  # one stream lasts hours: its busy fraction is that of its start
        idle_per_busy = (1.0 - busy) / busy
        t += self.gap(tenant, t, self.dur.seconds(10 * _MINUTE))
        seq = self.seq
        while True:
            length = int(low * exp(spread * rand())) + 1
            if t + length > end:
                break
            # One draw picks both user and job name, one both outcome and typed/untyped AllocTRES: the
            # fractional part left after indexing is itself uniform.
            draw = rand() * n_pick
            user = pick[int(draw)]
            name = names[int((draw - int(draw)) * n_names)]
            draw = rand() * n_outcomes
            state, early = _DEBUG[int(draw)]
            tres = typed if draw - int(draw) >= 0.05 else untyped
            if state is None:
                state = cancelled[user]
            stop = t + (int(length * (0.02 + 0.78 * rand())) + 1 if early else length)
            submit = t - min(int(-log(1.0 - rand()) * mean_wait), max_wait)
            if submit < floor:
                submit = floor
            if submit <= now:
                if t > now:
                    item: _Item = (
                        submit,
                        seq,
                        None,
                        -1,
                        mids[user],
                        "PENDING",
                        None,
                        None,
                        "",
                        "None assigned",
                        name,
                    )
                elif stop > now:
                    item = (submit, seq, None, -1, mids[user], "RUNNING", t, None, tres, nodelist, name)
                else:
                    item = (submit, seq, None, -1, mids[user], state, t, stop, tres, nodelist, name)
                seq += 1
                buffer.append(item)
            if bursty:
                t = stop + self.gap(tenant, stop, stop - t)
            else:
                t = stop + int(-log(1.0 - rand()) * (stop - t) * idle_per_busy) + min_gap
        self.seq = seq

    def cpu_job(self, tenant: _Tenant, node: int, t: int, end: int) -> None:
        """A job without GPUs (data preparation): AllocTRES has no gres entry and charges nothing."""
        rng, user = self.rng, tenant.pick[int(self.rng.random() * len(tenant.pick))]
        start = t + int((end - t) * rng.random() * 0.5)
        length = min(self.dur.log_uniform(20 * _MINUTE, 4 * _HOUR), end - start)
        name = tenant.cpu_names[int(rng.random() * len(tenant.cpu_names))]
        mid = tenant.gpu_mid[user]
        self.job(tenant, user, mid, start, length, 0, 1, node, name, self.wait(5 * _MINUTE), _CPU, 0.0)

    # -- the driver ------------------------------------------------------------------------------------------

    def items(self) -> Iterator[list[_Item]]:
        """Batches of buffered segments in Submit order, each released once no later job can precede it.

        Each top-level node block is an agent that fills a window of a few days at a time; agents are advanced
        earliest first, so no segment generated later can have a Submit before the slowest agent's clock
        minus the longest queue wait.
        """
        agents: list[tuple[int, int, int, int]] = []  # (clock, tenant index, first node, count)
        for index, tenant in enumerate(self.tenants):
            for first, count in _blocks(tenant.first_node, tenant.nodes, tenant.behaviour):
                agents.append(
                    (
                        tenant.active_from + self.dur.seconds(6 * _HOUR * self.rng.random()),
                        index,
                        first,
                        count,
                    )
                )
        agents.sort()
        window = self.dur.seconds(3 * _DAY)
        hold_window = self.dur.seconds(8 * _DAY)
        now = self.now
        released = 0
        while agents:
            clock, index, first, count = heappop(agents)
            tenant = self.tenants[index]
            until = clock + (hold_window if tenant.behaviour == "idle_holder" else window)
            clock = self.fill(tenant, first, count, clock, until)
            if clock < now:
                heappush(agents, (clock, index, first, count))
            if len(self.buffer) - released > 4096:
                bound = agents[0][0] - self.max_wait if agents else now + 1
                self.buffer.sort()
                cut = bisect_left(self.buffer, bound, key=itemgetter(0))
                yield self.buffer[:cut]
                del self.buffer[:cut]
                released = len(self.buffer)
        self.backlog()
        self.buffer.sort()
        yield self.buffer
        self.buffer = []

    def backlog(self) -> None:
        """The queue at ``now``: jobs submitted in the last hours still waiting for their company's nodes.

        Their Submit stays within ``max_wait`` of ``now``, after every segment already released.
        """
        rng = self.rng
        for tenant in self.tenants:
            if self.now < tenant.active_from:
                continue
            for _ in range(int(_BACKLOG[tenant.behaviour] * (0.5 + rng.random()))):
                user = tenant.pick[int(rng.random() * len(tenant.pick))]
                name = tenant.train_names[int(rng.random() * len(tenant.train_names))]
                submit = self.now - int(0.9 * self.max_wait * rng.random())
                # Start after now: push() prints it PENDING, with no Start, End, AllocTRES or nodes.
                self.push(submit, None, -1, tenant.gpu_mid[user], "PENDING", self.now + 1, 0, "", "", name)


#: Typical number of jobs queued behind a company's own running jobs at ``now``.
_BACKLOG = {"steady": 3, "heavy": 8, "underuse": 0, "bursty": 2, "late_start": 3, "idle_holder": 1}
#: Probability that a block of ``count`` nodes runs one job across all of them rather than splitting.
_P_WHOLE = {2: 0.45, 4: 0.45, 8: 0.45, 16: 0.35}
#: Probability that a single node is split into 1-GPU slots (debug, evaluation) rather than one 8-GPU job.
_P_SLOTS = 0.055


def _blocks(first: int, nodes: int, behaviour: str) -> Iterator[tuple[int, int]]:
    """Split a company's nodes into power-of-two blocks (16 at most for heavy users, else 8)."""
    cap = 16 if behaviour in ("heavy", "idle_holder") else 8
    size = cap
    while nodes:
        while size > nodes:
            size //= 2
        yield first, size
        first += size
        nodes -= size


def sacct_lines(programme: DemoProgramme, cluster: str, *, seed: int = 20260401, scale: float = 1.0) -> Iterator[str]:
    """Stream ``cluster``'s job history from ``history_start`` to ``now`` as sacct text, header first.

    Exactly what ``TZ=<cluster tz> sacct --allocations --duplicates --parsable2 --format=<SACCT_COLUMNS>``
    prints, ordered by Submit, without line terminators. Identical arguments give identical lines.
    """
    view = programme.cluster(cluster)
    sim = _ClusterSim(programme, view, seed, scale)
    return _lines(sim, _FIRST_RAW_ID.get(cluster, 1001))


def _lines(sim: _ClusterSim, first_raw_id: int) -> Iterator[str]:
    """Format the simulation's segments; raw ids are handed out here, in Submit order."""
    yield "|".join(SACCT_COLUMNS)
    clock = _LocalClock(sim.cluster.timezone)
    text: Callable[[int], str] = clock.text
    # Every printed time lies in [history_start, now]: hour prefixes come from a list filled up front (one
    # zoneinfo call per hour of history), with text() as the fallback for zones with odd offsets.
    first_hour = sim.programme.history_start // _HOUR
    prefixes = [clock.prefix(hour) for hour in range(first_hour, sim.now // _HOUR + 1)]
    mmss = _MMSS
    now = sim.now
    next_id = first_raw_id
    for batch in sim.items():
        for submit, _seq, box, task, mid, state, start, end, tres, nodes, name in batch:
            if box is None:
                job_id = raw = str(next_id)
                next_id += 1
            else:
                first = box[0]
                if not first:
                    first = box[0] = next_id
                    next_id += box[1]
                if task < 0:
                    job_id = raw = str(first)
                else:
                    raw, job_id = str(first + task), f"{first}_{task}"
            submitted = prefixes[submit // _HOUR - first_hour]
            submitted = submitted + mmss[submit % _HOUR] if submitted else text(submit)
            if start is None:
                started, elapsed = "Unknown", 0
            else:
                started = prefixes[start // _HOUR - first_hour]
                started = started + mmss[start % _HOUR] if started else text(start)
                elapsed = (now if end is None else end) - start
            if end is None:
                ended = "Unknown"
            else:
                ended = prefixes[end // _HOUR - first_hour]
                ended = ended + mmss[end % _HOUR] if ended else text(end)
            yield (f"{job_id}|{raw}|{mid}|{state}|{submitted}|{started}|{ended}|{elapsed}|{tres}|{nodes}|{name}")
