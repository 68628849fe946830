"""Built-in plugin ``programme``: the programme's final survey report (``quotad programme report``).

The programme is a survey of how foundation-model development can be accelerated and what holds it back; at
its end the office submits a report. This plugin assembles it: the compute chapter from the ledger view, every
other chapter from the plugins' survey shares (``Plugin.survey``), and the office's own findings, an editable
text per chapter and language kept in the plugin's one table. Editions for the office, the consortium and the
public differ by what each reporter lets that audience see; the public edition's programme totals follow the
site's "no figure by subtraction" rule, told which companies disclose by the site's share (``Host.disclosures``).
"""

from __future__ import annotations

from pathlib import Path

from quotad.plugins.api import Host, Plugin, table_of

__all__ = ["plugin"]


def plugin(host: Host) -> Plugin:
    """Entry point of the ``quotad.plugins`` group; ``host`` gives the survey reporters and the disclosure shares
    at command time."""
    from quotad.plugins.programme import models
    from quotad.plugins.programme.cli import make_app

    return Plugin(
        name="programme",
        summary="The programme's survey report (md, html, pdf; office, consortium, public editions).",
        app=make_app(host),
        tables=table_of(models.ProgrammeFinding),
        migrations=Path(__file__).resolve().parent / "migrations",
    )
