"""The compute chapter, from the ledger view: grants against use, idle share and directives, per company.

The office and consortium editions show each company; the public edition shows programme totals only (a
company's own figures reach the public through the site, and only where it agreed).

No figure by subtraction, in the public edition as on the site (one rule, ``quotad.plugins.disclosure``): a
programme total (GPU-hours and EFLOPS-hours of the period, of each month in the chart, and the pool's
"allocated" and "unallocated" hours, which are the same use seen from the capacity) is withheld when exactly
one company that does not disclose its compute used compute then, since the total minus the site's
per-company figures would be that company's use. The period total is also withheld when the withheld months
together have one undisclosed user (the total minus the months shown would be their sum). Which companies
disclose comes from the plugins' ``Plugin.disclosure`` shares (the site's flags); with none, nobody does.

The idle share is a ratio no plugin publishes per company, so nothing can be subtracted from it; it is
withheld only when one company alone was measured, as it would then be that company's own figure. Directive
counts are not compute and no company's are published, so they stay.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from quotad.charts.data import BurnDown, Series
from quotad.plugins.api import Bilingual, CompanyCompute, Language, ReportCell, ReportTable, SurveyRequest
from quotad.plugins.disclosure import WITHHELD_NOTE, reveals_one, total_reveals
from quotad.timeutil import add_months, month_bounds, month_start
from quotad.units import gpu_hours

__all__ = ["PublicTotals", "compute_charts", "compute_tables", "public_totals"]

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


@dataclass(frozen=True)
class PublicTotals:
    """The programme totals an edition may print: None where one would reveal a company's private use."""

    #: The whole period's total (None: withheld).
    period: CompanyCompute | None
    #: (YYYY-MM, total or None) for each month of the period, clipped to it.
    months: tuple[tuple[str, CompanyCompute | None], ...]
    #: The idle share of what the agents measured; None when not measured or withheld.
    idle_ratio: float | None
    #: Whether the idle share was measured but withheld (one company alone measured).
    idle_withheld: bool = False

    @property
    def withheld_months(self) -> tuple[str, ...]:
        return tuple(label for label, total in self.months if total is None)

    @property
    def withheld(self) -> bool:
        return self.period is None or bool(self.withheld_months) or self.idle_withheld


def _month_spans(request: SurveyRequest) -> list[tuple[str, int, int]]:
    tz = request.settings.programme.timezone
    year, month = month_start(request.start, tz)
    spans: list[tuple[str, int, int]] = []
    while True:
        first, last = month_bounds(year, month, tz)
        if first >= request.end:
            return spans
        spans.append((f"{year:04d}-{month:02d}", max(first, request.start), min(last, request.end)))
        year, month = add_months(year, month, 1)


def public_totals(request: SurveyRequest, disclosed: frozenset[str] | None) -> PublicTotals:
    """The period's and each month's programme total; with ``disclosed`` (the public edition: the companies
    that publish their compute), the rule of ``quotad.plugins.disclosure`` withholds what would reveal one
    undisclosed company. ``disclosed`` None: an edition for readers who see every company anyway."""
    view = request.ledger
    months: list[tuple[str, CompanyCompute | None]] = []
    withheld: list[Mapping[str, CompanyCompute]] = []
    for label, lo, hi in _month_spans(request):
        if disclosed is not None:
            used = view.compute_by_company(start=lo, end=hi)
            if reveals_one(used, disclosed):
                months.append((label, None))
                withheld.append(used)
                continue
        months.append((label, view.compute_total(start=lo, end=hi)))
    period: CompanyCompute | None = view.compute_total(start=request.start, end=request.end)
    if disclosed is not None:
        used = view.compute_by_company(start=request.start, end=request.end)
        if total_reveals(used, disclosed, withheld_parts=withheld):
            period = None
    idle = view.idle_share(start=request.start, end=request.end)
    measured = sum(s.measured_gpu_seconds for s in idle.values())
    ratio = sum(s.idle_gpu_seconds for s in idle.values()) / measured if measured else None
    idle_withheld = False
    if disclosed is not None and ratio is not None:
        # Nobody publishes a company's idle share, so no company counts as disclosed for it.
        alone = {cid: CompanyCompute(s.measured_gpu_seconds, 0) for cid, s in idle.items()}
        if reveals_one(alone, frozenset()):
            ratio, idle_withheld = None, True
    return PublicTotals(period, tuple(months), ratio, idle_withheld)


def _withheld_note(totals: PublicTotals) -> Bilingual:
    """Why a dash: the site's words, and which months of the chart are withheld."""
    months = ", ".join(totals.withheld_months)
    ja, en = (WITHHELD_NOTE.ja, WITHHELD_NOTE.en) if totals.period is None or months else ("", "")
    if months:
        ja += f"月別の図で非公開の月: {months}。"
        en += f" Months withheld in the monthly chart: {months}."
    if totals.idle_withheld:
        ja += "遊休率は計測された企業が1社だけのため掲載していません。"
        en += " The idle share is withheld: only one company was measured."
    return Bilingual(ja, en.strip())


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


def _pool_table(request: SurveyRequest, totals: PublicTotals) -> ReportTable | None:
    """Reserved capacity against use, for the whole pool; contract costs for the office only. The hours
    allocated to jobs are the period's use seen from the capacity (and unallocated is reserved less them), so
    both are withheld with the period total."""
    tz = request.settings.programme.timezone
    pool = request.ledger.pool(start=request.start, end=request.end, now=request.now, tz=tz)
    if not pool.reserved:
        return None
    hidden = totals.period is None  # busy goes with the idle share: one company alone measured is its figure
    rows: list[tuple[ReportCell, ...]] = [
        (Bilingual("確保したGPU時間", "GPU-hours reserved"), round(gpu_hours(pool.reserved), 1)),
        (Bilingual("うち保守", "of which in maintenance"), round(gpu_hours(pool.maintenance), 1)),
        (Bilingual("ジョブに割り当て", "allocated to jobs"), None if hidden else round(gpu_hours(pool.allocated), 1)),
        (Bilingual("未割り当て", "unallocated"), None if hidden else round(gpu_hours(pool.unallocated), 1)),
        (
            Bilingual("稼働（計測分）", "busy (measured)"),
            None if pool.busy is None or totals.idle_withheld else round(gpu_hours(pool.busy), 1),
        ),
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
    note = Bilingual(
        "プロバイダとの契約で確保した容量に対する利用です（期間内、現在まで）。",
        "Use against the capacity reserved under provider contracts (in the period, up to now).",
    )
    if hidden:
        note = Bilingual(note.ja + WITHHELD_NOTE.ja, f"{note.en} {WITHHELD_NOTE.en}")
    return ReportTable(
        key="compute-pool",
        title=Bilingual("確保した計算資源と利用", "Reserved capacity and its use"),
        columns=(Bilingual("項目", "What"), Bilingual("値", "Value")),
        rows=tuple(rows),
        note=note,
    )


def compute_tables(request: SurveyRequest, totals: PublicTotals) -> tuple[ReportTable, ...]:
    """The chapter's tables; ``totals`` as ``public_totals`` gave them for this edition."""
    view = request.ledger
    compute = view.compute_by_company(start=request.start, end=request.end)
    idle = view.idle_share(start=request.start, end=request.end)
    directives = view.directives_received(start=request.start, end=request.end)
    total = totals.period
    directives_opened = sum(view.directive_outcomes(start=request.start, end=request.end).values())
    note = Bilingual(
        "遊休率はノードエージェントが計測したGPUのみが対象です。空欄は計測なしを表します。",
        "The idle share covers only GPUs a node agent measured; a blank means not measured, never 0 %.",
    )
    if totals.withheld:
        withheld = _withheld_note(totals)
        note = Bilingual(note.ja + withheld.ja, f"{note.en} {withheld.en}")
    tables = [
        ReportTable(
            key="compute-programme",
            title=Bilingual("プログラム全体の計算資源利用", "Compute used by the whole programme"),
            columns=(Bilingual("項目", "What"), Bilingual("値", "Value")),
            rows=(
                (Bilingual("GPU時間", "GPU-hours"), None if total is None else round(gpu_hours(total.gpu_seconds), 1)),
                (Bilingual("EFLOPS時間", "EFLOPS-hours"), None if total is None else round(total.eflops_hours, 3)),
                (Bilingual("遊休率 %（計測分）", "Idle share % (measured)"), _pct(totals.idle_ratio)),
                (Bilingual("指示の件数", "Directives opened"), directives_opened),
            ),
            note=note,
        ),
        _directives_table(request),
    ]
    pool = _pool_table(request, totals)
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


_WITHHELD_MARK = Bilingual("非公開", "withheld")


def _monthly_total(totals: PublicTotals, lang: Language) -> Series:
    """Programme-wide GPU-hours per month of the period; a withheld month is a hatched slot, never a bar."""
    return Series(
        "GPU-hours per month, whole programme / プログラム全体の月間GPU時間",
        "GPU-h",
        tuple(label for label, _total in totals.months),
        {"GPU-h": tuple(None if t is None else gpu_hours(t.gpu_seconds) for _label, t in totals.months)},
        withheld_mark=_WITHHELD_MARK.pick(lang),
    )


def compute_charts(request: SurveyRequest, totals: PublicTotals, lang: Language) -> tuple[Series | BurnDown, ...]:
    """The monthly total for every edition; each company's grant burn-down for the office and the consortium."""
    charts: list[Series | BurnDown] = [_monthly_total(totals, lang)]
    if request.audience == "public":
        return tuple(charts)
    as_of = min(request.now, request.end - 1)
    tz = request.settings.programme.timezone
    for company in request.ledger.companies():
        chart = request.ledger.burn_down(company.id, now=as_of, tz=tz, lang=lang)
        if chart is not None:
            charts.append(chart)
    return tuple(charts)
