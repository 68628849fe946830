"""``quotad programme``: the final survey report and the office's findings that it pulls in."""

from __future__ import annotations

import json
import re
from pathlib import Path

import typer

from quotad.cli.context import JsonOption, NowOption, operator_name, parse_now, pick_choice
from quotad.errors import UsageError
from quotad.plugins.api import AUDIENCES, LANGUAGES, SURVEY_PARTS, Host, LedgerView, plugin_context
from quotad.plugins.programme.findings import findings, set_finding
from quotad.plugins.programme.render import FORMATS, report_html, report_markdown, write_pdf
from quotad.plugins.programme.report import build_report
from quotad.timeutil import month_bounds, month_start, parse_day

__all__ = ["make_app"]

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def _bound(text: str, tz: str, *, end: bool) -> int:
    month = _MONTH.match(text)
    if month:
        year, number = int(month.group(1)), int(month.group(2))
        if not 1 <= number <= 12:
            raise UsageError(f"--period: month {text!r} does not exist")
        return month_bounds(year, number, tz)[1 if end else 0]
    return parse_day(text, tz, end_of_day=end)


def _period(text: str | None, view: LedgerView, tz: str) -> tuple[int, int]:
    """``START..END`` (days or months, both inclusive), or the span of every grant when not given."""
    if text is None:
        grants = view.grants()
        if not grants:
            raise UsageError("no grants in the ledger to take the period from: give --period START..END")
        return min(g.period_start for g in grants), max(g.period_end for g in grants)
    first, sep, last = text.partition("..")
    if not sep or not first or not last:
        raise UsageError(f"--period {text!r}: expected START..END, e.g. 2026-06..2026-11 or 2026-06-01..2026-11-30")
    start, end = _bound(first, tz, end=False), _bound(last, tz, end=True)
    if end <= start:
        raise UsageError(f"--period {text!r}: the end comes before the start")
    return start, end


def _whole_months(start: int, end: int, tz: str, *, given: bool) -> tuple[int, int]:
    """The public edition's period: whole months in the programme's time zone.

    Why: the site publishes figures by month; a public total over a part of a month could be set against them
    (or against another partial period) and the difference be one private company's use. A period given in
    days is refused; the grants' span, taken by default, is widened to the months it touches.
    """
    first_year, first_month = month_start(start, tz)
    last_year, last_month = month_start(end - 1, tz)
    whole = (month_bounds(first_year, first_month, tz)[0], month_bounds(last_year, last_month, tz)[1])
    if given and whole != (start, end):
        raise UsageError(
            "--edition public covers whole months (the site publishes months): give --period YYYY-MM..YYYY-MM"
        )
    return whole


def make_app(host: Host) -> typer.Typer:
    """The ``programme`` command group; ``host`` supplies the survey reporters and the disclosure shares when a
    report is built."""
    app = typer.Typer(help="The programme's survey report and the office's findings.", no_args_is_help=True)
    findings_app = typer.Typer(help="The office's findings: an editable text per chapter and language.",
                               no_args_is_help=True)  # fmt: skip
    app.add_typer(findings_app, name="findings")

    @app.command("report")
    def report_cmd(
        ctx: typer.Context,
        lang: str = typer.Option("ja", "--lang", help="ja or en: the report's language."),
        fmt: str = typer.Option("html", "--format", "-f", help="md, html or pdf (pdf needs --out)."),
        edition: str = typer.Option("office", "--edition", help="office, consortium or public: who may read it."),
        period: str | None = typer.Option(None, "--period", help="START..END (days or months); default: the grants'."),
        out: Path | None = typer.Option(None, "--out", "-o", help="Write here instead of standard output."),
        now_text: str | None = NowOption,
    ) -> None:
        """Assemble the survey report from the ledger and every plugin, for one audience and one language."""
        chosen_lang = pick_choice("--lang", lang, LANGUAGES)
        chosen_fmt = pick_choice("--format", fmt, FORMATS)
        audience = pick_choice("--edition", edition, AUDIENCES)
        if chosen_fmt == "pdf" and out is None:
            raise UsageError("--format pdf writes a file: give --out REPORT.pdf")
        if out is not None and not out.parent.is_dir():
            raise UsageError(f"--out {out}: the folder {out.parent} does not exist")
        pc = plugin_context(ctx)
        now = parse_now(now_text)
        with pc.reading() as (conn, view):
            tz = pc.settings.programme.timezone
            start, end = _period(period, view, tz)
            if audience == "public":
                start, end = _whole_months(start, end, tz, given=period is not None)
            report = build_report(
                view, host.survey_reporters(), conn, pc.settings, start=start, end=end,
                audience=audience, lang=chosen_lang, now=now, disclosures=host.disclosures(),
            )  # fmt: skip
        if chosen_fmt == "pdf":
            assert out is not None
            write_pdf(report, out)
            print(f"{out}: survey report ({report.edition.pick(chosen_lang)}, {report.first_day} – {report.last_day})")
            return
        text = report_markdown(report) if chosen_fmt == "md" else report_html(report)
        if out is None:
            print(text, end="")
            return
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--out {out}: cannot write: {exc.strerror or exc}") from exc
        print(f"{out}: survey report ({report.edition.pick(chosen_lang)}, {report.first_day} – {report.last_day})")

    @findings_app.command("set")
    def findings_set(
        ctx: typer.Context,
        part: str = typer.Argument(..., help=f"Chapter: {', '.join(SURVEY_PARTS)}."),
        lang: str = typer.Option(..., "--lang", help="ja or en."),
        text: str | None = typer.Option(None, "--text", help="The text (or --file)."),
        file: Path | None = typer.Option(None, "--file", help="Read the text from this UTF-8 file."),
        by: str | None = typer.Option(None, "--by"),
    ) -> None:
        """Write the office's findings for one chapter in one language (an empty text removes them)."""
        if (text is None) == (file is None):
            raise UsageError("give exactly one of --text and --file")
        if file is not None:
            try:
                text = file.read_text(encoding="utf-8")
            except OSError as exc:
                raise UsageError(f"--file {file}: cannot read: {exc.strerror or exc}") from exc
            except UnicodeDecodeError as exc:
                raise UsageError(f"--file {file}: not UTF-8 text (byte {exc.start})") from exc
        assert text is not None
        with plugin_context(ctx).writing() as (conn, _view):
            outcome = set_finding(conn, part, lang, text, actor=operator_name(by), now=parse_now(None))
        print(f"findings for {part} ({lang}): {outcome}")

    @findings_app.command("list")
    def findings_list(ctx: typer.Context, as_json: bool = JsonOption) -> None:
        """The findings on record, per chapter and language."""
        with plugin_context(ctx).reading() as (conn, _view):
            rows = findings(conn)
        if as_json:
            print(json.dumps([r.__dict__ for r in rows], ensure_ascii=False, indent=2))
            return
        if not rows:
            print("No findings yet: add them with `quotad programme findings set CHAPTER --lang ja --file F`.")
        for r in rows:
            first = r.text.strip().splitlines()[0] if r.text.strip() else ""
            print(f"{r.part} ({r.lang}), by {r.actor}: {first[:80]}")

    return app
