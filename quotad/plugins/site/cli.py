"""``quotad site``: build the public site, set which companies publish their compute, keep the news."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import typer

from quotad.cli.context import FormatOption, JsonOption, NowOption, parse_now, pick_format
from quotad.plugins.api import Bilingual, Host, plugin_context
from quotad.plugins.site.build import build_site
from quotad.plugins.site.content import gather
from quotad.plugins.site.store import add_news, disclosure_flags, list_news, set_public
from quotad.render import Cell, Table, emit
from quotad.timeutil import epoch_now

__all__ = ["make_app"]


def make_app(host: Host) -> typer.Typer:
    """The ``site`` command group; ``host`` supplies the other plugins' publishers at build time."""
    app = typer.Typer(help="Public bilingual site: build it, company disclosure, news.", no_args_is_help=True)
    company_app = typer.Typer(help="Which companies publish their own compute figures.", no_args_is_help=True)
    news_app = typer.Typer(help="News items shown on the site.", no_args_is_help=True)
    app.add_typer(company_app, name="company")
    app.add_typer(news_app, name="news")

    @app.command("build")
    def build_cmd(
        ctx: typer.Context,
        out: Path = typer.Argument(..., help="Output folder (created if missing; pages are overwritten)."),
        now_text: str | None = NowOption,
    ) -> None:
        """Render the static site (ja/ and en/) from the ledger and the plugins' public content."""
        pc = plugin_context(ctx)
        now = parse_now(now_text)
        with pc.reading() as (conn, view):
            data = gather(conn, view, pc.settings, host.publishers(), now=now)
        written = build_site(data, out)
        print(f"site built in {out}: {len(written)} files")

    @company_app.command("set")
    def company_set(
        ctx: typer.Context,
        company_id: str = typer.Argument(..., help="Company id."),
        public: bool = typer.Option(..., "--public/--private", help="Publish this company's compute figures."),
    ) -> None:
        """Record whether a company's own compute figures may appear on the public site."""
        pc = plugin_context(ctx)
        with pc.writing() as (conn, view):
            view.company(company_id)
            set_public(conn, company_id, public, now=epoch_now())
        print(f"{company_id}: compute figures {'public' if public else 'not public'}")

    @company_app.command("list")
    def company_list(ctx: typer.Context, fmt: str = FormatOption, as_json: bool = JsonOption) -> None:
        """Every company and whether its figures are public (no flag means not public)."""
        pc = plugin_context(ctx)
        with pc.reading() as (conn, view):
            flags = disclosure_flags(conn)
            companies = view.companies()
        rows: list[Sequence[Cell]] = [[c.id, c.name_en, "yes" if flags.get(c.id) else "no"] for c in companies]
        emit(
            Table(["Company", "Name", "Public"], rows, keys=["company", "name_en", "public"]), pick_format(fmt, as_json)
        )

    @news_app.command("add")
    def news_add(
        ctx: typer.Context,
        day: str = typer.Option(..., "--date", help="YYYY-MM-DD."),
        title_ja: str = typer.Option(..., "--title-ja"),
        title_en: str = typer.Option(..., "--title-en"),
        body_ja: str = typer.Option("", "--body-ja", help="Paragraphs separated by a blank line."),
        body_en: str = typer.Option("", "--body-en"),
    ) -> None:
        """Add a news item (both languages)."""
        pc = plugin_context(ctx)
        with pc.writing() as (conn, _view):
            news_id = add_news(
                conn, day=day, title=Bilingual(title_ja, title_en), body=Bilingual(body_ja, body_en), now=epoch_now()
            )
        print(f"news {news_id} added for {day}")

    @news_app.command("list")
    def news_list(ctx: typer.Context, fmt: str = FormatOption, as_json: bool = JsonOption) -> None:
        """News items, newest first."""
        pc = plugin_context(ctx)
        with pc.reading() as (conn, _view):
            items = list_news(conn)
        rows: list[Sequence[Cell]] = [[n.id, n.day, n.title.ja, n.title.en] for n in items]
        emit(
            Table(["Id", "Date", "Title (ja)", "Title (en)"], rows, keys=["id", "date", "title_ja", "title_en"]),
            pick_format(fmt, as_json),
        )

    return app
