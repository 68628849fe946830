"""The ``[review]`` configuration section: who the review office is.

Why a list of logins: a reviewer is whoever the process runs as (its OS login, which a user cannot choose by
typing), so the only thing to configure is which logins are office operators, allowed to see every proposal
and to act for a reviewer (``--as REVIEWER``, audited). No one is office until listed here.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ReviewConfig"]


class ReviewConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: OS login names of the review office's operators.
    office: list[str] = Field(default_factory=list)
