"""Wording: a directive notice, a company's daily digest, the office's weekly summary, from templates.

Why templates and two environments: the wording belongs to people who are not programmers (one file per
policy and language under ``templates/{ja,en}/``; ``[notify] templates_dir`` overrides any of them), and a
missing value must stop a mail rather than send a blank (``StrictUndefined``). The HTML alternative is
rendered in an autoescaping environment, so a company or job name can never inject markup; the plain text
one is not escaped (``&`` stays ``&``). Every message is Japanese first, then English.

Numbers are formatted here (thousands separators) from the finding's figures, so templates only place them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, TemplateError

from quotad.directives.codec import DirectiveView
from quotad.errors import QuotadError
from quotad.ledger.queries import StatusRow
from quotad.policies.base import Figure, Finding, JobLine, Severity
from quotad.timeutil import format_day

__all__ = [
    "BUILTIN_TEMPLATES",
    "CompanyNames",
    "DigestView",
    "NoticeInput",
    "NoticeView",
    "RenderError",
    "Rendered",
    "Renderer",
    "WeeklyView",
]

BUILTIN_TEMPLATES = Path(__file__).resolve().parent / "templates"
WEEKLY_CHART_CID = "weekly-chart@quotad"
LIST_SHOWN = 16
_SPACE = re.compile(r"\s+")


class RenderError(QuotadError):
    """A template is missing, broken, or asks for a value the message does not have."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    #: Inline images the HTML shows (``cid:`` id, PNG bytes); the text part never depends on them.
    images: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class CompanyNames:
    id: str | None
    name_ja: str
    name_en: str


@dataclass(frozen=True)
class NoticeInput:
    """What a notice is about: the finding, the directive it belongs to, and how this notice differs."""

    finding: Finding
    directive_id: int
    number: int
    kind: str
    severity: Severity
    escalated: bool
    company: CompanyNames
    now: int
    #: Where a reply goes (the programme office); the footer tells the reader to answer by replying.
    reply_to: str = ""
    #: The reader's language first (``("en", "ja")`` for an English-speaking contact).
    languages: tuple[str, ...] = ("ja", "en")
    #: The job's Slurm user when the message goes to them (the greeting names them).
    user: str = ""


@dataclass(frozen=True)
class NoticeView:
    """What a notice template sees as ``n``; values already formatted for people."""

    policy: str
    directive_id: int
    number: int
    kind: str
    escalated: bool
    urgent: bool
    severity: str
    level: str
    company_id: str | None
    company_ja: str
    company_en: str
    programme_ja: str
    programme_en: str
    figures: tuple[Figure, ...]
    fig: Mapping[str, str]
    unit_of: Mapping[str, str]
    threshold: str
    threshold_unit: str
    comparison: str
    jobs: tuple[JobLine, ...]
    when: str
    reply_to: str = ""
    languages: tuple[str, ...] = ("ja", "en")
    user: str = ""
    subject: str = ""


@dataclass(frozen=True)
class DigestItem:
    id: int
    severity: str
    state: str
    title: Mapping[str, str]
    opened: str
    notices: int
    escalation: int
    #: What tells two items apart (two grants of one company, two jobs): shown beside the title.
    cluster: str | None = None
    account: str | None = None
    job_id: int | None = None
    grant_id: int | None = None


@dataclass(frozen=True)
class DigestView:
    company_id: str | None
    company_ja: str
    company_en: str
    programme_ja: str
    programme_en: str
    day: str
    when: str
    items: tuple[DigestItem, ...]
    reply_to: str = ""
    languages: tuple[str, ...] = ("ja", "en")
    subject: str = ""


@dataclass(frozen=True)
class CompanyLine:
    id: str
    name: Mapping[str, str]
    unit: str
    used: str
    granted: str
    used_pct: str
    projected_pct: str
    open: int
    #: Used more than granted: the summary says so in words, not only as a share above 100 %.
    over: bool = False


@dataclass(frozen=True)
class WeeklyView:
    programme_ja: str
    programme_en: str
    week: str
    day: str
    when: str
    companies: tuple[CompanyLine, ...]
    items: tuple[DigestItem, ...]
    opened_week: int
    resolved_week: int
    reply_to: str = ""
    #: Content-ID of the inline chart ("" when there is none: mail clients that block images lose nothing).
    chart_cid: str = ""
    subject: str = field(default="")


def number(value: int | float | str) -> str:
    """Thousands separators for numbers; text unchanged."""
    if isinstance(value, bool | str):
        return str(value)
    return f"{value:,}"


def figure_text(value: int | float | str, unit: str) -> str:
    """A figure's value as a template places it: quantities (with a unit) get thousands separators;
    identifiers (no unit: a job id, an account) stay as typed, so ``scancel 812345`` can be copied. A long
    list (the GPUs of a 128-GPU job) shows its first ``LIST_SHOWN`` items and how many more there are."""
    if unit:
        return number(value)
    items = str(value).split(" ")
    if len(items) > LIST_SHOWN:
        return " ".join(items[:LIST_SHOWN]) + f" … (+{len(items) - LIST_SHOWN})"
    return str(value)


def one_line(text: object) -> str:
    return _SPACE.sub(" ", str(text)).strip()


class Renderer:
    """Renders with the built-in templates, or ``templates_dir``'s where it has a file of the same name."""

    def __init__(
        self,
        *,
        programme_ja: str,
        programme_en: str,
        timezone: str,
        subject_prefix: str = "[quotad]",
        templates_dir: Path | None = None,
    ) -> None:
        self.programme_ja = programme_ja
        self.programme_en = programme_en
        self.timezone = timezone
        self.subject_prefix = subject_prefix
        self.templates_dir = templates_dir
        self._envs: dict[bool, Environment] = {}

    def _env(self, html: bool) -> Environment:
        if html not in self._envs:
            loaders = [FileSystemLoader(str(BUILTIN_TEMPLATES))]
            if self.templates_dir is not None:
                loaders.insert(0, FileSystemLoader(str(self.templates_dir)))
            env = Environment(
                loader=ChoiceLoader(loaders),
                undefined=StrictUndefined,
                autoescape=html,
                trim_blocks=True,
                lstrip_blocks=True,
                keep_trailing_newline=True,
            )
            env.filters["num"] = number
            self._envs[html] = env
        return self._envs[html]

    def _render(self, name: str, html: bool, **context: Any) -> str:
        try:
            return self._env(html).get_template(name).render(**context)
        except TemplateError as exc:
            raise RenderError(f"template {name}: {exc}") from exc

    def _macro(self, name: str, macro: str, *args: object) -> str:
        try:
            module = self._env(False).get_template(name).module
            return one_line(getattr(module, macro)(*args))
        except (TemplateError, AttributeError) as exc:
            raise RenderError(f"template {name}, macro {macro}: {exc}") from exc

    def _when(self, now: int) -> str:
        moment = datetime.fromtimestamp(now, ZoneInfo(self.timezone))
        return moment.strftime("%Y-%m-%d %H:%M %Z")

    # -- notices -------------------------------------------------------------------------------------------
    def view(self, inp: NoticeInput) -> NoticeView:
        f = inp.finding
        threshold = f.threshold.value
        return NoticeView(
            policy=f.policy,
            directive_id=inp.directive_id,
            number=inp.number,
            kind=inp.kind,
            escalated=inp.escalated,
            urgent=f.urgent,
            severity=inp.severity.label,
            level=f.level,
            company_id=inp.company.id,
            company_ja=inp.company.name_ja,
            company_en=inp.company.name_en,
            programme_ja=self.programme_ja,
            programme_en=self.programme_en,
            figures=f.figures,
            fig={fig.key: figure_text(fig.value, fig.unit) for fig in f.figures},
            unit_of={fig.key: fig.unit for fig in f.figures},
            threshold=number(int(threshold) if float(threshold).is_integer() else threshold),
            threshold_unit=f.threshold.unit,
            comparison=f.threshold.comparison,
            jobs=f.jobs,
            when=self._when(inp.now),
            reply_to=inp.reply_to,
            languages=inp.languages,
            user=inp.user,
        )

    def titles(self, finding: Finding, company: CompanyNames) -> dict[str, str]:
        """The policy's one-line title in each language (the body of the subject line)."""
        view = self.view(NoticeInput(finding, 0, 0, "first", finding.severity, False, company, 0))
        return {lang: self._macro(f"{lang}/{finding.policy}.j2", "subject", view) for lang in ("ja", "en")}

    def subject(
        self,
        titles: Mapping[str, str],
        severity: Severity,
        *,
        reminder: bool = False,
        languages: Sequence[str] = ("ja", "en"),
    ) -> str:
        """``PREFIX <tag ja><title ja> / <tag en> <title en>``: both languages, the reader's first."""
        parts = {
            "ja": self._macro("ja/common.j2", "tag", severity.label, reminder) + titles["ja"],
            "en": self._macro("en/common.j2", "tag", severity.label, reminder) + " " + titles["en"],
        }
        return one_line(f"{self.subject_prefix} " + " / ".join(parts[lang] for lang in languages))

    def office(self) -> CompanyNames:
        """The programme office's name in both languages (from the templates)."""
        def name(lang: str) -> str:
            module: Any = self._env(False).get_template(f"{lang}/common.j2").module
            return str(module.office_name)

        return CompanyNames(None, name("ja"), name("en"))

    def notice(self, inp: NoticeInput) -> Rendered:
        view = self.view(inp)
        titles = {lang: self._macro(f"{lang}/{inp.finding.policy}.j2", "subject", view) for lang in ("ja", "en")}
        view = replace(
            view, subject=self.subject(titles, inp.severity, reminder=inp.kind == "reminder", languages=inp.languages)
        )
        return Rendered(
            view.subject, self._render("notice.txt.j2", False, n=view), self._render("notice.html.j2", True, n=view)
        )

    # -- summaries -----------------------------------------------------------------------------------------
    def _items(self, directives: Sequence[DirectiveView], names: Mapping[str, CompanyNames]) -> tuple[DigestItem, ...]:
        out = []
        for d in sorted(directives, key=lambda d: (-d.severity, d.opened_at, d.id)):
            company = names.get(d.company_id or "") or self.office()
            subject = d.finding.subject
            out.append(
                DigestItem(d.id, d.severity.label, d.state, self.titles(d.finding, company),
                           format_day(d.opened_at, self.timezone), d.notices, d.escalation,
                           cluster=subject.cluster, account=subject.account,
                           job_id=subject.job.job_id if subject.job else None, grant_id=subject.grant_id)
            )
        return tuple(out)

    def digest(
        self,
        company: CompanyNames,
        directives: Sequence[DirectiveView],
        *,
        now: int,
        reply_to: str = "",
        languages: tuple[str, ...] = ("ja", "en"),
    ) -> Rendered:
        day = format_day(now, self.timezone)
        names = {company.id or "": company}
        view = DigestView(
            company.id, company.name_ja, company.name_en, self.programme_ja, self.programme_en, day,
            self._when(now), self._items(directives, names), reply_to, languages,
        )
        worst = max((d.severity for d in directives), default=Severity.INFO)
        titles = {lang: self._macro(f"{lang}/common.j2", "digest_title", view) for lang in ("ja", "en")}
        view = replace(view, subject=self.subject(titles, worst, languages=languages))
        text, html = self._render("digest.txt.j2", False, d=view), self._render("digest.html.j2", True, d=view)
        return Rendered(view.subject, text, html)

    def weekly(
        self,
        *,
        positions: Sequence[StatusRow],
        directives: Sequence[DirectiveView],
        names: Mapping[str, CompanyNames],
        week: str,
        opened_week: int,
        resolved_week: int,
        now: int,
        reply_to: str = "",
        chart_png: bytes | None = None,
    ) -> Rendered:
        open_by_company: dict[str, int] = {}
        for d in directives:
            open_by_company[d.company_id or ""] = open_by_company.get(d.company_id or "", 0) + 1
        lines = []
        for row in positions:
            unit = row.unit
            lines.append(
                CompanyLine(
                    id=row.company_id,
                    name={"ja": row.name_ja, "en": row.name_en},
                    unit=unit.label if unit else "",
                    used=unit.format(row.used) if unit else "-",
                    granted=unit.format(row.granted) if unit else "-",
                    used_pct=f"{100 * row.used / row.granted:.1f}" if row.granted else "-",
                    projected_pct=f"{100 * row.projected / row.granted:.1f}" if row.granted else "-",
                    open=open_by_company.get(row.company_id, 0),
                    over=bool(row.granted) and row.used > row.granted,
                )
            )
        view = WeeklyView(
            self.programme_ja, self.programme_en, week, format_day(now, self.timezone), self._when(now), tuple(lines),
            self._items(directives, names), opened_week, resolved_week, reply_to,
            WEEKLY_CHART_CID if chart_png else "",
        )
        worst = max((d.severity for d in directives), default=Severity.INFO)
        titles = {lang: self._macro(f"{lang}/common.j2", "weekly_title", view) for lang in ("ja", "en")}
        view = replace(view, subject=self.subject(titles, worst))
        text, html = self._render("weekly.txt.j2", False, w=view), self._render("weekly.html.j2", True, w=view)
        return Rendered(view.subject, text, html, ((WEEKLY_CHART_CID, chart_png),) if chart_png else ())
