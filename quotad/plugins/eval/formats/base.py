"""What every result-file reader returns, and how it refuses a file.

A reader turns one file into a ``ParsedResult`` of ``ParsedScore`` rows (the long table, before it meets the
ledger) or raises ``ResultFileError`` naming the file, the key path of the first bad value and why. Readers are
pure: bytes in, typed rows out; nothing is written until a whole file has been read, so a refused file leaves
nothing behind.
"""

from __future__ import annotations

import math
import reprlib
from dataclasses import dataclass

from quotad.errors import QuotadError
from quotad.plugins.eval.catalog import TaskCatalog

__all__ = [
    "MAX_INT32",
    "Harness",
    "ParsedResult",
    "ParsedScore",
    "ResultFileError",
    "as_count",
    "as_score",
    "as_text",
    "check_range",
    "shown",
]

Harness = str  # "lm-evaluation-harness" | "llm-jp-eval" | "mt-bench" | "nejumi"

#: Sample counts and few-shot numbers are 32-bit columns; a larger count is not a real evaluation anyway.
MAX_INT32 = 2**31 - 1
#: Lengths of the text columns a reader fills (``eval_scores.task``/``metric``/``filter``).
TASK_LEN, METRIC_LEN, FILTER_LEN = 200, 100, 100

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict, _REPR.maxlong = 2, 60, 60, 4, 4, 40


def shown(value: object) -> str:
    """A value as an error message quotes it: short, whatever its size or depth (a 10,000-level list too)."""
    return _REPR.repr(value)


_KEY_SHOWN = 160


class ResultFileError(QuotadError):
    """A result file that is refused whole: ``source`` is the file, ``key`` the path of the bad value."""

    exit_code = 1

    def __init__(self, source: str, key: str, reason: str) -> None:
        self.source = source
        self.key = key
        self.reason = reason
        where = key if len(key) <= _KEY_SHOWN else f"{key[: _KEY_SHOWN - 3]}..."  # a key can be 5,000 brackets
        super().__init__(f"{source}: {where}: {reason}" if key else f"{source}: {reason}")


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
        raise ResultFileError(source, key, f"expected a number, got {shown(value)}")
    try:
        if isinstance(value, str) and allow_string:
            number = float(value.strip())
        elif isinstance(value, int | float):
            number = float(value)
        else:
            raise ResultFileError(source, key, f"expected a number, got {shown(value)}")
    except ValueError:  # a string that is not a number
        raise ResultFileError(source, key, f"expected a number, got {shown(value)}") from None
    except OverflowError:  # an integer beyond any float (400 digits)
        raise ResultFileError(source, key, f"expected a finite number, got {shown(value)}") from None
    if not math.isfinite(number):
        raise ResultFileError(source, key, f"expected a finite number, got {shown(value)}")
    return number


def as_count(source: str, key: str, value: object) -> int:
    """A non-negative integer a 32-bit column holds (sample counts, few-shot numbers)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT32:
        raise ResultFileError(source, key, f"expected a non-negative integer up to {MAX_INT32}, got {shown(value)}")
    return value


def as_text(source: str, key: str, value: str, *, max_len: int) -> str:
    """A name the ledger can hold: no NUL (PostgreSQL refuses it), at most ``max_len`` characters."""
    if "\x00" in value:
        raise ResultFileError(source, key, f"contains a NUL character: {shown(value)}")
    if len(value) > max_len:
        raise ResultFileError(source, key, f"longer than {max_len} characters: {shown(value)}")
    return value


def check_range(
    source: str, key: str, value: float, metric: str, catalog: TaskCatalog, *, task: str | None = None
) -> float | None:
    """Refuse a value outside its range; returns the full scale used to normalise it (or None).

    The range is the metric's, unless the catalogue gives this task (by its harness name) its own scale for
    the metric: the jp-stable harness reports JSQuAD's exact match on 0-100 while ``exact_match`` is 0-1.
    """
    spec = catalog.metric(metric)
    task_scale = None if task is None else catalog.task_scale(task, metric)
    if task_scale is not None:
        low: float | None = spec.min if spec is not None else 0.0
        high: float | None = task_scale
    elif spec is not None:
        low, high = spec.min, spec.max
    else:
        return None
    if not ((low is None or value >= low) and (high is None or value <= high)):
        shown_low = "-inf" if low is None else f"{low:g}"
        shown_high = "inf" if high is None else f"{high:g}"
        where = f" for {task}" if task_scale is not None else ""
        raise ResultFileError(
            source, key, f"{value!r} is outside the range of {metric}{where} [{shown_low}, {shown_high}]"
        )
    return high
