"""The command line answers at once: lazy command groups and plugins, help that keeps its words, tables that
fit the terminal, ``--json`` on read commands, and root options after the command."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quotad.cli import main as cli_main
from quotad.cli.entry import wants_version
from quotad.cli.lazy import LazyGroup, load_target, to_click
from quotad.cli.plugin_index import ENTRY_POINT_GROUP, plugin_entries, static_summary
from quotad.plugins import host
from quotad.plugins.host import load_plugins
from tests.conftest import Cli
from tests.helpers import HEADER, row

HEAVY = ("sqlalchemy", "pydantic", "alembic", "rich", "quotad.config", "quotad.ledger", "quotad.plugins.eval",
         "quotad.collectors.pbs", "quotad.cli.db", "quotad.cli.status", "quotad.notify", "quotad.daemon")  # fmt: skip


def loaded_after(argv: list[str]) -> set[str]:
    """The modules a ``quotad`` process has imported once it has run ``argv`` (in a fresh interpreter)."""
    code = (
        "import sys, json\n"
        f"sys.argv = ['quotad', *{argv!r}]\n"
        "from quotad.cli.entry import run\n"
        "try:\n    run()\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def heavy_in(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_version_imports_no_command_line_library() -> None:
    modules = loaded_after(["--version"])
    assert "typer" not in modules and not heavy_in(modules)
    out = subprocess.run([sys.executable, "-m", "quotad", "-c", "x.toml", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("quotad ")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--version"], True),
        (["-c", "q.toml", "--log-level", "DEBUG", "--version"], True),
        (["--config=q.toml", "--version"], True),
        (["status", "--version"], False),  # an option of the command: click judges it
        (["--help", "--version"], False),
        (["--bogus", "--version"], False),
        (["-c", "--version"], False),  # "--version" is the value of -c
    ],
)
def test_wants_version(argv: list[str], expected: bool) -> None:
    assert wants_version(argv) is expected


def test_help_lists_every_group_and_plugin_without_importing_them() -> None:
    modules = loaded_after(["--help"])
    assert not heavy_in(modules), heavy_in(modules)
    out = subprocess.run([sys.executable, "-m", "quotad", "--help"], capture_output=True, text=True, check=True).stdout
    commands = out.split("Commands:")[1]
    for entry in cli_main.COMMANDS:
        if len(entry.words) == 1:
            assert f"  {entry.name} " in commands, entry.name
    for plugin in ("eval", "site", "review", "data", "community", "governance", "plugins"):
        assert f"  {plugin} " in commands, plugin
    assert "Evaluation results: ingest harness outputs" in " ".join(commands.split())


def test_a_command_imports_only_what_it_runs() -> None:
    modules = loaded_after(["company", "--help"])
    assert "quotad.cli.company" in modules
    for other in ("quotad.cli.db", "quotad.cli.policy", "quotad.collectors.pbs", "quotad.plugins.eval",
                  "quotad.plugins.host", "quotad.daemon.service", "quotad.notify.smtp"):  # fmt: skip
        assert other not in modules, other
    assert "quotad.collectors.pbs" not in loaded_after(["collect", "slurm", "--help"])
    assert "quotad.cli.pbs" in loaded_after(["collect", "pbs", "--help"])


def test_status_on_a_current_ledger_loads_no_alembic_plugins_or_pool(cli: Cli) -> None:
    assert cli("db", "upgrade").exit_code == 0
    modules = loaded_after(["-c", str(cli.config), "status", "--json"])
    assert "quotad.cli.status" in modules and "sqlalchemy" in modules
    for other in ("alembic", "quotad.plugins.host", "quotad.plugins.eval", "quotad.pool.check", "quotad.cli.pool"):
        assert other not in modules, other


def test_the_table_help_is_each_command_s_own_first_line() -> None:
    """``--help`` prints the table's line without importing; it must say what the command itself says."""
    for entry in cli_main.COMMANDS:
        command = to_click(entry.words[-1], load_target(entry.target))
        assert (command.help or "").strip().splitlines()[0] == entry.help, entry.name


def test_plugin_lines_are_read_without_importing_the_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "staticplug"
    package.mkdir()
    (package / "__init__.py").write_text(
        '"""A third-party plugin.\n\nMore words."""\nraise ImportError("must not be imported for --help")\n'
        'def plugin(host):\n    return Plugin(name="staticplug", summary="Static summary line.")\n'
    )
    (tmp_path / "docplug.py").write_text('"""Only a docstring here."""\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = [
        EntryPoint("staticplug", "staticplug:plugin", ENTRY_POINT_GROUP),
        EntryPoint("docplug", "docplug:plugin", ENTRY_POINT_GROUP),
        EntryPoint("status", "staticplug:plugin", ENTRY_POINT_GROUP),  # a core name: never listed
    ]
    entries = plugin_entries(cli_main.CORE_NAMES, discover_fn=lambda: eps)
    assert [(e.name, e.summary) for e in entries] == [
        ("docplug", "Only a docstring here."),
        ("staticplug", "Static summary line."),
    ]
    assert "staticplug" not in sys.modules
    assert static_summary("def broken(:") == ""
    assert ENTRY_POINT_GROUP == host.ENTRY_POINT_GROUP


def test_a_failed_plugin_command_says_why(config_file: Path) -> None:
    registry = load_plugins(discover_fn=lambda: [EntryPoint("broken", "no_such_module_xyz:plugin", ENTRY_POINT_GROUP)])
    result = CliRunner().invoke(cli_main.make_cli(registry), ["-c", str(config_file), "broken", "list"])
    assert result.exit_code == 1
    assert "plugin broken" in result.output and "no_such_module_xyz" in result.output
    assert "Traceback" not in result.output


def test_help_keeps_bracketed_words() -> None:
    runner = CliRunner()
    report = runner.invoke(cli_main.app, ["report", "--help"], env={"COLUMNS": "200"})
    assert report.exit_code == 0 and "[default: the" in report.output
    reserve = runner.invoke(cli_main.app, ["provider", "reserve", "add", "--help"], env={"COLUMNS": "200"})
    assert reserve.exit_code == 0 and "GPU type (a key of [gpu_types])." in reserve.output


def test_lazy_group_lists_code_commands_then_table_commands() -> None:
    assert isinstance(to_click("collect", load_target("quotad.cli.collect:app")), LazyGroup)
    root = CliRunner().invoke(cli_main.app, ["collect", "--help"], env={"COLUMNS": "200"})
    assert root.exit_code == 0 and root.output.index("  slurm ") < root.output.index("  pbs ")


@pytest.fixture
def with_usage(cli: Cli, tmp_path: Path) -> Cli:
    assert cli("db", "upgrade").exit_code == 0
    cli("company", "add", "acme", "--name-ja", "アクメ", "--name-en", "Acme Deep Learning Research Laboratories",
        "-a", "c1:acme")  # fmt: skip
    cli("grant", "set", "acme", "--cluster", "c1", "--gpu-hours", "100", "--start", "2026-11-01", "--end", "2027-04-30")
    path = tmp_path / "s.txt"
    line = row("1", 1, start="2026-11-03T00:00:00", end="2026-11-03T05:00:00", elapsed=18000, gpus="gres/gpu=2")
    path.write_text(f"{HEADER}\n{line}\n")
    assert cli("ingest", "sacct", str(path)).exit_code == 0
    return cli


@pytest.mark.parametrize("columns", [80, 100])
def test_tables_fit_the_terminal(with_usage: Cli, columns: int) -> None:
    runner = CliRunner()
    config = str(with_usage.config)
    status = runner.invoke(cli_main.app, ["-c", config, "status", "--now", "2026-11-05T00:00:00"],
                           env={"COLUMNS": str(columns)})  # fmt: skip
    assert status.exit_code == 0, status.output
    lines = status.stdout.splitlines()
    assert all(len(line) <= columns for line in lines), "\n".join(lines)
    body = [line for line in lines if line.startswith("│")]
    assert len(body) == 1 and "acme" in body[0] and "10.00" in body[0]  # one company, one line: nothing wrapped
    assert "left out to fit" in status.stdout and "Name" in status.stdout.split("left out")[1]
    wide = runner.invoke(cli_main.app, ["-c", config, "status", "--now", "2026-11-05T00:00:00"],
                         env={"COLUMNS": "250"})  # fmt: skip
    assert "Acme Deep Learning Research Laboratories" in wide.stdout and "left out" not in wide.stdout
    report = runner.invoke(cli_main.app, ["-c", config, "report", "--period", "2026-11", "--by", "user"],
                           env={"COLUMNS": str(columns)})  # fmt: skip
    assert report.exit_code == 0 and all(len(line) <= columns for line in report.stdout.splitlines())
    assert any(line.startswith("│") and "c1:alice" in line for line in report.stdout.splitlines())


def test_root_options_after_the_command(with_usage: Cli) -> None:
    runner = CliRunner()
    config = str(with_usage.config)
    for argv in (
        ["status", "-c", config, "--json", "--now", "2026-11-05T00:00:00"],
        ["status", "--json", f"--config={config}", "--now", "2026-11-05T00:00:00"],
        ["--log-level", "WARNING", "status", "--now", "2026-11-05T00:00:00", "--config", config, "--json"],
    ):
        result = runner.invoke(cli_main.app, argv)
        assert result.exit_code == 0, (argv, result.output)
        assert json.loads(result.stdout)[0]["company"] == "acme"
    listed = runner.invoke(cli_main.app, ["company", "list", "--json", "--log-level", "ERROR", "-c", config])
    assert listed.exit_code == 0 and json.loads(listed.stdout)[0]["id"] == "acme"


def test_eval_read_commands_take_json(with_usage: Cli) -> None:
    tasks = with_usage("eval", "tasks", "--json")
    assert tasks.exit_code == 0, tasks.output
    assert isinstance(json.loads(tasks.stdout), list) and json.loads(tasks.stdout)
    runs = with_usage("eval", "runs", "--json")
    assert runs.exit_code == 0 and json.loads(runs.stdout) == []
    coverage = with_usage("eval", "coverage", "--json")
    assert coverage.exit_code == 0 and isinstance(json.loads(coverage.stdout), list)


def test_static_heads_are_alembic_s_heads(tmp_path: Path) -> None:
    """The schema check's fast path reads the same heads Alembic computes from the same revision files."""
    from alembic.script import ScriptDirectory

    from quotad.ledger import db
    from quotad.ledger.schema_heads import plugin_migration_folders, static_heads

    folders = [db.MIGRATIONS_DIR / "versions", *plugin_migration_folders()]
    assert set(plugin_migration_folders()) == set(host.plugin_migration_dirs())
    assert static_heads(folders) == set(ScriptDirectory.from_config(db._alembic_config(None)).get_heads())
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "x.py").write_text("revision = make_id()\ndown_revision = None\n")
    assert static_heads([odd]) is None  # not a plain literal: the full Alembic check decides
