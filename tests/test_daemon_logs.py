"""Log lines: human text with key=value fields and tracebacks; JSON lines with the same facts as fields."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from quotad.daemon.logs import configure_logging


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def _log(fmt: str) -> str:
    stream = io.StringIO()
    configure_logging("json" if fmt == "json" else "human", level=logging.INFO, stream=stream)
    log = logging.getLogger("quotad.test")
    log.info("polled %s", "c1", extra={"cluster": "c1", "duration_s": 0.25})
    try:
        raise RuntimeError("sacct exploded")
    except RuntimeError:
        log.exception("job %s failed", "slurm_poll:c1", extra={"job": "slurm_poll:c1"})
    log.debug("not shown at INFO")
    return stream.getvalue()


@pytest.mark.usefixtures("restore_root")
def test_json_lines_carry_fields_and_traceback() -> None:
    lines = [json.loads(line) for line in _log("json").splitlines()]
    assert len(lines) == 2
    first, second = lines
    assert first["level"] == "INFO" and first["logger"] == "quotad.test" and first["msg"] == "polled c1"
    assert first["cluster"] == "c1" and first["duration_s"] == 0.25
    assert first["ts"].endswith("Z")
    assert second["level"] == "ERROR" and second["job"] == "slurm_poll:c1"
    assert "Traceback" in second["exc"] and "RuntimeError: sacct exploded" in second["exc"]


@pytest.mark.usefixtures("restore_root")
def test_human_lines_append_fields_and_the_traceback() -> None:
    text = _log("human")
    first = text.splitlines()[0]
    assert "INFO quotad.test: polled c1 cluster=c1 duration_s=0.25" in first
    assert "ERROR quotad.test: job slurm_poll:c1 failed job=slurm_poll:c1" in text
    assert "Traceback (most recent call last)" in text and "RuntimeError: sacct exploded" in text
    assert "not shown" not in text


@pytest.mark.usefixtures("restore_root")
def test_apscheduler_chatter_is_quieted() -> None:
    configure_logging("human", level=logging.INFO, stream=io.StringIO())
    assert logging.getLogger("apscheduler").level == logging.WARNING
