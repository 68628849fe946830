"""The eval plugin's contribution to public output: the public leaderboard as bilingual tables.

Only what the public board allows goes in (public runs, full evaluations, redistributable benchmarks known to
the catalogue), and per-company compute only for the companies the caller (the site) says are public. The site
renders these tables as they are, without knowing anything of the eval plugin's tables.
"""

from __future__ import annotations

from quotad.plugins.api import (
    LANGUAGES,
    Bilingual,
    PublicCell,
    PublicChart,
    PublicContent,
    PublicTable,
    PublishRequest,
    plugin_settings,
)
from quotad.plugins.eval.board import OVERALL, Leaderboard, build_leaderboard
from quotad.plugins.eval.catalog import load_catalog
from quotad.plugins.eval.chart import score_chart
from quotad.plugins.eval.compute import resolve_all
from quotad.plugins.eval.figures import points, text
from quotad.plugins.eval.render import cell_points
from quotad.plugins.eval.store import load_links, load_scores
from quotad.plugins.eval_config import EvalConfig

__all__ = ["public_leaderboard", "publish"]

_LANG_NAME = {"ja": Bilingual("日本語", "Japanese"), "en": Bilingual("英語", "English")}
_LINKED = Bilingual("モデルの学習ジョブ", "the model's own jobs")
_COMPANY_TOTAL = Bilingual("企業全体", "company total")


def public_leaderboard(request: PublishRequest) -> Leaderboard:
    catalog = load_catalog(plugin_settings(request.settings, "eval", EvalConfig))
    scores = load_scores(request.conn, visibilities={"public"}, include_limited=False)
    companies = request.ledger.companies()
    compute = request.ledger.compute_by_company(start=0, end=request.now)
    public = {k: v for k, v in compute.items() if k in request.compute_public}
    links = [link for link in load_links(request.conn) if link.company_id in public]
    return build_leaderboard(
        scores,
        catalog,
        company_names={c.id: Bilingual(c.name_ja, c.name_en) for c in companies},
        compute=public,
        audience="public",
        linked=resolve_all(request.ledger, links),
    )


def _score(fraction: float | None) -> str | None:
    """An average as every eval output prints it (``figures``), so the site agrees with the leaderboard."""
    return text(points(fraction))


def publish(request: PublishRequest) -> PublicContent:
    board = public_leaderboard(request)
    if not board.rows:
        return PublicContent()
    tables: list[PublicTable] = []
    summary_rows: list[tuple[PublicCell, ...]] = []
    for row in board.rows:
        c = row.compute
        per_day = row.score_per_eflops_day
        summary_rows.append(
            (
                row.model,
                row.company_name,
                _score(row.averages.get("ja")),
                _score(row.averages.get("en")),
                _score(row.averages.get(OVERALL)),
                None if c is None else round(c.gpu_hours),
                None if c is None else round(c.eflops_hours, 2),
                None if per_day is None else round(per_day, 2),
                None if c is None else (_LINKED if row.compute_linked else _COMPANY_TOTAL),
            )
        )
    tables.append(
        PublicTable(
            key="eval-summary",
            title=Bilingual("評価結果の概要", "Evaluation summary"),
            columns=(
                Bilingual("モデル", "Model"),
                Bilingual("企業", "Company"),
                Bilingual("日本語平均", "Japanese avg."),
                Bilingual("英語平均", "English avg."),
                Bilingual("総合", "Overall"),
                Bilingual("GPU時間", "GPU-hours"),
                Bilingual("EFLOPS時間", "EFLOPS-hours"),
                Bilingual("スコア/EFLOPS日", "Score per EFLOPS-day"),
                Bilingual("計算資源の範囲", "Compute"),
            ),
            rows=tuple(summary_rows),
            note=Bilingual(
                "スコアと平均は各指標の満点に対する 0〜100 の点数 (小数 2 桁)。計算資源は公開に同意した企業のみ表示。",
                "Scores and averages are points on 0-100 of each metric's full scale, two decimals. Compute is "
                "shown only for companies that agreed to publish it.",
            ),
        )
    )
    for lang in LANGUAGES:
        columns = [c for c in board.columns if c.task.language == lang]
        if not columns:
            continue
        rows = tuple(
            (
                row.model,
                row.company_name,
                *(text(cell_points(row.cells.get(c.key))) for c in columns),
            )
            for row in board.rows
            if any(c.key in row.cells for c in columns)
        )
        tables.append(
            PublicTable(
                key=f"eval-{lang}",
                title=Bilingual(f"{_LANG_NAME[lang].ja}のベンチマーク", f"{_LANG_NAME[lang].en} benchmarks"),
                columns=(
                    Bilingual("モデル", "Model"),
                    Bilingual("企業", "Company"),
                    *(Bilingual(f"{c.task.name.ja} ({c.metric})", f"{c.task.name.en} ({c.metric})") for c in columns),
                ),
                rows=rows,
            )
        )
    return PublicContent(tables=tuple(tables), charts=_charts(board))


def _charts(board: Leaderboard) -> tuple[PublicChart, ...]:
    """The summary table's overall average against its GPU-hours: only rows whose compute is public."""
    ja, en = score_chart(board.rows, "ja"), score_chart(board.rows, "en")
    if ja is None or en is None:
        return ()
    alt = Bilingual(
        f"散布図: {len(ja.points)} モデルの総合スコア (縦軸) と GPU 時間 (横軸、対数目盛)。"
        "塗りつぶしはモデルの学習ジョブ、白抜きは企業全体の利用。数値は下の「評価結果の概要」の表にあります。",
        f"Scatter chart: overall score (vertical) against GPU-hours (horizontal, log scale) for {len(en.points)} "
        "models; filled points are the model's own jobs, hollow ones the company's total use. The figures are in "
        "the Evaluation summary table below.",
    )
    return (PublicChart(key="score-compute", table="eval-summary", ja=ja, en=en, alt=alt),)
