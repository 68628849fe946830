"""``python -m quotad`` is the ``quotad`` command."""

from quotad.cli.main import run

run()
