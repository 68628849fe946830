"""The site's part of the survey's community chapter: what the programme published, in counts.

News items published in the period and the companies that agreed to disclose their compute. Which companies
agreed is itself public (the site names them), so every edition gets the same table.
"""

from __future__ import annotations

from quotad.plugins.api import Bilingual, ReportTable, SurveyContent, SurveyRequest
from quotad.plugins.site.store import list_news, public_companies
from quotad.timeutil import format_day

__all__ = ["survey"]


def survey(request: SurveyRequest) -> SurveyContent:
    tz = request.settings.programme.timezone
    first, last = format_day(request.start, tz), format_day(request.end - 1, tz)
    news = [n for n in list_news(request.conn) if first <= n.day <= last]
    disclosed = public_companies(request.conn)
    if not news and not disclosed:
        return SurveyContent()
    table = ReportTable(
        key="site-published",
        title=Bilingual("公開サイトでの発信", "Published on the public site"),
        columns=(Bilingual("項目", "What"), Bilingual("件数", "Count")),
        rows=(
            (Bilingual("お知らせ（期間内）", "News items in the period"), len(news)),
            (Bilingual("計算資源の利用を公開した企業", "Companies disclosing their compute"), len(disclosed)),
        ),
    )
    return SurveyContent(tables={"community": (table,)})
