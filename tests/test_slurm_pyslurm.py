"""The optional pyslurm backend: job objects shaped like pyslurm 25.11's ``pyslurm.db.Job`` map to the same
records the sacct parser makes; import and version problems become ``BackendUnavailable`` with the reason."""

from __future__ import annotations

import importlib.util
import re
import subprocess
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from quotad.collectors.sacct import ClusterView, SacctParser
from quotad.collectors.slurm_pyslurm import (
    NOT_INSTALLED,
    BackendUnavailable,
    PyslurmQueryError,
    load_jobs,
    load_pyslurm,
    records_from_pyslurm,
    running_slurm_version,
)
from quotad.errors import InputError, QuotadError
from quotad.ledger.records import JobRecord
from tests.helpers import sacct_text

TYPES = ("h100", "h200", "a100")
UTC_VIEW = ClusterView(name="c1", default_gpu_type="h100", timezone="UTC", known_gpu_types=TYPES)
TOKYO_VIEW = ClusterView(name="c2", default_gpu_type="h200", timezone="Asia/Tokyo", known_gpu_types=TYPES)


def utc(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


T0 = utc("2026-11-01T00:00:00")


# --- fakes shaped like pyslurm 25.11's documented objects -------------------------------------------------


@dataclass
class GPU:
    """``pyslurm.db.GPU``: ``count`` and ``type`` (None when untyped)."""

    count: int
    type: str | None = None


@dataclass
class TRES:
    """``pyslurm.db.TrackableResources``: ``gres`` maps ``gpu`` / ``gpu:<type>`` / ``gpumem`` ... to entries."""

    gres: dict[str, Any] = field(default_factory=dict)


def gpus(untyped: int | None = None, **typed: int) -> TRES:
    """allocated_tres as pyslurm builds it from ``gres/gpu=N,gres/gpu:<type>=M``."""
    gres: dict[str, Any] = {f"gpu:{t}": GPU(n, t) for t, n in typed.items()}
    if untyped is not None:
        gres["gpu"] = GPU(untyped)
    return TRES(gres)


@dataclass
class DbJob:
    """``pyslurm.db.Job`` attributes quotad reads; None where pyslurm returns None for unset/0 values."""

    id: int
    cluster: str | None = "c1"
    account: str | None = "acme"
    user_name: str | None = "alice"
    partition: str | None = "gpu"
    state: str | None = "COMPLETED"
    submit_time: Any = T0
    start_time: Any = T0
    end_time: Any = None
    elapsed_time: Any = None
    array_id: int | None = None
    array_task_id: int | None = None
    array_tasks_waiting: str | None = None
    array_tasks_parallel: int | None = None
    heterogeneous_id: int | None = None
    heterogeneous_offset: int | None = None
    allocated_tres: Any = None
    nodelist: Any = None


def convert(*jobs: Any, view: ClusterView = UTC_VIEW) -> list[JobRecord | InputError]:
    return list(records_from_pyslurm(jobs, cluster=view, source="pyslurm:c1"))


def one(job: Any, view: ClusterView = UTC_VIEW) -> JobRecord:
    [rec] = convert(job, view=view)
    assert isinstance(rec, JobRecord), rec
    return rec


def from_sacct(line: str, view: ClusterView = UTC_VIEW) -> JobRecord:
    [rec] = SacctParser(clusters={view.name: view}, source="sacct").parse(sacct_text(line))
    assert isinstance(rec, JobRecord), rec
    return rec


# --- mapping: each shape agrees with the sacct parser -----------------------------------------------------


def test_completed_gpu_job_matches_sacct_on_a_tokyo_cluster() -> None:
    job = DbJob(
        10,
        cluster="c2",
        submit_time=utc("2026-11-01T00:00:00"),
        start_time=utc("2026-11-01T00:30:00"),
        end_time=utc("2026-11-01T02:00:00"),
        elapsed_time=5400,
        allocated_tres=gpus(2, h100=2),
    )
    rec = one(job, TOKYO_VIEW)
    # sacct prints the same job in the cluster's local time (UTC+9)
    line = "10|10|c2|acme|alice|gpu|COMPLETED|2026-11-01T09:00:00|2026-11-01T09:30:00|2026-11-01T11:00:00|5400|billing=16,cpu=16,gres/gpu:h100=2,gres/gpu=2,mem=100G,node=1"
    assert rec == from_sacct(line, TOKYO_VIEW)
    assert rec == JobRecord(
        "c2",
        "10",
        10,
        utc("2026-11-01T00:00:00"),
        "acme",
        "alice",
        "gpu",
        "COMPLETED",
        utc("2026-11-01T00:30:00"),
        utc("2026-11-01T02:00:00"),
        5400,
        (("h100", 2),),
    )


def test_node_list_matches_sacct_and_is_unknown_where_pyslurm_has_none() -> None:
    tres = gpus(8, h100=8)
    rec = one(DbJob(11, elapsed_time=60, end_time=T0 + 60, allocated_tres=tres, nodelist="gpu[01-02]"))
    header = "JobID|JobIDRaw|Cluster|Account|User|Partition|State|Submit|Start|End|ElapsedRaw|AllocTRES|NodeList"
    line = f"11|11|c1|acme|alice|gpu|COMPLETED|{T0}|{T0}|{T0 + 60}|60|billing=16,cpu=16,gres/gpu:h100=8,gres/gpu=8,mem=100G,node=1|gpu[01-02]"
    [same] = SacctParser(clusters={"c1": UTC_VIEW}, source="sacct").parse(sacct_text(line, header=header))
    assert rec.nodes == "gpu[01-02]" and rec == same
    assert one(DbJob(12, nodelist="None assigned")).nodes is None
    assert one(SimpleNamespace(**{k: v for k, v in vars(DbJob(13)).items() if k != "nodelist"})).nodes is None
    [bad] = convert(DbJob(14, nodelist="gpu[2-1]"))
    assert isinstance(bad, InputError) and "attribute 'nodelist': hostlist 'gpu[2-1]'" in bad.reason


def test_array_task_is_printed_like_sacct() -> None:
    job = DbJob(
        307,
        array_id=300,
        array_task_id=7,
        end_time=utc("2026-11-01T00:01:00"),
        elapsed_time=60,
        allocated_tres=gpus(1, h100=1),
    )
    rec = one(job)
    assert rec == from_sacct(
        "300_7|307|c1|acme|alice|gpu|COMPLETED|2026-11-01T00:00:00|2026-11-01T00:00:00|2026-11-01T00:01:00|60|gres/gpu:h100=1,gres/gpu=1"
    )
    assert (rec.job_id, rec.job_id_raw) == ("300_7", 307)


def test_array_task_zero_which_pyslurm_25_11_reports_as_none() -> None:
    assert one(DbJob(300, array_id=300, array_task_id=None)).job_id == "300_0"


def test_pending_array_hex_bitmap_becomes_sacct_ranges() -> None:
    job = DbJob(300, state="PENDING", start_time=None, array_id=300, array_tasks_waiting="0x3E0")
    rec = one(job)
    assert rec == from_sacct("300_[5-9]|300|c1|acme|alice|gpu|PENDING|2026-11-01T00:00:00|Unknown|Unknown|0|")
    parallel = replace(job, array_tasks_waiting="0x2B", array_tasks_parallel=2)
    assert one(parallel).job_id == "300_[0-1,3,5]%2"
    assert one(replace(job, array_tasks_waiting="5-9")).job_id == "300_[5-9]"


def test_het_components_print_plus_offset() -> None:
    leader = DbJob(500, heterogeneous_id=500, heterogeneous_offset=None, allocated_tres=gpus(h100=4))
    member = DbJob(501, heterogeneous_id=500, heterogeneous_offset=1, allocated_tres=gpus(a100=2))
    first, second = convert(leader, member)
    assert isinstance(first, JobRecord) and isinstance(second, JobRecord)
    assert (first.job_id, first.job_id_raw, first.gpus) == ("500+0", 500, (("h100", 4),))
    assert second == from_sacct(
        "500+1|501|c1|acme|alice|gpu|COMPLETED|2026-11-01T00:00:00|2026-11-01T00:00:00|Unknown|0|gres/gpu:a100=2"
    )


def test_requeued_pair_keeps_both_segments_apart() -> None:
    early = DbJob(
        42,
        state="REQUEUED",
        submit_time=utc("2026-11-01T00:00:00"),
        start_time=utc("2026-11-01T00:00:10"),
        end_time=utc("2026-11-01T00:10:10"),
        elapsed_time=600,
        allocated_tres=gpus(8, h100=8),
    )
    late = replace(
        early,
        state="COMPLETED",
        submit_time=utc("2026-11-01T00:10:10"),
        start_time=utc("2026-11-01T00:20:00"),
        end_time=utc("2026-11-01T01:20:00"),
        elapsed_time=3600,
    )
    first, second = convert(early, late)
    assert isinstance(first, JobRecord) and isinstance(second, JobRecord)
    assert first.key != second.key
    assert (first.job_id, second.job_id) == ("42", "42")
    assert (first.state, first.elapsed, second.state, second.elapsed) == ("REQUEUED", 600, "COMPLETED", 3600)


def test_pending_job_has_no_times_and_no_gpus() -> None:
    job = DbJob(1, state="PENDING", start_time=None, end_time=None, elapsed_time=None, allocated_tres=None)
    rec = one(job)
    assert rec == from_sacct("1|1|c1|acme|alice|gpu|PENDING|2026-11-01T00:00:00|Unknown|Unknown|0|")
    assert (rec.start, rec.end, rec.elapsed, rec.gpus) == (None, None, 0, ())


def test_running_job_has_elapsed_so_far_and_no_end() -> None:
    job = DbJob(2, state="RUNNING", elapsed_time=120, allocated_tres=gpus(4, h100=4))
    assert one(job) == from_sacct(
        "2|2|c1|acme|alice|gpu|RUNNING|2026-11-01T00:00:00|2026-11-01T00:00:00|Unknown|120|gres/gpu:h100=4,gres/gpu=4"
    )


def test_cancelled_jobs_keep_the_first_word_of_the_state() -> None:
    before_start = DbJob(3, state="CANCELLED", start_time=None, end_time=utc("2026-11-01T00:05:00"))
    assert one(before_start) == from_sacct(
        "3|3|c1|acme|alice|gpu|CANCELLED by 1001|2026-11-01T00:00:00|None|2026-11-01T00:05:00|0|"
    )
    assert one(replace(before_start, state="cancelled by 1001")).state == "CANCELLED"


def test_untyped_gpu_count_is_charged_as_the_cluster_default() -> None:
    job = DbJob(4, end_time=utc("2026-11-01T01:00:00"), elapsed_time=3600, allocated_tres=gpus(2))
    rec = one(job)
    assert rec.gpus == (("h100", 2),)
    assert rec == from_sacct(
        "4|4|c1|acme|alice|gpu|COMPLETED|2026-11-01T00:00:00|2026-11-01T00:00:00|2026-11-01T01:00:00|3600|cpu=4,gres/gpu=2"
    )
    assert one(replace(job, cluster="c2"), TOKYO_VIEW).gpus == (("h200", 2),)


def test_mixed_and_partly_typed_gpus_and_other_gres() -> None:
    tres = gpus(3, h100=1, A100=1)
    tres.gres["gpumem"] = SimpleNamespace(count=81920, type="gres", name="gpumem")
    assert one(DbJob(5, allocated_tres=tres)).gpus == (("a100", 1), ("h100", 2))


def test_tres_string_and_flat_mapping_forms() -> None:
    assert one(DbJob(6, allocated_tres="cpu=8,gres/gpu:h200=2,gres/gpu=2,mem=8G")).gpus == (("h200", 2),)
    flat = {"cpu": SimpleNamespace(count=8), "gres/gpu:a100": SimpleNamespace(count=4), "gres/gpu": 4}
    assert one(DbJob(7, allocated_tres=flat)).gpus == (("a100", 4),)


def test_aware_datetimes_are_accepted_naive_ones_refused() -> None:
    plus9 = timezone(timedelta(hours=9))
    aware = DbJob(8, submit_time=datetime(2026, 11, 1, 9, 0, tzinfo=plus9))
    assert one(aware).submit == utc("2026-11-01T00:00:00")
    [err] = convert(DbJob(8, submit_time=datetime(2026, 11, 1, 9, 0)))
    assert isinstance(err, InputError) and "'submit_time'" in err.reason and "naive" in err.reason


def test_a_jobs_map_is_read_through_its_values() -> None:
    class JobsMap(dict[int, DbJob]):
        """``pyslurm.db.Jobs`` iterates its keys; the mapper must read the values."""

    jobs = JobsMap({11: DbJob(11), 12: DbJob(12)})
    recs = list(records_from_pyslurm(jobs, cluster=UTC_VIEW, source="s"))
    assert [r.job_id_raw for r in recs if isinstance(r, JobRecord)] == [11, 12]


# --- malformed objects become InputErrors naming the attribute --------------------------------------------


def test_malformed_objects_yield_input_errors_in_place_and_the_rest_still_map() -> None:
    class Broken:
        """A job whose property raises inside pyslurm (e.g. a lookup that fails)."""

        def __init__(self, job: DbJob) -> None:
            self._job = job

        def __getattr__(self, name: str) -> Any:
            if name == "account":
                raise KeyError("uid 4242")
            return getattr(self._job, name)

    results = convert(
        DbJob(20),
        object(),
        DbJob("21"),  # type: ignore[arg-type]
        DbJob(22, submit_time=None),
        DbJob(23, allocated_tres=gpus(b200=1)),
        DbJob(24, start_time=None, elapsed_time=30),
        DbJob(25, cluster="elsewhere"),
        DbJob(26, state=""),
        DbJob(27, allocated_tres=gpus(h100=-1)),
        DbJob(28, allocated_tres=42),
        Broken(DbJob(29)),
        DbJob(30),
    )
    assert isinstance(results[0], JobRecord) and isinstance(results[-1], JobRecord)
    errors = [e for e in results[1:-1] if isinstance(e, InputError)]
    assert len(errors) == len(results) - 2
    expected = [
        (2, "'id' is missing"),
        (3, "'id' is '21'"),
        (4, "'submit_time' is missing"),
        (5, "GPU type 'b200'"),
        (6, "'elapsed_time' is 30 but 'start_time' is unknown"),
        (7, "'cluster' is 'elsewhere'"),
        (8, "'state' '' is not a Slurm job state"),
        (9, "'allocated_tres' GPU entry 'gpu:h100' has count -1"),
        (10, "'allocated_tres' is int"),
        (11, "'account' could not be read: KeyError"),
    ]
    for err, (line_no, text) in zip(errors, expected, strict=True):
        assert err.line_no == line_no and err.source == "pyslurm:c1"
        assert text in err.reason, (line_no, err.reason)
    assert "allocated_tres" in errors[3].reason
    assert errors[1].line == "pyslurm job id='21' cluster='c1'"


# --- load_pyslurm ----------------------------------------------------------------------------------------


def fake_pyslurm(version: str | None = "25.11.0", *, via_function: bool = False) -> ModuleType:
    module = ModuleType("pyslurm")
    if via_function:
        module.version = lambda: version  # type: ignore[attr-defined]
    elif version is not None:
        module.__version__ = version  # type: ignore[attr-defined]
    return module


def importer_of(module: ModuleType) -> Any:
    return lambda name: module


def raising(exc: BaseException) -> Any:
    def importer(name: str) -> ModuleType:
        raise exc

    return importer


@pytest.mark.skipif(importlib.util.find_spec("pyslurm") is not None, reason="pyslurm is installed here")
def test_the_real_import_reports_pyslurm_missing() -> None:
    with pytest.raises(BackendUnavailable) as info:
        load_pyslurm(slurm_version=lambda: pytest.fail("version must not be asked"))
    assert info.value.reason == NOT_INSTALLED
    assert "pip install 'quotad[pyslurm]'" in str(info.value) and "25.11" in str(info.value)
    assert "sacct backend" in str(info.value)
    assert isinstance(info.value, QuotadError)


def test_missing_module_injected() -> None:
    with pytest.raises(BackendUnavailable, match="not installed"):
        load_pyslurm(importer=raising(ModuleNotFoundError("No module named 'pyslurm'", name="pyslurm")))


def test_missing_dependency_of_pyslurm_is_not_called_missing_pyslurm() -> None:
    with pytest.raises(BackendUnavailable, match=re.escape("installed but cannot import 'pyslurm.core.job'")):
        load_pyslurm(importer=raising(ModuleNotFoundError("no pyslurm.core.job", name="pyslurm.core.job")))


@pytest.mark.parametrize(
    "message",
    [
        "libslurm.so.42: cannot open shared object file: No such file or directory",
        "/usr/lib/python3/pyslurm/core/job/job.so: undefined symbol: slurm_job_state_string",
    ],
)
def test_wrong_libslurm_import_error(message: str) -> None:
    with pytest.raises(BackendUnavailable) as info:
        load_pyslurm(importer=raising(ImportError(message)))
    reason = info.value.reason
    assert "cannot load the libslurm it was built for" in reason and "25.11" in reason and message in reason


def test_other_import_failures_say_so() -> None:
    with pytest.raises(BackendUnavailable, match="failed to import"):
        load_pyslurm(importer=raising(ImportError("circular import")))
    with pytest.raises(BackendUnavailable, match=re.escape("failed to initialise at import (RuntimeError: slurm_init")):
        load_pyslurm(importer=raising(RuntimeError("slurm_init failed")))


def test_version_mismatch_names_both_versions() -> None:
    with pytest.raises(BackendUnavailable) as info:
        load_pyslurm(importer=importer_of(fake_pyslurm("25.11.0")), slurm_version=lambda: "slurm-wlm 22.05.8")
    reason = info.value.reason
    assert "pyslurm 25.11.0 is built for Slurm 25.11" in reason and "'slurm-wlm 22.05.8'" in reason


def test_matching_versions_return_the_module() -> None:
    module = fake_pyslurm("25.11.2")
    assert load_pyslurm(importer=importer_of(module), slurm_version=lambda: "slurm 25.11.0") is module
    older = fake_pyslurm("25.5.0", via_function=True)  # pyslurm writes 25.05 as 25.5
    assert load_pyslurm(importer=importer_of(older), slurm_version=lambda: "slurm 25.05.3") is older


def test_unknown_versions_are_refused() -> None:
    with pytest.raises(BackendUnavailable, match="does not report a usable version"):
        load_pyslurm(importer=importer_of(fake_pyslurm(None)), slurm_version=lambda: "slurm 25.11.0")
    with pytest.raises(BackendUnavailable, match="cannot read the running Slurm version from 'garbage'"):
        load_pyslurm(importer=importer_of(fake_pyslurm()), slurm_version=lambda: "garbage")

    def no_sinfo() -> str:
        raise FileNotFoundError("sinfo")

    with pytest.raises(BackendUnavailable, match=re.escape("cannot tell which Slurm is running (FileNotFoundError")):
        load_pyslurm(importer=importer_of(fake_pyslurm()), slurm_version=no_sinfo)


def test_running_slurm_version_wraps_sinfo_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        assert cmd == ["sinfo", "--version"]
        return subprocess.CompletedProcess(cmd, 0, stdout="slurm 22.05.8\n", stderr="")

    monkeypatch.setattr(subprocess, "run", fake_run)
    assert running_slurm_version() == "slurm 22.05.8"

    def missing(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        raise FileNotFoundError(2, "No such file or directory", "sinfo")

    monkeypatch.setattr(subprocess, "run", missing)
    with pytest.raises(BackendUnavailable, match="sinfo --version failed"):
        running_slurm_version()


# --- load_jobs -------------------------------------------------------------------------------------------


class FilterWithDuplicates:
    """A JobFilter that, like pyslurm's cdef class, accepts only its declared attributes."""

    __slots__ = ("clusters", "end_time", "start_time", "truncate_time", "with_duplicates")

    def __init__(self, **kwargs: Any) -> None:
        self.with_duplicates = None
        for key, value in kwargs.items():
            setattr(self, key, value)


class Filter2511:
    """JobFilter as pyslurm 25.11 documents it: no duplicates switch."""

    __slots__ = ("clusters", "end_time", "start_time", "truncate_time")

    def __init__(self, **kwargs: Any) -> None:
        for key, value in kwargs.items():
            setattr(self, key, value)


class JobsMap(dict[tuple[str, int], Any]):
    pass


def fake_module(job_filter: type, loaded: Any = None, error: Exception | None = None) -> tuple[Any, list[Any]]:
    seen: list[Any] = []

    def load(db_filter: Any) -> Any:
        seen.append(db_filter)
        if error is not None:
            raise error
        return loaded

    db = SimpleNamespace(JobFilter=job_filter, Jobs=SimpleNamespace(load=load))
    return SimpleNamespace(db=db), seen


def test_load_jobs_asks_for_duplicates_and_returns_the_job_objects() -> None:
    jobs = JobsMap({("c1", 1): DbJob(1), ("c1", 2): DbJob(2)})
    module, seen = fake_module(FilterWithDuplicates, loaded=jobs)
    got = load_jobs(module, cluster_name="c1", start=100, end=200)
    assert got == [DbJob(1), DbJob(2)]
    [used] = seen
    assert (used.start_time, used.end_time, used.clusters, used.with_duplicates) == (100, 200, ["c1"], True)
    assert [r.job_id_raw for r in records_from_pyslurm(got, cluster=UTC_VIEW, source="s")] == [1, 2]  # type: ignore[union-attr]


def test_load_jobs_refuses_a_filter_without_duplicates_unless_allowed() -> None:
    module, seen = fake_module(Filter2511, loaded=[DbJob(3)])
    with pytest.raises(BackendUnavailable, match="no duplicates option"):
        load_jobs(module, cluster_name="c1", start=0, end=1)
    assert seen == []
    assert load_jobs(module, cluster_name="c1", start=0, end=1, allow_missing_duplicates=True) == [DbJob(3)]


def test_load_jobs_wraps_pyslurm_errors() -> None:
    class RPCError(Exception):
        pass

    module, _ = fake_module(FilterWithDuplicates, error=RPCError("Failed to get Jobs from slurmdbd"))
    with pytest.raises(
        PyslurmQueryError, match=re.escape("cluster 'c1' for 0..1: RPCError: Failed to get Jobs")
    ) as info:
        load_jobs(module, cluster_name="c1", start=0, end=1)
    assert isinstance(info.value, QuotadError)

    def bad_filter(**kwargs: Any) -> Any:
        raise ValueError("QoS 'x' does not exist")

    module, _ = fake_module(bad_filter)  # type: ignore[arg-type]
    with pytest.raises(PyslurmQueryError, match="could not build a JobFilter: ValueError: QoS"):
        load_jobs(module, cluster_name="c1", start=0, end=1)
