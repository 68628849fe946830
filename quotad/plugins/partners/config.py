"""The ``[partners]`` configuration section: the weights of the ``quotad partners match`` score.

As for ``[data.weights]``: a plain weighted sum printed term by term, so an office that values (say) a signed
agreement over the country changes a weight here and sees the effect on every match line.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["PartnerWeights", "PartnersConfig"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PartnerWeights(_Section):
    """Points each term can add at most; defaults sum to 100."""

    offers: float = Field(50.0, ge=0)
    agreement: float = Field(25.0, ge=0)
    country: float = Field(15.0, ge=0)
    contact: float = Field(10.0, ge=0)


class PartnersConfig(_Section):
    weights: PartnerWeights = Field(default_factory=PartnerWeights)
