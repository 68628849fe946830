"""The ``quotad`` command line: one typer module per command group, each thin (parse, call, render)."""
