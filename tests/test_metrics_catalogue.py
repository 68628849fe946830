"""The metric catalogue follows Prometheus naming, and deploy/README.md documents exactly it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from quotad.metrics.catalogue import CATALOGUE, metrics_markdown

README = Path(__file__).resolve().parents[1] / "deploy" / "README.md"
_NAME = re.compile(r"^quotad_[a-z][a-z0-9_]*$")
#: Labels Prometheus attaches to every scraped series; a metric using them would be renamed exported_*.
_TARGET_LABELS = {"job", "instance"}
_UNITS = ("_seconds", "_ratio", "_flop", "_flops", "_total", "_info", "_up")


def test_names_are_unique_and_follow_conventions() -> None:
    names = [s.name for s in CATALOGUE]
    assert len(names) == len(set(names))
    for spec in CATALOGUE:
        assert _NAME.match(spec.name), spec.name
        assert spec.name.endswith("_total") == (spec.kind == "counter"), spec.name
        assert not set(spec.labels) & _TARGET_LABELS, spec.name
        assert spec.help.endswith("."), spec.name
        counted = spec.name.startswith(
            ("quotad_gpus_", "quotad_pool_gpus_", "quotad_slurm_job_gpus_", "quotad_directives_", "quotad_outbox_",
             "quotad_daemon_problems")
        )
        assert counted or spec.name.endswith(_UNITS), f"{spec.name}: no base unit suffix"
    assert "quotad_gpu_used_seconds" in names  # GPU time in seconds, never hours


@pytest.mark.parametrize("readme", [README, README.parents[1] / "README.md"], ids=["deploy", "top"])
def test_readme_metrics_section_is_the_generated_table(readme: Path) -> None:
    text = readme.read_text(encoding="utf-8")
    begin = text.index("<!-- metrics:begin")
    block = text[text.index("\n", begin) + 1 : text.index("<!-- metrics:end -->")]
    assert block == metrics_markdown(), "regenerate the table with quotad.metrics.catalogue.metrics_markdown()"
    for spec in CATALOGUE:
        assert f"`{spec.name}`" in block
