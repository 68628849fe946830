"""The review plugin's Jinja2 environment: autoescaped (every proposal title, comment and company name is
someone's input) and strict (a misspelt field is an error, not a blank cell on a committee sheet)."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined

__all__ = ["environment"]


def environment() -> Environment:
    """A fresh environment over ``review/templates``; callers add their own filters and globals."""
    return Environment(
        loader=PackageLoader("quotad.plugins.review", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
