"""The ``quotad`` executable: the node agent gets a command line of its own, everything else the full one.

Why: ``quotad agent`` runs on every GPU node with a memory budget (80 MB); importing every command group,
the policies, the notifier, the daemon and the plugins would spend it before the first sample.
"""

from __future__ import annotations

import sys

__all__ = ["agent_app", "run", "wants_agent"]

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


def agent_app() -> object:
    from quotad.cli import agent
    from quotad.cli.root import make_app

    app = make_app()
    app.command("agent")(agent.agent)
    return app


def run() -> None:
    if wants_agent(sys.argv[1:]):
        agent_app()()  # type: ignore[operator]
        return
    from quotad.cli.main import run as full

    full()
