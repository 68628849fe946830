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
    """Build a synthetic programme, run one policy tick, show its status, directives and a notice.

    Ten companies, two clusters, six months of jobs, GPU telemetry and reserved capacity; then the month's
    report, the directives opened, one notice (Japanese then English) and three charts.
    """
    from quotad.demo.run import run_demo

    run_demo(directory, now=parse_now(now_text), seed=seed, loop=True)
