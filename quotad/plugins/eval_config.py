"""The ``[eval]`` configuration section: extensions of the task mapping and ingest defaults.

The maintained mapping ships in the package (``tasks.toml``); a programme adds a benchmark, or corrects one,
here instead of patching the package. Like every section it forbids unknown keys, so a typo is refused with
its key instead of silently not mapping a task.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["EvalConfig", "MetricOverride", "TaskOverride", "Visibility"]

Visibility = Literal["private", "consortium", "public"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskOverride(_Section):
    """A task to add, or fields to override on a task of the built-in mapping."""

    language: Literal["ja", "en"] | None = None
    category: str | None = None
    name_ja: str | None = None
    name_en: str | None = None
    #: Harness task names (``fnmatch`` patterns allowed) that mean this task, e.g. "ja_leaderboard_jsquad".
    aliases: list[str] = Field(default_factory=list)
    #: Headline metric preference, "metric" or "metric,filter"; the first one present is shown.
    metrics: list[str] = Field(default_factory=list)
    #: False keeps this benchmark's scores off every public output (its licence forbids redistribution).
    redistributable: bool | None = None


class MetricOverride(_Section):
    """The range a metric's values must lie in (refused otherwise) and what counts as its full scale."""

    min: float | None = None
    max: float | None = None
    higher_is_better: bool | None = None

    @model_validator(mode="after")
    def _ordered(self) -> MetricOverride:
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError(f"min {self.min} must be below max {self.max}")
        return self


class EvalConfig(_Section):
    tasks: dict[str, TaskOverride] = Field(default_factory=dict)
    metrics: dict[str, MetricOverride] = Field(default_factory=dict)
    default_visibility: Visibility = "private"
