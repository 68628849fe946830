"""``quotad status``: where every company stands at one instant (``quotad report`` is ``quotad/cli/report.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import typer

from quotad.cli.context import FormatOption, JsonOption, NowOption, parse_now, pick_format, state
from quotad.ledger.queries import (
    UNCLAIMED_WINDOW_S,
    StatusRow,
    list_companies,
    list_grants,
    memoised_cells,
    status_rows,
    unclaimed_since,
)
from quotad.ledger.reports import gpus_held_at
from quotad.render import Cell, Table, emit
from quotad.timeutil import format_day
from quotad.units import gpu_hours

__all__ = ["status", "status_table", "unclaimed_line"]

#: Accounts named in the unclaimed line before "and N more".
_UNCLAIMED_SHOWN = 8


def status_table(rows: list[StatusRow], tz: str, *, now: int | None = None) -> Table:
    """The status rows; with ``now`` the title says the instant they were evaluated at ("as of")."""
    out: list[Sequence[Cell]] = []
    for r in rows:
        unit = r.unit
        show = unit.display if unit else (lambda _v: None)
        out.append(
            [
                r.company_id,
                r.name_en,
                unit.label if unit else "no active grant",
                show(r.granted),
                show(r.used),
                round(100 * r.used_ratio, 1) if r.used_ratio is not None else None,
                show(round(r.burn_per_day)) if unit else None,
                show(r.projected),
                round(100 * r.projected / r.granted, 1) if r.granted else None,
                format_day(r.period_end - 1, tz) if r.period_end else None,
                r.gpus_held,
            ]
        )
    return Table(
        [
            "Company",
            "Name",
            "Unit",
            "Grant",
            "Used",
            "Used %",
            "Burn/day (7d)",
            "Projected at end",
            "Projected %",
            "Period ends",
            "GPUs held",
        ],
        out,
        title="Grant status" + (f" as of {_instant(now, tz)}" if now is not None else ""),
        drop_first=["Name", "Projected at end", "Burn/day (7d)", "Period ends", "Grant"],
        keys=[
            "company",
            "name_en",
            "unit",
            "grant",
            "used",
            "used_pct",
            "burn_per_day",
            "projected",
            "projected_pct",
            "period_last_day",
            "gpus_held",
        ],
    )


def _instant(epoch: int, tz: str) -> str:
    return datetime.fromtimestamp(epoch, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M %Z")


def status(
    ctx: typer.Context,
    now_text: str | None = NowOption,
    fmt: str = FormatOption,
    as_json: bool = JsonOption,
) -> None:
    """One row per company at one instant: grant, used, % used, burn rate, projection, GPUs held.

    The instant is --now (default: the clock); the 7-day burn rate, the projection to the period end and the
    GPUs held by jobs running at that instant are all evaluated there.
    """
    app_state = state(ctx)
    now = parse_now(now_text)
    with app_state.ledger().connect() as conn:
        rows = status_rows(
            list_companies(conn), [g for g in list_grants(conn) if g.active(now)], gpus_held_at(conn, now),
            memoised_cells(conn, now=now), app_state.catalog, now=now,
        )
        unclaimed = unclaimed_since(conn, now)
    chosen = pick_format(fmt, as_json)
    emit(status_table(rows, app_state.settings.programme.timezone, now=now), chosen)
    if unclaimed and chosen in ("table", "md"):  # machine formats keep their shape (one record per company)
        print(unclaimed_line(unclaimed))


def unclaimed_line(cells: dict[tuple[str, str, str], int]) -> str:
    """``unclaimed accounts (last 30 days): c1:ghost 12.0 GPU-h, ...``: usage the ledger charges to nobody,
    largest first, so a missing ``company add-account`` is seen where people look every day."""
    by_account: dict[str, int] = {}
    for (cluster, account, _gpu_type), seconds in cells.items():
        by_account[f"{cluster}:{account}"] = by_account.get(f"{cluster}:{account}", 0) + seconds
    ranked = sorted(by_account.items(), key=lambda item: (-item[1], item[0]))
    shown = ", ".join(f"{name} {gpu_hours(seconds):,.1f} GPU-h" for name, seconds in ranked[:_UNCLAIMED_SHOWN])
    more = f" and {len(ranked) - _UNCLAIMED_SHOWN} more" if len(ranked) > _UNCLAIMED_SHOWN else ""
    days = UNCLAIMED_WINDOW_S // 86400
    return f"unclaimed accounts (last {days} days, charged to no company): {shown}{more}"
