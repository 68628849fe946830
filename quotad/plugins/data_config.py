"""The ``[data]`` configuration section: the weights of the matching score.

The score is a plain weighted sum, printed term by term, so a programme office that values (say) access ease
over price changes a weight here and can see the effect in every ``quotad data match`` line. Unknown keys are
refused, so a misspelt weight is an error instead of a silent default.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DataConfig", "MatchWeights"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MatchWeights(_Section):
    """Points each term can add at most; defaults sum to 100."""

    domain: float = Field(25.0, ge=0)
    language: float = Field(25.0, ge=0)
    size: float = Field(20.0, ge=0)
    access: float = Field(10.0, ge=0)
    price: float = Field(10.0, ge=0)
    pii: float = Field(5.0, ge=0)
    copyright: float = Field(5.0, ge=0)


class DataConfig(_Section):
    weights: MatchWeights = Field(default_factory=MatchWeights)
