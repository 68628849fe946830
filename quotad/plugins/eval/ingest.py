"""``eval ingest`` as one function: read the files, parse each whole, store the good ones.

Every file is parsed completely before anything is written, and a refused file is never handed to the store,
so "nothing of it lands" holds by construction; the good files of the same command land in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

from sqlalchemy import Connection

from quotad.errors import UsageError
from quotad.plugins.api import LedgerView
from quotad.plugins.eval.catalog import TaskCatalog
from quotad.plugins.eval.formats import ResultFileError, read_result
from quotad.plugins.eval.store import IngestOutcome, RunSpec, store_result

__all__ = ["IngestReport", "SourceFile", "ingest_files", "read_sources"]


@dataclass(frozen=True)
class SourceFile:
    name: str
    content: bytes
    path: PurePath | None = None


@dataclass(frozen=True)
class IngestReport:
    outcomes: tuple[IngestOutcome, ...]
    refused: tuple[ResultFileError, ...]


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
) -> IngestReport:
    """Parse every source and store those that parse, each as one run of ``spec``'s model."""
    view.company(spec.company_id)
    if not spec.model.strip():
        raise UsageError("--model must name the model")
    if spec.checkpoint is not None and spec.checkpoint < 0:
        raise UsageError(f"--checkpoint {spec.checkpoint}: expected a non-negative training step")
    outcomes: list[IngestOutcome] = []
    refused: list[ResultFileError] = []
    for source in sources:
        try:
            parsed = read_result(source.name, source.content, catalog, model=spec.model, path=source.path)
            outcomes.append(
                store_result(
                    conn, source=source.name, content=source.content, parsed=parsed, spec=spec, catalog=catalog, now=now
                )
            )
        except ResultFileError as exc:
            refused.append(exc)
    return IngestReport(tuple(outcomes), tuple(refused))
