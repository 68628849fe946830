"""What the challenges log gives the public site: counts of public entries by category and month. Nothing else.

Never a company, a description, a source or a response: those identify who is struggling with what. Only
entries the office marked ``public`` are counted, so a private challenge does not even move a count.
"""

from __future__ import annotations

from quotad.plugins.api import Bilingual, PublicContent, PublicTable, PublishRequest, plugin_settings
from quotad.plugins.challenges.config import ChallengesConfig
from quotad.plugins.challenges.store import counts_by_month

__all__ = ["publish"]

TITLE = Bilingual("取り組みで見えた課題 分類・月別の件数", "Challenges heard, by category and month")


def publish(request: PublishRequest) -> PublicContent:
    config = plugin_settings(request.settings, "challenges", ChallengesConfig)
    counts = counts_by_month(request.conn, visibilities=("public",))
    if not counts:
        return PublicContent()
    months = sorted({month for _category, month in counts})
    used = [c for c in config.categories if any(counts[(c.key, m)] for m in months)]
    table = PublicTable(
        key="challenges",
        title=TITLE,
        columns=(Bilingual("月", "Month"), *(Bilingual(c.ja, c.en) for c in used)),
        rows=tuple((month, *(counts[(c.key, month)] for c in used)) for month in months),
        note=Bilingual(
            "事務局が公開に同意を得た課題のみの件数です。企業名と内容は公開しません。",
            "Counts of the challenges cleared for publication only; companies and details are not published.",
        ),
    )
    return PublicContent(tables=(table,))
