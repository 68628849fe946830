"""Community events through the CLI: events, the registration queue, materials and attendee lists."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from quotad.errors import UsageError
from quotad.plugins.community.events import check_email, parse_local_time
from tests.community_support import NOW_ISO, add_event, register, seed_companies


@pytest.fixture
def programme(engine: Engine, cli: Any) -> Any:
    seed_companies(engine)
    return cli


def _attendees(cli: Any, event_id: str, *extra: str) -> list[dict[str, Any]]:
    result = cli("community", "attendees", event_id, "--format", "json", *extra)
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def test_event_is_stored_in_utc_and_shown_in_the_programme_zone(programme: Any, config_file: Path) -> None:
    config_file.write_text(
        config_file.read_text(encoding="utf-8") + '\n[programme]\ntimezone = "Asia/Tokyo"\n', encoding="utf-8"
    )
    add_event(programme, "kickoff", "--capacity", "2", "--public")
    shown = programme("community", "event", "show", "kickoff", "--json")
    assert shown.exit_code == 0, shown.output
    fields = {r["field"]: r["value"] for r in json.loads(shown.stdout)["rows"]}
    assert fields["starts"] == "2026-12-10 14:00 JST" and fields["ends"] == "2026-12-10 17:00 JST"
    assert fields["capacity"] == 2 and fields["public"] == "yes" and fields["status"] == "scheduled"
    listed = json.loads(programme("community", "event", "list", "--json").stdout)
    assert [(e["event"], e["title_ja"]) for e in listed] == [("kickoff", "kickoff 勉強会")]
    # 14:00 in Tokyo is 05:00 UTC
    assert parse_local_time("--starts", "2026-12-10T14:00", "Asia/Tokyo") == 1796878800
    assert parse_local_time("--starts", "2026-12-10T05:00+00:00", "Asia/Tokyo") == 1796878800


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--place-ja", "東京"), "both languages"),
        (("--online-url", "zoom.example/x"), "http(s) URL"),
        (("--capacity", "0", "--online-url", "https://meet.example/x"), "at least 1"),
    ],
)
def test_bad_events_are_refused_with_the_reason(programme: Any, extra: tuple[str, ...], message: str) -> None:
    result = programme(
        "community", "event", "add", "bad", "--title-ja", "題", "--title-en", "T",
        "--starts", "2026-12-10T14:00", "--ends", "2026-12-10T15:00", *extra,
    )  # fmt: skip
    assert result.exit_code == 2 and message in result.output
    assert json.loads(programme("community", "event", "list", "--json").stdout) == []


def test_end_before_start_and_duplicate_ids_are_refused(programme: Any) -> None:
    add_event(programme, "kickoff")
    again = programme(
        "community", "event", "add", "kickoff", "--title-ja", "題", "--title-en", "T",
        "--starts", "2026-12-11T10:00", "--ends", "2026-12-11T11:00", "--online-url", "https://meet.example/a",
    )  # fmt: skip
    assert again.exit_code == 2 and "already exists" in again.output
    backwards = programme(
        "community", "event", "add", "later", "--title-ja", "題", "--title-en", "T",
        "--starts", "2026-12-11T10:00", "--ends", "2026-12-11T09:00", "--online-url", "https://meet.example/a",
    )  # fmt: skip
    assert backwards.exit_code == 2 and "--ends must be after --starts" in backwards.output


def test_over_capacity_is_waitlisted_and_a_cancellation_promotes_the_first_waitlisted(programme: Any) -> None:
    add_event(programme, "kickoff", "--capacity", "2")
    for email in ("a@x.jp", "b@x.jp", "c@x.jp", "d@x.jp"):
        assert register(programme, "kickoff", email).exit_code == 0
    assert "position 3" in register(programme, "kickoff", "e@x.jp").stdout
    statuses = {r["email"]: (r["status"], r["waitlist_position"]) for r in _attendees(programme, "kickoff")}
    assert statuses == {
        "a@x.jp": ("registered", None),
        "b@x.jp": ("registered", None),
        "c@x.jp": ("waitlisted", 1),
        "d@x.jp": ("waitlisted", 2),
        "e@x.jp": ("waitlisted", 3),
    }
    out = programme("community", "unregister", "kickoff", "--email", "A@X.JP", "--now", NOW_ISO)
    assert out.exit_code == 0 and "c@x.jp: promoted" in out.stdout
    # a waitlisted person leaving frees no place: nobody is promoted
    out = programme("community", "unregister", "kickoff", "--email", "d@x.jp", "--now", NOW_ISO)
    assert out.exit_code == 0 and "promoted" not in out.stdout
    statuses = {r["email"]: (r["status"], r["waitlist_position"]) for r in _attendees(programme, "kickoff")}
    assert statuses == {"b@x.jp": ("registered", None), "c@x.jp": ("registered", None), "e@x.jp": ("waitlisted", 1)}
    everyone = {r["email"]: r["status"] for r in _attendees(programme, "kickoff", "--include-cancelled")}
    assert everyone["a@x.jp"] == "cancelled" and everyone["d@x.jp"] == "cancelled"


def test_duplicate_email_is_refused_until_the_registration_is_cancelled(programme: Any) -> None:
    add_event(programme, "kickoff", "--capacity", "1")
    assert register(programme, "kickoff", "a@x.jp").exit_code == 0
    assert register(programme, "kickoff", "b@x.jp").exit_code == 0
    dup = register(programme, "kickoff", "B@x.jp")
    assert dup.exit_code == 2 and "already waitlisted" in dup.output
    assert programme("community", "unregister", "kickoff", "--email", "b@x.jp", "--now", NOW_ISO).exit_code == 0
    # back at the end of the queue, and full: waitlisted again
    back = register(programme, "kickoff", "b@x.jp")
    assert back.exit_code == 0 and "waitlisted" in back.stdout
    assert len(_attendees(programme, "kickoff")) == 2


def test_registration_company_is_checked_through_the_ledger(programme: Any) -> None:
    add_event(programme, "kickoff")
    unknown = register(programme, "kickoff", "a@x.jp", "--company", "nosuch")
    assert unknown.exit_code == 2 and "nosuch" in unknown.output
    assert register(programme, "kickoff", "a@x.jp", "--company", "sakura").exit_code == 0
    assert [r["company"] for r in _attendees(programme, "kickoff")] == ["sakura"]


def test_cancelled_and_past_events_take_no_registrations(programme: Any) -> None:
    add_event(programme, "kickoff")
    add_event(programme, "old", starts="2026-11-01T10:00", ends="2026-11-01T12:00")
    cancelled = programme("community", "event", "cancel", "kickoff")
    assert cancelled.exit_code == 0
    assert programme("community", "event", "cancel", "kickoff").exit_code == 2
    refused = register(programme, "kickoff", "a@x.jp")
    assert refused.exit_code == 2 and "cancelled" in refused.output
    over = register(programme, "old", "a@x.jp")
    assert over.exit_code == 2 and "over" in over.output
    missing = register(programme, "nosuch", "a@x.jp")
    assert missing.exit_code == 2 and "kickoff" in missing.output  # names the known ones
    upcoming = json.loads(programme("community", "event", "list", "--upcoming", "--now", NOW_ISO, "--json").stdout)
    assert [e["event"] for e in upcoming] == ["kickoff"]


def test_materials_by_url_or_file_with_its_sha256(programme: Any, tmp_path: Path) -> None:
    add_event(programme, "kickoff")
    slides = tmp_path / "slides.pdf"
    slides.write_bytes(b"%PDF-1.7 slides")
    assert (
        programme("community", "material", "add", "kickoff", "--title", "Slides", "--file", str(slides)).exit_code == 0
    )
    url = programme("community", "material", "add", "kickoff", "--title", "Video", "--url", "https://v.example/1")
    assert url.exit_code == 0
    both = programme(
        "community", "material", "add", "kickoff", "--title", "X", "--url", "https://v.example/2", "--file", str(slides)
    )
    assert both.exit_code == 2 and "exactly one" in both.output
    listed = json.loads(programme("community", "material", "list", "kickoff", "--json").stdout)
    assert [(m["title"], m["file"], m["size"], m["sha256"], m["url"]) for m in listed] == [
        ("Slides", "slides.pdf", 15, hashlib.sha256(b"%PDF-1.7 slides").hexdigest(), ""),
        ("Video", "", None, "", "https://v.example/1"),
    ]


def test_attendees_as_csv(programme: Any) -> None:
    add_event(programme, "kickoff")
    register(programme, "kickoff", "a@x.jp", "--company", "fuji")
    result = programme("community", "attendees", "kickoff", "--format", "csv")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["name"], r["email"], r["company"], r["status"]) for r in rows] == [("a", "a@x.jp", "fuji", "registered")]


def test_email_check() -> None:
    assert check_email(" Someone@Example.JP ") == "someone@example.jp"
    with pytest.raises(UsageError, match="e-mail"):
        check_email("not an address")
