"""The partners plugin through the real CLI: partners, requests, term-by-term matching, introductions (the
mechanism shared with the data plugin) and outreach events that must exist in the community plugin.

Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine

from tests.community_support import add_event, seed_companies


def _partners(cli: Any) -> None:
    for args in (
        ["example-labs", "--name", "Example Labs", "--country", "us", "--kind", "tech_firm", "--offer",
         "compute_credits", "--offer", "technical_exchange", "--contact", "a@example.com", "--nda", "signed",
         "--nda-on", "2026-09-01"],
        ["institut-x", "--name", "Institut X", "--country", "FR", "--kind", "research_institute", "--offer",
         "joint_research", "--offer", "evaluation", "--mou", "negotiating"],
        ["data-only", "--name", "Data Only", "--country", "GB", "--kind", "university", "--offer", "data"],
    ):  # fmt: skip
        result = cli("partners", "partner", "add", *args)
        assert result.exit_code == 0, result.output


def _match(cli: Any, *extra: str) -> list[dict[str, Any]]:
    result = cli("partners", "match", "--json", *extra)
    assert result.exit_code == 0, result.output
    return list(json.loads(result.stdout))


def test_match_ranks_partners_term_by_term_and_says_why(engine: Engine, cli: Any) -> None:
    seed_companies(engine)
    _partners(cli)
    request = cli("partners", "request", "add", "sakura", "--seek", "compute_credits", "--seek", "evaluation",
                  "--country", "US", "--needed-by", "2027-01-31")  # fmt: skip
    assert request.exit_code == 0 and "request 1 of sakura" in request.stdout

    (match,) = _match(cli, "--all")
    ranked = [(c["partner"], c["score"]) for c in match["candidates"]]
    assert ranked == [("example-labs", 68.75), ("institut-x", 35.0)]
    first = {t["name"]: (t["weight"], t["value"], t["points"]) for t in match["candidates"][0]["terms"]}
    assert first == {
        "offers": (50.0, 0.5, 25.0),  # 1 of the 2 kinds sought
        "agreement": (25.0, 0.75, 18.75),  # an NDA signed
        "country": (15.0, 1.0, 15.0),
        "contact": (10.0, 1.0, 10.0),
    }
    assert sum(p for _w, _v, p in first.values()) == match["candidates"][0]["score"]
    assert match["candidates"][1]["why"].startswith("33.75 behind example-labs: country -15.00")
    assert match["excluded"] == [
        {"partner": "data-only", "filter": "offers", "reason": "seeks compute_credits, evaluation; partner offers data"}
    ]

    table = cli("partners", "match")
    assert "offers 50x0.50=25.00" in table.stdout


def test_introductions_follow_the_shared_status_machine(engine: Engine, cli: Any) -> None:
    seed_companies(engine)
    _partners(cli)
    cli("partners", "request", "add", "sakura", "--seek", "evaluation")
    proposed = cli("partners", "intro", "propose", "1", "institut-x", "--note", "met at the workshop", "--by", "ken")
    assert proposed.exit_code == 0, proposed.output
    twice = cli("partners", "intro", "propose", "1", "institut-x")
    assert twice.exit_code == 2 and "already introduction 1 (proposed)" in twice.output
    skip = cli("partners", "intro", "set", "1", "agreed")
    assert skip.exit_code == 2 and "cannot become agreed (allowed: declined, introduced)" in skip.output
    assert cli("partners", "intro", "set", "1", "introduced", "--by", "ken").exit_code == 0
    assert cli("partners", "intro", "set", "1", "agreed", "--by", "ken").exit_code == 0
    final = cli("partners", "intro", "set", "1", "declined")
    assert final.exit_code == 2 and "nothing (final)" in final.output

    history = json.loads(cli("partners", "intro", "list", "--history", "--json").stdout)
    assert [(h["from"], h["to"], h["actor"]) for h in history] == [
        (None, "proposed", "ken"), ("proposed", "introduced", "ken"), ("introduced", "agreed", "ken"),
    ]  # fmt: skip
    assert history[0]["note"] == "met at the workshop"
    (match,) = _match(cli, "--all")
    assert match["candidates"] == []
    assert {"partner": "institut-x", "filter": "introduced", "reason": "already introduced for this request"} in match[
        "excluded"
    ]
    listed = json.loads(cli("partners", "intro", "list", "--company", "sakura", "--json").stdout)
    assert [(i["partner"], i["status"]) for i in listed] == [("institut-x", "agreed")]


def test_bad_input_is_refused_naming_each_problem(engine: Engine, cli: Any) -> None:
    seed_companies(engine)
    result = cli("partners", "partner", "add", "Bad Id", "--name", "", "--country", "USA", "--kind", "firm",
                 "--offer", "money", "--nda", "signed", "--contact", "not-mail")  # fmt: skip
    assert result.exit_code == 2 and "Traceback" not in result.output
    for expected in ("id 'Bad Id'", "--name", "--country 'USA'", "--kind 'firm'", "--offer 'money'",
                     "--contact 'not-mail'", "--nda signed needs --nda-on"):  # fmt: skip
        assert expected in result.output, expected
    unknown = cli("partners", "request", "add", "nobody", "--seek", "data")
    assert unknown.exit_code == 2 and "nobody" in unknown.output
    empty = cli("partners", "request", "add", "sakura")
    assert empty.exit_code == 2 and "--seek: at least one" in empty.output
    assert cli("partners", "partner", "show", "ghost").exit_code == 2
    assert json.loads(cli("partners", "partner", "list", "--json").stdout) == []


def test_update_changes_agreements_and_outreach_links_existing_events_only(engine: Engine, cli: Any) -> None:
    seed_companies(engine)
    _partners(cli)
    nothing = cli("partners", "partner", "update", "institut-x")
    assert nothing.exit_code == 2 and "nothing to change" in nothing.output
    assert (
        cli("partners", "partner", "update", "institut-x", "--mou", "signed", "--mou-on", "2026-11-30").exit_code == 0
    )
    shown = {
        r["field"]: r["value"] for r in json.loads(cli("partners", "partner", "show", "institut-x", "--json").stdout)
    }
    assert shown["mou"] == "signed 2026-11-30"

    missing = cli("partners", "outreach", "add", "no-such-event", "--partner", "institut-x")
    assert missing.exit_code == 2 and "event 'no-such-event' does not exist" in missing.output
    add_event(cli, "global-day", "--public", "--place-ja", "東京", "--place-en", "Tokyo")
    assert cli("partners", "outreach", "add", "global-day", "--partner", "institut-x").exit_code == 0
    again = cli("partners", "outreach", "add", "global-day", "--partner", "institut-x")
    assert again.exit_code == 2 and "already invited" in again.output
    listed = json.loads(cli("partners", "outreach", "list", "--json").stdout)
    assert [(r["event"], r["partner"], r["country"]) for r in listed] == [("global-day", "institut-x", "FR")]
