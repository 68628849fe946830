"""Property-based fuzzing of the evaluation readers through the real write path (#15 "Fuzzing stays in the suite").

Every example mutates a good result file of each format (a hostile value at a random key path, or the bytes
cut, spliced or flipped) and ingests it beside a good file through ``ingest_files`` on the ledger, in a
transaction rolled back afterwards. Properties: no exception other than the reader's refusal escapes; a refusal
names the file (and, for a value placed at a key path, that path and the value); the good file of the same
command always lands; a file that is accepted is accepted again unchanged (a re-ingest changes nothing).

Runs are reproducible and short in CI: the ``ci`` profile is derandomised (a fixed seed) with a small number
of examples (fewer on PostgreSQL). ``QUOTAD_FUZZ_PROFILE=fuzz`` selects the long profile for a night run
(``QUOTAD_FUZZ_PROFILE=fuzz .venv/bin/pytest tests/test_eval_fuzz.py``). The profiles are plain ``settings``
objects of this module, registered nowhere, so other fuzz modules keep their own.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, func, select

from quotad.config import Settings
from quotad.plugins.api import LedgerView
from quotad.plugins.eval.catalog import load_catalog
from quotad.plugins.eval.formats.base import shown
from quotad.plugins.eval.ingest import IngestReport, ModelMap, SourceFile, ingest_files
from quotad.plugins.eval.models import EvalFile, EvalRun, EvalScore
from quotad.plugins.eval.store import RunSpec
from quotad.units import GpuCatalog
from tests.test_plugin_common import (
    FIXTURES,
    LLM_JP_EVAL,
    LM_EVAL_EN,
    LM_EVAL_JA,
    MT_BENCH,
    NOW,
    ledger,
    plugin_tables,
    seed_programme,
    with_builtins,
)

__all__ = ["ledger", "plugin_tables", "with_builtins"]

_PROFILES = {
    "ci": {"max_examples": 40, "derandomize": True},
    "fuzz": {"max_examples": 2000, "derandomize": False},
}
pytestmark = pytest.mark.fuzz

PROFILE = os.environ.get("QUOTAD_FUZZ_PROFILE", "ci")
if PROFILE not in _PROFILES:
    raise ValueError(f"QUOTAD_FUZZ_PROFILE={PROFILE!r}: expected one of {', '.join(_PROFILES)}")


def fuzz_settings(share: float = 1.0) -> settings:
    """The selected profile, ``share`` of its examples (PostgreSQL runs a shorter share)."""
    chosen = _PROFILES[PROFILE]
    return settings(
        max_examples=max(5, int(int(chosen["max_examples"]) * share)),
        derandomize=bool(chosen["derandomize"]),
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )


CATALOG = load_catalog()
SPEC = RunSpec("sakura", "sakura-13b-v1", 1, "private")
GOOD = SourceFile("good/results.json", LM_EVAL_EN.read_bytes())
SEEDS: dict[str, Path] = {
    "lm_eval.json": LM_EVAL_JA,
    "jp_stable.json": FIXTURES / "jp_stable" / "result.json",
    "llm_jp_eval.json": LLM_JP_EVAL,
    "score_eval.json": FIXTURES / "llm_jp_eval_flat" / "score_eval.json",
    "judgments.jsonl": MT_BENCH,
    "nejumi.csv": FIXTURES / "nejumi" / "leaderboard.csv",
}

#: Values an attacker or a broken harness puts where a number or a name belongs.
HOSTILE: list[Any] = [
    None,
    True,
    -1,
    2**31,
    2**63,
    10**40,
    -(10**40),
    1e308,
    -1e308,
    "NaN",
    "Infinity",
    "-0.1544",
    "1e999",
    "",
    "\x00",
    "a\x00b",
    "x" * 5000,
    "😀" * 50,
    [],
    {},
    [[[[[[[[[[1]]]]]]]]]],
    {"acc,none": 0.5},
    0.5,
    150.0,
    -3.5,
]
hostile_values = st.one_of(
    st.sampled_from(HOSTILE),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=300),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8), lambda c: st.lists(c, max_size=3), max_leaves=8
    ),
)


@pytest.fixture
def programme(ledger: Engine, settings: Settings) -> Engine:
    seed_programme(ledger, settings)
    return ledger


@pytest.fixture
def share(settings: Settings) -> float:
    return 1.0 if settings.database.url.startswith("sqlite") else 0.25


def _counts(conn: Connection) -> list[int]:
    return [int(conn.scalar(select(func.count()).select_from(t)) or 0) for t in (EvalFile, EvalRun, EvalScore)]


def _in_rollback(engine: Engine, settings: Settings, body: Callable[[Connection, LedgerView], None]) -> None:
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            body(conn, LedgerView(conn, GpuCatalog(settings.gpu_types)))
        finally:
            trans.rollback()


def _ingest(conn: Connection, view: LedgerView, sources: list[SourceFile], model_map: ModelMap | None) -> IngestReport:
    return ingest_files(conn, view, sources, SPEC, CATALOG, now=NOW, model_map=model_map)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key path of a JSON document (dict keys and list indexes), the root excluded."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for i, value in enumerate(data[:5]):
            yield (*prefix, i)
            yield from _paths(value, (*prefix, i))


def _set(data: Any, path: tuple[Any, ...], value: Any) -> None:
    for step in path[:-1]:
        data = data[step]
    data[path[-1]] = value


@st.composite
def mutated_files(draw: st.DrawFn) -> SourceFile:
    """A seed file with one mutation: a hostile value at a key path, or cut/spliced/flipped bytes."""
    name = draw(st.sampled_from(sorted(SEEDS)))
    content = SEEDS[name].read_bytes()
    kind = draw(st.sampled_from(["value", "value", "truncate", "splice", "flip"]))
    if kind == "value" and name.endswith(".json"):
        data = json.loads(content)
        path = draw(st.sampled_from(list(_paths(data))))
        _set(data, path, draw(hostile_values))
        content = json.dumps(data, ensure_ascii=draw(st.booleans())).encode()
    elif kind == "value" and name.endswith(".jsonl"):
        lines = content.splitlines()
        i = draw(st.integers(0, min(len(lines), 20) - 1))
        record = json.loads(lines[i])
        record[draw(st.sampled_from(sorted(record)))] = draw(hostile_values)
        lines[i] = json.dumps(record).encode()
        content = b"\n".join(lines)
    elif kind == "truncate" or kind == "value":
        content = content[: draw(st.integers(0, len(content)))]
    elif kind == "splice":
        at = draw(st.integers(0, len(content)))
        content = (
            content[:at]
            + draw(st.binary(max_size=64) | st.sampled_from([b"[" * 5000, b"9" * 5000, b"\x00"]))
            + content[at:]
        )
    else:
        at = draw(st.integers(0, len(content) - 1))
        content = content[:at] + bytes([content[at] ^ draw(st.integers(1, 255))]) + content[at + 1 :]
    return SourceFile(f"fuzz/{name}", content)


def test_mutated_files_never_escape_and_never_stop_the_good_one(
    programme: Engine, settings: Settings, share: float
) -> None:
    @fuzz_settings(share)
    @given(mutated=mutated_files(), all_models=st.booleans())
    def run(mutated: SourceFile, all_models: bool) -> None:
        def body(conn: Connection, view: LedgerView) -> None:
            model_map = None
            sources = [mutated, GOOD]
            if all_models:  # every judged name mapped to itself: the multi-model path
                model_map = ModelMap({n: n[:200] for n in ("fuji-7b-chat", "sakura-13b-v1-instruct")})
                sources = [mutated]
            report = _ingest(conn, view, sources, model_map)
            for refusal in report.refused:
                assert refusal.source == mutated.name and len(str(refusal)) < 2000
            if not all_models:
                assert GOOD.name in {o.source for o in report.outcomes}  # the good file always lands
            before = _counts(conn)
            again = _ingest(conn, view, sources, model_map)  # re-ingest: changes nothing
            assert _counts(conn) == before
            assert all(o.status == "unchanged" for o in again.outcomes)
            assert [str(e) for e in again.refused] == [str(e) for e in report.refused] or all(
                "already ingested" in str(e) for e in again.refused
            )

        _in_rollback(programme, settings, body)

    run()


def test_a_hostile_value_at_a_score_path_is_refused_naming_path_and_value(
    programme: Engine, settings: Settings, share: float
) -> None:
    """A value that is not a score in range, put where a score belongs, is refused with that key path and value."""
    good = json.loads(LM_EVAL_EN.read_bytes())

    @fuzz_settings(share)
    @given(
        value=hostile_values.filter(
            lambda v: not (isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1)
        )
    )
    def run(value: Any) -> None:
        data = json.loads(json.dumps(good))
        data["results"]["hellaswag"]["acc,none"] = value

        def body(conn: Connection, view: LedgerView) -> None:
            report = _ingest(conn, view, [SourceFile("bad.json", json.dumps(data).encode())], None)
            (refusal,) = report.refused
            assert refusal.source == "bad.json" and refusal.key == "results.hellaswag.acc,none"
            assert shown(value) in refusal.reason or repr(float(value)) in refusal.reason
            assert _counts(conn) == [0, 0, 0]

        _in_rollback(programme, settings, body)

    run()
