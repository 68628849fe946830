"""``quotad company``: the companies in the programme, their Slurm accounts and contacts."""

from __future__ import annotations

import typer

from quotad.cli.context import FormatOption, JsonOption, pick_format, state
from quotad.ledger.queries import get_company, list_companies, list_grants
from quotad.ledger.registry import AccountRef, ContactRef, add_company
from quotad.render import Table, emit
from quotad.timeutil import epoch_now, format_day

app = typer.Typer(help="Companies, their Slurm accounts and contacts.", no_args_is_help=True)


@app.command("add")
def add(
    ctx: typer.Context,
    company_id: str = typer.Argument(..., help="Short id, e.g. sakura-ai."),
    name_ja: str = typer.Option(..., "--name-ja", help="Name in Japanese."),
    name_en: str = typer.Option(..., "--name-en", help="Name in English."),
    account: list[str] = typer.Option([], "--account", "-a", help="CLUSTER:ACCOUNT; repeat for several."),
    contact: list[str] = typer.Option([], "--contact", help="EMAIL[:ja|en] (preferred language); repeatable."),
) -> None:
    """Register a company with its Slurm accounts (per cluster) and contacts."""
    accounts = [AccountRef.parse(a) for a in account]
    contacts = [ContactRef.parse(c) for c in contact]
    with state(ctx).writing() as conn:
        add_company(
            conn,
            company_id=company_id,
            name_ja=name_ja,
            name_en=name_en,
            accounts=accounts,
            contacts=contacts,
            now=epoch_now(),
        )
    print(f"company {company_id} added with {len(accounts)} account(s) and {len(contacts)} contact(s)")


@app.command("list")
def list_cmd(ctx: typer.Context, fmt: str = FormatOption, as_json: bool = JsonOption) -> None:
    """All companies with their accounts and contacts."""
    with state(ctx).ledger().connect() as conn:
        companies = list_companies(conn)
    table = Table(
        ["Company", "Name (ja)", "Name (en)", "Accounts", "Contacts"],
        [
            [
                c.id,
                c.name_ja,
                c.name_en,
                " ".join(f"{a.cluster}:{a.account}" for a in c.accounts),
                " ".join(f"{p.email}:{p.language}" for p in c.contacts),
            ]
            for c in companies
        ],
        keys=["id", "name_ja", "name_en", "accounts", "contacts"],
    )
    emit(table, pick_format(fmt, as_json))


@app.command("show")
def show(
    ctx: typer.Context, company_id: str = typer.Argument(...), fmt: str = FormatOption, as_json: bool = JsonOption
) -> None:
    """One company and its grants."""
    app_state = state(ctx)
    tz = app_state.settings.programme.timezone
    with app_state.ledger().connect() as conn:
        company = get_company(conn, company_id)
        grants = list_grants(conn, company_id=company_id)
    table = Table(
        ["Grant", "Scope", "Amount", "Unit", "From", "Last day", "Plan months"],
        [
            [
                g.id,
                g.cluster if g.cluster != "*" else "pool",
                g.unit.display(g.amount),
                g.unit.label,
                format_day(g.period_start, tz),
                format_day(g.period_end - 1, tz),
                len(g.plan),
            ]
            for g in grants
        ],
        title=f"{company.id} — {company.name_ja} / {company.name_en}",
        keys=["id", "cluster", "amount", "unit", "start", "last_day", "plan_months"],
        meta={
            "id": company.id,
            "name_ja": company.name_ja,
            "name_en": company.name_en,
            "accounts": [f"{a.cluster}:{a.account}" for a in company.accounts],
            "contacts": [{"email": p.email, "language": p.language} for p in company.contacts],
        },
    )
    chosen = pick_format(fmt, as_json)
    if chosen == "table":
        print(f"accounts: {' '.join(f'{a.cluster}:{a.account}' for a in company.accounts) or '—'}")
        print(f"contacts: {' '.join(f'{p.email} ({p.language})' for p in company.contacts) or '—'}")
    emit(table, chosen)
