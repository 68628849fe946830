"""Property-based fuzzing of the sacct and PBS readers through the real CLI and write path.

Each example is a file of good lines mixed with hostile ones (values the ledger cannot hold, implausible values,
NUL bytes, invalid UTF-8, a byte-order mark, junk, CRLF). The properties: no exception escapes the command;
every hostile line is quarantined under its own line number; the charged totals equal those of the good lines
alone; ingesting the file again changes nothing. The examples run in a child process under an address-space
limit (``RLIMIT_AS``), so a line that made the write path expand memory fails the test instead of the machine.

SQLite gets the full example budget, PostgreSQL a shorter run; ``QUOTAD_FUZZ_PROFILE=fuzz`` (``make fuzz``) runs
many more, with fresh random inputs.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select, text

from quotad.cli.main import app
from quotad.ledger.db import create_ledger_engine, upgrade
from quotad.ledger.models import IngestError, IngestRun, Job, UsageHourly
from tests.conftest import make_settings
from tests.fuzz_profiles import PROFILE, examples, register_profiles
from tests.helpers import HEADER

pytestmark = pytest.mark.fuzz

#: The child's address-space ceiling: the interpreter, SQLAlchemy, psycopg and hypothesis fit well within it,
#: an hour-by-hour expansion of one 10^12-second record (2.2 GB before the gate) does not.
MEMORY_LIMIT = 1536 * 1024 * 1024
ROOT = Path(__file__).resolve().parents[1]
YEAR_2026 = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
SACCT_CLUSTERS = [{"name": "c1", "default_gpu_type": "h100", "timezone": "UTC"}]
PBS_CLUSTERS = [{"name": "p1", "scheduler": "pbs", "default_gpu_type": "h100", "timezone": "UTC"}]


@dataclass(frozen=True)
class Line:
    text: str
    #: GPU-seconds a good line charges; None for a hostile line (it must be refused).
    charge: int | None


@dataclass(frozen=True)
class FuzzFile:
    lines: list[Line]
    bom: bool
    newline: str

    def write(self, path: Path, header: str | None) -> dict[int, Line]:
        """Write the file; returns its data lines by line number."""
        rows = ([header] if header is not None else []) + [line.text for line in self.lines]
        body = ("\ufeff" if self.bom else "") + self.newline.join(rows) + self.newline
        path.write_bytes(body.encode("utf-8", "surrogatepass"))  # a lone surrogate becomes invalid UTF-8
        first = 2 if header is not None else 1
        return {first + i: line for i, line in enumerate(self.lines)}


#: Text of junk lines: no field separators and no line breaks, never blank (a blank line is skipped).
def _junk(separator: str) -> st.SearchStrategy[Line]:
    alphabet = st.characters(blacklist_characters=f"{separator}\n\r", blacklist_categories=())
    return st.text(alphabet, min_size=1, max_size=60).filter(lambda t: t.strip() != "").map(lambda t: Line(t, None))


# ---------------------------------------------------------------------------------------------------- sacct

_SACCT_BAD: dict[int, list[str]] = {
    1: ["9" * 25, "abc", "-1", ""],  # JobIDRaw
    0: ["9\x00", "x" * 1100],  # JobID
    2: ["nowhere"],  # Cluster
    3: ["ac\x00me", "a" * 300],  # Account
    4: ["u\x00", "u" * 300],  # User
    5: ["p" * 300],  # Partition
    6: ["completed", "A" * 30],  # State
    7: ["0001-01-01T00:00:00", "9999-12-31T00:00:00", "1" * 17, "2026-13-01T00:00:00", ""],  # Submit
    10: ["1000000000000", "9" * 25, "-5", "1e3", ""],  # ElapsedRaw
    11: ["gres/gpu=" + "9" * 25, "gres/gpu:h100=999999999", f"gres/gpu={2**31}", "gres/gpu:nosuch=1", "gres/gpu"],
}


@st.composite
def sacct_line(draw: st.DrawFn, raw_id: int) -> Line:
    start = draw(st.integers(YEAR_2026, YEAR_2026 + 300 * 86400))
    elapsed = draw(st.integers(0, 40 * 86400))
    gpus = draw(st.integers(0, 64))
    account = draw(st.sampled_from(["acme", "beta", "日本語", "a" * 200]))
    stamp = draw(st.sampled_from(["epoch", "iso"]))

    def show(epoch: int) -> str:
        return str(epoch) if stamp == "epoch" else datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S")

    tres = draw(st.sampled_from([f"cpu=4,gres/gpu={gpus}", f"gres/gpu:h100={gpus},gres/gpu={gpus}", "cpu=1,mem=1G"]))
    charge = elapsed * (gpus if "gpu" in tres else 0)
    fields = [
        str(raw_id), str(raw_id), "c1", account, draw(st.sampled_from(["alice", "bob"])), "gpu",
        draw(st.sampled_from(["COMPLETED", "FAILED", "RUNNING", "CANCELLED by 0"])),
        show(start), show(start), show(start + elapsed), str(elapsed), tres,
    ]  # fmt: skip
    kind = draw(st.sampled_from(["good", "good", "field", "count", "junk"]))
    if kind == "good":
        return Line("|".join(fields), charge)
    if kind == "junk":
        return draw(_junk("|"))
    if kind == "count":
        extra = draw(st.booleans())
        return Line("|".join([*fields, "x"] if extra else fields[:-1]), None)
    column = draw(st.sampled_from(sorted(_SACCT_BAD)))
    fields[column] = draw(st.sampled_from(_SACCT_BAD[column]))
    return Line("|".join(fields), None)


@st.composite
def sacct_file(draw: st.DrawFn) -> FuzzFile:
    count = draw(st.integers(1, 25))
    lines = [draw(sacct_line(raw_id)) for raw_id in range(1, count + 1)]
    return FuzzFile(lines, draw(st.booleans()), draw(st.sampled_from(["\n", "\r\n"])))


# ---------------------------------------------------------------------------------------------------- PBS

_PBS = (
    "{stamp};E;{seq}.pbs01;user={user} group=g project={project} queue=gpu start={start} end={end} Exit_status=0 "
    "Resource_List.ngpus={gpus} resources_used.walltime={walltime} run_count=1"
)
_PBS_BAD: dict[str, list[str]] = {
    "stamp": ["13/45/2026 99:00:00", "yesterday"],
    "seq": ["9" * 25, "x1"],
    "user": ["a\x00b", "u" * 300],
    "project": ["p" * 300],
    "start": ["1" * 17, "abc"],
    "gpus": ["9" * 25, str(2**31), "999999999", "x"],
    "walltime": ["99999999999", "1:99:00", "-1"],
}


@st.composite
def pbs_line(draw: st.DrawFn, seq: int) -> Line:
    start = draw(st.integers(YEAR_2026, YEAR_2026 + 300 * 86400))
    walltime = draw(st.integers(0, 40 * 86400))
    gpus = draw(st.integers(0, 64))
    values = {
        "stamp": datetime.fromtimestamp(start + walltime, UTC).strftime("%m/%d/%Y %H:%M:%S"),
        "seq": str(seq),
        "user": draw(st.sampled_from(["alice", "bob"])),
        "project": draw(st.sampled_from(["p1", "日本語", "_pbs_project_default"])),
        "start": str(start),
        "end": str(start + walltime),
        "gpus": str(gpus),
        "walltime": f"{walltime // 3600:02d}:{walltime % 3600 // 60:02d}:{walltime % 60:02d}",
    }
    kind = draw(st.sampled_from(["good", "good", "field", "junk"]))
    if kind == "good":
        return Line(_PBS.format(**values), walltime * gpus)
    if kind == "junk":
        return draw(_junk(";"))
    key = draw(st.sampled_from(sorted(_PBS_BAD)))
    values[key] = draw(st.sampled_from(_PBS_BAD[key]))
    return Line(_PBS.format(**values), None)


@st.composite
def pbs_file(draw: st.DrawFn) -> FuzzFile:
    count = draw(st.integers(1, 25))
    return FuzzFile([draw(pbs_line(seq)) for seq in range(1, count + 1)], False, draw(st.sampled_from(["\n", "\r\n"])))


# ---------------------------------------------------------------------------------------------------- checks


def _reset(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in ("ingest_errors", "ingest_runs", "jobs", "usage_hourly", "usage_daily", "usage_user_daily"):
            conn.execute(text(f"DELETE FROM {table}"))


def _state(engine: Engine) -> tuple[int, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        total = int(conn.scalar(select(func.coalesce(func.sum(UsageHourly.gpu_seconds), 0))) or 0)
        jobs = [tuple(r) for r in conn.execute(select(Job.__table__).order_by(Job.id))]
    return total, jobs


def _last_run(engine: Engine) -> tuple[int, int, list[int]]:
    with engine.connect() as conn:
        # The file's run, not the open-run refresh that a PBS ingest ends with.
        latest = select(IngestRun.id, IngestRun.lines_bad).where(IngestRun.source.not_like("%:open-runs"))
        run_id, bad = conn.execute(latest.order_by(IngestRun.id.desc())).first() or (0, 0)
        lines = sorted(conn.scalars(select(IngestError.line_no).where(IngestError.run_id == run_id)))
    return int(run_id), int(bad), [int(n) for n in lines]


def _check(engine: Engine, invoke: Callable[[], Any], lines: dict[int, Line]) -> None:
    _reset(engine)
    result = invoke()
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    bad_lines = sorted(n for n, line in lines.items() if line.charge is None)
    assert result.exit_code == (1 if bad_lines else 0), result.output
    _run, refused, quarantined = _last_run(engine)
    assert (refused, quarantined) == (len(bad_lines), bad_lines), result.output
    total, jobs = _state(engine)
    assert total == sum(line.charge or 0 for line in lines.values())
    again = invoke()
    assert again.exception is None or isinstance(again.exception, SystemExit), repr(again.exception)
    assert _state(engine) == (total, jobs)


def run_property(reader: str, url: str, workdir: Path, count: int) -> None:
    """The property over ``count`` examples (called in the memory-limited child)."""
    from typer.testing import CliRunner

    register_profiles()
    clusters = SACCT_CLUSTERS if reader == "sacct" else PBS_CLUSTERS
    settings = make_settings(url, clusters=clusters)
    engine = create_ledger_engine(settings)
    upgrade(engine)
    config = workdir / "fuzz.toml"
    scheduler = "" if reader == "sacct" else 'scheduler = "pbs"\n'
    name = clusters[0]["name"]
    config.write_text(
        f'[database]\nurl = "{url}"\n[[clusters]]\nname = "{name}"\n{scheduler}default_gpu_type = "h100"\n',
        encoding="utf-8",
    )
    runner = CliRunner()
    data = workdir / "input.txt"

    @given(sacct_file() if reader == "sacct" else pbs_file())
    @hsettings(max_examples=count)
    def prop(fuzz: FuzzFile) -> None:
        lines = fuzz.write(data, HEADER if reader == "sacct" else None)
        args = ["-c", str(config), "ingest", reader, str(data)]
        _check(engine, lambda: runner.invoke(app, args), lines)

    prop()
    engine.dispose()


def _child(reader: str, db_url: str, tmp_path: Path, count: int) -> None:
    code = (
        "import resource, sys\n"
        f"resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT}, {MEMORY_LIMIT}))\n"
        "from pathlib import Path\n"
        "from tests.test_fuzz_accounting import run_property\n"
        f"run_property({reader!r}, {db_url!r}, Path({str(tmp_path)!r}), {count})\n"
    )
    env = {**os.environ, "QUOTAD_FUZZ_PROFILE": PROFILE}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-6000:]


@pytest.mark.parametrize("reader", ["sacct", "pbs"])
def test_hostile_accounting_files_are_gated_line_by_line(reader: str, db_url: str, tmp_path: Path) -> None:
    _child(reader, db_url, tmp_path, examples(25) if db_url.startswith("sqlite") else examples(8))


def test_the_memory_limit_catches_an_expanding_write_path() -> None:
    """The limit is real: the child fails when asked to hold what one unbounded record once took."""
    code = (
        "import resource\n"
        f"resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT}, {MEMORY_LIMIT}))\n"
        "cells = dict.fromkeys(range(10**12 // 3600))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode != 0 and "MemoryError" in done.stderr
    assert resource.RLIMIT_AS >= 0
