"""Built-in plugin ``community``: programme events, registrations with capacity and waitlist, materials.

Public events (and only those, never who registered) reach the public site through ``PublicContent.events``.
Company ids on registrations are checked through the ledger view; the plugin never touches core tables.
"""

from __future__ import annotations

from pathlib import Path

from quotad.plugins.api import Host, Plugin, table_of

__all__ = ["plugin"]


def plugin(host: Host) -> Plugin:
    """Entry point of the ``quotad.plugins`` group; imports the plugin's modules only when it is loaded."""
    from quotad.plugins.community import models
    from quotad.plugins.community.cli import app
    from quotad.plugins.community.publish import publish
    from quotad.plugins.community.store import event_exists
    from quotad.plugins.community.survey import survey

    del host  # community needs nothing from other plugins
    return Plugin(
        name="community",
        summary="Community events: registrations with capacity and waitlist, materials, public events.",
        app=app,
        tables=table_of(models.CommunityEvent, models.CommunityRegistration, models.CommunityMaterial),
        migrations=Path(__file__).resolve().parent / "migrations",
        publish=publish,
        references={"event": event_exists},
        survey=survey,
    )
