"""What the community plugin gives the public site: public, scheduled events that have not ended. Nothing else.

Never a registrant, a count of registrants or an online meeting URL (that would let anyone in past the
capacity and the registration); the link shown is the event's public information page, if it has one.
"""

from __future__ import annotations

from quotad.plugins.api import Bilingual, PublicContent, PublicEvent, PublishRequest
from quotad.plugins.community.events import ONLINE
from quotad.plugins.community.store import Event, list_events
from quotad.timeutil import format_day

__all__ = ["public_event", "publish"]


def public_event(event: Event, tz: str) -> PublicEvent:
    if not event.place.ja:
        place = ONLINE
    elif event.online_url:  # hybrid: say so, without the link
        place = Bilingual(f"{event.place.ja}・{ONLINE.ja}", f"{event.place.en} and {ONLINE.en.lower()}")
    else:
        place = event.place
    return PublicEvent(day=format_day(event.starts_at, tz), title=event.title, place=place, url=event.info_url)


def publish(request: PublishRequest) -> PublicContent:
    tz = request.settings.programme.timezone
    events = list_events(request.conn, since=request.now, public_only=True)
    return PublicContent(events=tuple(public_event(e, tz) for e in events if e.public and not e.cancelled))
