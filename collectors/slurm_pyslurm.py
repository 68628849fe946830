"""Optional pyslurm backend: ``pyslurm.db`` job records mapped to the same ``JobRecord``s the sacct parser makes.

Written against the pyslurm **25.11** API (``pyslurm.db`` as documented in PySlurm's ``pyslurm/db/job.pxd`` and
``pyslurm/db/tres.pxd`` docstrings, the source of its API reference, and the v25.11.0 release notes):

- ``pyslurm.db.Jobs.load(db_filter)`` returns ``pyslurm.db.Jobs``, a multi-cluster map keyed by cluster and then
  by job id (iterating it yields keys; ``.values()`` yields the ``pyslurm.db.Job`` objects).
- ``pyslurm.db.JobFilter(**kwargs)`` takes ``start_time`` / ``end_time`` (str, epoch int or datetime),
  ``clusters`` (list of names), ``truncate_time`` and more. It documents **no duplicates switch**: it sets
  ``JOBCOND_FLAG_NO_TRUNC`` but not ``JOBCOND_FLAG_DUP``, and ``Jobs`` is keyed by job id, so a requeued job's
  earlier segments cannot come back through it. ``load_jobs`` therefore refuses unless the installed pyslurm's
  filter has a ``with_duplicates`` attribute, or the caller accepts losing them (``allow_missing_duplicates``).
- ``pyslurm.db.Job`` attributes used here, types as documented: ``id``, ``array_id``, ``array_task_id``,
  ``array_tasks_parallel``, ``heterogeneous_id``, ``heterogeneous_offset`` (int, ``None`` when unset);
  ``array_tasks_waiting``, ``cluster``, ``account``, ``user_name``, ``partition``, ``state`` (str, ``None``
  when unset); ``submit_time``, ``start_time``, ``end_time`` (unix timestamps, ``None`` when 0/unknown);
  ``elapsed_time`` (seconds, ``None`` when 0); ``allocated_tres`` (``pyslurm.db.TrackableResources``, ``None``
  while pending) whose ``gres`` dict maps ``"gpu"`` / ``"gpu:<type>"`` to ``pyslurm.db.GPU`` (``count``,
  ``type``) and other GRES (``gpumem`` ...) to ``TrackableResource``.

pyslurm quirks handled: its ``u32_parse`` turns 0 into ``None``, so array task 0 and het offset 0 arrive as
``None`` (26.05 fixed the array case); an array record (``array_id`` set) with no task id and no waiting tasks
is task 0. sacct prints the JobID of a pending array as ``<id>_[<tasks>]`` after turning the database's hex
bitmap into ranges and adding ``%<max>``; the same is done here, but without sacct's cut of expressions
longer than ``SLURM_BITSTR_LEN`` (64) characters.

pyslurm builds only against the Slurm release it is versioned for (pyslurm 25.11.x needs Slurm 25.11), so
``load_pyslurm`` says precisely why the backend cannot be used and callers fall back to the sacct backend.
"""

from __future__ import annotations

import importlib
import re
import subprocess
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from types import ModuleType
from typing import Any

from quotad.collectors.runner import child_environment
from quotad.collectors.sacct import ClusterView, parse_node_list
from quotad.errors import InputError, QuotadError
from quotad.ledger.records import JobRecord

__all__ = [
    "BackendUnavailable",
    "PyslurmQueryError",
    "load_jobs",
    "load_pyslurm",
    "records_from_pyslurm",
    "running_slurm_version",
]

_FALLBACK = "using the sacct backend"
NOT_INSTALLED = (
    "pyslurm is not installed (pip install 'quotad[pyslurm]'); it only builds against Slurm 25.11 — " + _FALLBACK
)
_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")
_STATE = re.compile(r"^[A-Z_]+$")


class BackendUnavailable(QuotadError):
    """The pyslurm backend cannot run here; ``reason`` says why (the caller falls back to sacct)."""

    exit_code = 2

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class PyslurmQueryError(QuotadError):
    """pyslurm failed while loading jobs from slurmdbd; the message carries pyslurm's own."""


def running_slurm_version() -> str:
    """The running Slurm's version as ``sinfo --version`` prints it (``slurm 22.05.8``)."""
    try:
        done = subprocess.run(
            ["sinfo", "--version"], capture_output=True, text=True, timeout=30, check=True, env=child_environment()
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise BackendUnavailable(
            f"cannot tell which Slurm is running (sinfo --version failed: {exc}), so pyslurm's build cannot be "
            f"checked against it — {_FALLBACK}"
        ) from exc
    return done.stdout.strip()


def _major_minor(text: str) -> tuple[int, int] | None:
    found = _VERSION.search(text)
    return (int(found.group(1)), int(found.group(2))) if found else None


def load_pyslurm(
    *,
    importer: Callable[[str], ModuleType] = importlib.import_module,
    slurm_version: Callable[[], str] = running_slurm_version,
) -> ModuleType:
    """Import pyslurm and check it was built for the running Slurm; ``BackendUnavailable`` says why not."""
    try:
        module = importer("pyslurm")
    except ModuleNotFoundError as exc:
        if exc.name in (None, "pyslurm"):
            raise BackendUnavailable(NOT_INSTALLED) from exc
        raise BackendUnavailable(f"pyslurm is installed but cannot import {exc.name!r} ({exc}) — {_FALLBACK}") from exc
    except ImportError as exc:
        text = str(exc)
        if "libslurm" in text or "undefined symbol" in text:
            raise BackendUnavailable(
                f"pyslurm is installed but cannot load the libslurm it was built for ({text}): pyslurm only "
                f"builds against Slurm 25.11 and this machine's libslurm is another version — {_FALLBACK}"
            ) from exc
        raise BackendUnavailable(f"pyslurm is installed but failed to import ({text}) — {_FALLBACK}") from exc
    except Exception as exc:  # pyslurm calls slurm_init() at import time
        raise BackendUnavailable(
            f"pyslurm failed to initialise at import ({type(exc).__name__}: {exc}) — {_FALLBACK}"
        ) from exc

    built = getattr(module, "__version__", None)
    if built is None and callable(getattr(module, "version", None)):
        built = module.version()
    built_for = _major_minor(str(built)) if built is not None else None
    if built_for is None:
        raise BackendUnavailable(f"pyslurm does not report a usable version ({built!r}) — {_FALLBACK}")
    try:
        running_text = slurm_version()
    except BackendUnavailable:
        raise
    except Exception as exc:
        raise BackendUnavailable(
            f"cannot tell which Slurm is running ({type(exc).__name__}: {exc}) — {_FALLBACK}"
        ) from exc
    running = _major_minor(running_text)
    if running is None:
        raise BackendUnavailable(
            f"cannot read the running Slurm version from {running_text!r}, so pyslurm {built} cannot be checked "
            f"against it — {_FALLBACK}"
        )
    if running != built_for:
        raise BackendUnavailable(
            f"pyslurm {built} is built for Slurm {built_for[0]}.{built_for[1]:02d} but the running Slurm is "
            f"{running_text!r} (sinfo --version); pyslurm only works with the Slurm release it was built for — "
            f"{_FALLBACK}"
        )
    return module


def load_jobs(
    pyslurm_module: Any, *, cluster_name: str, start: int, end: int, allow_missing_duplicates: bool = False
) -> list[Any]:
    """``pyslurm.db.Job`` objects of ``cluster_name`` active in ``[start, end]`` (UTC epoch seconds).

    Requeued segments must come back (sacct ``--duplicates``): the filter's ``with_duplicates`` is set when the
    installed pyslurm has it. pyslurm 25.11's ``JobFilter`` documents no such switch and its ``Jobs`` is keyed by
    job id, so without it this raises ``BackendUnavailable`` unless ``allow_missing_duplicates`` accepts getting
    only the latest segment of each requeued job.
    """
    try:
        db = pyslurm_module.db
        db_filter = db.JobFilter(start_time=start, end_time=end, clusters=[cluster_name])
    except Exception as exc:
        raise PyslurmQueryError(f"pyslurm could not build a JobFilter: {type(exc).__name__}: {exc}") from exc
    if hasattr(db_filter, "with_duplicates"):
        db_filter.with_duplicates = True
    elif not allow_missing_duplicates:
        raise BackendUnavailable(
            "this pyslurm's db.JobFilter has no duplicates option (sacct --duplicates) and db.Jobs is keyed by "
            "job id, so earlier segments of requeued jobs would be lost without a trace — " + _FALLBACK
        )
    try:
        loaded = db.Jobs.load(db_filter)
        values = getattr(loaded, "values", None)
        return list(values() if callable(values) else loaded)
    except Exception as exc:
        raise PyslurmQueryError(
            f"pyslurm could not load jobs of cluster {cluster_name!r} for {start}..{end}: {type(exc).__name__}: {exc}"
        ) from exc


def records_from_pyslurm(jobs: Iterable[Any], *, cluster: ClusterView, source: str) -> Iterator[JobRecord | InputError]:
    """Yield a record, or an ``InputError`` naming the bad attribute, per pyslurm job (``line_no`` from 1).

    A ``pyslurm.db.Jobs`` map may be passed as is: its ``values()`` are read, not its keys.
    """
    values = getattr(jobs, "values", None)
    items: Iterable[Any] = values() if callable(values) else jobs
    for position, job in enumerate(items, start=1):
        try:
            yield _record(job, cluster)
        except ValueError as exc:
            yield InputError(str(exc), source=source, line_no=position, line=_describe(job))


def _describe(job: Any) -> str:
    try:
        return f"pyslurm job id={getattr(job, 'id', None)!r} cluster={getattr(job, 'cluster', None)!r}"
    except Exception:
        return f"pyslurm job {type(job).__name__}"


def _get(job: Any, name: str) -> Any:
    try:
        return getattr(job, name)
    except AttributeError:
        raise ValueError(f"attribute {name!r} is missing (not a pyslurm.db.Job?)") from None
    except Exception as exc:
        raise ValueError(f"attribute {name!r} could not be read: {type(exc).__name__}: {exc}") from None


def _int(job: Any, name: str) -> int | None:
    value = _get(job, name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"attribute {name!r} is {value!r}, expected a whole number >= 0")
    return value


def _text(job: Any, name: str) -> str:
    value = _get(job, name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"attribute {name!r} is {value!r}, expected a string")
    return value


def _time(job: Any, name: str) -> int | None:
    """A unix timestamp (or an aware datetime); ``None``/0 mean unknown, as pyslurm's ``_raw_time`` gives."""
    value = _get(job, name)
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"attribute {name!r} is a naive datetime {value.isoformat()}; its time zone is unknown")
        return int(value.timestamp())
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"attribute {name!r} is {value!r}, expected a unix timestamp")
    return value or None


def _task_ranges(waiting: str) -> str:
    """sacct's rendering of the database's hex task bitmap (``0x3E0`` -> ``5-9``); other text unchanged."""
    if not waiting.lower().startswith("0x"):
        return waiting
    try:
        bits = int(waiting, 16)
    except ValueError:
        raise ValueError(f"attribute 'array_tasks_waiting' {waiting!r} is not a task bitmap") from None
    ranges: list[str] = []
    index = 0
    while bits >> index:
        if not (bits >> index) & 1:
            index += 1
            continue
        first = index
        while (bits >> (index + 1)) & 1:
            index += 1
        ranges.append(str(first) if first == index else f"{first}-{index}")
        index += 1
    return ",".join(ranges)


def _job_id(job: Any, raw_id: int) -> str:
    """The JobID sacct prints: ``<array>_[<tasks>]``, ``<array>_<task>``, ``<het>+<offset>`` or ``<id>``."""
    array_id = _int(job, "array_id")
    if array_id:
        waiting = _text(job, "array_tasks_waiting")
        if waiting:
            parallel = _int(job, "array_tasks_parallel")
            return f"{array_id}_[{_task_ranges(waiting)}]" + (f"%{parallel}" if parallel else "")
        return f"{array_id}_{_int(job, 'array_task_id') or 0}"
    het_id = _int(job, "heterogeneous_id")
    if het_id:
        return f"{het_id}+{_int(job, 'heterogeneous_offset') or 0}"
    return str(raw_id)


def _gpus(job: Any, cluster: ClusterView) -> tuple[tuple[str, int], ...]:
    """GPUs by type from ``allocated_tres`` through ``parse_alloc_gpus``, so both backends apply one rule."""
    tres = _get(job, "allocated_tres")
    if tres is None:
        return ()
    if isinstance(tres, str):
        text = tres
    else:
        gres = tres if isinstance(tres, Mapping) else getattr(tres, "gres", None)
        if not isinstance(gres, Mapping):
            raise ValueError(
                f"attribute 'allocated_tres' is {type(tres).__name__}, expected pyslurm.db.TrackableResources "
                "(with a 'gres' dict), a TRES string or None"
            )
        items = []
        for key, entry in gres.items():
            name = str(key).removeprefix("gres/")
            if name != "gpu" and not name.startswith("gpu:"):
                continue  # gpumem, gpuutil, shards ...: other TRES, as in parse_alloc_gpus
            count = entry if isinstance(entry, int) else getattr(entry, "count", None)
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ValueError(f"attribute 'allocated_tres' GPU entry {key!r} has count {count!r}")
            items.append(f"gres/{name}={count}")
        text = ",".join(items)
    try:
        return cluster.gpus(text)
    except ValueError as exc:
        raise ValueError(f"attribute 'allocated_tres': {exc}") from None


def _record(job: Any, cluster: ClusterView) -> JobRecord:
    raw_id = _int(job, "id")
    if not raw_id:
        raise ValueError(f"attribute 'id' is {raw_id!r}, expected a job id > 0")
    cluster_name = _text(job, "cluster") or cluster.name
    if cluster_name != cluster.name:
        raise ValueError(f"attribute 'cluster' is {cluster_name!r}, but these jobs were loaded for {cluster.name!r}")
    state_text = _text(job, "state")
    state = state_text.split(" ", 1)[0].upper()
    if not _STATE.match(state):
        raise ValueError(f"attribute 'state' {state_text!r} is not a Slurm job state")
    submit = _time(job, "submit_time")
    if submit is None:
        raise ValueError("attribute 'submit_time' is missing")
    start = _time(job, "start_time")
    end = _time(job, "end_time")
    elapsed = _int(job, "elapsed_time") or 0
    if elapsed and start is None:
        raise ValueError(f"attribute 'elapsed_time' is {elapsed} but 'start_time' is unknown")
    return JobRecord(
        cluster_name,
        _job_id(job, raw_id),
        raw_id,
        submit,
        _text(job, "account"),
        _text(job, "user_name"),
        _text(job, "partition"),
        state,
        start,
        end,
        elapsed,
        _gpus(job, cluster),
        _nodes(job),
    )


def _nodes(job: Any) -> str | None:
    """``nodelist`` (sacct's NodeList); None when this pyslurm has no such attribute or the job got no nodes."""
    try:
        value = job.nodelist
    except AttributeError:
        return None
    except Exception as exc:
        raise ValueError(f"attribute 'nodelist' could not be read: {type(exc).__name__}: {exc}") from None
    if value is not None and not isinstance(value, str):
        raise ValueError(f"attribute 'nodelist' is {value!r}, expected a string")
    return parse_node_list(value, "attribute 'nodelist'")
