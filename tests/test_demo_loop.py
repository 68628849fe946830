"""``quotad demo`` shows the whole loop through the real CLI: telemetry rows through the agent's upsert, reserved
capacity, one policy tick, the status ("as of"), the month's report, the directives it opened, an idle-GPU
notice (Japanese, then English) found from those telemetry rows, chart files, and three commands to try next."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from sqlalchemy import create_engine, func, select
from typer.testing import CliRunner

from quotad.cli.main import app
from quotad.directives.models import Directive
from quotad.ledger.telemetry_models import GpuUsageHourly
from quotad.pool.models import ReservedCapacity


def test_the_demo_shows_the_whole_loop(tmp_path: Path) -> None:
    where = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--dir", str(where), "--now", "2026-12-07T01:00:00"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Grant status as of 2026-12-07 10:00 JST" in out and "Usage 2026-12 by company" in out
    assert "hourly rows written through the agent's upsert (1 job allocated and idle, 6 busy)" in out
    assert "idle_allocation" in out and "quota_threshold" in out
    notice = out[out.index("The idle-GPU notice") :]
    assert notice.index("ご担当者様") < notice.index("English follows") < notice.index("Dear ")
    for name in ("burn-down.svg", "pool-by-day.svg", "monthly-use.png"):
        assert (where / name).stat().st_size > 1000 and str(where / name) in out
    tries = out[out.index("Try next:") :].splitlines()[1:4]
    assert len(tries) == 3 and all(
        line.strip().startswith(str(Path(sys.executable).parent / "quotad")) for line in tries
    )

    engine = create_engine(f"sqlite:///{where / 'ledger.sqlite'}")
    with engine.connect() as conn:
        idle_job = conn.scalar(select(Directive.job_id).where(Directive.policy == "idle_allocation"))
        rows = conn.scalar(select(func.count()).select_from(GpuUsageHourly).where(GpuUsageHourly.job_id == idle_job))
        reservations = conn.scalar(select(func.count()).select_from(ReservedCapacity))
    engine.dispose()
    assert idle_job is not None and rows and rows > 0  # the idle finding comes from telemetry rows
    assert reservations == 2

    # The survey report on the demo ledger: the office's records fill the challenges and community chapters,
    # and the third command to try writes the public PDF.
    survey_cmd = tries[2].split()
    assert survey_cmd[1:5] == ["-c", str(where / "quotad.toml"), "programme", "report"]
    md = CliRunner().invoke(
        app,
        [
            "-c",
            str(where / "quotad.toml"),
            "programme",
            "report",
            "--format",
            "md",
            "--lang",
            "en",
            "--edition",
            "public",
        ],
    )
    assert md.exit_code == 0, md.output
    challenges = md.stdout.split("## 7. ")[1]
    assert "Data acquisition" in challenges and "Talent" in challenges and "Evaluation" not in challenges
    assert "Getting data, above all licensing medical text" in challenges
    assert "Node failures" not in md.stdout and "Example Cloud" not in md.stdout  # consortium-only, office-only
    assert "| Technology firms | 1 | 1 |" in md.stdout
    assert "Reserved capacity and its use" in md.stdout and "cost of the" not in md.stdout  # prices: office only
    office = CliRunner().invoke(
        app,
        [
            "-c",
            str(where / "quotad.toml"),
            "programme",
            "report",
            "--format",
            "md",
            "--lang",
            "en",
            "--edition",
            "office",
        ],
    )
    assert office.exit_code == 0, office.output
    assert re.search(r"\| cost of the reserved capacity \| [\d,]+ JPY \|", office.stdout)
    opened = re.search(r"One policy tick opened (\d+) directive", out)
    assert opened and f"| Directives opened | {opened.group(1)} |" in md.stdout
    assert "### Directives by policy and outcome" in md.stdout and "| Idle allocated GPUs | 0 | 1 |" in md.stdout
