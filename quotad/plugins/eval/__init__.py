"""Built-in plugin ``eval``: the companies' LLM evaluation results (Japanese and English benchmarks).

Reads lm-evaluation-harness, llm-jp-eval and MT-Bench outputs into one long table of scores, maps tasks to
language and category through a maintained catalogue, and shows coverage and leaderboards beside each
company's compute from the ledger; gives the public site its leaderboard and the review committee's pack each
company's latest office-level results. Registered like any third-party plugin (entry point ``eval``).
"""

from __future__ import annotations

from pathlib import Path

from quotad.plugins.api import Host, Plugin, table_of

__all__ = ["plugin"]


def plugin(host: Host) -> Plugin:
    """Entry point of the ``quotad.plugins`` group; imports the plugin's modules only when it is loaded."""
    from quotad.plugins.eval import models
    from quotad.plugins.eval.cli import app
    from quotad.plugins.eval.committee import committee
    from quotad.plugins.eval.publish import publish
    from quotad.plugins.eval.survey import survey

    del host  # eval needs nothing from other plugins
    return Plugin(
        name="eval",
        summary="Evaluation results: ingest harness outputs, coverage, leaderboards.",
        app=app,
        tables=table_of(models.EvalFile, models.EvalRun, models.EvalScore, models.EvalComputeLink),
        migrations=Path(__file__).resolve().parent / "migrations",
        publish=publish,
        committee=committee,
        survey=survey,
    )
