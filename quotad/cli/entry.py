"""The ``quotad`` executable: the node agent gets a command line of its own, everything else the full one.

Why: ``quotad agent`` runs on every GPU node with a memory budget (80 MB); importing every command group,
the policies, the notifier, the daemon and the plugins would spend it before the first sample. ``--version``
among the root options is answered before the command-line library is imported at all (it needs nothing
else), so scripts and monitoring that ask for it pay only the interpreter's start.
"""

from __future__ import annotations

import sys

__all__ = ["agent_app", "run", "wants_agent", "wants_version"]

_VALUE_OPTIONS = frozenset({"-c", "--config", "--log-level"})


def wants_agent(argv: list[str]) -> bool:
    """Whether the first command word (after global options) is ``agent``."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word in _VALUE_OPTIONS:
            skip = True
        elif not word.startswith("-"):
            return word == "agent"
    return False


def wants_version(argv: list[str]) -> bool:
    """Whether ``--version`` is among the root options (before any command word, and before ``-h/--help``)."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word in _VALUE_OPTIONS:
            skip = True
        elif word == "--version":
            return True
        elif not word.startswith(("--config=", "--log-level=")):
            return False  # a command word, -h/--help or an option click must judge
    return False


def agent_app() -> object:
    from quotad.cli import agent
    from quotad.cli.root import make_app

    app = make_app()
    app.command("agent")(agent.agent)
    return app


def run() -> None:
    if wants_version(sys.argv[1:]):
        from quotad import __version__

        print(f"quotad {__version__}")
        return
    if wants_agent(sys.argv[1:]):
        agent_app()()  # type: ignore[operator]
        return
    from quotad.cli.main import run as full

    full()
