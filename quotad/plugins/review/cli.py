"""``quotad review``: calls and rubrics, proposals and documents, reviewers and conflicts, assignment, scores,
committee figures, decisions, the audit log and the sheets. Thin: every rule lives in the modules it calls.

Who runs a command decides what it shows (``access.Caller``): a reviewer is the OS login of the process; an
office operator (``[review] office``) gets the office views and may act for a reviewer with ``--as ID``
(``--reviewer`` is the same option), audited. Reviewer-scoped commands go through ``access.ReviewerAccess``;
refused attempts (conflicts) and office acts-as are written to the audit log in a transaction of their own
after the command's read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from sqlalchemy import Connection

from quotad.cli.context import FormatOption, JsonOption, NowOption, parse_now, pick_choice, pick_format
from quotad.errors import UsageError
from quotad.outputs import write_output
from quotad.plugins.api import Host, LedgerView, PluginContext, plugin_context
from quotad.plugins.review import access, audit, pack, people, store
from quotad.plugins.review.committee import Summary, call_aggregation, reviewer_sheet, summary
from quotad.plugins.review.render import (
    aggregation_table,
    assignments_table,
    audit_table,
    calls_table,
    conflicts_table,
    criteria_table,
    documents_table,
    proposals_table,
    reviewers_table,
)
from quotad.plugins.review.sheets import SheetFormat, reviewer_sheet_text, summary_text
from quotad.render import emit
from quotad.timeutil import epoch_now, parse_day

__all__ = ["make_app"]

DEFAULT_THRESHOLD = 1.0
_SHEET_FORMATS: tuple[SheetFormat, ...] = ("md", "csv", "html")


def _day(pc: PluginContext, text: str | None, option: str, *, end: bool = False) -> int | None:
    if text is None:
        return None
    try:
        return parse_day(text, pc.settings.programme.timezone, end_of_day=end)
    except UsageError:
        raise UsageError(f"{option} {text!r}: expected YYYY-MM-DD") from None


ByOption = typer.Option(None, "--by", help="On whose behalf, noted beside your login in the audit log.")
ReviewerOption = typer.Option(
    None,
    "--as",
    "--reviewer",
    help="Office operators: act as this reviewer (audited). Others always act as their own login.",
)
ThresholdOption = typer.Option(
    DEFAULT_THRESHOLD, "--threshold", help="Flag proposals whose reviewer totals' population SD exceeds this."
)


def _caller(pc: PluginContext) -> access.Caller:
    return access.Caller.of_process(pc.settings.review.office)


def _office(pc: PluginContext, what: str) -> access.Caller:
    caller = _caller(pc)
    caller.require_office(what)
    return caller


@contextmanager
def _as_reviewer(
    pc: PluginContext,
    caller: access.Caller,
    reviewer_id: str,
    *,
    call_id: str | None = None,
    proposal_id: int | None = None,
    action: str,
    write: bool = False,
) -> Iterator[access.ReviewerAccess]:
    """The reviewer's access to a call (or to the call of ``proposal_id``) on a read (or write) transaction;
    refusals and an office operator's acting-as are audited afterwards, even on failure."""
    refusals: list[access.Refusal] = []
    where = call_id or ""
    try:
        with pc.writing() if write else pc.reading() as (conn, view):
            if proposal_id is not None:
                acc = access.ReviewerAccess.for_proposal(conn, view, reviewer_id, proposal_id, action, refusals)
            else:
                acc = access.ReviewerAccess.open(conn, view, reviewer_id, where, refusals)
            where = acc.call.id
            yield acc
    finally:
        if refusals or reviewer_id != caller.login:
            with pc.writing() as (conn, _view):
                access.record_refusals(conn, refusals, now=epoch_now())
                access.record_acting(conn, caller, reviewer_id, where, action, now=epoch_now())


def make_app(host: Host) -> typer.Typer:
    """The ``review`` command group; ``host`` supplies the committee reporters when a pack is built."""
    app = typer.Typer(help="Review committee: calls, proposals, reviewers, conflicts, scores.", no_args_is_help=True)
    call_app = typer.Typer(help="Calls (selection, end-of-term) and their rubrics.", no_args_is_help=True)
    criterion_app = typer.Typer(help="Rubric criteria of a call.", no_args_is_help=True)
    proposal_app = typer.Typer(help="Proposals: company, requested compute, plan.", no_args_is_help=True)
    document_app = typer.Typer(help="Proposal documents (versioned, sha256).", no_args_is_help=True)
    reviewer_app = typer.Typer(help="Reviewers.", no_args_is_help=True)
    conflict_app = typer.Typer(help="Conflicts of interest (declared, pinned, automatic).", no_args_is_help=True)
    cap_app = typer.Typer(help="Per-reviewer load caps.", no_args_is_help=True)
    for sub, name in (
        (call_app, "call"),
        (criterion_app, "criterion"),
        (proposal_app, "proposal"),
        (document_app, "document"),
        (reviewer_app, "reviewer"),
        (conflict_app, "conflict"),
        (cap_app, "cap"),
    ):
        app.add_typer(sub, name=name)

    # --- calls and rubrics -------------------------------------------------------------------------------

    @call_app.command("create")
    def call_create(
        ctx: typer.Context,
        call_id: str = typer.Argument(..., help="Call id, e.g. sel-2027."),
        kind: str = typer.Option(..., "--kind", help="selection or end_of_term."),
        title_ja: str = typer.Option(..., "--title-ja"),
        title_en: str = typer.Option(..., "--title-en"),
        attestation_ja: str = typer.Option(..., "--attestation-ja", help="COI/confidentiality text (Japanese)."),
        attestation_en: str = typer.Option(..., "--attestation-en", help="COI/confidentiality text (English)."),
        opens: str | None = typer.Option(None, "--opens", help="YYYY-MM-DD (programme time zone)."),
        closes: str | None = typer.Option(None, "--closes", help="YYYY-MM-DD, inclusive."),
        period_start: str | None = typer.Option(None, "--period-start", help="Term start (end-of-term calls)."),
        period_end: str | None = typer.Option(None, "--period-end", help="Term end, inclusive."),
        load_cap: int = typer.Option(5, "--load-cap", help="Proposals per reviewer, unless set per reviewer."),
        by: str | None = ByOption,
    ) -> None:
        """Create a call with its attestation text; add criteria with `review criterion add`."""
        pc = plugin_context(ctx)
        _office(pc, "creating a call")
        spec = store.CallSpec(
            call_id,
            pick_choice("--kind", kind, store.CALL_KINDS),
            title_ja,
            title_en,
            attestation_ja,
            attestation_en,
            _day(pc, opens, "--opens"),
            _day(pc, closes, "--closes", end=True),
            _day(pc, period_start, "--period-start"),
            _day(pc, period_end, "--period-end", end=True),
            load_cap,
        )
        with pc.writing() as (conn, _view):
            call = store.create_call(conn, spec, actor=_caller(pc).actor(by), now=epoch_now())
        print(f"call {call.id} ({call.kind}) created")

    @call_app.command("list")
    def call_list(ctx: typer.Context, fmt: str = FormatOption, as_json: bool = JsonOption) -> None:
        """Every call with its kind, status and attestation version."""
        chosen = pick_format(fmt, as_json)
        pc = plugin_context(ctx)
        with pc.reading() as (conn, _view):
            calls = store.list_calls(conn)
        emit(calls_table(calls, pc.settings.programme.timezone), chosen)

    @call_app.command("show")
    def call_show(ctx: typer.Context, call_id: str, fmt: str = FormatOption, as_json: bool = JsonOption) -> None:
        """A call's rubric (criteria, weights, scale, comment rule)."""
        chosen = pick_format(fmt, as_json)
        pc = plugin_context(ctx)
        with pc.reading() as (conn, _view):
            call = store.get_call(conn, call_id)
            rubric = store.criteria(conn, call_id)
        emit(criteria_table(call, rubric), chosen)

    @call_app.command("status")
    def call_status(ctx: typer.Context, call_id: str, status: str, by: str | None = ByOption) -> None:
        """Open or close a call (closed: no more proposals, assignments or scores)."""
        pc = plugin_context(ctx)
        _office(pc, "changing a call's status")
        with pc.writing() as (conn, _view):
            call = store.set_call_status(conn, call_id, status, actor=_caller(pc).actor(by), now=epoch_now())
        print(f"call {call.id} is {call.status}")

    @call_app.command("attestation")
    def call_attestation(
        ctx: typer.Context,
        call_id: str,
        text_ja: str = typer.Option(..., "--ja"),
        text_en: str = typer.Option(..., "--en"),
        by: str | None = ByOption,
    ) -> None:
        """Replace the attestation text; every reviewer must attest the new version before reading on."""
        pc = plugin_context(ctx)
        _office(pc, "replacing the attestation text")
        with pc.writing() as (conn, _view):
            call = store.set_attestation(
                conn, call_id, text_ja=text_ja, text_en=text_en, actor=_caller(pc).actor(by), now=epoch_now()
            )
        print(f"call {call.id}: attestation v{call.attestation_version}")

    @criterion_app.command("add")
    def criterion_add(
        ctx: typer.Context,
        call_id: str,
        key: str,
        title_ja: str = typer.Option(..., "--title-ja"),
        title_en: str = typer.Option(..., "--title-en"),
        weight: float = typer.Option(1.0, "--weight"),
        scale_min: int = typer.Option(1, "--min"),
        scale_max: int = typer.Option(5, "--max"),
        comment_required: bool = typer.Option(False, "--comment-required/--comment-optional"),
        by: str | None = ByOption,
    ) -> None:
        """Add a criterion to a call's rubric."""
        pc = plugin_context(ctx)
        _office(pc, "adding a criterion")
        spec = store.CriterionSpec(key, title_ja, title_en, weight, scale_min, scale_max, comment_required)
        with pc.writing() as (conn, _view):
            store.add_criterion(conn, call_id, spec, actor=_caller(pc).actor(by), now=epoch_now())
        print(f"call {call_id}: criterion {key} added")

    # --- proposals and documents -------------------------------------------------------------------------

    @proposal_app.command("add")
    def proposal_add(
        ctx: typer.Context,
        call_id: str,
        company: str = typer.Option(..., "--company"),
        title: str = typer.Option(..., "--title"),
        plan: str = typer.Option("", "--plan", help="Plan text."),
        plan_file: Path | None = typer.Option(None, "--plan-file", help="Read the plan text from a file."),
        request: list[str] = typer.Option(
            [], "--request", help="CLUSTER:AMOUNT:gpu_hours:TYPE or CLUSTER:AMOUNT:eflops_hours (repeatable)."
        ),
        by: str | None = ByOption,
    ) -> None:
        """Add a company's proposal with its requested compute."""
        pc = plugin_context(ctx)
        _office(pc, "adding a proposal")
        if plan_file is not None:
            try:
                plan = plan_file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise UsageError(f"--plan-file {plan_file}: {exc}") from None
        clusters = [c.name for c in pc.settings.clusters]
        specs = [store.RequestSpec.parse(r, clusters=clusters, gpu_types=list(pc.settings.gpu_types)) for r in request]
        with pc.writing() as (conn, view):
            proposal = store.add_proposal(
                conn,
                view,
                call_id,
                company_id=company,
                title=title,
                plan=plan,
                requests=specs,
                actor=_caller(pc).actor(by),
                now=epoch_now(),
            )
        print(f"proposal {proposal.id} ({proposal.company_id}) added to {call_id}")

    @proposal_app.command("list")
    def proposal_list(
        ctx: typer.Context,
        call_id: str,
        reviewer: str | None = ReviewerOption,
        fmt: str = FormatOption,
        as_json: bool = JsonOption,
    ) -> None:
        """A call's proposals (as a reviewer: only those they may know of)."""
        chosen = pick_format(fmt, as_json)
        pc = plugin_context(ctx)
        caller = _caller(pc)
        reviewer = caller.reviewer(reviewer)
        if reviewer is not None:
            with _as_reviewer(pc, caller, reviewer, call_id=call_id, action="list") as acc:
                proposals = acc.proposals()
                requests = store.requests_of(acc.conn, [p.id for p in proposals])
        else:
            with pc.reading() as (conn, _view):
                store.get_call(conn, call_id)
                proposals = store.list_proposals(conn, call_id)
                requests = store.requests_of(conn, [p.id for p in proposals])
        emit(proposals_table(proposals, requests), chosen)

    @proposal_app.command("show")
    def proposal_show(
        ctx: typer.Context,
        proposal_id: int,
        reviewer: str | None = ReviewerOption,
        fmt: str = FormatOption,
        as_json: bool = JsonOption,
    ) -> None:
        """One proposal: company, requested compute and plan."""
        chosen = pick_format(fmt, as_json)
        pc = plugin_context(ctx)
        caller = _caller(pc)
        reviewer = caller.reviewer(reviewer)
        if reviewer is not None:
            with _as_reviewer(pc, caller, reviewer, proposal_id=proposal_id, action="show") as acc:
                proposal = acc.proposal(proposal_id)
                requests = {proposal.id: acc.requests(proposal.id)}
        else:
            with pc.reading() as (conn, _view):
                proposal = store.get_proposal(conn, proposal_id)
                requests = store.requests_of(conn, [proposal.id])
        table = proposals_table([proposal], requests, with_plan=True)
        emit(table, chosen)

    @document_app.command("add")
    def document_add(
        ctx: typer.Context,
        proposal_id: int,
        files: list[Path] = typer.Argument(..., help="Files to store (the file name is the document name)."),
        name: str | None = typer.Option(None, "--name", help="Document name, for a single file."),
        by: str | None = ByOption,
    ) -> None:
        """Store documents; a known name gets the next version, identical bytes are recognised."""
        if name is not None and len(files) != 1:
            raise UsageError("--name applies to a single file")
        contents = []
        for path in files:
            try:
                contents.append((name or path.name, path.read_bytes()))
            except OSError as exc:
                raise UsageError(f"{path}: {exc.strerror or exc}") from None
        pc = plugin_context(ctx)
        _office(pc, "adding a document")
        with pc.writing() as (conn, _view):
            outcomes = [
                store.add_document(conn, proposal_id, name=n, content=c, actor=_caller(pc).actor(by), now=epoch_now())
                for n, c in contents
            ]
        for doc, new in outcomes:
            state = "stored" if new else "unchanged (same bytes as this version)"
            print(f"{doc.name} v{doc.version} sha256 {doc.sha256[:12]}: {state}")

    @document_app.command("list")
    def document_list(
        ctx: typer.Context,
        proposal_id: int,
        reviewer: str | None = ReviewerOption,
        fmt: str = FormatOption,
        as_json: bool = JsonOption,
    ) -> None:
        """Every version of every document of a proposal."""
        chosen = pick_format(fmt, as_json)
        pc = plugin_context(ctx)
        caller = _caller(pc)
        reviewer = caller.reviewer(reviewer)
        if reviewer is not None:
            with _as_reviewer(pc, caller, reviewer, proposal_id=proposal_id, action="documents") as acc:
                docs = acc.documents(proposal_id)
        else:
            with pc.reading() as (conn, _view):
                store.get_proposal(conn, proposal_id)
                docs = store.documents(conn, proposal_id)
        emit(documents_table(docs, pc.settings.programme.timezone), chosen)

    @document_app.command("get")
    def document_get(
        ctx: typer.Context,
        proposal_id: int,
        name: str,
        out: Path = typer.Option(..., "--out", help="Write the document here."),
        version: int | None = typer.Option(None, "--version", help="Version [default: latest]."),
        reviewer: str | None = ReviewerOption,
    ) -> None:
        """Write one version of a document to a file."""
        pc = plugin_context(ctx)
        caller = _caller(pc)
        reviewer = caller.reviewer(reviewer)
        if reviewer is not None:
            with _as_reviewer(pc, caller, reviewer, proposal_id=proposal_id, action="document") as acc:
                doc, content = acc.document(proposal_id, name, version)
        else:
            with pc.reading() as (conn, _view):
                doc, content = store.document_content(conn, proposal_id, name, version)
        write_output(out, content)
        print(f"{doc.name} v{doc.version} ({doc.size} bytes, sha256 {doc.sha256[:12]}) written to {out}")

    # --- reviewers, conflicts, attestation, caps ---------------------------------------------------------

    @reviewer_app.command("add")
    def reviewer_add(
        ctx: typer.Context,
        reviewer_id: str,
        name: str = typer.Option(..., "--name"),
        email: str = typer.Option("", "--email"),
        affiliation: str = typer.Option("", "--affiliation"),
        company: str | None = typer.Option(None, "--company", help="Programme company the reviewer works for."),
        by: str | None = ByOption,
    ) -> None:
        """Register a reviewer (company and affiliation drive automatic conflicts)."""
        pc = plugin_context(ctx)
        _office(pc, "adding a reviewer")
        with pc.writing() as (conn, view):
            people.add_reviewer(
                conn,
                view,
                reviewer_id=reviewer_id,
                name=name,
                email=email,
                affiliation=affiliation,
                company_id=company,
                actor=_caller(pc).actor(by),
                now=epoch_now(),
            )
        print(f"reviewer {reviewer_id} added")

    @reviewer_app.command("list")
    def reviewer_list(ctx: typer.Context, fmt: str = FormatOption, as_json: bool = JsonOption) -> None:
        chosen = pick_format(fmt, as_json)
        pc = plugin_context(ctx)
        _office(pc, "the reviewer list")
        with pc.reading() as (conn, _view):
            reviewers = people.list_reviewers(conn)
        emit(reviewers_table(reviewers), chosen)

    @conflict_app.command("add")
    def conflict_add(
        ctx: typer.Context,
        reviewer_id: str,
        company: str | None = typer.Option(None, "--company", help="Conflict with every proposal of a company."),
        proposal: int | None = typer.Option(None, "--proposal", help="Conflict with one proposal."),
        type_: str = typer.Option(..., "--type", help=", ".join(people.CONFLICT_TYPES) + "."),
        pinned: bool = typer.Option(
            False, "--pinned", help="Pinned by the office (default: declared by the reviewer)."
        ),
        note: str = typer.Option("", "--note"),
        by: str | None = ByOption,
    ) -> None:
        """Record a declared (or, with --pinned, office-pinned) conflict. A reviewer may declare their own."""
        pc = plugin_context(ctx)
        if pinned or reviewer_id != _caller(pc).login:
            _office(pc, "pinning a conflict or declaring one for someone else")
        with pc.writing() as (conn, view):
            conflict = people.add_conflict(
                conn,
                view,
                reviewer_id,
                company_id=company,
                proposal_id=proposal,
                type=type_,
                source="pinned" if pinned else "declared",
                note=note,
                actor=_caller(pc).actor(by),
                now=epoch_now(),
            )
        target = f"company {conflict.company_id}" if conflict.company_id else f"proposal {conflict.proposal_id}"
        print(f"conflict {conflict.id}: {reviewer_id} / {target} ({conflict.type}, {conflict.source})")

    @conflict_app.command("list")
    def conflict_list(
        ctx: typer.Context,
        call_id: str,
        reviewer: str | None = typer.Option(None, "--reviewer", help="Only this reviewer's conflicts."),
        fmt: str = FormatOption,
        as_json: bool = JsonOption,
    ) -> None:
        """Every conflict in a call, automatic ones included (office view). A reviewer sees only the conflicts
        declared or pinned for them, without proposal ids (which would say what is in the call)."""
        chosen = pick_format(fmt, as_json)
        pc = plugin_context(ctx)
        caller = _caller(pc)
        if not caller.office:
            who = caller.reviewer(reviewer) or caller.login
            with pc.reading() as (conn, _view):
                own = access.own_conflicts(conn, who)
            emit(conflicts_table(own), chosen)
            return
        with pc.reading() as (conn, view):
            store.get_call(conn, call_id)
            reviewers = [people.get_reviewer(conn, reviewer)] if reviewer else people.list_reviewers(conn)
            found = access.conflict_map(conn, view, reviewers, store.list_proposals(conn, call_id))
        emit(conflicts_table([c for reasons in found.values() for c in reasons]), chosen)

    @app.command("attest")
    def attest_cmd(
        ctx: typer.Context,
        call_id: str,
        reviewer_option: str | None = ReviewerOption,
        accept: bool = typer.Option(False, "--accept", help="Give the attestation (without: show the text)."),
    ) -> None:
        """Show the call's conflict-of-interest and confidentiality text; with --accept, give it."""
        pc = plugin_context(ctx)
        caller = _caller(pc)
        reviewer = caller.reviewer(reviewer_option) or caller.login
        with pc.reading() as (conn, _view):
            call = store.get_call(conn, call_id)
            people.get_reviewer(conn, reviewer)
        print(f"[v{call.attestation_version}]\n{call.attestation_ja}\n\n{call.attestation_en}")
        if not accept:
            print("\n(not attested: run again with --accept)")
            return
        with pc.writing() as (conn, _view):
            version = people.attest(conn, reviewer, call_id, now=epoch_now())
            access.record_acting(conn, caller, reviewer, call_id, "attest", now=epoch_now())
        print(f"\nreviewer {reviewer} attested v{version} for call {call_id}")

    @cap_app.command("set")
    def cap_set(ctx: typer.Context, call_id: str, reviewer_id: str, cap: int, by: str | None = ByOption) -> None:
        """Set one reviewer's load cap in a call (overrides the call's default)."""
        pc = plugin_context(ctx)
        _office(pc, "setting a load cap")
        with pc.writing() as (conn, _view):
            people.set_cap(conn, call_id, reviewer_id, cap, actor=_caller(pc).actor(by), now=epoch_now())
        print(f"call {call_id}: {reviewer_id} may take {cap} proposals")

    # --- assignment and scoring --------------------------------------------------------------------------

    @app.command("assign")
    def assign_cmd(
        ctx: typer.Context,
        call_id: str,
        reviewer_id: str,
        proposal_ids: list[int] = typer.Argument(..., help="Proposal ids."),
        by: str | None = ByOption,
    ) -> None:
        """Assign proposals to a reviewer (all or none: conflicts and the load cap are checked)."""
        pc = plugin_context(ctx)
        _office(pc, "assigning")
        with pc.writing() as (conn, view):
            actor = _caller(pc).actor(by)
            new = access.assign(conn, view, call_id, reviewer_id, proposal_ids, actor=actor, now=epoch_now())
        already = sorted(set(proposal_ids) - set(new))
        print(f"{reviewer_id}: assigned {', '.join(map(str, new)) or 'nothing new'}")
        if already:
            print(f"already assigned: {', '.join(map(str, already))}")

    @app.command("unassign")
    def unassign_cmd(
        ctx: typer.Context, call_id: str, reviewer_id: str, proposal_id: int, by: str | None = ByOption
    ) -> None:
        """Withdraw an assignment and its scores (kept in the audit log)."""
        pc = plugin_context(ctx)
        _office(pc, "unassigning")
        with pc.writing() as (conn, _view):
            access.unassign(conn, call_id, reviewer_id, proposal_id, actor=_caller(pc).actor(by), now=epoch_now())
        print(f"{reviewer_id}: proposal {proposal_id} unassigned")

    @app.command("assignments")
    def assignments_cmd(ctx: typer.Context, call_id: str, fmt: str = FormatOption, as_json: bool = JsonOption) -> None:
        """Every assignment in a call with its number of scores (office view; void ones flagged)."""
        chosen = pick_format(fmt, as_json)
        pc = plugin_context(ctx)
        _office(pc, "the assignment list")
        with pc.reading() as (conn, view):
            rows = access.assignments(conn, view, call_id)
        emit(assignments_table(rows), chosen)

    @app.command("score")
    def score_cmd(
        ctx: typer.Context,
        proposal_id: int,
        reviewer: str | None = ReviewerOption,
        criterion: str = typer.Option(..., "--criterion"),
        score: int = typer.Option(..., "--score"),
        comment: str = typer.Option("", "--comment"),
    ) -> None:
        """Score one criterion of an assigned proposal (again: replaces the earlier score, audited)."""
        pc = plugin_context(ctx)
        caller = _caller(pc)
        who = caller.reviewer(reviewer) or caller.login
        with _as_reviewer(pc, caller, who, proposal_id=proposal_id, action="score", write=True) as acc:
            changed = acc.score(proposal_id, criterion, score, comment, now=epoch_now())
        print(f"proposal {proposal_id} {criterion}: {score}{'' if changed else ' (unchanged)'}")

    # --- committee -----------------------------------------------------------------------------------------

    @app.command("aggregate")
    def aggregate_cmd(
        ctx: typer.Context,
        call_id: str,
        threshold: float = ThresholdOption,
        fmt: str = FormatOption,
        as_json: bool = JsonOption,
    ) -> None:
        """Per proposal: criterion means, weighted mean, spread, mean z-score, disagreement flag, rank."""
        chosen = pick_format(fmt, as_json)
        pc = plugin_context(ctx)
        _office(pc, "the aggregation")
        with pc.reading() as (conn, view):
            rubric = store.criteria(conn, call_id)
            result = call_aggregation(conn, view, call_id, threshold=threshold)
        emit(aggregation_table(result, rubric), chosen)

    @app.command("decide")
    def decide_cmd(
        ctx: typer.Context,
        proposal_id: int,
        outcome: str = typer.Option(
            ..., "--outcome", help="selection: accept, reject, waitlist; end_of_term: continue, reduce, terminate."
        ),
        rationale: str = typer.Option(..., "--rationale"),
        by: str | None = ByOption,
    ) -> None:
        """Record the committee's decision with its rationale (the latest decision counts)."""
        pc = plugin_context(ctx)
        _office(pc, "deciding")
        with pc.writing() as (conn, _view):
            decision = store.decide(
                conn, proposal_id, outcome=outcome, rationale=rationale, actor=_caller(pc).actor(by), now=epoch_now()
            )
        print(f"proposal {proposal_id}: {decision.outcome}")

    @app.command("audit")
    def audit_cmd(
        ctx: typer.Context,
        entity: str | None = typer.Option(None, "--entity", help="e.g. proposal:3, or a prefix ending in ':'."),
        actor: str | None = typer.Option(None, "--actor"),
        limit: int = typer.Option(200, "--limit"),
        fmt: str = FormatOption,
        as_json: bool = JsonOption,
    ) -> None:
        """Who changed what, newest first (refused access attempts included)."""
        chosen = pick_format(fmt, as_json)
        pc = plugin_context(ctx)
        _office(pc, "the audit log")
        with pc.reading() as (conn, _view):
            entries = audit.list_audit(conn, entity=entity, actor=actor, limit=limit)
        emit(audit_table(entries), chosen)

    @app.command("sheet")
    def sheet_cmd(
        ctx: typer.Context,
        call_id: str,
        reviewer: str | None = ReviewerOption,
        as_summary: bool = typer.Option(False, "--summary", help="The committee summary."),
        fmt: str = typer.Option("md", "--format", "-f", help="md, csv or html."),
        threshold: float = ThresholdOption,
        out: Path | None = typer.Option(None, "--out", help="Write here instead of stdout."),
        now_text: str | None = NowOption,
    ) -> None:
        """A reviewer's sheet (assigned proposals, criteria, their scores) or the committee summary; an
        end-of-term summary carries the pack per company (compute granted/used, idle, directives, results)."""
        chosen = pick_choice("--format", fmt, _SHEET_FORMATS)
        if reviewer is not None and as_summary:
            raise UsageError("give either --as REVIEWER or --summary")
        pc = plugin_context(ctx)
        caller = _office(pc, "the committee summary") if as_summary else _caller(pc)
        if not as_summary:
            reviewer = caller.reviewer(reviewer) or caller.login
            with _as_reviewer(pc, caller, reviewer, call_id=call_id, action="sheet") as acc:
                text = reviewer_sheet_text(reviewer_sheet(acc), chosen)
        else:
            now = parse_now(now_text)
            with pc.reading() as (conn, view):
                data = summary(conn, view, call_id, threshold=threshold)
                pack = _pack_text(host, pc, conn, view, data, chosen, now=now)
            text = summary_text(data, chosen, pack=pack)
        if out is None:
            print(text)
        else:
            write_output(out, text + "\n")
            print(f"written to {out}")

    return app


def _pack_text(
    host: Host, pc: PluginContext, conn: Connection, view: LedgerView, data: Summary, fmt: SheetFormat, *, now: int
) -> str:
    """The end-of-term pack in the sheet's format ("" for a selection call); reporters looked up now."""
    call = data.call
    if call.kind != "end_of_term" or call.period_start is None or call.period_end is None:
        return ""
    company_ids = sorted({p.company_id for p in data.proposals.values()})
    if not company_ids:
        return ""
    packs = pack.build_pack(
        view,
        host.committee_reporters(),
        conn,
        pc.settings,
        company_ids=company_ids,
        start=call.period_start,
        end=call.period_end,
        now=now,
    )
    if fmt == "csv":
        return pack.pack_csv(packs)
    if fmt == "md":
        return pack.pack_markdown(packs)
    return pack.pack_html(packs, fragment=True)
