"""``quotad demo``: a synthetic programme on SQLite, ingested through the real sacct path, then reported."""

from __future__ import annotations

from pathlib import Path

import typer

from quotad.cli.context import NowOption, parse_now


def demo(
    ctx: typer.Context,
    directory: Path | None = typer.Option(None, "--dir", help="Where to put the ledger, config and sacct files."),
    now_text: str | None = NowOption,
    seed: int = typer.Option(20260401, "--seed", help="Random seed of the generated history."),
) -> None:
    """Build a synthetic programme (10 companies, 2 clusters, six months of jobs, GPU telemetry, reserved
    capacity), run one policy tick, and show the status, the month's report, the directives, a notice and charts."""
    from quotad.demo.run import run_demo

    run_demo(directory, now=parse_now(now_text), seed=seed, loop=True)
