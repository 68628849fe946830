"""The narrow surface a plugin gets from quotad, and nothing more.

A plugin is a factory registered in the entry-point group ``quotad.plugins``::

    [project.entry-points."quotad.plugins"]
    eval = "quotad.plugins.eval:plugin"

The host calls it once with a ``Host`` handle and gets back a ``Plugin``: its typer sub-app, the tables it
owns, the folder of its Alembic branch and, optionally, a ``Publisher`` of public content and a
``CommitteeReporter`` for the review committee. Why so narrow:

- **Tables.** A plugin declares its tables on ``quotad.ledger.models.Base`` (one metadata, one migration
  history) and names them ``<plugin>_...``; the host refuses a plugin whose tables are not its own.
- **Migrations.** ``migrations`` is the plugin package's ``migrations/`` folder, an Alembic branch labelled
  with the plugin's name whose first revision follows a core revision. The host finds that folder by
  convention without running plugin code, so the schema check still knows a plugin's revisions when the plugin
  itself fails to import.
- **The ledger.** ``LedgerView`` offers the core's query API (companies, grants, usage, status, the node
  agents' idle share, the directives each company received) and never the core tables; its own tables a
  plugin reads and writes on the connection it is handed. Read commands run in a read-only transaction
  (``PluginContext.reading``), so a report or site build cannot write by accident.
- **Other plugins.** A plugin never reads another's tables; what one shares with another goes through typed
  publications that the host collects: ``PublicContent`` for public output (``Host.publishers``) and
  ``CommitteeContent`` for the review committee's end-of-term pack (``Host.committee_reporters``).
- **Disclosure.** Which companies publish their own compute is the site's decision (its own table), yet every
  plugin that publishes a programme-wide total needs it: a total minus the published figures must not be one
  company's private use (``quotad.plugins.disclosure``). The site shares that list alone (``Plugin.disclosure``,
  collected by ``Host.disclosures``), never its table.
- **Charts.** A share may carry pictures as plain chart data (``quotad.charts.data``), each of figures its
  own tables already hold for that audience; the site and the pack draw them (``quotad.charts.draw``).
- **Two audiences, two shares.** A publisher decides what the public may see. A committee reporter writes for
  the programme's review committee, which sees office-level results (private and consortium ones too), per
  company and period. Neither presents a limited (partial) run as a full evaluation: a reporter may list such
  runs, but only marked as what they are and never in a company's results or averages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, TypeVar, cast

from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection, Engine, Table, text

from quotad.charts.data import BurnDown, Chart, Series
from quotad.config import Settings
from quotad.directives.store import (
    DirectiveCount,
    directive_counts_by_company,
    directive_exists,
    directive_outcomes,
)
from quotad.errors import ConfigError, UsageError
from quotad.ledger.queries import (
    CompanyInfo,
    GrantInfo,
    ReportKey,
    ReportRow,
    StatusRow,
    account_window_compute,
    company_status,
    get_company,
    jobs_compute,
    list_companies,
    list_grants,
    usage_report,
)
from quotad.ledger.telemetry import IdleShare, idle_share_by_company
from quotad.units import SECONDS_PER_DAY, SECONDS_PER_HOUR, TFLOP_PER_EFLOPS_HOUR, GpuCatalog, gpu_hours

if TYPE_CHECKING:
    import typer

    from quotad.pool.view import PoolFigures

__all__ = [
    "API_VERSION",
    "AUDIENCES",
    "LANGUAGES",
    "SURVEY_PARTS",
    "Audience",
    "Bilingual",
    "CommandState",
    "CommitteeContent",
    "CommitteeReporter",
    "CommitteeRequest",
    "CompanyCompute",
    "DirectiveCount",
    "Disclosure",
    "Host",
    "IdleShare",
    "Language",
    "LedgerView",
    "LinkedCompute",
    "Plugin",
    "PluginContext",
    "PublicCell",
    "PublicChart",
    "PublicContent",
    "PublicEvent",
    "PublicTable",
    "PublishRequest",
    "Publisher",
    "ReferenceCheck",
    "ReportCell",
    "ReportTable",
    "SurveyContent",
    "SurveyPart",
    "SurveyReporter",
    "SurveyRequest",
    "plugin_context",
    "plugin_settings",
    "read_only",
    "table_of",
]

#: Bumped when ``Plugin`` or what a plugin is handed changes incompatibly; the host refuses other versions.
API_VERSION = 1

Language = Literal["ja", "en"]
LANGUAGES: tuple[Language, ...] = ("ja", "en")


@dataclass(frozen=True)
class CompanyCompute:
    """One company's charged compute over a period, in the ledger's integer units."""

    gpu_seconds: int
    tflop: int

    @property
    def gpu_hours(self) -> float:
        return gpu_hours(self.gpu_seconds)

    @property
    def eflops_hours(self) -> float:
        return self.tflop / TFLOP_PER_EFLOPS_HOUR

    @property
    def eflops_days(self) -> float:
        return self.tflop / (TFLOP_PER_EFLOPS_HOUR * SECONDS_PER_DAY // SECONDS_PER_HOUR)


@dataclass(frozen=True)
class LinkedCompute(CompanyCompute):
    """The compute linked to one model: GPU-seconds per GPU type, job segments counted, job ids not found."""

    by_gpu_type: Mapping[str, int] = field(default_factory=dict)
    segments: int = 0
    missing: tuple[str, ...] = ()


class LedgerView:
    """Read access to the core ledger through its query API (``quotad.ledger.queries``) only.

    Why a wrapper rather than the queries module: it is the whole of what a plugin may ask the core, so a
    reviewer can see at a glance that no plugin touches the core tables, and the core can change its tables
    without breaking plugins.
    """

    def __init__(self, conn: Connection, catalog: GpuCatalog) -> None:
        self._conn = conn
        self._catalog = catalog

    def companies(self) -> list[CompanyInfo]:
        return list_companies(self._conn)

    def company(self, company_id: str) -> CompanyInfo:
        """The company, or ``NotFoundError`` naming the known ones."""
        return get_company(self._conn, company_id)

    def grants(self, *, company_id: str | None = None) -> list[GrantInfo]:
        return list_grants(self._conn, company_id=company_id)

    def usage(self, *, start: int, end: int, by: ReportKey = "company") -> list[ReportRow]:
        """Usage charged in hours [start, end) grouped by ``by`` (see ``usage_report``)."""
        return usage_report(self._conn, self._catalog, start=start, end=end, by=by)

    def status(self, *, now: int) -> list[StatusRow]:
        return company_status(self._conn, self._catalog, now=now)

    def compute_by_company(self, *, start: int, end: int) -> dict[str, CompanyCompute]:
        """GPU-seconds and TFLOP per company id in [start, end); unclaimed accounts are left out."""
        known = {c.id for c in self.companies()}
        return {
            row.key: CompanyCompute(row.total_gpu_seconds, row.tflop)
            for row in self.usage(start=start, end=end, by="company")
            if row.key in known
        }

    def compute_total(self, *, start: int, end: int) -> CompanyCompute:
        """Everything charged in [start, end), claimed by a company or not."""
        rows = self.usage(start=start, end=end, by="gpu-type")
        return CompanyCompute(sum(r.total_gpu_seconds for r in rows), sum(r.tflop for r in rows))

    def pool(self, *, start: int, end: int, now: int, tz: str) -> PoolFigures:
        """The whole GPU pool over [start, min(end, now)): reserved, maintenance, allocated, unallocated and (where
        agents measured) busy GPU-seconds, and what the reserved and unallocated capacity cost by contract."""
        from quotad.pool.view import pool_view

        return pool_view(self._conn, self._catalog, start=start, end=end, now=now, tz=tz).total.figures

    def burn_down(self, company_id: str, *, now: int, tz: str, lang: Language = "en") -> BurnDown | None:
        """The company's active grants as a burn-down chart's data (plan, actual, projection); None without one
        active grant unit. Plain values: a plugin draws it with ``quotad.charts.burn_down``."""
        from quotad.charts.ledger import burn_down_data

        return burn_down_data(self._conn, self._catalog, self.company(company_id), now=now, tz=tz, lang=lang)

    def linked_compute(
        self,
        company_id: str,
        *,
        job_ids: Sequence[str] = (),
        account: str | None = None,
        start: int = 0,
        end: int = 0,
    ) -> LinkedCompute:
        """The compute of a chosen part of one company's use: its jobs ``job_ids``, or what its ``account``
        was charged in hours [start, end). Only the company's own accounts count."""
        if account is not None:
            found = account_window_compute(self._conn, company_id=company_id, account=account, start=start, end=end)
        else:
            found = jobs_compute(self._conn, company_id=company_id, job_ids=list(job_ids))
        tflop = sum(self._catalog.tflop(s, t) for t, s in found.gpu_seconds.items())
        return LinkedCompute(found.total_gpu_seconds, tflop, found.gpu_seconds, found.segments, found.missing)

    def idle_share(self, *, start: int, end: int) -> dict[str, IdleShare]:
        """Per company id: allocated GPU-seconds the node agents measured in hours [start, end), and the idle
        ones among them. A company absent from the result was not measured (no agent saw its jobs), which is
        not the same as 0 % idle."""
        return idle_share_by_company(self._conn, start=start, end=end)

    def directives_received(self, *, start: int, end: int) -> dict[str, tuple[DirectiveCount, ...]]:
        """Per company id: directives opened in [start, end), counted by (policy, severity), most severe first."""
        return directive_counts_by_company(self._conn, start=start, end=end)

    def directive_outcomes(self, *, start: int, end: int) -> dict[tuple[str, str], int]:
        """Directives opened in [start, end) by (policy, state now): open, notified, acknowledged, resolved or
        expired (the condition went away by itself)."""
        return directive_outcomes(self._conn, start=start, end=end)

    def directive_exists(self, directive_id: int) -> bool:
        """Whether the ledger holds this directive, so a plugin linking to one can refuse a dangling id."""
        return directive_exists(self._conn, directive_id)


@contextmanager
def read_only(engine: Engine) -> Iterator[Connection]:
    """A connection whose transaction refuses writes: ``SET TRANSACTION READ ONLY`` or SQLite ``query_only``."""
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        conn.execute(text("PRAGMA query_only = ON" if sqlite else "SET TRANSACTION READ ONLY"))
        try:
            yield conn
        finally:
            conn.rollback()
            if sqlite:
                conn.execute(text("PRAGMA query_only = OFF"))
                conn.commit()


@dataclass(frozen=True)
class PluginContext:
    """What a plugin command works with: validated settings, GPU catalogue and the ledger."""

    settings: Settings
    catalog: GpuCatalog
    open_engine: Callable[[], Engine]

    @contextmanager
    def reading(self) -> Iterator[tuple[Connection, LedgerView]]:
        """A read-only transaction: the plugin's own tables on ``conn``, the core through the view."""
        with read_only(self.open_engine()) as conn:
            yield conn, LedgerView(conn, self.catalog)

    @contextmanager
    def writing(self) -> Iterator[tuple[Connection, LedgerView]]:
        """One write transaction, for the plugin's own tables only."""
        with self.open_engine().begin() as conn:
            yield conn, LedgerView(conn, self.catalog)

    @classmethod
    def from_app_state(cls, app_state: CommandState) -> PluginContext:
        return cls(settings=app_state.settings, catalog=app_state.catalog, open_engine=app_state.ledger)


class CommandState(Protocol):
    """What a plugin needs of the running command: the CLI's state (``quotad.cli.context.AppState``) is one.

    A protocol, so plugins depend on this module only and not on the CLI that stands above them.
    """

    @property
    def settings(self) -> Settings: ...

    @property
    def catalog(self) -> GpuCatalog: ...

    def ledger(self) -> Engine: ...


def plugin_context(ctx: typer.Context) -> PluginContext:
    """The context of the running command (its ``--config``), for a plugin's typer command.

    quotad's root command puts its state on the root context before any subcommand runs.
    """
    state = ctx.find_root().obj
    if state is None:
        raise UsageError("a plugin command runs under quotad's root command, which reads the configuration")
    return PluginContext.from_app_state(cast(CommandState, state))


SectionT = TypeVar("SectionT", bound=BaseModel)


def plugin_settings(settings: Settings, section: str, model: type[SectionT]) -> SectionT:
    """The plugin's ``[section]`` of the configuration, validated by the plugin's own model.

    A plugin's own section comes as read from the file (``Settings.plugin_sections``) and is validated here, so
    a mistake in it is a configuration error naming the key when the plugin first reads it; the sections the
    core still declares (``[eval]``, ``[data]``, ``[review]``) come validated. No section: the defaults.
    """
    raw = getattr(settings, section, None)
    if raw is None:
        raw = settings.plugin_sections.get(section)
    if raw is None:
        return model()
    if isinstance(raw, model):
        return raw
    data = raw.model_dump() if isinstance(raw, BaseModel) else raw
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [f"{section}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(f"invalid [{section}] configuration:", problems=problems) from exc


@dataclass(frozen=True)
class Bilingual:
    """A text in both languages of the programme; public output always carries both."""

    ja: str
    en: str

    def pick(self, lang: Language) -> str:
        return self.ja if lang == "ja" else self.en


PublicCell = str | int | float | Bilingual | None


@dataclass(frozen=True)
class PublicTable:
    """A table a plugin publishes; every cell in it is fit for the public site as it stands."""

    key: str
    title: Bilingual
    columns: tuple[Bilingual, ...]
    rows: tuple[tuple[PublicCell, ...], ...]
    note: Bilingual | None = None


@dataclass(frozen=True)
class PublicEvent:
    """An event for the site's events list (the hook a community plugin fills)."""

    day: str  # ISO date, programme time zone
    title: Bilingual
    place: Bilingual
    url: str = ""


@dataclass(frozen=True)
class PublicChart:
    """A picture of one of the publisher's public tables, as plain chart data in each language.

    The site draws it (SVG) above the table ``table``, which stays as the accessible form of the same figures;
    so a chart holds nothing that table does not already publish. ``alt`` is the image's text alternative.
    """

    key: str  # the chart's file name on the site: letters, digits, '-' and '_'
    table: str  # the key of the ``PublicTable`` it pictures
    ja: Chart
    en: Chart
    alt: Bilingual

    def pick(self, lang: Language) -> Chart:
        return self.ja if lang == "ja" else self.en


@dataclass(frozen=True)
class PublicContent:
    """What one plugin contributes to public output. The publisher is responsible for visibility."""

    tables: tuple[PublicTable, ...] = ()
    events: tuple[PublicEvent, ...] = ()
    charts: tuple[PublicChart, ...] = ()


@dataclass(frozen=True)
class PublishRequest:
    """Handed to a publisher: settings (for its own section), the ledger view, a read-only connection for the
    plugin's own tables, the time, and the companies whose per-company compute may be shown publicly (decided
    by the site, never by the publisher).
    """

    settings: Settings
    ledger: LedgerView
    conn: Connection
    now: int
    compute_public: frozenset[str] = field(default_factory=frozenset)


Publisher = Callable[[PublishRequest], PublicContent]

ReportCell = str | int | float | Bilingual | None


@dataclass(frozen=True)
class ReportTable:
    """A table for a named, non-public audience (the review committee); shaped like ``PublicTable``, but
    nothing in it is implied fit for publication."""

    key: str
    title: Bilingual
    columns: tuple[Bilingual, ...]
    rows: tuple[tuple[ReportCell, ...], ...]
    note: Bilingual | None = None


@dataclass(frozen=True)
class CommitteeRequest:
    """Handed to a committee reporter: settings (for its own section), the ledger view, a read-only connection
    for the plugin's own tables, the time, the term [start, end) and the companies the pack covers."""

    settings: Settings
    ledger: LedgerView
    conn: Connection
    now: int
    start: int
    end: int
    company_ids: tuple[str, ...]


@dataclass(frozen=True)
class CommitteeContent:
    """What one plugin contributes to the committee's pack: per company id, its tables (in order).

    The committee sees office-level results; limited (partial) runs may appear only marked as such, never as
    full evaluations (see the module docstring). Companies not in the request are ignored by the pack.
    """

    tables: Mapping[str, tuple[ReportTable, ...]] = field(default_factory=dict)
    #: Per company id, pictures of what its tables hold (labels Japanese then English, as the pack is).
    charts: Mapping[str, tuple[Chart, ...]] = field(default_factory=dict)


CommitteeReporter = Callable[[CommitteeRequest], CommitteeContent]

Audience = Literal["office", "consortium", "public"]
#: Widest first: the office sees everything, the consortium what its members may see of one another (no
#: private evaluation runs or challenges, no reviewers' scores), the public what the public site may show.
AUDIENCES: tuple[Audience, ...] = ("office", "consortium", "public")
SurveyPart = Literal["compute", "evaluation", "data", "community", "governance", "committee", "challenges"]
#: The survey report's chapters, in order.
SURVEY_PARTS: tuple[SurveyPart, ...] = (
    "compute", "evaluation", "data", "community", "governance", "committee", "challenges",
)  # fmt: skip


@dataclass(frozen=True)
class SurveyRequest:
    """Handed to a survey reporter: settings, the ledger view, a read-only connection for the plugin's own
    tables, the time, the period [start, end) and the audience of the edition being written.

    The reporter decides what the audience may see of its own records (a private evaluation run never reaches
    a consortium or public edition); the report only places what it is given.
    """

    settings: Settings
    ledger: LedgerView
    conn: Connection
    now: int
    start: int
    end: int
    audience: Audience


@dataclass(frozen=True)
class SurveyContent:
    """What one plugin contributes to the programme's survey report: tables per chapter (``SURVEY_PARTS``)."""

    tables: Mapping[SurveyPart, tuple[ReportTable, ...]] = field(default_factory=dict)
    #: Pictures per chapter, as plain chart data (``quotad.charts.Series``) the report draws.
    charts: Mapping[SurveyPart, tuple[Series, ...]] = field(default_factory=dict)


SurveyReporter = Callable[[SurveyRequest], SurveyContent]

#: Whether an id of the kind a plugin owns exists, asked on a connection that can read the owner's tables.
#: Why a share rather than a query: a plugin that links to another's records (a challenge raised at a
#: community event) must refuse a dangling id without reading the other plugin's tables.
ReferenceCheck = Callable[[Connection, str], bool]

#: The companies that publish their own compute (their figures are on the public site), asked on a connection
#: that can read the sharing plugin's tables. Why a share: whoever publishes a programme-wide total must know
#: which companies' figures can be subtracted from it (``quotad.plugins.disclosure``), and may not read the
#: site's table to find out.
Disclosure = Callable[[Connection], frozenset[str]]


class Host(Protocol):
    """What the host offers a plugin factory: the other plugins' shares, looked up when needed."""

    def publishers(self) -> Sequence[tuple[str, Publisher]]: ...

    def committee_reporters(self) -> Sequence[tuple[str, CommitteeReporter]]: ...

    def reference_checks(self) -> Mapping[str, ReferenceCheck]: ...

    def survey_reporters(self) -> Sequence[tuple[str, SurveyReporter]]: ...

    def disclosures(self) -> Sequence[tuple[str, Disclosure]]: ...


def table_of(*models: type[object]) -> tuple[Table, ...]:
    """The ``Table`` of each declarative model class, for ``Plugin.tables``."""
    tables = []
    for model in models:
        table = getattr(model, "__table__", None)
        if not isinstance(table, Table):
            raise TypeError(f"{model.__name__} is not a mapped table class")
        tables.append(table)
    return tuple(tables)


@dataclass(frozen=True, kw_only=True)
class Plugin:
    """A loaded plugin's declaration. The host validates it; constructing one does no I/O."""

    name: str
    summary: str
    app: typer.Typer | None = None
    tables: tuple[Table, ...] = ()
    migrations: Path | None = None
    publish: Publisher | None = None
    committee: CommitteeReporter | None = None
    #: Kinds of id this plugin owns (e.g. ``"event"``) and how to check one exists (see ``ReferenceCheck``).
    references: Mapping[str, ReferenceCheck] = field(default_factory=dict)
    #: The plugin's chapters of the programme's survey report (``quotad programme report``).
    survey: SurveyReporter | None = None
    #: Which companies publish their own compute (the site's flags), for the rule on public totals.
    disclosure: Disclosure | None = None
    api_version: int = API_VERSION
