"""Grant-unit amounts: an integer in the ledger's base unit plus what it is a quantity of.

A grant is either GPU-seconds of one GPU type or normalised TFLOP; comparing usage with a grant, or adding
grants of a company, must happen in one unit. ``Amount`` keeps the integer and the unit together so the display
edge (hours, EFLOPS-hours) is the only place they become floats.
"""

from __future__ import annotations

from dataclasses import dataclass

from quotad.units import GpuCatalog, eflops_hours, gpu_hours

__all__ = ["NORMALISED", "Amount", "Unit"]

#: ``Unit.gpu_type`` for normalised amounts (TFLOP), matching ``grants.gpu_type`` = "*".
NORMALISED = "*"


@dataclass(frozen=True, order=True)
class Unit:
    """GPU-seconds of ``gpu_type``, or TFLOP when ``gpu_type`` is ``NORMALISED``."""

    gpu_type: str

    @property
    def normalised(self) -> bool:
        return self.gpu_type == NORMALISED

    @property
    def label(self) -> str:
        return "EFLOPS-h" if self.normalised else f"GPU-h ({self.gpu_type.upper()})"

    def convert(self, gpu_seconds: int, gpu_type: str, catalog: GpuCatalog) -> int:
        """Usage of ``gpu_seconds`` on ``gpu_type`` in this unit; zero if a typed unit does not match."""
        if self.normalised:
            return catalog.tflop(gpu_seconds, gpu_type)
        return gpu_seconds if gpu_type == self.gpu_type else 0

    def display(self, value: int) -> float:
        """The amount in the unit people read: GPU-hours, or EFLOPS-hours when normalised."""
        return eflops_hours(value) if self.normalised else gpu_hours(value)

    def format(self, value: int) -> str:
        shown = self.display(value)
        return f"{shown:,.2f}" if self.normalised else f"{shown:,.0f}"


@dataclass(frozen=True)
class Amount:
    value: int
    unit: Unit

    def __str__(self) -> str:
        return f"{self.unit.format(self.value)} {self.unit.label}"
