"""What every result-file reader returns, and how it refuses a file.

A reader turns one file into a ``ParsedResult`` of ``ParsedScore`` rows (the long table, before it meets the
ledger) or raises ``ResultFileError`` naming the file, the key path of the first bad value and why. Readers are
pure: bytes in, typed rows out; nothing is written until a whole file has been read, so a refused file leaves
nothing behind.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from quotad.errors import QuotadError
from quotad.plugins.eval.catalog import TaskCatalog

__all__ = [
    "Harness",
    "ParsedResult",
    "ParsedScore",
    "ResultFileError",
    "as_count",
    "as_score",
    "check_range",
]

Harness = str  # "lm-evaluation-harness" | "llm-jp-eval" | "mt-bench"


class ResultFileError(QuotadError):
    """A result file that is refused whole: ``source`` is the file, ``key`` the path of the bad value."""

    exit_code = 1

    def __init__(self, source: str, key: str, reason: str) -> None:
        self.source = source
        self.key = key
        self.reason = reason
        super().__init__(f"{source}: {key}: {reason}" if key else f"{source}: {reason}")


@dataclass(frozen=True)
class ParsedScore:
    task: str  # the harness's own task name; the catalogue maps it to a benchmark
    metric: str
    filter: str
    value: float
    stderr: float | None = None
    n_shot: int | None = None
    higher_is_better: bool | None = None
    scale_max: float | None = None
    #: A harness-computed average over other rows (an lm-eval group, an llm-jp-eval category): kept, not re-averaged.
    aggregate: bool = False
    samples_effective: int | None = None
    samples_original: int | None = None


@dataclass(frozen=True)
class ParsedResult:
    harness: Harness
    harness_version: str
    scores: tuple[ParsedScore, ...]
    #: The model as the file names it (``pretrained=...``, the judged model), for the operator's eye.
    model_in_file: str = ""
    #: What the run was limited to (lm-eval ``limit``, llm-jp-eval ``max_num_samples``); None for a full run.
    limit: float | None = None
    #: True when the run did not evaluate every sample: a limit, or fewer effective than original samples.
    limited: bool = False
    evaluated_at: int | None = None
    #: Whether one file may hold several models' results (MT-Bench judgement files do).
    multi_model: bool = False


def as_score(source: str, key: str, value: object, *, allow_string: bool = False) -> float:
    """A finite number (numeric strings only when the harness writes them), else ``ResultFileError``."""
    if isinstance(value, bool):
        raise ResultFileError(source, key, f"expected a number, got {value!r}")
    if isinstance(value, str) and allow_string:
        try:
            number = float(value.strip())
        except ValueError:
            raise ResultFileError(source, key, f"expected a number, got {value!r}") from None
    elif isinstance(value, int | float):
        number = float(value)
    else:
        raise ResultFileError(source, key, f"expected a number, got {value!r}")
    if not math.isfinite(number):
        raise ResultFileError(source, key, f"expected a finite number, got {value!r}")
    return number


def as_count(source: str, key: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ResultFileError(source, key, f"expected a non-negative integer, got {value!r}")
    return value


def check_range(source: str, key: str, value: float, metric: str, catalog: TaskCatalog) -> float | None:
    """Refuse a value outside its metric's declared range; returns the metric's full scale (or None)."""
    spec = catalog.metric(metric)
    if spec is None:
        return None
    if not spec.contains(value):
        low = "-inf" if spec.min is None else f"{spec.min:g}"
        high = "inf" if spec.max is None else f"{spec.max:g}"
        raise ResultFileError(source, key, f"{value!r} is outside the range of {metric} [{low}, {high}]")
    return spec.max
