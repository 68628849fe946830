"""``quotad provider``: GPU providers, their contracts and the capacity reserved from them.

Every ``add`` creates or replaces by natural key (like ``grant set``), so a corrected entry or CSV is re-entered,
never deleted first. ``import`` commands take CSV files and exit 1 when any row was refused (the others land).
"""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from quotad.cli.context import FormatOption, JsonOption, pick_format, state
from quotad.errors import UsageError
from quotad.pool import fields
from quotad.pool.csv_import import COLUMNS, CsvKind, import_csv
from quotad.pool.registry import (
    ContractSpec,
    ProviderSpec,
    ReservationSpec,
    list_providers,
    list_reservations,
    require_provider,
    set_contract,
    set_provider,
    set_reservation,
)
from quotad.render import Table, emit
from quotad.timeutil import epoch_now, format_day

__all__ = ["app", "run_csv_import"]

log = logging.getLogger("quotad.provider")

app = typer.Typer(help="GPU providers, contracts and reserved capacity.", no_args_is_help=True)
contract_app = typer.Typer(help="Contracts and memoranda with a provider.", no_args_is_help=True)
reserve_app = typer.Typer(help="Capacity reserved from a provider (nodes × GPUs for a period).", no_args_is_help=True)
app.add_typer(contract_app, name="contract")
app.add_typer(reserve_app, name="reserve")


def _usage(exc: ValueError) -> UsageError:
    return UsageError(str(exc))


def run_csv_import(ctx: typer.Context, kind: CsvKind, path: Path) -> None:
    """Import one CSV file of ``kind``; every refused row is logged with its line number; exit 1 if any."""
    app_state = state(ctx)
    settings = app_state.settings
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    with handle, app_state.writing() as conn:
        report = import_csv(
            conn,
            kind,
            handle,
            source=str(path),
            tz=settings.programme.timezone,
            known_gpu_types=list(settings.gpu_types),
            now=epoch_now(),
        )
    print(f"{path}: {report.rows} {kind} row(s), {report.written} written, {len(report.errors)} refused")
    for err in report.errors:
        log.warning("%s:%d: %s", path, err.line, err.reason)
    if report.errors:
        required, optional = COLUMNS[kind]
        log.warning("columns: %s (optional: %s)", ",".join(required), ",".join(optional) or "-")
        raise typer.Exit(1)


@app.command("add")
def add(
    ctx: typer.Context,
    provider_id: str = typer.Argument(..., help="Short id, e.g. abci or sakura-cloud."),
    name_ja: str = typer.Option(..., "--name-ja", help="Name in Japanese."),
    name_en: str = typer.Option(..., "--name-en", help="Name in English."),
    kind: str = typer.Option(..., "--kind", help="national-hpc or cloud."),
) -> None:
    """Register a provider (or update its names and kind)."""
    try:
        spec = ProviderSpec(provider_id, name_ja, name_en, fields.provider_kind(kind))
    except ValueError as exc:
        raise _usage(exc) from None
    with state(ctx).writing() as conn:
        created = set_provider(conn, spec, now=epoch_now())
    print(f"provider {provider_id} {'added' if created else 'updated'}")


@app.command("list")
def list_cmd(ctx: typer.Context, fmt: str = FormatOption, as_json: bool = JsonOption) -> None:
    """Providers with their contracts and how many reserved blocks each has."""
    app_state = state(ctx)
    tz = app_state.settings.programme.timezone
    with app_state.ledger().connect() as conn:
        providers = list_providers(conn)
    table = Table(
        ["Provider", "Name (ja)", "Name (en)", "Kind", "Contracts", "Reserved blocks"],
        [
            [
                p.id,
                p.name_ja,
                p.name_en,
                p.kind.replace("_", "-"),
                "; ".join(
                    f"{c.reference} ({c.kind}, {format_day(c.period_start, tz)}..{format_day(c.period_end - 1, tz)})"
                    for c in p.contracts
                ),
                p.reservations,
            ]
            for p in providers
        ],
        keys=["id", "name_ja", "name_en", "kind", "contracts", "reserved_blocks"],
    )
    emit(table, pick_format(fmt, as_json))


@app.command("import")
def import_providers(ctx: typer.Context, path: Path = typer.Argument(..., help="CSV: id,name_ja,name_en,kind")) -> None:
    """Import providers from CSV; exit 1 if any row was refused."""
    run_csv_import(ctx, "providers", path)


@contract_app.command("add")
def contract_add(
    ctx: typer.Context,
    provider_id: str = typer.Argument(..., help="Provider id."),
    reference: str = typer.Option(..., "--ref", help="Contract or memorandum reference."),
    start: str = typer.Option(..., "--start", help="First day, YYYY-MM-DD (programme time zone)."),
    end: str = typer.Option(..., "--end", help="Last day, inclusive, YYYY-MM-DD."),
    kind: str = typer.Option("contract", "--kind", help="contract or memorandum."),
    contact: str = typer.Option("", "--contact", help="Who to contact at the provider."),
    terms: str = typer.Option("", "--terms", help="Free-text note on the terms."),
) -> None:
    """Record a contract or memorandum with a provider (or replace the one with this reference)."""
    tz = state(ctx).settings.programme.timezone
    try:
        spec = ContractSpec(
            provider_id=provider_id,
            reference=reference,
            kind=fields.contract_kind(kind),
            period_start=fields.day(start, tz, field="--start"),
            period_end=fields.day(end, tz, field="--end", end=True),
            contact=contact,
            terms_note=terms,
        )
    except ValueError as exc:
        raise _usage(exc) from None
    with state(ctx).writing() as conn:
        contract_id = set_contract(conn, spec)
    print(f"contract {contract_id}: {provider_id} {reference} from {start} to {end}")


@contract_app.command("import")
def contract_import(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="CSV: provider,reference,start,end[,kind,contact,terms_note]"),
) -> None:
    """Import contracts from CSV; exit 1 if any row was refused."""
    run_csv_import(ctx, "contracts", path)


@reserve_app.command("add")
def reserve_add(
    ctx: typer.Context,
    provider_id: str = typer.Argument(..., help="Provider id."),
    cluster: str = typer.Option(..., "--cluster", help="Configured cluster the nodes belong to."),
    node_type: str = typer.Option(..., "--node-type", help="The provider's node type, e.g. rt_HF or H100x8."),
    nodes: int = typer.Option(..., "--nodes", help="Number of nodes reserved."),
    gpus_per_node: int = typer.Option(..., "--gpus-per-node", help="GPUs in each node."),
    gpu_type: str = typer.Option(..., "--gpu-type", help="GPU type (a key of [gpu_types])."),
    start: str = typer.Option(..., "--start", help="First day, YYYY-MM-DD (programme time zone)."),
    end: str = typer.Option(..., "--end", help="Last day, inclusive, YYYY-MM-DD."),
    price: str = typer.Option("", "--price", help="Price per GPU-hour in --currency, e.g. 450 or 2.50."),
    currency: str = typer.Option("", "--currency", help="ISO 4217 code of --price, e.g. JPY."),
    contract: str | None = typer.Option(None, "--contract", help="Reference of the provider's contract."),
    note: str = typer.Option("", "--note", help="Free text."),
) -> None:
    """Reserve NODES × GPUS-PER-NODE GPUs on a cluster for a period (replaces the block with the same start)."""
    app_state = state(ctx)
    settings = app_state.settings
    tz = settings.programme.timezone
    try:
        spec = ReservationSpec(
            provider_id=provider_id,
            cluster=cluster,
            node_type=node_type,
            gpu_type=gpu_type.lower(),
            gpus_per_node=gpus_per_node,
            node_count=nodes,
            period_start=fields.day(start, tz, field="--start"),
            period_end=fields.day(end, tz, field="--end", end=True),
            price=fields.price(price, currency),
            contract_reference=contract,
            note=note,
        )
    except ValueError as exc:
        raise _usage(exc) from None
    with app_state.writing() as conn:
        block_id = set_reservation(conn, spec, known_gpu_types=list(settings.gpu_types))
    priced = f" at {spec.price}/GPU-h" if spec.price else ""
    print(
        f"reservation {block_id}: {provider_id} {nodes} × {gpus_per_node} {gpu_type.upper()} on {cluster} "
        f"from {start} to {end}{priced}"
    )


@reserve_app.command("list")
def reserve_list(
    ctx: typer.Context,
    provider_id: str | None = typer.Option(None, "--provider", help="Only this provider."),
    cluster: str | None = typer.Option(None, "--cluster", help="Only this cluster."),
    fmt: str = FormatOption,
    as_json: bool = JsonOption,
) -> None:
    """Reserved blocks with their GPUs, period and price."""
    app_state = state(ctx)
    tz = app_state.settings.programme.timezone
    with app_state.ledger().connect() as conn:
        if provider_id:
            require_provider(conn, provider_id)
        blocks = list_reservations(conn, provider_id=provider_id, cluster=cluster)
    chosen = pick_format(fmt, as_json)
    table = Table(
        [
            "Block",
            "Provider",
            "Contract",
            "Cluster",
            "Node type",
            "Nodes",
            "GPUs/node",
            "GPU type",
            "GPUs",
            "From",
            "Last day",
            "Price/GPU-h",
            "Currency",
            "Note",
        ],
        [
            [
                b.id,
                b.provider_id,
                b.contract_reference,
                b.cluster,
                b.node_type,
                b.node_count,
                b.gpus_per_node,
                b.gpu_type,
                b.gpus,
                format_day(b.period_start, tz),
                format_day(b.period_end - 1, tz),
                (b.price.major() if chosen in ("json", "csv") else str(b.price)) if b.price else None,
                b.price.currency if b.price else None,
                b.note,
            ]
            for b in blocks
        ],
        keys=[
            "id",
            "provider",
            "contract",
            "cluster",
            "node_type",
            "nodes",
            "gpus_per_node",
            "gpu_type",
            "gpus",
            "start",
            "last_day",
            "price_per_gpu_hour",
            "currency",
            "note",
        ],
    )
    emit(table, chosen)


@reserve_app.command("import")
def reserve_import(
    ctx: typer.Context,
    path: Path = typer.Argument(
        ...,
        help="CSV: provider,cluster,node_type,gpu_type,gpus_per_node,nodes,start,end[,price,currency,contract,note]",
    ),
) -> None:
    """Import reserved blocks from CSV; exit 1 if any row was refused."""
    run_csv_import(ctx, "reservations", path)
