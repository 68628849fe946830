"""Slurm hostlist expressions: examples, refusals, a round trip through an independent compressor, and the
real ``scontrol show hostnames`` of the test cluster as the reference."""

from __future__ import annotations

import random
import shutil
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tests.fuzz_profiles  # noqa: F401  (loads the ci/fuzz profile)
from quotad.collectors.hostlist import MAX_HOSTS, expand_hostlist, hostlist_size, hosts_in


def compress(names: dict[str, list[int]], width: int) -> str:
    """Node numbers per prefix as Slurm prints them: runs of consecutive numbers become ``lo-hi``."""
    items = []
    for prefix, numbers in names.items():
        runs: list[list[int]] = []
        for n in sorted(set(numbers)):
            if runs and runs[-1][-1] == n - 1:
                runs[-1].append(n)
            else:
                runs.append([n])
        parts = [f"{r[0]:0{width}d}" + (f"-{r[-1]:0{width}d}" if len(r) > 1 else "") for r in runs]
        items.append(f"{prefix}[{','.join(parts)}]" if len(runs) > 1 or len(runs[0]) > 1 else f"{prefix}{parts[0]}")
    return ",".join(items)


EXAMPLES = {
    "gpu[01-03,07]": ["gpu01", "gpu02", "gpu03", "gpu07"],
    "gpu[001-003,010],login1": ["gpu001", "gpu002", "gpu003", "gpu010", "login1"],
    "r[1-2]n[8-10]": ["r1n8", "r1n9", "r1n10", "r2n8", "r2n9", "r2n10"],
    "gpu[098-101]": ["gpu098", "gpu099", "gpu100", "gpu101"],
    "a,b[1-2]": ["a", "b1", "b2"],
    "n[001-2]": ["n001", "n002"],  # padded to the width of the low end, as Slurm does
    "n[1-002]": ["n1", "n2"],
    "node-7.example.jp": ["node-7.example.jp"],
    "/dev/nvidia[0-3]": ["/dev/nvidia0", "/dev/nvidia1", "/dev/nvidia2", "/dev/nvidia3"],
}


def test_examples_expand_as_slurm_prints_them() -> None:
    for expr, names in EXAMPLES.items():
        assert expand_hostlist(expr) == names, expr
        assert hostlist_size(expr) == len(names)
    assert hosts_in("gpu[01-02],gpu02") == {"gpu01", "gpu02"}
    assert expand_hostlist("") == [] and hostlist_size(" ") == 0


@pytest.mark.parametrize(
    ("expr", "reason"),
    [
        ("n[5-3]", "runs backwards"),
        ("n[a-b]", "expected N or N-M"),
        ("n[]", "expected N or N-M"),
        ("n[1-2", "unbalanced or nested"),
        ("n1-2]", "unbalanced or nested"),
        ("n[[1-2]]", "unbalanced or nested"),
        ("None assigned", "white space"),
        (f"n[0-{MAX_HOSTS}]", f"more than {MAX_HOSTS} hosts"),
        ("a[0-999]b[0-999]", f"more than {MAX_HOSTS} hosts"),  # counted before anything is expanded
    ],
)
def test_malformed_expressions_are_refused_naming_the_expression(expr: str, reason: str) -> None:
    with pytest.raises(ValueError, match="hostlist") as caught:
        hostlist_size(expr)
    assert reason in str(caught.value)


@given(
    st.dictionaries(
        st.sampled_from(["gpu", "r1n", "node-", "h"]),
        st.lists(st.integers(0, 300), min_size=1, max_size=30),
        min_size=1,
        max_size=3,
    ),
    st.integers(1, 4),
)
def test_what_slurm_compresses_expands_back(names: dict[str, list[int]], width: int) -> None:
    expr = compress(names, width)
    expected = [f"{prefix}{n:0{width}d}" for prefix, numbers in names.items() for n in sorted(set(numbers))]
    assert expand_hostlist(expr) == expected
    assert hostlist_size(expr) == len(expected)


@pytest.mark.slurm
def test_the_reading_agrees_with_scontrol_show_hostnames() -> None:
    """The scheduler itself is the reference: every expression (fixed and drawn) expands as scontrol does."""
    if shutil.which("scontrol") is None:
        pytest.skip("SKIPPED LOUDLY: scontrol is not installed (deploy/slurm-testcluster)")
    draw = random.Random(16)
    drawn = [
        compress({p: draw.sample(range(0, 120), draw.randint(1, 12)) for p in ("gpu", "cpu")[: draw.randint(1, 2)]},
                 draw.randint(1, 3))
        for _ in range(8)
    ]  # fmt: skip
    for expr in [*(e for e in EXAMPLES if not e.startswith(("node-", "/"))), *drawn]:
        shown = subprocess.run(["scontrol", "show", "hostnames", expr], capture_output=True, text=True, check=True,
                               timeout=30).stdout.split()  # fmt: skip
        assert expand_hostlist(expr) == shown, expr
