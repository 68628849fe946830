"""The plugin host: discovery through entry points, load failures reported with reasons, the rest still work."""

from __future__ import annotations

import json
import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
import typer
from sqlalchemy import Column, Integer, MetaData, Table
from typer.testing import CliRunner

from quotad.cli import main as cli_main
from quotad.ledger.models import Base
from quotad.plugins import host
from quotad.plugins.api import Plugin
from quotad.plugins.host import ENTRY_POINT_GROUP, PluginRegistry, load_plugins, plugin_migration_dirs
from tests.test_plugin_common import (
    BUILTINS,
    PluginCli,
    builtins,
    core_names,
    ledger,
    plugin_tables,
    registry,
    with_builtins,
)

__all__ = ["ledger", "plugin_tables", "registry", "with_builtins"]  # fixtures used here


def _ep(name: str, target: str) -> EntryPoint:
    return EntryPoint(name, f"tests.test_plugin_host:{target}", ENTRY_POINT_GROUP)


def raising_factory(_host: object) -> Plugin:
    raise RuntimeError("licence server unreachable")


def not_a_plugin(_host: object) -> object:
    return {"name": "dict"}


def misnamed(_host: object) -> Plugin:
    return Plugin(name="other", summary="")


def core_table_thief(_host: object) -> Plugin:
    return Plugin(name="thief", summary="", tables=(Base.metadata.tables["jobs"],), migrations=Path("x"))


def foreign_metadata(_host: object) -> Plugin:
    table = Table("alien_rows", MetaData(), Column("id", Integer, primary_key=True))
    return Plugin(name="alien", summary="", tables=(table,), migrations=Path("x"))


def wrong_migrations(_host: object) -> Plugin:
    return Plugin(name="lost", summary="", migrations=Path("/tmp"))


def old_api(_host: object) -> Plugin:
    return Plugin(name="old", summary="", api_version=0)


def working(_host: object) -> Plugin:
    app = typer.Typer(no_args_is_help=True)

    @app.command("hello")
    def hello() -> None:
        print("hello from a third-party plugin")

    return Plugin(name="working", summary="A plugin with a command and no tables.", app=app)


NOT_CALLABLE = 42

BROKEN = {
    "missing": (EntryPoint("missing", "quotad_no_such_module:plugin", ENTRY_POINT_GROUP), "ModuleNotFoundError"),
    "raising": (_ep("raising", "raising_factory"), "RuntimeError: licence server unreachable"),
    "dictish": (_ep("dictish", "not_a_plugin"), "factory returned dict"),
    "misnamed": (_ep("misnamed", "misnamed"), "declares name 'other' but is registered as 'misnamed'"),
    "thief": (_ep("thief", "core_table_thief"), "table 'jobs' does not carry the plugin's prefix 'thief_'"),
    "alien": (_ep("alien", "foreign_metadata"), "not declared on quotad.ledger.models.Base"),
    "lost": (_ep("lost", "wrong_migrations"), "migrations must be in"),
    "old": (_ep("old", "old_api"), "written for plugin API 0"),
    "notcallable": (_ep("notcallable", "NOT_CALLABLE"), "is not callable"),
    "status": (_ep("status", "working"), "name 'status' is already used by a core command"),
    "Bad-Name": (_ep("Bad-Name", "working"), "expected lower-case letters"),
}


def test_builtins_load_through_entry_points() -> None:
    reg = load_plugins(reserved=core_names(), discover_fn=builtins)
    assert [p.name for p in reg.loaded] == ["eval", "site"] and not reg.failed
    eval_plugin = reg.get("eval")
    assert eval_plugin is not None and {t.name for t in eval_plugin.tables} == {
        "eval_files",
        "eval_runs",
        "eval_scores",
        "eval_compute_links",
    }
    assert [name for name, _ in reg.publishers()] == ["eval"]  # the site gets eval's publisher through the host


def test_every_broken_plugin_is_reported_with_its_reason_and_the_rest_load() -> None:
    eps = [*BUILTINS, _ep("working", "working"), *(ep for ep, _ in BROKEN.values())]
    reg = load_plugins(reserved=core_names(), discover_fn=lambda: eps)
    assert sorted(p.name for p in reg.loaded) == ["eval", "site", "working"]
    reasons = {f.name: f.reason for f in reg.failed}
    assert set(reasons) == set(BROKEN)
    for name, (_, expected) in BROKEN.items():
        assert expected in reasons[name], (name, reasons[name])


def test_a_second_plugin_of_the_same_name_is_refused() -> None:
    reg = load_plugins(
        discover_fn=lambda: [BUILTINS[0], EntryPoint("eval", "tests.test_plugin_host:working", ENTRY_POINT_GROUP)]
    )
    assert [p.name for p in reg.loaded] == ["eval"]
    assert reg.failed[0].reason == "name 'eval' is already used by another plugin"


def test_discovery_reads_the_entry_point_group(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def fake_entry_points(*, group: str) -> list[EntryPoint]:
        seen.append(group)
        return list(reversed(BUILTINS))

    monkeypatch.setattr(host, "entry_points", fake_entry_points)
    assert [ep.name for ep in host.discover()] == ["eval", "site"] and seen == ["quotad.plugins"]


def test_migrations_of_a_plugin_that_fails_to_import_are_still_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "brokenplug"
    (package / "migrations").mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('needs libfoo 2.0')\n")
    (package / "migrations" / "p_brokenplug_0001.py").write_text(textwrap.dedent('revision = "p_brokenplug_0001"\n'))
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = [*BUILTINS, EntryPoint("brokenplug", "brokenplug:plugin", ENTRY_POINT_GROUP)]
    reg = load_plugins(discover_fn=lambda: eps)
    assert reg.failed[0].name == "brokenplug" and "needs libfoo 2.0" in reg.failed[0].reason
    dirs = plugin_migration_dirs(lambda: eps)
    assert package.resolve() / "migrations" in dirs and len(dirs) == 3


def test_plugins_list_shows_loaded_and_failed(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    eps = [*BUILTINS, BROKEN["raising"][0]]
    monkeypatch.setattr(host, "discover", lambda: eps)
    cli = PluginCli(config_file, load_plugins(reserved=core_names()))
    result = cli("plugins", "list", "--json")
    assert result.exit_code == 1, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["eval"]["status"] == "loaded" and "eval_scores" in rows["eval"]["tables"]
    assert rows["site"]["status"] == "loaded"
    assert rows["raising"]["status"] == "failed" and "licence server unreachable" in rows["raising"]["reason"]
    table = cli("plugins", "list")
    assert "failed" in table.stdout and "raising" in table.stdout


def test_a_working_plugin_runs_beside_a_broken_one(config_file: Path) -> None:
    eps = [_ep("working", "working"), BROKEN["raising"][0]]
    cli = PluginCli(config_file, load_plugins(reserved=core_names(), discover_fn=lambda: eps))
    result = cli("working", "hello")
    assert result.exit_code == 0 and "hello from a third-party plugin" in result.stdout
    assert cli("--help").exit_code == 0


def test_failures_are_logged_as_warnings(caplog: pytest.LogCaptureFixture) -> None:
    reg = load_plugins(discover_fn=lambda: [BROKEN["raising"][0]])
    with caplog.at_level("WARNING", logger="quotad.plugins"):
        reg.warn_failures()
    assert "plugin raising" in caplog.text and "licence server unreachable" in caplog.text


def test_core_command_names_are_reserved() -> None:
    """The names plugins may not take are exactly the core commands the root lists (with no plugin installed)."""
    result = CliRunner().invoke(cli_main.make_cli(PluginRegistry()), ["--help"])
    assert result.exit_code == 0, result.output
    listed = {line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line[:3].strip()}
    assert {"db", "company", "grant", "status", "report"} <= listed == set(cli_main.CORE_NAMES)
