"""The synthetic programme must look like real sacct output to the real parser, and obey physics.

Every check runs the generated text through ``quotad.collectors.sacct.SacctParser``: the demo and the benchmarks
are only worth something if the text they feed the ledger is text production could produce.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from quotad.collectors.sacct import ClusterView, SacctParser
from quotad.demo.synthetic import (
    SACCT_COLUMNS,
    DemoProgramme,
    _add_months,
    _LocalClock,
    demo_programme,
    sacct_lines,
)
from quotad.errors import InputError
from quotad.ledger.records import JobRecord

NOW = int(datetime(2026, 5, 13, 6, 30, 15, tzinfo=UTC).timestamp())
SCALE = 0.05
STATES = (
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "TIMEOUT",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "PREEMPTED",
    "REQUEUED",
    "RUNNING",
    "PENDING",
)


@dataclass(frozen=True)
class Parsed:
    """One cluster's generated text, split into fields, next to what the real parser made of it."""

    lines: list[str]
    fields: list[list[str]]
    records: list[JobRecord]


def _views(programme: DemoProgramme) -> dict[str, ClusterView]:
    known = {c.gpu_type for c in programme.clusters}
    return {
        c.name: ClusterView(name=c.name, default_gpu_type=c.gpu_type, timezone=c.timezone, known_gpu_types=known)
        for c in programme.clusters
    }


def _parse(programme: DemoProgramme, lines: Iterable[str]) -> list[JobRecord]:
    out = list(SacctParser(clusters=_views(programme), source="synthetic").parse(lines))
    errors = [r for r in out if isinstance(r, InputError)]
    assert not errors, errors[:3]
    return [r for r in out if isinstance(r, JobRecord)]


@pytest.fixture(scope="module")
def programme() -> DemoProgramme:
    return demo_programme(NOW)


@pytest.fixture(scope="module")
def parsed(programme: DemoProgramme) -> dict[str, Parsed]:
    result = {}
    for cluster in programme.clusters:
        lines = list(sacct_lines(programme, cluster.name, scale=SCALE))
        records = _parse(programme, lines)
        result[cluster.name] = Parsed(lines, [line.split("|") for line in lines[1:]], records)
    return result


def _all_records(parsed: dict[str, Parsed]) -> list[JobRecord]:
    return [r for p in parsed.values() for r in p.records]


def _company_of(programme: DemoProgramme) -> dict[tuple[str, str], str]:
    return {(cluster, account): c.id for c in programme.companies for cluster, account in c.accounts.items()}


# -- the programme definition --------------------------------------------------------------------------------


def test_programme_shape(programme: DemoProgramme) -> None:
    assert len(programme.companies) == 10
    assert len(programme.clusters) == 2
    assert sum(c.nodes * c.gpus_per_node for c in programme.clusters) >= 1000
    assert {c.timezone for c in programme.clusters} == {"Asia/Tokyo", "UTC"}
    assert {c.gpu_type for c in programme.clusters} == {"h100", "h200"}
    assert {c.behaviour for c in programme.companies} == {
        "steady",
        "heavy",
        "underuse",
        "bursty",
        "late_start",
        "idle_holder",
    }
    assert any(len(c.accounts) == 2 for c in programme.companies)
    assert Counter(c.language for c in programme.companies)["ja"] > 5
    for company in programme.companies:
        assert company.accounts.keys() == company.grant_gpu_hours.keys()
        assert all(a == a.lower() for a in company.accounts.values())
        assert company.contact_email.endswith(("@example.jp", "@example.com"))
    accounts = [(cl, a) for c in programme.companies for cl, a in c.accounts.items()]
    assert len(accounts) == len(set(accounts))


@pytest.mark.parametrize(
    ("now", "start", "end", "history"),
    [
        ("2026-05-13T06:30:15", "2025-12-01", "2026-06-01", "2025-11-01"),
        ("2026-04-01T00:00:00", "2025-11-01", "2026-05-01", "2025-10-01"),
        ("2026-01-15T12:00:00", "2025-08-01", "2026-02-01", "2025-07-01"),
    ],
)
def test_period_dates(now: str, start: str, end: str, history: str) -> None:
    def epoch(text: str) -> int:
        return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())

    p = demo_programme(epoch(now))
    assert (p.period_start, p.period_end, p.history_start, p.now) == (
        epoch(start),
        epoch(end),
        epoch(history),
        epoch(now),
    )
    assert demo_programme(epoch(now)) == p


@pytest.mark.parametrize("now", [NOW, NOW - 30 * 86400, NOW + 100 * 86400])
def test_grants_fill_most_of_capacity(now: int) -> None:
    p = demo_programme(now)
    hours = (p.period_end - p.period_start) / 3600
    for cluster in p.clusters:
        grants = sum(c.grant_gpu_hours.get(cluster.name, 0) for c in p.companies)
        assert 0.70 <= grants / (cluster.nodes * cluster.gpus_per_node * hours) <= 0.90


# -- the text ----------------------------------------------------------------------------------------------------


def test_header_first_and_every_line_parses(parsed: dict[str, Parsed]) -> None:
    for p in parsed.values():
        assert p.lines[0] == "|".join(SACCT_COLUMNS)
        assert len(p.records) == len(p.lines) - 1 > 1000
        assert all(len(f) == len(SACCT_COLUMNS) for f in p.fields)
        assert not any(line.endswith(("\n", "\r")) for line in p.lines)


def test_deterministic(programme: DemoProgramme, parsed: dict[str, Parsed]) -> None:
    again = list(sacct_lines(demo_programme(NOW), "sora-cloud", scale=SCALE))
    assert again == parsed["sora-cloud"].lines
    other_seed = list(sacct_lines(programme, "sora-cloud", seed=7, scale=SCALE))
    assert other_seed != again


def test_unknown_cluster_is_refused(programme: DemoProgramme) -> None:
    with pytest.raises(ValueError, match="yamato-ai"):
        next(iter(sacct_lines(programme, "nope")))


def test_scale_is_roughly_linear(programme: DemoProgramme) -> None:
    def count(scale: float) -> int:
        return sum(1 for c in programme.clusters for _ in sacct_lines(programme, c.name, scale=scale))

    assert 3.0 < count(0.4) / count(0.1) < 5.0


def test_submit_order_and_raw_ids(parsed: dict[str, Parsed], programme: DemoProgramme) -> None:
    for p in parsed.values():
        submits = [r.submit for r in p.records]
        assert submits == sorted(submits)
        assert programme.history_start <= submits[0] and submits[-1] <= programme.now
        seen: set[int] = set()
        last = 0
        for r in p.records:
            if r.job_id_raw not in seen:
                assert r.job_id_raw > last, r
                last = r.job_id_raw
                seen.add(r.job_id_raw)
        assert len({r.key for r in p.records}) == len(p.records)


def test_times_within_history_and_never_in_the_future(parsed: dict[str, Parsed], programme: DemoProgramme) -> None:
    for r in _all_records(parsed):
        assert programme.history_start <= r.submit <= programme.now
        if r.start is not None:
            assert r.submit <= r.start <= programme.now
        if r.end is not None:
            assert r.end <= programme.now
            if r.start is not None:
                assert r.elapsed == r.end - r.start


def test_alloc_tres_and_nodelists(parsed: dict[str, Parsed], programme: DemoProgramme) -> None:
    for cluster in programme.clusters:
        p = parsed[cluster.name]
        gpu_jobs = [f for f in p.fields if "gres/gpu=" in f[11]]
        untyped = [f for f in gpu_jobs if f"gres/gpu:{cluster.gpu_type}=" not in f[11]]
        assert 0.01 < len(untyped) / len(gpu_jobs) < 0.10
        assert any(f[11].startswith("billing=64,cpu=64,gres/gpu:") for f in gpu_jobs)
        assert any(re.fullmatch(r"billing=4,cpu=4,mem=16G,node=1", f[11]) for f in p.fields)
        assert any(re.fullmatch(rf"{cluster.gpu_type}n\[\d{{3}}-\d{{3}}\]", f[12]) for f in gpu_jobs)
        for f in p.fields:
            assert re.fullmatch(r"u[a-z]{2}\d{2}", f[4]), f
            assert f[5] in cluster.partitions
            if f[6].startswith("CANCELLED"):
                assert re.fullmatch(r"CANCELLED by \d+", f[6]), f
        debug = [f for f in p.fields if f[5] == "debug"]
        assert debug and all(",gres/gpu=1," in f[11] for f in debug if f[11])
    users: dict[str, set[str]] = defaultdict(set)
    company = _company_of(programme)
    for r in _all_records(parsed):
        users[company[(r.cluster, r.account)]].add(r.user)
    # 3-8 users each; a small scale may not show every user of a quiet company.
    assert all(2 <= len(u) <= 8 for u in users.values()) and max(len(u) for u in users.values()) >= 7


# -- physics -------------------------------------------------------------------------------------------------


def _expand(nodelist: str) -> list[str]:
    match = re.fullmatch(r"([a-z0-9]+)\[(\d+)-(\d+)\]", nodelist)
    if match is None:
        return [nodelist]
    prefix, low, high = match.group(1), int(match.group(2)), int(match.group(3))
    return [f"{prefix}{n:03d}" for n in range(low, high + 1)]


def test_capacity_never_exceeded(parsed: dict[str, Parsed], programme: DemoProgramme) -> None:
    for cluster in programme.clusters:
        p = parsed[cluster.name]
        events: list[tuple[int, int]] = []
        per_node: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for r, f in zip(p.records, p.fields, strict=True):
            if r.start is None or not r.gpu_count:
                continue
            end = programme.now if r.end is None else r.end
            events += [(r.start, r.gpu_count), (end, -r.gpu_count)]
            nodes = _expand(f[12])
            for node in nodes:
                per_node[node] += [(r.start, r.gpu_count // len(nodes)), (end, -r.gpu_count // len(nodes))]
        assert _peak(events) <= cluster.nodes * cluster.gpus_per_node
        assert max(_peak(e) for e in per_node.values()) == cluster.gpus_per_node
        assert len(per_node) <= cluster.nodes


def _peak(events: list[tuple[int, int]]) -> int:
    """Most GPUs held at once; a job ending at the instant another starts frees its GPUs first."""
    held = peak = 0
    for _, delta in sorted(events):
        held += delta
        peak = max(peak, held)
    return peak


# -- states, arrays, requeues, now ---------------------------------------------------------------------------


def test_every_state_appears(parsed: dict[str, Parsed]) -> None:
    for p in parsed.values():
        states = Counter(r.state for r in p.records)
        assert all(states[s] > 0 for s in STATES), states
        cancelled_pending = [f for f in p.fields if f[6].startswith("CANCELLED") and f[8] == "Unknown"]
        assert cancelled_pending and all(f[10] == "0" and f[11] == "" for f in cancelled_pending)


def test_job_arrays(parsed: dict[str, Parsed]) -> None:
    for p in parsed.values():
        arrays: dict[str, list[JobRecord]] = defaultdict(list)
        for r in p.records:
            if "_" in r.job_id:
                arrays[r.job_id.split("_")[0]].append(r)
        assert len(arrays) > 5
        for first, tasks in arrays.items():
            assert [r.job_id for r in tasks] == [f"{first}_{i}" for i in range(len(tasks))]
            assert [r.job_id_raw for r in tasks] == list(range(int(first), int(first) + len(tasks)))
            assert len({r.submit for r in tasks}) == 1
            assert all(r.gpu_count == 1 for r in tasks)


def test_requeued_jobs_print_both_segments(parsed: dict[str, Parsed]) -> None:
    for p in parsed.values():
        by_raw: dict[int, list[JobRecord]] = defaultdict(list)
        for r in p.records:
            by_raw[r.job_id_raw].append(r)
        pairs = [segs for segs in by_raw.values() if len(segs) > 1]
        assert pairs
        for first, second in pairs:
            assert first.state == "REQUEUED" and second.state != "REQUEUED"
            assert first.job_id == second.job_id
            assert first.end is not None and first.submit < second.submit == first.end
            assert first.gpus == second.gpus or second.state == "PENDING"


def test_running_and_pending_at_now(parsed: dict[str, Parsed], programme: DemoProgramme) -> None:
    for p in parsed.values():
        running = [(r, f) for r, f in zip(p.records, p.fields, strict=True) if r.state == "RUNNING"]
        pending = [(r, f) for r, f in zip(p.records, p.fields, strict=True) if r.state == "PENDING"]
        assert running and pending
        for r, f in running:
            # Start was printed in the cluster's local time: ElapsedRaw only matches if it parses back right.
            assert r.start is not None and r.end is None and f[9] == "Unknown"
            assert r.elapsed == programme.now - r.start
        for r, f in pending:
            assert (f[8], f[9], f[10], f[11], f[12]) == ("Unknown", "Unknown", "0", "", "None assigned")
            assert r.start is None and r.end is None and r.gpus == ()


# -- time zones ----------------------------------------------------------------------------------------------


def test_tokyo_times_round_trip() -> None:
    clock = _LocalClock("Asia/Tokyo")
    view = ClusterView(name="x", default_gpu_type="h100", timezone="Asia/Tokyo", known_gpu_types=["h100"])
    new_year = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    assert clock.text(new_year) == "2026-01-01T09:00:00"
    assert clock.text(new_year - 1) == "2026-01-01T08:59:59"
    for epoch in range(NOW - 200 * 86400, NOW, 7919):
        assert view.epoch(clock.text(epoch)) == epoch


@pytest.mark.parametrize("zone", ["UTC", "Asia/Tokyo", "Europe/Berlin", "America/New_York", "Asia/Kolkata"])
def test_clock_matches_zoneinfo(zone: str) -> None:
    clock, tz = _LocalClock(zone), ZoneInfo(zone)
    for epoch in range(NOW - 366 * 86400, NOW, 3 * 3600 + 17):
        assert clock.text(epoch) == datetime.fromtimestamp(epoch, tz).strftime("%Y-%m-%dT%H:%M:%S")


def test_tokyo_lines_are_local_time(parsed: dict[str, Parsed], programme: DemoProgramme) -> None:
    fields = parsed["yamato-ai"].fields[0]
    record = parsed["yamato-ai"].records[0]
    local = datetime.fromtimestamp(record.submit, ZoneInfo("Asia/Tokyo")).strftime("%Y-%m-%dT%H:%M:%S")
    assert fields[7] == local
    assert record.submit >= programme.history_start


# -- behaviours ------------------------------------------------------------------------------------------------


def _gpu_hours_by_company(parsed: dict[str, Parsed], programme: DemoProgramme) -> dict[tuple[str, str], float]:
    company = _company_of(programme)
    used: dict[tuple[str, str], float] = defaultdict(float)
    for r in _all_records(parsed):
        if r.start is None or not r.gpu_count:
            continue
        start = max(r.start, programme.period_start)
        end = programme.now if r.end is None else r.end
        if end > start:
            used[(company[(r.cluster, r.account)], r.cluster)] += (end - start) * r.gpu_count / 3600
    return used


def test_behaviours_show_against_grants(parsed: dict[str, Parsed], programme: DemoProgramme) -> None:
    used = _gpu_hours_by_company(parsed, programme)
    elapsed = (programme.now - programme.period_start) / (programme.period_end - programme.period_start)
    for company in programme.companies:
        for cluster, grant in company.grant_gpu_hours.items():
            projected = used[(company.id, cluster)] / elapsed / grant
            if company.behaviour == "heavy":
                assert projected > 1.05, (company.id, projected)
            elif company.behaviour == "underuse":
                assert projected < 0.5, (company.id, projected)
            elif company.behaviour == "steady":
                assert 0.6 < projected < 1.1, (company.id, projected)


def test_late_start_and_idle_holder(parsed: dict[str, Parsed], programme: DemoProgramme) -> None:
    company = _company_of(programme)
    behaviour = {c.id: c.behaviour for c in programme.companies}
    late_from = _add_months(programme.period_start, 2)
    long_holds = 0
    for r in _all_records(parsed):
        kind = behaviour[company[(r.cluster, r.account)]]
        if kind == "late_start":
            assert r.submit >= late_from, r
        if kind == "idle_holder" and r.gpu_count >= 64 and r.elapsed > 86400:
            long_holds += 1
    assert long_holds
