"""``eval ingest`` as one function: read the files, parse each whole, store the good ones.

Every file is parsed completely before anything is written, and a refused file is never handed to the store,
so "nothing of it lands" holds by construction; the good files of the same command land in one transaction.
A reader answers any input with a result or a ``ResultFileError`` (see ``formats``), so one hostile file
cannot take the good files of the same command down with it.

Two kinds of file are not runs of their own:
- llm-jp-eval 1.0-1.2's ``output_eval.json`` is the companion of the ``score_eval.json`` in the same folder,
  read with it (datasets, sample counts) and reported as used;
- with ``--all-models`` (``ModelMap``), a file judging several models (MT-Bench, Nejumi) gives one run per
  judged model, each under the programme's name the map gives it; a file naming a model the map does not
  know is refused whole, naming the unmapped models, so no judged model lands under a guessed name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePath
from typing import Any

from sqlalchemy import Connection

from quotad.errors import UsageError
from quotad.plugins.api import LedgerView
from quotad.plugins.eval.catalog import TaskCatalog
from quotad.plugins.eval.formats import ParsedResult, ResultFileError, llm_jp_outputs, read_all_models, read_result
from quotad.plugins.eval.formats.llm_jp_eval import FLAT_VERSION
from quotad.plugins.eval.store import IngestOutcome, RunSpec, store_result

MODEL_LEN = 200  # eval_runs.model
_OUTPUTS_ALONE = (
    "llm-jp-eval's output_eval.json (samples, no scores) without a 1.0-1.2 score_eval.json in the same folder "
    "of this command: give both"
)

__all__ = ["IngestReport", "ModelMap", "SourceFile", "ingest_files", "parse_model_map", "read_sources"]


@dataclass(frozen=True)
class SourceFile:
    name: str
    content: bytes
    path: PurePath | None = None


@dataclass(frozen=True)
class IngestReport:
    outcomes: tuple[IngestOutcome, ...]
    refused: tuple[ResultFileError, ...]
    #: Companion files read with a score file: (companion, the score file it completed).
    companions: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ModelMap:
    """``--all-models``: the judged model names of multi-model files -> the programme's model names."""

    names: Mapping[str, str] = field(default_factory=dict)


def parse_model_map(pairs: Sequence[str]) -> ModelMap:
    """``--map 'judged name=programme model'`` options; each judged name once."""
    names: dict[str, str] = {}
    for pair in pairs:
        judged, sep, ours = pair.partition("=")
        if not sep or not judged.strip() or not ours.strip():
            raise UsageError(f"--map {pair!r}: expected JUDGED_NAME=MODEL")
        if judged.strip() in names:
            raise UsageError(f"--map: {judged.strip()!r} is mapped twice")
        names[judged.strip()] = ours.strip()
    return ModelMap(names)


def _folder(source: SourceFile) -> str:
    return str(source.path.parent) if source.path is not None else str(PurePath(source.name).parent)


def _companions(sources: Sequence[SourceFile]) -> tuple[list[SourceFile], dict[str, tuple[str, Mapping[str, Any]]]]:
    """The sources that are runs, and the llm-jp-eval ``output_eval.json`` companions by folder."""
    runs: list[SourceFile] = []
    by_folder: dict[str, tuple[str, Mapping[str, Any]]] = {}
    for source in sources:
        outputs = llm_jp_outputs(source.content) if source.content.lstrip()[:1] == b"{" else None
        folder = _folder(source)
        if outputs is not None and folder not in by_folder:
            by_folder[folder] = (source.name, outputs)
        else:
            runs.append(source)
    return runs, by_folder


def _mapped(source: str, results: Mapping[str, ParsedResult], model_map: ModelMap) -> list[tuple[str, ParsedResult]]:
    unmapped = sorted(name for name in results if name not in model_map.names)
    if unmapped:
        raise ResultFileError(
            source,
            "model",
            f"--all-models: no --map for {', '.join(repr(n) for n in unmapped)} "
            f"(mapped: {', '.join(sorted(model_map.names)) or 'none'})",
        )
    targets: dict[str, str] = {}
    for name in sorted(results):
        target = model_map.names[name]
        if target in targets:
            raise ResultFileError(
                source, "model", f"--all-models: {targets[target]!r} and {name!r} both map to {target!r}"
            )
        targets[target] = name
    return [(model_map.names[name], result) for name, result in results.items()]


def read_sources(paths: Sequence[Path]) -> tuple[list[SourceFile], list[ResultFileError]]:
    """The files' bytes; an unreadable file is refused like a malformed one."""
    sources: list[SourceFile] = []
    refused: list[ResultFileError] = []
    for path in paths:
        try:
            sources.append(SourceFile(str(path), path.read_bytes(), path))
        except OSError as exc:
            refused.append(ResultFileError(str(path), "", f"cannot read: {exc.strerror or exc}"))
    return sources, refused


def ingest_files(
    conn: Connection,
    view: LedgerView,
    sources: Sequence[SourceFile],
    spec: RunSpec,
    catalog: TaskCatalog,
    *,
    now: int,
    model_map: ModelMap | None = None,
) -> IngestReport:
    """Parse every source and store those that parse, each as one run of ``spec``'s model.

    With ``model_map`` (``--all-models``), each model a multi-model file judges becomes a run of the model the
    map names, and ``spec.model`` is not used.
    """
    view.company(spec.company_id)
    if model_map is None and not spec.model.strip():
        raise UsageError("--model must name the model")
    for model in [spec.model, *(model_map.names.values() if model_map else ())]:
        if len(model) > MODEL_LEN:
            raise UsageError(f"model name {model[:40]!r}...: at most {MODEL_LEN} characters")
    if spec.checkpoint is not None and not 0 <= spec.checkpoint < 2**63:
        raise UsageError(f"--checkpoint {spec.checkpoint}: expected a non-negative training step")
    outcomes: list[IngestOutcome] = []
    refused: list[ResultFileError] = []
    runs, companions = _companions(sources)
    used: list[tuple[str, str]] = []
    for source in runs:
        companion = companions.get(_folder(source))
        try:
            if model_map is not None:
                results = read_all_models(source.name, source.content, catalog, path=source.path)
                parsed_runs = _mapped(source.name, results, model_map)
            else:
                parsed = read_result(
                    source.name,
                    source.content,
                    catalog,
                    model=spec.model,
                    path=source.path,
                    outputs=companion[1] if companion else None,
                )
                parsed_runs = [(spec.model, parsed)]
                if companion is not None and parsed.harness_version == FLAT_VERSION:
                    used.append((companion[0], source.name))
            for model, parsed in parsed_runs:
                outcomes.append(
                    store_result(
                        conn,
                        source=source.name,
                        content=source.content,
                        parsed=parsed,
                        spec=replace(spec, model=model),
                        catalog=catalog,
                        now=now,
                    )
                )
        except ResultFileError as exc:
            refused.append(exc)
    taken = {name for name, _ in used}
    for name, _ in sorted(companions.values(), key=lambda c: c[0]):
        if name not in taken:
            refused.append(ResultFileError(name, "", _OUTPUTS_ALONE))
    return IngestReport(tuple(outcomes), tuple(refused), tuple(used))
