"""``python -m quotad`` is the ``quotad`` command."""

from quotad.cli.entry import run

run()
