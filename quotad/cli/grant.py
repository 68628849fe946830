"""``quotad grant``: allocations of GPU-hours (per type) or normalised compute for a period."""

from __future__ import annotations

import typer

from quotad.amounts import NORMALISED, Unit
from quotad.cli.context import FormatOption, JsonOption, pick_format, state
from quotad.errors import UsageError
from quotad.ledger.models import POOL
from quotad.ledger.queries import list_grants
from quotad.ledger.registry import GrantSpec, require_company, set_grant
from quotad.render import Table, emit
from quotad.timeutil import format_day, month_bounds, parse_day, parse_month
from quotad.units import SECONDS_PER_HOUR, TFLOP_PER_EFLOPS_HOUR, TFLOP_PER_PFLOPS_DAY

app = typer.Typer(help="Grants: how much compute each company may use, and when.", no_args_is_help=True)


def _amount(gpu_hours: float | None, eflops_hours: float | None, pflops_days: float | None) -> tuple[str, float, int]:
    given = [
        (n, v, f)
        for n, v, f in (
            ("gpu-hours", gpu_hours, SECONDS_PER_HOUR),
            ("eflops-hours", eflops_hours, TFLOP_PER_EFLOPS_HOUR),
            ("pflops-days", pflops_days, TFLOP_PER_PFLOPS_DAY),
        )
        if v is not None
    ]
    if len(given) != 1:
        raise UsageError("give exactly one of --gpu-hours, --eflops-hours or --pflops-days")
    return given[0]


@app.command("set")
def set_cmd(
    ctx: typer.Context,
    company_id: str = typer.Argument(..., help="Company id."),
    cluster: str | None = typer.Option(None, "--cluster", help="Cluster the grant is for."),
    pool: bool = typer.Option(False, "--pool", help="The grant covers the whole pool (every cluster)."),
    gpu_hours: float | None = typer.Option(None, "--gpu-hours", help="Amount in GPU-hours of --gpu-type."),
    gpu_type: str | None = typer.Option(None, "--gpu-type", help="GPU type [default: the cluster's default]."),
    eflops_hours: float | None = typer.Option(None, "--eflops-hours", help="Normalised amount (peak BF16)."),
    pflops_days: float | None = typer.Option(None, "--pflops-days", help="Normalised amount (peak BF16)."),
    start: str = typer.Option(..., "--start", help="First day, YYYY-MM-DD (programme time zone)."),
    end: str = typer.Option(..., "--end", help="Last day, inclusive, YYYY-MM-DD."),
    plan: list[str] = typer.Option([], "--plan", help="Planned use YYYY-MM=AMOUNT (grant's unit); repeatable."),
    note: str = typer.Option("", "--note", help="Free text, e.g. the decision reference."),
) -> None:
    """Create or replace a grant (keyed by company, scope, GPU type and start day)."""
    app_state = state(ctx)
    settings = app_state.settings
    if pool == (cluster is not None):
        raise UsageError("give exactly one of --cluster NAME or --pool")
    kind, value, factor = _amount(gpu_hours, eflops_hours, pflops_days)
    if kind == "gpu-hours":
        configured = settings.cluster(cluster) if cluster else None
        chosen_type = (gpu_type or (configured.default_gpu_type if configured else "")).lower()
        if not chosen_type:
            raise UsageError("--gpu-type is required for a pool grant in GPU-hours")
    elif gpu_type:
        raise UsageError("--gpu-type only goes with --gpu-hours")
    else:
        chosen_type = NORMALISED
    tz = settings.programme.timezone
    plan_amounts: dict[int, int] = {}
    for item in plan:
        month, sep, amount = item.partition("=")
        try:
            planned = float(amount)
        except ValueError:
            planned = -1.0
        if not sep or planned < 0:
            raise UsageError(f"--plan {item!r}: expected YYYY-MM=AMOUNT with a non-negative amount")
        plan_amounts[month_bounds(*parse_month(month), tz)[0]] = round(planned * factor)
    spec = GrantSpec(
        company_id=company_id,
        cluster=cluster or POOL,
        gpu_type=chosen_type,
        amount=round(value * factor),
        period_start=parse_day(start, tz),
        period_end=parse_day(end, tz, end_of_day=True),
        plan=plan_amounts if plan else None,
        note=note,
    )
    with app_state.writing() as conn:
        grant_id = set_grant(conn, spec, known_gpu_types=list(settings.gpu_types))
    unit = Unit(chosen_type)
    print(
        f"grant {grant_id}: {company_id} {unit.format(spec.amount)} {unit.label} on "
        f"{cluster or 'the pool'} from {start} to {end}"
    )


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    company_id: str | None = typer.Option(None, "--company", help="Only this company."),
    fmt: str = FormatOption,
    as_json: bool = JsonOption,
) -> None:
    """Grants with their scope, amount and period."""
    app_state = state(ctx)
    tz = app_state.settings.programme.timezone
    with app_state.ledger().connect() as conn:
        if company_id:
            require_company(conn, company_id)
        grants = list_grants(conn, company_id=company_id)
    table = Table(
        ["Grant", "Company", "Scope", "Amount", "Unit", "From", "Last day", "Plan months", "Note"],
        [
            [
                g.id,
                g.company_id,
                "pool" if g.cluster == POOL else g.cluster,
                g.unit.display(g.amount),
                g.unit.label,
                format_day(g.period_start, tz),
                format_day(g.period_end - 1, tz),
                len(g.plan),
                g.note,
            ]
            for g in grants
        ],
        keys=["id", "company", "cluster", "amount", "unit", "start", "last_day", "plan_months", "note"],
    )
    emit(table, pick_format(fmt, as_json))
