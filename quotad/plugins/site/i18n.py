"""The site's interface strings in both languages. Content comes from the ledger and plugins; only chrome here."""

from __future__ import annotations

from quotad.plugins.api import Bilingual
from quotad.plugins.disclosure import WITHHELD_NOTE

__all__ = ["PAGES", "UI"]

#: Page id -> its title; the order is the navigation order.
PAGES: dict[str, Bilingual] = {
    "index": Bilingual("概要", "Overview"),
    "companies": Bilingual("参加企業", "Companies"),
    "compute": Bilingual("計算資源の利用", "Compute used"),
    "results": Bilingual("評価結果と課題", "Results and challenges"),
    "news": Bilingual("お知らせ・イベント", "News and events"),
}

UI: dict[str, Bilingual] = {
    "skip": Bilingual("本文へ移動", "Skip to content"),
    "switch": Bilingual("English", "日本語"),
    "nav": Bilingual("サイト内メニュー", "Site menu"),
    "built": Bilingual("更新日", "Updated"),
    "period": Bilingual("プログラム期間", "Programme period"),
    "n_companies": Bilingual("参加企業数", "Participating companies"),
    "total_gpu_hours": Bilingual("累計 GPU 時間", "GPU-hours used to date"),
    "total_eflops_hours": Bilingual("累計 EFLOPS 時間", "EFLOPS-hours used to date"),
    "overview_text": Bilingual(
        "本プログラムは、国内の基盤モデル開発企業に GPU 計算資源を提供し、その利用状況と評価結果を公開しています。",
        "The programme grants GPU compute to companies developing foundation models in Japan and publishes how "
        "it is used and how the models perform.",
    ),
    "latest_news": Bilingual("最新のお知らせ", "Latest news"),
    "company": Bilingual("企業", "Company"),
    "gpu_hours": Bilingual("GPU 時間", "GPU-hours"),
    "eflops_hours": Bilingual("EFLOPS 時間", "EFLOPS-hours"),
    "month": Bilingual("月", "Month"),
    "not_public": Bilingual("非公開", "Not published"),
    "monthly": Bilingual("月別の利用 (プログラム全体)", "Monthly use (whole programme)"),
    "by_company": Bilingual("企業別の利用 (公開に同意した企業)", "Use by company (companies that publish theirs)"),
    "by_company_monthly": Bilingual("企業別・月別の利用", "Use by company and month"),
    "withheld": WITHHELD_NOTE,  # the same words as the survey report's public edition
    "others": Bilingual(
        "その他の企業の利用は合計にのみ含まれます。", "Other companies' use is included in the totals only."
    ),
    "no_results": Bilingual("公開できる評価結果はまだありません。", "No evaluation results are public yet."),
    "no_news": Bilingual("お知らせはまだありません。", "No news yet."),
    "events": Bilingual("イベント", "Events"),
    "no_events": Bilingual("予定されているイベントはありません。", "No events are scheduled."),
    "news": Bilingual("お知らせ", "News"),
    "choose": Bilingual("言語を選択してください", "Choose a language"),
}
