"""The compute chapter, from the ledger view: grants against use, idle share and directives, per company.

The office and consortium editions show each company; the public edition shows programme totals only (a
company's own figures reach the public through the site, and only where it agreed).
"""

from __future__ import annotations

from collections import Counter, defaultdict

from quotad.charts.data import BurnDown, Series
from quotad.plugins.api import Bilingual, CompanyCompute, ReportCell, ReportTable, SurveyRequest
from quotad.timeutil import add_months, month_bounds, month_start
from quotad.units import gpu_hours

__all__ = ["compute_charts", "compute_tables"]

_DIRECTIVE_LABELS = {
    "quota_threshold": Bilingual("配分量の閾値", "Grant thresholds"),
    "forecast_overrun": Bilingual("超過の見込み", "Forecast overrun"),
    "underuse": Bilingual("計画に対する遅れ", "Behind plan"),
    "idle_allocation": Bilingual("確保したGPUの遊休", "Idle allocated GPUs"),
    "low_efficiency": Bilingual("低効率", "Low efficiency"),
    "out_of_programme": Bilingual("プログラム外の利用", "Out-of-programme use"),
}


def _pct(ratio: float | None) -> ReportCell:
    return None if ratio is None else round(100 * ratio, 1)


def _granted(request: SurveyRequest) -> dict[str, str]:
    amounts: defaultdict[str, Counter[str]] = defaultdict(Counter)
    units = {}
    for grant in request.ledger.grants():
        if grant.period_start < request.end and grant.period_end > request.start:
            amounts[grant.company_id][grant.unit.label] += grant.amount
            units[grant.unit.label] = grant.unit
    return {
        company: ", ".join(f"{units[label].format(value)} {label}" for label, value in sorted(per.items()))
        for company, per in amounts.items()
    }


_STATE_LABELS = (
    ("open", Bilingual("未通知", "Open")),
    ("notified", Bilingual("通知済", "Notified")),
    ("acknowledged", Bilingual("対応中", "Acknowledged")),
    ("resolved", Bilingual("解決", "Resolved")),
    ("expired", Bilingual("自然解消", "Went away")),
)


def _directives_table(request: SurveyRequest) -> ReportTable:
    """Directives opened in the period by policy, and where each stands now."""
    outcomes = request.ledger.directive_outcomes(start=request.start, end=request.end)
    policies = sorted({policy for policy, _state in outcomes})
    return ReportTable(
        key="compute-directives",
        title=Bilingual("方針別の指示件数と結果", "Directives by policy and outcome"),
        columns=(Bilingual("方針", "Policy"), *(label for _state, label in _STATE_LABELS), Bilingual("計", "Total")),
        rows=tuple(
            (
                _DIRECTIVE_LABELS.get(p, Bilingual(p, p)),
                *(outcomes.get((p, state), 0) for state, _label in _STATE_LABELS),
                sum(n for (q, _s), n in outcomes.items() if q == p),
            )
            for p in policies
        ),
    )


def _pool_table(request: SurveyRequest) -> ReportTable | None:
    """Reserved capacity against use, for the whole pool; contract costs for the office only."""
    tz = request.settings.programme.timezone
    pool = request.ledger.pool(start=request.start, end=request.end, now=request.now, tz=tz)
    if not pool.reserved:
        return None
    rows: list[tuple[ReportCell, ...]] = [
        (Bilingual("確保したGPU時間", "GPU-hours reserved"), round(gpu_hours(pool.reserved), 1)),
        (Bilingual("うち保守", "of which in maintenance"), round(gpu_hours(pool.maintenance), 1)),
        (Bilingual("ジョブに割り当て", "allocated to jobs"), round(gpu_hours(pool.allocated), 1)),
        (Bilingual("未割り当て", "unallocated"), round(gpu_hours(pool.unallocated), 1)),
        (Bilingual("稼働（計測分）", "busy (measured)"), None if pool.busy is None else round(gpu_hours(pool.busy), 1)),
    ]
    if request.audience == "office":
        rows.append(
            (
                Bilingual("確保の費用", "cost of the reserved capacity"),
                ", ".join(str(m) for m in pool.reserved_cost) or None,
            )
        )
        rows.append(
            (
                Bilingual("未割り当て分の費用", "cost of the unallocated capacity"),
                ", ".join(str(m) for m in pool.unallocated_cost) or None,
            )
        )
    return ReportTable(
        key="compute-pool",
        title=Bilingual("確保した計算資源と利用", "Reserved capacity and its use"),
        columns=(Bilingual("項目", "What"), Bilingual("値", "Value")),
        rows=tuple(rows),
        note=Bilingual(
            "プロバイダとの契約で確保した容量に対する利用です（期間内、現在まで）。",
            "Use against the capacity reserved under provider contracts (in the period, up to now).",
        ),
    )


def compute_tables(request: SurveyRequest) -> tuple[ReportTable, ...]:
    view = request.ledger
    compute = view.compute_by_company(start=request.start, end=request.end)
    idle = view.idle_share(start=request.start, end=request.end)
    directives = view.directives_received(start=request.start, end=request.end)
    total = view.compute_total(start=request.start, end=request.end)
    measured = sum(s.measured_gpu_seconds for s in idle.values())
    idle_total = sum(s.idle_gpu_seconds for s in idle.values())
    directives_opened = sum(view.directive_outcomes(start=request.start, end=request.end).values())
    tables = [
        ReportTable(
            key="compute-programme",
            title=Bilingual("プログラム全体の計算資源利用", "Compute used by the whole programme"),
            columns=(Bilingual("項目", "What"), Bilingual("値", "Value")),
            rows=(
                (Bilingual("GPU時間", "GPU-hours"), round(gpu_hours(total.gpu_seconds), 1)),
                (Bilingual("EFLOPS時間", "EFLOPS-hours"), round(total.eflops_hours, 3)),
                (
                    Bilingual("遊休率 %（計測分）", "Idle share % (measured)"),
                    _pct(idle_total / measured if measured else None),
                ),
                (Bilingual("指示の件数", "Directives opened"), directives_opened),
            ),
            note=Bilingual(
                "遊休率はノードエージェントが計測したGPUのみが対象です。空欄は計測なしを表します。",
                "The idle share covers only GPUs a node agent measured; a blank means not measured, never 0 %.",
            ),
        ),
        _directives_table(request),
    ]
    pool = _pool_table(request)
    if pool is not None:
        tables.insert(1, pool)
    if request.audience == "public":
        return tuple(tables)
    granted = _granted(request)
    rows: list[tuple[ReportCell, ...]] = []
    for company in view.companies():
        used = compute.get(company.id, CompanyCompute(0, 0))
        share = idle.get(company.id)
        rows.append(
            (
                Bilingual(company.name_ja, company.name_en),
                granted.get(company.id, "—"),
                round(used.gpu_hours, 1),
                round(used.eflops_hours, 3),
                _pct(None if share is None else share.ratio),
                sum(c.count for c in directives.get(company.id, ())),
            )
        )
    tables.insert(
        1,
        ReportTable(
            key="compute-companies",
            title=Bilingual("企業別の配分と利用", "Grants and use per company"),
            columns=(
                Bilingual("企業", "Company"),
                Bilingual("配分", "Granted"),
                Bilingual("GPU時間", "GPU-hours"),
                Bilingual("EFLOPS時間", "EFLOPS-hours"),
                Bilingual("遊休率 %", "Idle %"),
                Bilingual("指示", "Directives"),
            ),
            rows=tuple(rows),
        ),
    )
    return tuple(tables)


def _monthly_total(request: SurveyRequest) -> Series:
    """Programme-wide GPU-hours per month of the period (every edition may see a programme total)."""
    tz = request.settings.programme.timezone
    year, month = month_start(request.start, tz)
    labels: list[str] = []
    hours: list[float] = []
    while True:
        first, last = month_bounds(year, month, tz)
        if first >= request.end:
            break
        used = request.ledger.compute_total(start=max(first, request.start), end=min(last, request.end))
        labels.append(f"{year:04d}-{month:02d}")
        hours.append(gpu_hours(used.gpu_seconds))
        year, month = add_months(year, month, 1)
    return Series(
        "GPU-hours per month, whole programme / プログラム全体の月間GPU時間",
        "GPU-h",
        tuple(labels),
        {"GPU-h": tuple(hours)},
    )


def compute_charts(request: SurveyRequest, lang: str) -> tuple[Series | BurnDown, ...]:
    """The monthly total for every edition; each company's grant burn-down for the office and the consortium."""
    charts: list[Series | BurnDown] = [_monthly_total(request)]
    if request.audience == "public":
        return tuple(charts)
    as_of = min(request.now, request.end - 1)
    tz = request.settings.programme.timezone
    for company in request.ledger.companies():
        chart = request.ledger.burn_down(company.id, now=as_of, tz=tz, lang="ja" if lang == "ja" else "en")
        if chart is not None:
            charts.append(chart)
    return tuple(charts)
