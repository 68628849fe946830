"""Built-in plugin ``data``: data holders, their datasets, companies' data needs, matching and introductions.

Datasets carry DCAT/Croissant-like fields (bilingual title and description, publisher, languages, modality,
size, SPDX licence, allowed uses, access mode, PII/copyright status, price). ``quotad data match`` applies hard
filters (allowed uses, language, modality, access) and then a transparent additive score whose every term is
printed; introductions between a need and a dataset are logged with their status history. Datasets arrive by
hand or in bulk from CSV, JSON or CKAN package JSON with row-level errors.
"""

from __future__ import annotations

from pathlib import Path

from quotad.plugins.api import Host, Plugin, table_of

__all__ = ["plugin"]


def plugin(host: Host) -> Plugin:
    """Entry point of the ``quotad.plugins`` group; imports the plugin's modules only when it is loaded."""
    from quotad.plugins.data import models
    from quotad.plugins.data.cli import app
    from quotad.plugins.data.survey import survey

    del host  # data needs nothing from other plugins
    return Plugin(
        name="data",
        summary="Data holders and datasets, companies' data needs, matching, introductions, bulk import.",
        app=app,
        tables=table_of(
            models.DataHolder, models.DataDataset, models.DataNeed, models.DataIntroduction, models.DataIntroEvent
        ),
        migrations=Path(__file__).resolve().parent / "migrations",
        survey=survey,
    )
