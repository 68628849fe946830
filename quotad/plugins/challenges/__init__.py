"""Built-in plugin ``challenges``: the office's log of what holds the companies back.

The programme is a survey as much as a support scheme: its final report says what slowed foundation-model
development down. This plugin keeps that raw material: entries by company (or programme-wide), date,
category (configurable, ja/en labels), severity, description, source (an interview, or a community event,
directive or review call that must exist), status and the office's response, with a history of every change.
Visibility works as for evaluation runs; only counts of public entries by category and month reach the site.
"""

from __future__ import annotations

from pathlib import Path

from quotad.plugins.api import Host, Plugin, table_of

__all__ = ["plugin"]


def plugin(host: Host) -> Plugin:
    """Entry point of the ``quotad.plugins`` group; ``host`` resolves links to other plugins at command time."""
    from quotad.plugins.challenges import models
    from quotad.plugins.challenges.cli import make_app
    from quotad.plugins.challenges.publish import publish
    from quotad.plugins.challenges.survey import survey

    return Plugin(
        name="challenges",
        summary="Challenges log: what holds the companies back (the survey's raw material).",
        app=make_app(host),
        tables=table_of(models.ChallengeEntry, models.ChallengeChange),
        migrations=Path(__file__).resolve().parent / "migrations",
        publish=publish,
        survey=survey,
    )
