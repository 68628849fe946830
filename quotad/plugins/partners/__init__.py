"""Built-in plugin ``partners``: the companies' collaboration with global technology firms and research institutes.

Partners (organisation, country, kind, what they offer, contacts, NDA/MoU state and dates), what companies
seek from them, matching with the same term-by-term score as ``data match`` (``quotad.plugins.scoring``),
introductions with the status machine and history shared with the data plugin
(``quotad.plugins.introductions``), and the outreach events (community events, checked through the community
plugin's reference check) partners are invited to.
"""

from __future__ import annotations

from pathlib import Path

from quotad.plugins.api import Host, Plugin, table_of

__all__ = ["plugin"]


def plugin(host: Host) -> Plugin:
    """Entry point of the ``quotad.plugins`` group."""
    from quotad.plugins.partners import models as m
    from quotad.plugins.partners.cli import make_app
    from quotad.plugins.partners.survey import survey

    return Plugin(
        name="partners",
        summary="Partners abroad: firms and institutes, requests, matching, introductions, outreach events.",
        app=make_app(host),
        tables=table_of(m.PartnerOrg, m.PartnerRequest, m.PartnerIntroduction, m.PartnerIntroEvent, m.PartnerOutreach),
        migrations=Path(__file__).resolve().parent / "migrations",
        survey=survey,
    )
