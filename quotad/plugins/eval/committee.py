"""The eval plugin's share of the review committee's end-of-term pack: each company's latest results.

The committee is an office-level audience, so every run counts whatever its visibility (private and
consortium runs too). What it is not shown is a limited (partial) run as an evaluation of the model: those
runs stay out of the results and the averages, exactly as on every leaderboard, and are listed in a table of
their own that says they are partial. Results are "as of ``now``": runs ingested later are left out, so a pack
rebuilt with the same ``--now`` says the same thing.

Per company, in this order:
- ``eval-summary``: one row per model at its latest checkpoint with full results: Japanese, English and
  overall averages (0-100, see ``board``) and the compute beside it: the model's own where ``eval link``
  names it, else the company's total use, said as such; no rows, with a note, when the company has no full evaluation;
- ``eval-benchmarks``: the headline score of each benchmark of those rows (only when there are any);
- ``eval-limited``: the company's limited runs, when it has any;

and a chart per company, its models' overall average against the compute of the summary (``eval.chart``).
"""

from __future__ import annotations

from collections import defaultdict

from quotad.charts.data import Chart
from quotad.plugins.api import (
    Bilingual,
    CommitteeContent,
    CommitteeRequest,
    Language,
    ReportCell,
    ReportTable,
    plugin_settings,
)
from quotad.plugins.eval.board import AUDIENCE_VISIBILITY, OVERALL, BoardRow, build_leaderboard
from quotad.plugins.eval.catalog import load_catalog
from quotad.plugins.eval.chart import score_chart
from quotad.plugins.eval.compute import resolve_all
from quotad.plugins.eval.figures import points, text
from quotad.plugins.eval.render import cell_points
from quotad.plugins.eval.store import StoredRun, load_links, load_runs, load_scores
from quotad.plugins.eval_config import EvalConfig

__all__ = ["committee"]

_LANG_NAME = {"ja": Bilingual("日本語", "Japanese"), "en": Bilingual("英語", "English")}
_LINKED = Bilingual("モデルの学習ジョブ (eval link)", "the model's own jobs (eval link)")
_COMPANY_TOTAL = Bilingual("企業全体 (モデル別の紐付けなし)", "company total (no compute linked to the model)")
_NO_RESULTS = Bilingual(
    "この期間末時点で完全な評価結果はありません。", "No full evaluation results as of the end of the term."
)
_AVERAGES_NOTE = Bilingual(
    "スコアと平均は各指標の満点に対する 0〜100 の点数 (小数 2 桁)。* はハーネスが別の尺度で書いた値。"
    "部分実行 (limit 付き) は含まない。",
    "Scores and averages are points on 0-100 of each metric's full scale, two decimals; * marks a value its "
    "harness wrote on another scale. Limited (partial) runs are not included.",
)


def _pct(value: float | None) -> str | None:
    """An average as every eval output prints it (``figures``): the pack agrees with the leaderboard."""
    return text(points(value))


def _summary(rows: list[BoardRow]) -> ReportTable:
    return ReportTable(
        key="eval-summary",
        title=Bilingual("評価結果 (最新のチェックポイント)", "Evaluation results (latest checkpoint)"),
        columns=(
            Bilingual("モデル", "Model"),
            Bilingual("チェックポイント", "Checkpoint"),
            Bilingual("日本語平均", "Japanese avg."),
            Bilingual("英語平均", "English avg."),
            Bilingual("総合", "Overall"),
            Bilingual("GPU時間", "GPU-hours"),
            Bilingual("EFLOPS時間", "EFLOPS-hours"),
            Bilingual("計算資源の範囲", "Compute"),
        ),
        rows=tuple(
            (
                row.model,
                row.checkpoint,
                _pct(row.averages.get("ja")),
                _pct(row.averages.get("en")),
                _pct(row.averages.get(OVERALL)),
                None if row.compute is None else f"{row.compute.gpu_hours:,.1f}",
                None if row.compute is None else f"{row.compute.eflops_hours:,.4f}",
                None if row.compute is None else (_LINKED if row.compute_linked else _COMPANY_TOTAL),
            )
            for row in rows
        ),
        note=_AVERAGES_NOTE if rows else _NO_RESULTS,
    )


def _benchmarks(rows: list[BoardRow], columns: dict[str, tuple[Bilingual, Language, str]]) -> ReportTable:
    out: list[tuple[ReportCell, ...]] = []
    for row in rows:
        for key, (name, language, metric) in columns.items():
            cell = row.cells.get(key)
            if cell is None:
                continue
            raw = f"{cell.value:.4g}" + (" *" if cell.rescaled else "")
            out.append((row.model, _LANG_NAME[language], name, metric, raw, text(cell_points(cell))))
    return ReportTable(
        key="eval-benchmarks",
        title=Bilingual("ベンチマーク別スコア", "Scores by benchmark"),
        columns=(
            Bilingual("モデル", "Model"),
            Bilingual("言語", "Language"),
            Bilingual("ベンチマーク", "Benchmark"),
            Bilingual("指標", "Metric"),
            Bilingual("スコア (ハーネスの値)", "Score (as written)"),
            Bilingual("点数 (0〜100)", "Points (0-100)"),
        ),
        rows=tuple(out),
    )


def _limited(runs: list[StoredRun]) -> ReportTable:
    return ReportTable(
        key="eval-limited",
        title=Bilingual("部分実行 (完全な評価ではない)", "Limited runs (not full evaluations)"),
        columns=(
            Bilingual("モデル", "Model"),
            Bilingual("チェックポイント", "Checkpoint"),
            Bilingual("ハーネス", "Harness"),
            Bilingual("サンプル上限", "Sample limit"),
            Bilingual("ファイル", "File"),
        ),
        rows=tuple((r.model, r.checkpoint, r.harness, r.limit_value, r.file_name) for r in runs),
        note=Bilingual(
            "サンプル数を制限した実行はモデルの評価ではないため、結果と平均には含めない。",
            "Runs with a sample limit do not evaluate the model and are left out of the results and averages.",
        ),
    )


def committee(request: CommitteeRequest) -> CommitteeContent:
    """Per requested company: its models' latest full results, and its limited runs marked as such."""
    catalog = load_catalog(plugin_settings(request.settings, "eval", EvalConfig))
    wanted = set(request.company_ids)
    office = AUDIENCE_VISIBILITY["office"]
    scores = [
        s
        for s in load_scores(request.conn, visibilities=office, include_limited=False)
        if s.run.company_id in wanted and s.run.ingested_at <= request.now
    ]
    board = build_leaderboard(
        scores,
        catalog,
        company_names={c.id: Bilingual(c.name_ja, c.name_en) for c in request.ledger.companies()},
        compute=request.ledger.compute_by_company(start=0, end=request.now),
        audience="office",
        linked=resolve_all(request.ledger, [x for x in load_links(request.conn) if x.company_id in wanted]),
    )
    columns = {c.key: (c.task.name, c.task.language, c.metric) for c in board.columns}
    rows_by_company: defaultdict[str, list[BoardRow]] = defaultdict(list)
    for row in sorted(board.rows, key=lambda r: r.model):
        rows_by_company[row.company_id].append(row)
    limited_by_company: defaultdict[str, list[StoredRun]] = defaultdict(list)
    for run in load_runs(request.conn, visibilities=office):
        if run.limited and run.company_id in wanted and run.ingested_at <= request.now:
            limited_by_company[run.company_id].append(run)
    tables: dict[str, tuple[ReportTable, ...]] = {}
    charts: dict[str, tuple[Chart, ...]] = {}
    for company_id in request.company_ids:
        rows = rows_by_company.get(company_id, [])
        out = [_summary(rows)]
        if rows:
            out.append(_benchmarks(rows, columns))
        if limited_by_company.get(company_id):
            out.append(_limited(limited_by_company[company_id]))
        tables[company_id] = tuple(out)
        chart = score_chart(rows, "both")
        if chart is not None:
            charts[company_id] = (chart,)
    return CommitteeContent(tables=tables, charts=charts)
