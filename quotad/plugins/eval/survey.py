"""The evaluation chapter of the survey report: coverage in Japanese and English, and headline results.

What an audience sees follows each run's visibility, as on every leaderboard (``board.AUDIENCE_VISIBILITY``):
the office every run, the consortium consortium and public runs, the public public runs only. Results are the
latest full runs ingested by the end of the period, printed with the one rounding rule (``figures``), so the
report agrees with the leaderboard and the site. Compute beside a result is shown to the office and the
consortium; the public edition leaves it to the site, which shows it only for companies that agreed.
"""

from __future__ import annotations

from quotad.plugins.api import (
    Bilingual,
    ReportCell,
    ReportTable,
    SurveyContent,
    SurveyRequest,
    plugin_settings,
)
from quotad.plugins.eval.board import AUDIENCE_VISIBILITY, OVERALL, build_coverage, build_leaderboard
from quotad.plugins.eval.catalog import load_catalog
from quotad.plugins.eval.compute import resolve_all
from quotad.plugins.eval.figures import points, text
from quotad.plugins.eval.store import load_links, load_scores
from quotad.plugins.eval_config import EvalConfig

__all__ = ["survey"]


def _avg(value: float | None) -> str | None:
    return text(points(value))


def survey(request: SurveyRequest) -> SurveyContent:
    catalog = load_catalog(plugin_settings(request.settings, "eval", EvalConfig))
    visible = AUDIENCE_VISIBILITY[request.audience]
    scores = [
        s
        for s in load_scores(request.conn, visibilities=visible, include_limited=False)
        if s.run.ingested_at < request.end
    ]
    if not scores:
        return SurveyContent()
    companies = request.ledger.companies()
    names = {c.id: Bilingual(c.name_ja, c.name_en) for c in companies}
    coverage = [r for r in build_coverage(scores, catalog, [c.id for c in companies]) if r.model is not None]
    covered = ReportTable(
        key="eval-coverage",
        title=Bilingual("日本語・英語の評価の実施状況", "Evaluation coverage in Japanese and English"),
        columns=(
            Bilingual("企業", "Company"),
            Bilingual("モデル", "Model"),
            Bilingual("日本語ベンチマーク数", "Japanese benchmarks"),
            Bilingual("英語ベンチマーク数", "English benchmarks"),
        ),
        rows=tuple(
            (
                names.get(r.company_id, Bilingual(r.company_id, r.company_id)),
                r.model,
                len(r.tasks.get("ja", ())),
                len(r.tasks.get("en", ())),
            )
            for r in coverage
        ),
    )
    with_compute = request.audience != "public"
    board = build_leaderboard(
        scores,
        catalog,
        company_names=names,
        compute=request.ledger.compute_by_company(start=request.start, end=request.end) if with_compute else {},
        audience=request.audience,
        linked=resolve_all(request.ledger, load_links(request.conn)) if with_compute else None,
    )
    rows: list[tuple[ReportCell, ...]] = []
    for row in sorted(board.rows, key=lambda r: (-(r.overall or 0.0), r.model)):
        gpu_hours = None if row.compute is None else f"{row.compute.gpu_hours:,.1f}"
        rows.append(
            (
                row.company_name,
                row.model,
                _avg(row.averages.get("ja")),
                _avg(row.averages.get("en")),
                _avg(row.averages.get(OVERALL)),
                gpu_hours,
            )
        )
    results = ReportTable(
        key="eval-results",
        title=Bilingual("主な評価結果（最新のチェックポイント）", "Headline results (latest checkpoint)"),
        columns=(
            Bilingual("企業", "Company"),
            Bilingual("モデル", "Model"),
            Bilingual("日本語平均", "Japanese avg."),
            Bilingual("英語平均", "English avg."),
            Bilingual("総合", "Overall"),
            Bilingual("GPU時間", "GPU-hours"),
        ),
        rows=tuple(rows),
        note=Bilingual(
            "点数は各指標の満点に対する 0〜100 (小数 2 桁)。部分実行は含まない。",
            "Points on 0-100 of each metric's full scale, two decimals; limited (partial) runs are not included.",
        ),
    )
    return SurveyContent(tables={"evaluation": (covered, results)})
