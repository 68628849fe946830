"""The root of every ``quotad`` command line: global options and the error-to-exit-code mapping.

Kept apart from ``quotad.cli.main`` so a process that needs one command (the node agent on every GPU node) can
build its command line without importing every other command group and what they import.

Exit codes: 0 success; 1 partial success or runtime failure (some input lines refused, database down);
2 usage or configuration error (bad option, bad config, unknown company, outdated schema).
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from quotad import __version__
from quotad.cli.context import AppState
from quotad.errors import QuotadError

__all__ = ["QuotadGroup", "main", "make_app"]

log = logging.getLogger("quotad")


class QuotadGroup(TyperGroup):
    """The root group: turns a ``QuotadError`` anywhere below into one clear stderr line and its exit code (no
    traceback), and accepts the root's options after the command too (``quotad status -c x.toml``)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_root_options(args, self._root_value_options()))

    def _root_value_options(self) -> frozenset[str]:
        """The root's options that take a value (``-c``, ``--config``, ``--log-level``)."""
        names: set[str] = set()
        for param in self.params:
            if getattr(param, "is_flag", True) or not getattr(param, "opts", None):
                continue
            names.update(param.opts)
        return frozenset(names)

    def invoke(self, ctx: Any) -> Any:  # click's Context; typer vendors click privately
        try:
            return super().invoke(ctx)
        except QuotadError as exc:
            log.error("%s", exc)
            raise typer.Exit(exc.exit_code) from exc
        except Exception as exc:
            refusal = privilege_refusal(exc)
            if refusal is None:
                raise
            log.error(
                "the ledger refused: %s. This configuration's database role may not do this (the roles `quotad db "
                "roles` makes only read, or only write GPU telemetry): run it with the ledger owner's configuration",
                refusal,
            )
            raise typer.Exit(1) from exc


def privilege_refusal(exc: BaseException) -> str | None:
    """PostgreSQL's first line when ``exc`` is its "permission denied" (a least-privilege role at work), else None.

    psycopg is looked up among the loaded modules, not imported: if it is not loaded, no error came from it.
    """
    errors = sys.modules.get("psycopg.errors")
    orig = getattr(exc, "orig", None)
    if errors is None or not isinstance(orig, errors.InsufficientPrivilege):
        return None
    return str(orig).splitlines()[0] if str(orig) else "permission denied"


def hoist_root_options(args: list[str], value_options: frozenset[str]) -> list[str]:
    """``args`` with root options given after the command word moved in front of it.

    Why: operators type ``quotad status -c x.toml`` as often as ``quotad -c x.toml status``; no command
    below the root defines ``-c``, ``--config`` or ``--log-level``, so the words are unambiguous. Words after
    ``--`` are left alone.
    """
    command_at: int | None = None
    skip = False
    for index, word in enumerate(args):
        if skip:
            skip = False
        elif word in value_options:
            skip = True
        elif word == "--" or not word.startswith("-"):
            command_at = index
            break
    if command_at is None or args[command_at] == "--":
        return args
    head, tail = list(args[:command_at]), list(args[command_at:])
    kept: list[str] = []
    index = 0
    while index < len(tail):
        word = tail[index]
        if word == "--":
            kept += tail[index:]
            break
        if word in value_options and index + 1 < len(tail):
            head += tail[index : index + 2]
            index += 2
            continue
        if word.split("=", 1)[0] in value_options and "=" in word and word.startswith("--"):
            head.append(word)
        else:
            kept.append(word)
        index += 1
    return head + kept


def _version(value: bool) -> None:
    if value:
        print(f"quotad {__version__}")
        raise typer.Exit()


def main(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None,
        "--config",
        "-c",
        envvar="QUOTAD_CONFIG",
        help="TOML config file (else /etc/quotad/quotad.toml when it exists).",
    ),
    log_level: str = typer.Option("INFO", "--log-level", help="DEBUG, INFO, WARNING or ERROR."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Global options: where the config is, how much to log."""
    level = getattr(logging, log_level.upper(), None)
    if not isinstance(level, int):
        raise typer.BadParameter(f"{log_level!r}: expected DEBUG, INFO, WARNING or ERROR", param_hint="--log-level")
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
        force=True,
    )
    if level > logging.DEBUG:
        logging.getLogger("alembic").setLevel(logging.WARNING)
    ctx.obj = AppState(config_path=config)


def make_app(
    on_start: Callable[[typer.Context], None] | None = None, cls: type[QuotadGroup] = QuotadGroup
) -> typer.Typer:
    """A root app with the global options; ``on_start`` runs once logging is set up (plugin warnings).

    Help is plain text (``rich_markup_mode=None``): rich markup would eat bracketed words in help texts.
    """
    app = typer.Typer(
        cls=cls,
        rich_markup_mode=None,
        help="quotad: GPU-grant accounting, telemetry and directives for a foundation-model compute programme.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    if on_start is None:
        app.callback()(main)
        return app
    hook = on_start

    @functools.wraps(main)
    def main_then_hook(ctx: typer.Context, *args: Any, **kwargs: Any) -> None:
        main(ctx, *args, **kwargs)
        hook(ctx)

    app.callback()(main_then_hook)
    return app
