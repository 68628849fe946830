"""The community chapter's events part: events held in the period and their attendance.

Registrants never appear; the office and consortium editions list every event with its counts, the public
edition only public events (the ones the site showed).
"""

from __future__ import annotations

from quotad.plugins.api import Bilingual, ReportTable, SurveyContent, SurveyRequest
from quotad.plugins.community.store import list_events, registration_counts
from quotad.timeutil import format_day

__all__ = ["survey"]


def survey(request: SurveyRequest) -> SurveyContent:
    tz = request.settings.programme.timezone
    events = [
        e
        for e in list_events(request.conn, public_only=request.audience == "public")
        if request.start <= e.starts_at < request.end and not e.cancelled
    ]
    if not events:
        return SurveyContent()
    counts = registration_counts(request.conn)
    table = ReportTable(
        key="community-events",
        title=Bilingual("イベントと参加登録", "Events and registrations"),
        columns=(
            Bilingual("日付", "Day"),
            Bilingual("イベント", "Event"),
            Bilingual("登録", "Registered"),
            Bilingual("キャンセル待ち", "Waitlisted"),
        ),
        rows=tuple(
            (
                format_day(e.starts_at, tz),
                e.title,
                counts.get(e.id, {}).get("registered", 0),
                counts.get(e.id, {}).get("waitlisted", 0),
            )
            for e in events
        ),
        note=Bilingual(f"{len(events)} 件", f"{len(events)} events"),
    )
    return SurveyContent(tables={"community": (table,)})
