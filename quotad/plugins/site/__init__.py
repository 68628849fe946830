"""Built-in plugin ``site``: the programme's public bilingual static site (``quotad site build OUT/``).

It owns the per-company disclosure flags (shared as ``Plugin.disclosure``, so other plugins' public totals
follow the same rule as the site's) and the news; everything else comes read-only from the ledger view
and from other plugins' publications (evaluation results now, events from a later community plugin).
"""

from __future__ import annotations

from pathlib import Path

from quotad.plugins.api import Host, Plugin, table_of

__all__ = ["plugin"]


def plugin(host: Host) -> Plugin:
    """Entry point of the ``quotad.plugins`` group."""
    from quotad.plugins.site import models
    from quotad.plugins.site.cli import make_app
    from quotad.plugins.site.store import public_companies
    from quotad.plugins.site.survey import survey

    return Plugin(
        name="site",
        summary="Public bilingual site: overview, companies, compute, results, news.",
        app=make_app(host),
        tables=table_of(models.SiteCompany, models.SiteNews),
        migrations=Path(__file__).resolve().parent / "migrations",
        survey=survey,
        disclosure=public_companies,
    )
