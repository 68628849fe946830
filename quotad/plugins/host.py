"""The plugin host: discovery through entry points, validation, and the plugins' share of the schema.

Plugins (built-in or third-party) are found in the entry-point group ``quotad.plugins``; each entry point
names a factory ``(Host) -> Plugin`` (see ``quotad.plugins.api``). Loading never lets one plugin break the
others or the core: any exception, a wrong return type, a name that clashes with a core command or another
plugin, tables the plugin does not own, or a migrations folder in the wrong place becomes a ``PluginFailure``
with the reason, and the rest load as usual.

Migrations are found without running plugin code: a plugin's Alembic branch is the ``migrations/`` folder of
the package its entry point names. That matters because the schema check must know every applied revision
even when a plugin fails to import; otherwise one broken plugin would lock the whole CLI out of its ledger.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING

from quotad.ledger.models import Base
from quotad.plugins.api import (
    API_VERSION,
    CommitteeReporter,
    Disclosure,
    Plugin,
    Publisher,
    ReferenceCheck,
    SurveyReporter,
)

if TYPE_CHECKING:  # neither is needed to find migration folders, which is all the ledger asks of this module
    import typer
    from alembic.config import Config as AlembicConfig

__all__ = [
    "ENTRY_POINT_GROUP",
    "LoadedPlugin",
    "PluginFailure",
    "PluginRegistry",
    "alembic_version_locations",
    "configure_alembic",
    "discover",
    "load_plugins",
    "mount",
    "plugin_migration_dirs",
]

log = logging.getLogger("quotad.plugins")

ENTRY_POINT_GROUP = "quotad.plugins"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

Discover = Callable[[], Sequence[EntryPoint]]


def discover() -> list[EntryPoint]:
    """Every entry point in ``quotad.plugins``, sorted by name so load order (and output) is stable."""
    return sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: (ep.name, ep.value))


@dataclass(frozen=True)
class LoadedPlugin:
    plugin: Plugin
    source: str  # the entry point's value, e.g. "quotad.plugins.eval:plugin"
    distribution: str  # "name version" of the installing distribution, or "" when unknown

    @property
    def name(self) -> str:
        return self.plugin.name


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that did not load, and why, in words an operator can act on."""

    name: str
    source: str
    distribution: str
    reason: str


class PluginRegistry:
    """The outcome of loading: plugins that work and failures with reasons. Implements ``api.Host``."""

    def __init__(self, loaded: Sequence[LoadedPlugin] = (), failed: Sequence[PluginFailure] = ()) -> None:
        self._loaded = list(loaded)
        self._failed = list(failed)

    @property
    def loaded(self) -> tuple[LoadedPlugin, ...]:
        return tuple(self._loaded)

    @property
    def failed(self) -> tuple[PluginFailure, ...]:
        return tuple(self._failed)

    def get(self, name: str) -> Plugin | None:
        return next((p.plugin for p in self._loaded if p.name == name), None)

    def publishers(self) -> Sequence[tuple[str, Publisher]]:
        return [(p.name, p.plugin.publish) for p in self._loaded if p.plugin.publish is not None]

    def committee_reporters(self) -> Sequence[tuple[str, CommitteeReporter]]:
        """The loaded plugins' contributions to the review committee's pack, in load (name) order."""
        return [(p.name, p.plugin.committee) for p in self._loaded if p.plugin.committee is not None]

    def survey_reporters(self) -> Sequence[tuple[str, SurveyReporter]]:
        """The loaded plugins' chapters of the survey report, in load (name) order."""
        return [(p.name, p.plugin.survey) for p in self._loaded if p.plugin.survey is not None]

    def disclosures(self) -> Sequence[tuple[str, Disclosure]]:
        """The loaded plugins' lists of companies that publish their compute (the site's), in load order."""
        return [(p.name, p.plugin.disclosure) for p in self._loaded if p.plugin.disclosure is not None]

    def reference_checks(self) -> Mapping[str, ReferenceCheck]:
        """Every loaded plugin's id kinds and their existence checks; a kind claimed twice is refused at load."""
        return {kind: check for p in self._loaded for kind, check in p.plugin.references.items()}

    def warn_failures(self, logger: logging.Logger = log) -> None:
        for failure in self._failed:
            logger.warning("plugin %s (%s) not loaded: %s", failure.name, failure.source, failure.reason)

    def _add(self, loaded: LoadedPlugin) -> None:
        self._loaded.append(loaded)

    def _fail(self, failure: PluginFailure) -> None:
        self._failed.append(failure)


def _distribution(ep: EntryPoint) -> str:
    dist = ep.dist
    return f"{dist.name} {dist.version}" if dist is not None else ""


def _home_dir(module: str) -> Path | None:
    """The folder a plugin's entry module lives in (found without importing it), or None.

    A package's own folder; for a module inside a package, that package's folder. A top-level single-file
    module has no folder of its own (it would share ``site-packages``), so it cannot carry migrations.
    """
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))).resolve()
    if "." in module and spec.origin:
        return Path(spec.origin).resolve().parent
    return None


def conventional_migrations(ep: EntryPoint) -> Path:
    """Where a plugin's Alembic branch must live: ``migrations/`` beside the entry point's module."""
    home = _home_dir(ep.module)
    if home is None:
        raise ValueError(f"entry point {ep.value!r} does not name a module inside a package folder")
    return home / "migrations"


def plugin_migration_dirs(discover_fn: Discover | None = None) -> list[Path]:
    """The migration folders of every discovered plugin that has one, loaded or not (see module docstring)."""
    dirs: list[Path] = []
    for ep in (discover_fn or discover)():
        try:
            folder = conventional_migrations(ep)
        except ValueError:
            continue
        if folder.is_dir() and folder not in dirs:
            dirs.append(folder)
    return dirs


def alembic_version_locations(core_versions: Path, discover_fn: Discover | None = None) -> list[Path]:
    """The core's ``versions`` folder followed by each plugin's branch: one migration history for all."""
    return [core_versions, *plugin_migration_dirs(discover_fn)]


def configure_alembic(cfg: AlembicConfig, core_versions: Path, discover_fn: Discover | None = None) -> None:
    """Point an Alembic config at the core and plugin migrations (paths joined with ``os.pathsep``)."""
    locations = alembic_version_locations(core_versions, discover_fn)
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", os.pathsep.join(str(p).replace("%", "%%") for p in locations))


def _validate(plugin: object, ep: EntryPoint, claimed: dict[str, str], kinds: dict[str, str]) -> Plugin:
    """The plugin, or ``ValueError`` saying what is wrong with its declaration."""
    if not isinstance(plugin, Plugin):
        raise ValueError(f"factory returned {type(plugin).__name__}, expected quotad.plugins.api.Plugin")
    if plugin.api_version != API_VERSION:
        raise ValueError(f"written for plugin API {plugin.api_version}, this quotad provides {API_VERSION}")
    if plugin.name != ep.name:
        raise ValueError(f"declares name {plugin.name!r} but is registered as {ep.name!r}")
    for table in plugin.tables:
        if table.metadata is not Base.metadata:
            raise ValueError(f"table {table.name!r} is not declared on quotad.ledger.models.Base")
        if not table.name.startswith(f"{plugin.name}_"):
            raise ValueError(f"table {table.name!r} does not carry the plugin's prefix {plugin.name + '_'!r}")
        if table.name in claimed:
            raise ValueError(f"table {table.name!r} is already owned by {claimed[table.name]!r}")
    for kind in plugin.references:
        if kind in kinds:
            raise ValueError(f"reference kind {kind!r} is already owned by {kinds[kind]!r}")
    if plugin.tables and plugin.migrations is None:
        raise ValueError("declares tables but no migrations folder")
    if plugin.migrations is not None:
        expected = conventional_migrations(ep)
        if plugin.migrations.resolve() != expected:
            raise ValueError(f"migrations must be in {expected} (the package's migrations/), not {plugin.migrations}")
        if not any(expected.glob("*.py")):
            raise ValueError(f"migrations folder {expected} holds no revisions")
    return plugin


def load_plugins(*, reserved: Iterable[str] = (), discover_fn: Discover | None = None) -> PluginRegistry:
    """Load every discovered plugin; failures are recorded with their reason, never raised.

    ``discover_fn`` defaults to the entry points (looked up at call time, so tests can stand in for them).
    """
    registry = PluginRegistry()
    taken = {*reserved, "plugins"}
    claimed: dict[str, str] = {}
    kinds: dict[str, str] = {}
    for ep in (discover_fn or discover)():
        source, dist = ep.value, _distribution(ep)
        try:
            if not _NAME.match(ep.name):
                raise ValueError(f"name {ep.name!r}: expected lower-case letters, digits or '_'")
            if ep.name in taken:
                what = "another plugin" if ep.name in {p.name for p in registry.loaded} else "a core command"
                raise ValueError(f"name {ep.name!r} is already used by {what}")
            factory = ep.load()
            if not callable(factory):
                raise ValueError(f"{source} is not callable")
            plugin = _validate(factory(registry), ep, claimed, kinds)
        except Exception as exc:  # a plugin's own bug must not take the CLI down
            log.debug("plugin %s failed to load", ep.name, exc_info=True)
            reason = str(exc) or type(exc).__name__
            if not isinstance(exc, ValueError):
                reason = f"{type(exc).__name__}: {reason}"
            registry._fail(PluginFailure(ep.name, source, dist, reason))
            continue
        taken.add(plugin.name)
        claimed.update((t.name, plugin.name) for t in plugin.tables)
        kinds.update((kind, plugin.name) for kind in plugin.references)
        registry._add(LoadedPlugin(plugin, source, dist))
    return registry


def command_names(app: typer.Typer) -> set[str]:
    """Names of the commands and groups already on ``app``, which plugins may not take."""
    names = {g.name for g in app.registered_groups if g.name}
    names |= {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    return names - {""}


def mount(app: typer.Typer, registry: PluginRegistry) -> None:
    """Add each loaded plugin's typer app to the root CLI under the plugin's name."""
    for loaded in registry.loaded:
        if loaded.plugin.app is not None:
            app.add_typer(loaded.plugin.app, name=loaded.name, help=loaded.plugin.summary)
