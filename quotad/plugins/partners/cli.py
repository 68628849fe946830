"""``quotad partners``: global tech firms and research institutes, companies' requests, matching,
introductions (the mechanism shared with the data plugin) and the outreach events partners are invited to."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

import typer

from quotad.cli.context import FormatOption, JsonOption, NowOption, operator_name, parse_now, pick_format
from quotad.errors import UsageError
from quotad.plugins.api import Host, plugin_context, plugin_settings
from quotad.plugins.introductions import check_status, intro_events, intro_events_table
from quotad.plugins.partners.config import PartnersConfig
from quotad.plugins.partners.match import RequestMatch, match_request
from quotad.plugins.partners.records import (
    AGREEMENT_STATES,
    KINDS,
    OFFERS,
    PartnerSpec,
    RequestSpec,
    check_partner,
    check_request,
)
from quotad.plugins.partners.render import (
    intros_table,
    match_table,
    outreach_table,
    partner_table,
    partners_table,
    requests_table,
)
from quotad.plugins.partners.store import (
    INTRO_TABLES,
    add_outreach,
    add_partner,
    add_request,
    get_partner,
    get_request,
    list_intros,
    list_outreach,
    list_partners,
    list_requests,
    propose_intro,
    set_intro_status,
    update_partner,
)
from quotad.render import emit

__all__ = ["make_app"]

_STATES = ", ".join(AGREEMENT_STATES)


def _match_json(matches: list[RequestMatch], *, include_excluded: bool) -> str:
    out = []
    for m in matches:
        entry = {
            "request": m.request_id,
            "company": m.request.company_id,
            "candidates": [
                {
                    "rank": c.rank,
                    "partner": c.item_id,
                    "score": c.score,
                    "terms": [asdict(t) for t in c.terms],
                    "why": c.why,
                }
                for c in m.candidates
            ],
            "excluded_count": len(m.excluded),
        }
        if include_excluded:
            entry["excluded"] = [{"partner": e.partner.id, "filter": e.filter, "reason": e.reason} for e in m.excluded]
        out.append(entry)
    return json.dumps(out, ensure_ascii=False, indent=2)


def make_app(host: Host) -> typer.Typer:
    """The ``partners`` command group; ``host`` resolves community event ids for outreach at command time."""
    app = typer.Typer(help="Partners abroad: firms and institutes, requests, matching, introductions, outreach.",
                      no_args_is_help=True)  # fmt: skip
    partner_app = typer.Typer(help="Technology firms, research institutes, universities, public bodies.",
                              no_args_is_help=True)  # fmt: skip
    request_app = typer.Typer(help="What a company seeks from a partner.", no_args_is_help=True)
    intro_app = typer.Typer(help="Introductions of a request to a partner, with status history.", no_args_is_help=True)
    outreach_app = typer.Typer(help="Outreach events (community events) and the partners invited.",
                               no_args_is_help=True)  # fmt: skip
    app.add_typer(partner_app, name="partner")
    app.add_typer(request_app, name="request")
    app.add_typer(intro_app, name="intro")
    app.add_typer(outreach_app, name="outreach")

    @partner_app.command("add")
    def partner_add(
        ctx: typer.Context,
        partner_id: str = typer.Argument(..., help="Stable id (slug), e.g. example-labs."),
        name: str = typer.Option(..., "--name", help="Name (as the organisation writes it)."),
        name_ja: str = typer.Option("", "--name-ja", help="Name in Japanese, if it has one."),
        country: str = typer.Option(..., "--country", help="ISO 3166 two-letter code, e.g. US."),
        kind: str = typer.Option(..., "--kind", help=", ".join(KINDS)),
        offers: list[str] = typer.Option([], "--offer", help=f"What it offers; repeat: {', '.join(OFFERS)}."),
        contacts: list[str] = typer.Option([], "--contact", help="E-mail of a contact; repeat for several."),
        nda: str = typer.Option("none", "--nda", help=_STATES),
        nda_on: str = typer.Option("", "--nda-on", help="Date the NDA was signed (or expired), YYYY-MM-DD."),
        mou: str = typer.Option("none", "--mou", help=_STATES),
        mou_on: str = typer.Option("", "--mou-on", help="Date the MoU was signed (or expired), YYYY-MM-DD."),
        note: str = typer.Option("", "--note"),
    ) -> None:
        """Record a partner organisation."""
        spec = PartnerSpec(partner_id, name, name_ja, country.upper(), kind, tuple(offers), tuple(contacts), nda,
                           nda_on, mou, mou_on, note)  # fmt: skip
        check_partner(spec)
        pc = plugin_context(ctx)
        with pc.writing() as (conn, _view):
            add_partner(conn, spec, now=parse_now(None))
        print(f"partner {partner_id} added ({spec.kind}, {spec.country})")

    @partner_app.command("update")
    def partner_update(
        ctx: typer.Context,
        partner_id: str = typer.Argument(...),
        nda: str | None = typer.Option(None, "--nda", help=_STATES),
        nda_on: str | None = typer.Option(None, "--nda-on"),
        mou: str | None = typer.Option(None, "--mou", help=_STATES),
        mou_on: str | None = typer.Option(None, "--mou-on"),
        offers: list[str] = typer.Option([], "--offer", help="Replaces the offers when given."),
        contacts: list[str] = typer.Option([], "--contact", help="Replaces the contacts when given."),
        note: str | None = typer.Option(None, "--note"),
    ) -> None:
        """Change a partner's agreements, offers, contacts or note."""
        pc = plugin_context(ctx)
        with pc.writing() as (conn, _view):
            old = get_partner(conn, partner_id)
            spec = replace(
                old,
                nda=old.nda if nda is None else nda,
                nda_on=old.nda_on if nda_on is None else nda_on,
                mou=old.mou if mou is None else mou,
                mou_on=old.mou_on if mou_on is None else mou_on,
                offers=tuple(offers) or old.offers,
                contacts=tuple(contacts) or old.contacts,
                note=old.note if note is None else note,
            )
            if spec == old:
                raise UsageError("nothing to change: give at least one option (see --help)")
            check_partner(spec)
            update_partner(conn, spec, now=parse_now(None))
        print(f"partner {partner_id} updated")

    @partner_app.command("list")
    def partner_list(ctx: typer.Context, fmt: str = FormatOption, as_json: bool = JsonOption) -> None:
        """Every partner with its offers and agreements."""
        chosen = pick_format(fmt, as_json)
        with plugin_context(ctx).reading() as (conn, _view):
            emit(partners_table(list_partners(conn)), chosen)

    @partner_app.command("show")
    def partner_show(ctx: typer.Context, partner_id: str, fmt: str = FormatOption, as_json: bool = JsonOption) -> None:
        """One partner, every field."""
        chosen = pick_format(fmt, as_json)
        with plugin_context(ctx).reading() as (conn, _view):
            emit(partner_table(get_partner(conn, partner_id)), chosen)

    @request_app.command("add")
    def request_add(
        ctx: typer.Context,
        company: str = typer.Argument(..., help="Company id."),
        seeks: list[str] = typer.Option([], "--seek", help=f"What it seeks; repeat: {', '.join(OFFERS)}."),
        countries: list[str] = typer.Option([], "--country", help="Preferred countries (ISO codes); repeat."),
        description: str = typer.Option("", "--description"),
        needed_by: str = typer.Option("", "--needed-by", help="YYYY-MM-DD."),
    ) -> None:
        """Record what a company seeks from a partner."""
        spec = RequestSpec(company, tuple(seeks), tuple(c.upper() for c in countries), description, needed_by)
        check_request(spec)
        pc = plugin_context(ctx)
        with pc.writing() as (conn, view):
            view.company(company)
            stored = add_request(conn, spec, now=parse_now(None))
        print(f"request {stored.id} of {company} recorded: seeks {', '.join(spec.seeks)}")

    @request_app.command("list")
    def request_list(
        ctx: typer.Context,
        company: str | None = typer.Option(None, "--company"),
        fmt: str = FormatOption,
        as_json: bool = JsonOption,
    ) -> None:
        """Companies' requests, oldest first."""
        chosen = pick_format(fmt, as_json)
        pc = plugin_context(ctx)
        with pc.reading() as (conn, _view):
            emit(requests_table(list_requests(conn, company_id=company), pc.settings.programme.timezone), chosen)

    @app.command("match")
    def match_cmd(
        ctx: typer.Context,
        request_id: int | None = typer.Option(None, "--request", help="One request (default: all)."),
        company: str | None = typer.Option(None, "--company"),
        include_excluded: bool = typer.Option(False, "--all", help="Also list excluded partners and why."),
        fmt: str = FormatOption,
        as_json: bool = JsonOption,
    ) -> None:
        """Rank partners for each request, term by term (weights in [partners.weights])."""
        chosen = pick_format(fmt, as_json)
        pc = plugin_context(ctx)
        weights = plugin_settings(pc.settings, "partners", PartnersConfig).weights
        with pc.reading() as (conn, _view):
            requests = [get_request(conn, request_id)] if request_id is not None else list_requests(conn)
            requests = [r for r in requests if company is None or r.spec.company_id == company]
            partners = list_partners(conn)
            matches = [
                match_request(r.id, r.spec, partners, weights,
                              introduced={i.partner_id for i in list_intros(conn, request_id=r.id)})
                for r in requests
            ]  # fmt: skip
        if chosen == "json":
            print(_match_json(matches, include_excluded=include_excluded))
        else:
            emit(match_table(matches, include_excluded=include_excluded), chosen)

    @intro_app.command("propose")
    def intro_propose(
        ctx: typer.Context,
        request_id: int = typer.Argument(...),
        partner_id: str = typer.Argument(...),
        note: str = typer.Option("", "--note"),
        by: str | None = typer.Option(None, "--by"),
        now_text: str | None = NowOption,
    ) -> None:
        """Propose introducing a request's company to a partner (status: proposed)."""
        with plugin_context(ctx).writing() as (conn, _view):
            intro = propose_intro(conn, request_id, partner_id, actor=operator_name(by), note=note,
                                  now=parse_now(now_text))  # fmt: skip
        print(f"introduction {intro.id}: request {request_id} ({intro.company_id}) -> {partner_id}: proposed")

    @intro_app.command("set")
    def intro_set(
        ctx: typer.Context,
        intro_id: int = typer.Argument(...),
        status: str = typer.Argument(..., help="introduced, agreed or declined."),
        note: str = typer.Option("", "--note"),
        by: str | None = typer.Option(None, "--by"),
        now_text: str | None = NowOption,
    ) -> None:
        """Move an introduction on (proposed -> introduced -> agreed, or declined); illegal moves are refused."""
        with plugin_context(ctx).writing() as (conn, _view):
            intro = set_intro_status(conn, intro_id, status, actor=operator_name(by), note=note,
                                     now=parse_now(now_text))  # fmt: skip
        print(f"introduction {intro.id}: {intro.status}")

    @intro_app.command("list")
    def intro_list(
        ctx: typer.Context,
        company: str | None = typer.Option(None, "--company"),
        status: str | None = typer.Option(None, "--status"),
        history: bool = typer.Option(False, "--history", help="Every change with actor, time and note."),
        fmt: str = FormatOption,
        as_json: bool = JsonOption,
    ) -> None:
        """Introductions and their current status, or (--history) every change."""
        chosen = pick_format(fmt, as_json)
        if status is not None:
            check_status(status, "--status")
        pc = plugin_context(ctx)
        with pc.reading() as (conn, _view):
            intros = list_intros(conn, company_id=company, status=status)
            events = intro_events(conn, INTRO_TABLES, [i.id for i in intros]) if history else []
        emit(intro_events_table(events) if history else intros_table(intros, pc.settings.programme.timezone), chosen)

    @outreach_app.command("add")
    def outreach_add(
        ctx: typer.Context,
        event_id: str = typer.Argument(..., help="A community event id (`quotad community event list`)."),
        partner_id: str = typer.Option(..., "--partner", help="Partner invited."),
        note: str = typer.Option("", "--note"),
    ) -> None:
        """Link an outreach event to a partner invited to it; the event must exist in the community plugin."""
        check = host.reference_checks().get("event")
        if check is None:
            raise UsageError("outreach events are community events, and the community plugin is not loaded")
        with plugin_context(ctx).writing() as (conn, _view):
            if not check(conn, event_id):
                raise UsageError(f"event {event_id!r} does not exist (see `quotad community event list`)")
            add_outreach(conn, event_id, partner_id, note=note, now=parse_now(None))
        print(f"partner {partner_id} invited to event {event_id}")

    @outreach_app.command("list")
    def outreach_list(
        ctx: typer.Context,
        event_id: str | None = typer.Option(None, "--event"),
        fmt: str = FormatOption,
        as_json: bool = JsonOption,
    ) -> None:
        """Outreach events and the partners invited to each."""
        chosen = pick_format(fmt, as_json)
        with plugin_context(ctx).reading() as (conn, _view):
            emit(outreach_table(list_outreach(conn, event_id=event_id)), chosen)

    return app
