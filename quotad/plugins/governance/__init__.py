"""Built-in plugin ``governance``: a versioned AI-guidelines checklist and each company's self-assessment.

The checklist follows the structure of Japan's AI Guidelines for Business (ten common guiding principles) in
the programme's own words and ships as data in this package; companies answer it, the office signs answers
off, and coverage and version diffs show where everyone stands. Company ids go through the ledger view only.
"""

from __future__ import annotations

from pathlib import Path

from quotad.plugins.api import Host, Plugin, table_of

__all__ = ["plugin"]


def plugin(host: Host) -> Plugin:
    """Entry point of the ``quotad.plugins`` group; imports the plugin's modules only when it is loaded."""
    from quotad.plugins.governance import models
    from quotad.plugins.governance.cli import app
    from quotad.plugins.governance.survey import survey

    del host  # governance needs nothing from other plugins
    return Plugin(
        name="governance",
        summary="AI-guidelines checklist: self-assessments, sign-off, coverage, version diff and carry-over.",
        app=app,
        tables=table_of(models.GovernanceChecklist, models.GovernanceItem, models.GovernanceAssessment),
        migrations=Path(__file__).resolve().parent / "migrations",
        survey=survey,
    )
