"""Matching a company's data need to datasets: hard filters first, then a transparent additive score.

Hard filters, in this order (the first that fails is the one reported):

1. ``uses``: every use the need requires (training, commercial, derivatives) is allowed by the dataset;
2. ``language``: the dataset has at least one of the need's languages (a need without languages takes any);
3. ``modality``: the dataset's modality is one the need accepts (none listed: any);
4. ``access``: the dataset's access mode is one the need accepts (none listed: any).

Score: the sum of ``weight x value`` over the terms below, each value in [0, 1], each printed with both:

- ``domain``: share of the need's domains the dataset covers (1 when the need names none);
- ``language``: share of the need's languages the dataset has (1 when the need names none);
- ``size``: tokens / min_tokens, capped at 1 (1 when the need has no minimum, 0 when the size is unknown);
- ``access``: download 1, NDA 0.5, on-premises 0.25 (ease of getting the data in);
- ``price``: free 1, a stated price 0.5, on request 0.25;
- ``pii``: none 1, pseudonymised 0.5, contains or unknown 0;
- ``copyright``: cleared 1, mixed 0.5, unknown 0.

The arithmetic, ranking and "why" are shared with other matching plugins (``quotad.plugins.scoring``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from quotad.plugins.data.records import DatasetRecord
from quotad.plugins.data.store import NeedRecord
from quotad.plugins.data_config import MatchWeights
from quotad.plugins.scoring import Term, rank, term

__all__ = ["Candidate", "Exclusion", "NeedMatch", "Term", "hard_filter", "match_need", "score_terms"]

ACCESS_EASE = {"download": 1.0, "nda": 0.5, "on-premises": 0.25}
PII_RISK = {"none": 1.0, "pseudonymised": 0.5, "contains": 0.0, "unknown": 0.0}
COPYRIGHT_RISK = {"cleared": 1.0, "mixed": 0.5, "unknown": 0.0}


@dataclass(frozen=True)
class Candidate:
    dataset: DatasetRecord
    rank: int
    score: float
    terms: tuple[Term, ...]
    why: str


@dataclass(frozen=True)
class Exclusion:
    dataset: DatasetRecord
    filter: str
    reason: str


@dataclass(frozen=True)
class NeedMatch:
    need: NeedRecord
    candidates: tuple[Candidate, ...]
    excluded: tuple[Exclusion, ...]


def _allowed(ds: DatasetRecord, use: str) -> bool:
    return {"training": ds.allow_training, "commercial": ds.allow_commercial, "derivatives": ds.allow_derivatives}[use]


def _licence(ds: DatasetRecord) -> str:
    return ds.licence_spdx or ds.licence_name or "no licence"


def hard_filter(need: NeedRecord, ds: DatasetRecord) -> Exclusion | None:
    """The first hard filter ``ds`` fails for ``need``, with the reason, or None when it passes all."""
    forbidden = [u for u in need.required_uses if not _allowed(ds, u)]
    if forbidden:
        return Exclusion(ds, "uses", f"needs {', '.join(forbidden)} use; {_licence(ds)} terms here forbid it")
    if need.languages and not set(need.languages) & set(ds.languages):
        return Exclusion(
            ds, "language", f"needs {', '.join(need.languages)}; dataset has {', '.join(ds.languages) or 'none'}"
        )
    if need.modalities and ds.modality not in need.modalities:
        return Exclusion(ds, "modality", f"needs {', '.join(need.modalities)}; dataset is {ds.modality}")
    if need.access_modes and ds.access_mode not in need.access_modes:
        return Exclusion(ds, "access", f"accepts {', '.join(need.access_modes)}; dataset is {ds.access_mode}")
    return None


def _share(wanted: Sequence[str], have: Sequence[str], what: str) -> tuple[float, str]:
    if not wanted:
        return 1.0, f"need names no {what}"
    hit = sorted(set(wanted) & set(have))
    return len(hit) / len(set(wanted)), f"{len(hit)} of {len(set(wanted))} ({', '.join(hit) or 'none'})"


def _size(need: NeedRecord, ds: DatasetRecord) -> tuple[float, str]:
    if need.min_tokens is None or need.min_tokens == 0:
        return 1.0, "need sets no minimum"
    if ds.size_tokens is None:
        return 0.0, "size in tokens unknown"
    value = min(1.0, ds.size_tokens / need.min_tokens)
    return value, f"{ds.size_tokens:,} of {need.min_tokens:,} tokens wanted"


def _price(ds: DatasetRecord) -> tuple[float, str]:
    if ds.price.minor is None:
        return 0.25, "price on request"
    if ds.price.minor == 0:
        return 1.0, "free"
    return 0.5, f"{ds.price.minor:,} {ds.price.currency}"


def score_terms(need: NeedRecord, ds: DatasetRecord, weights: MatchWeights) -> tuple[Term, ...]:
    values = {
        "domain": _share(need.domains, ds.domains, "domain"),
        "language": _share(need.languages, ds.languages, "language"),
        "size": _size(need, ds),
        "access": (ACCESS_EASE[ds.access_mode], ds.access_mode),
        "price": _price(ds),
        "pii": (PII_RISK[ds.pii_status], f"PII {ds.pii_status}"),
        "copyright": (COPYRIGHT_RISK[ds.copyright_status], f"copyright {ds.copyright_status}"),
    }
    return tuple(term(name, float(getattr(weights, name)), value, detail) for name, (value, detail) in values.items())


def match_need(need: NeedRecord, datasets: Sequence[DatasetRecord], weights: MatchWeights) -> NeedMatch:
    """Every dataset either excluded (with its filter) or ranked (score desc, then id) with its terms and why."""
    excluded: list[Exclusion] = []
    passing: list[tuple[str, DatasetRecord, tuple[Term, ...]]] = []
    for ds in sorted(datasets, key=lambda d: d.id):
        exclusion = hard_filter(need, ds)
        if exclusion is not None:
            excluded.append(exclusion)
            continue
        passing.append((ds.id, ds, score_terms(need, ds, weights)))
    candidates = tuple(Candidate(r.item, r.rank, r.score, r.terms, r.why) for r in rank(passing, id_label="dataset id"))
    return NeedMatch(need, candidates, tuple(excluded))
