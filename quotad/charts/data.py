"""What the charts draw: plain values (dates as ``YYYY-MM-DD`` labels, amounts in the unit shown), no ledger."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["BurnDown", "Chart", "DayUse", "ScoreCompute", "ScorePoint", "Series", "score_compute"]


@dataclass(frozen=True)
class BurnDown:
    """One company's grant: cumulative plan and actual per day, the 7-day-pace projection to the period end."""

    title: str
    unit: str
    granted: float
    days: tuple[str, ...]  # every day of the period, in order
    plan: tuple[float, ...]  # cumulative, one per day
    actual: tuple[float, ...]  # cumulative, up to today (shorter than days)
    projection: tuple[float, ...] = ()  # cumulative from today to the period end (continues ``actual``)


@dataclass(frozen=True)
class DayUse:
    """The pool on one day, in GPU-hours: busy, allocated but idle, unallocated, lost to maintenance."""

    day: str
    busy: float
    allocated_idle: float
    unallocated: float
    maintenance: float


@dataclass(frozen=True)
class Series:
    """Named values over the same labels (one bar segment per name and label), e.g. GPU-hours per company
    per month; ``line`` draws lines instead of stacked bars (a time series).

    A value None is a figure that may not be shown (a total withheld so that one company's private use cannot
    be worked out): drawn as a gap marked with ``withheld_mark`` (in the reader's language), never as a bar of
    0, which would be a false figure.
    """

    title: str
    unit: str
    labels: tuple[str, ...]
    values: dict[str, tuple[float | None, ...]] = field(default_factory=dict)
    line: bool = False
    withheld_mark: str = "非公開 / withheld"


@dataclass(frozen=True)
class ScorePoint:
    """One evaluated model: its score (0-100) against the GPU-hours behind it.

    ``linked`` says what the GPU-hours are: True, the model's own jobs (``eval link``); False, the company's
    whole use, the same for every model of the company. The chart draws the two differently and says so.
    """

    label: str  # the model (and checkpoint) as the tables name it
    group: str  # the company, one colour per company
    gpu_hours: float
    score: float
    linked: bool


@dataclass(frozen=True)
class ScoreCompute:
    """Evaluation score against compute used, one point per model; texts in the reader's language."""

    title: str
    points: tuple[ScorePoint, ...]
    score_label: str
    compute_label: str
    linked_label: str
    total_label: str

    def alt(self) -> str:
        """A one-line description for ``<img alt>``: what is plotted and how many points (the figures are in
        the table beside the chart)."""
        return f"{self.title}: {self.score_label} / {self.compute_label}, {len(self.points)} points."


#: Chart texts per language; "both" is the committee pack's Japanese-then-English.
_SCORE_TEXTS: dict[str, tuple[str, str, str, str, str]] = {
    "ja": ("評価スコアと計算資源", "総合スコア (0〜100)", "GPU 時間 (対数目盛)",
           "モデルの学習ジョブ (eval link)", "企業全体の利用 (モデル別の紐付けなし)"),
    "en": ("Evaluation score against compute", "overall score (0-100)", "GPU-hours (log scale)",
           "the model's own jobs (eval link)", "company total (no compute linked to the model)"),
}  # fmt: skip


def score_compute(points: tuple[ScorePoint, ...], lang: str, *, title: str | None = None) -> ScoreCompute:
    """The score-against-compute chart with its texts in ``lang`` (``ja``, ``en`` or ``both``)."""
    if lang == "both":
        ja, en = _SCORE_TEXTS["ja"], _SCORE_TEXTS["en"]
        texts = tuple(f"{j} / {e}" for j, e in zip(ja, en, strict=True))
    else:
        texts = _SCORE_TEXTS["ja" if lang == "ja" else "en"]
    return ScoreCompute(title or texts[0], points, texts[1], texts[2], texts[3], texts[4])


#: Anything ``quotad.charts`` draws; ``quotad.charts.draw_chart`` picks the drawing for each.
Chart = BurnDown | Series | ScoreCompute
