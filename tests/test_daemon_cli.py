"""`quotad run` option handling: bad options and an unusable ledger exit 2 before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from quotad.cli.main import QuotadGroup, main
from quotad.cli.run import run


@pytest.fixture
def cli_app() -> typer.Typer:
    """quotad's root callback and error handling with `run` registered (a new app: the real one is left alone)."""
    fresh = typer.Typer(cls=QuotadGroup, pretty_exceptions_enable=False, add_completion=False)
    fresh.callback()(main)
    fresh.command("run")(run)
    return fresh


def invoke(cli_app: typer.Typer, tmp_path: Path, *args: str) -> tuple[int, str]:
    config = tmp_path / "quotad.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "none" / "ledger.sqlite"}"\n', encoding="utf-8")
    result = CliRunner().invoke(cli_app, ["-c", str(config), "run", *args])
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes is not None else "")


def test_bad_log_format_is_a_usage_error(cli_app: typer.Typer, tmp_path: Path) -> None:
    code, output = invoke(cli_app, tmp_path, "--log-format", "xml")
    assert code == 2 and "expected human or json" in output


def test_bad_listen_is_a_usage_error(cli_app: typer.Typer, tmp_path: Path) -> None:
    code, output = invoke(cli_app, tmp_path, "--listen", "nowhere")
    assert code == 2 and "ADDR:PORT" in output


def test_missing_ledger_exits_2_without_starting(cli_app: typer.Typer, tmp_path: Path) -> None:
    code, output = invoke(cli_app, tmp_path, "--listen", "127.0.0.1:0")
    assert code == 2 and "quotad db upgrade" in output
