"""The sacct text parser: columns by name, times to UTC, GPUs from AllocTRES, bad lines with line numbers."""

from __future__ import annotations

import pytest

from quotad.collectors.sacct import ClusterView, SacctParser, parse_alloc_gpus
from quotad.errors import InputError
from quotad.ledger.records import JobRecord
from tests.helpers import HEADER, sacct_text, utc

TYPES = ("h100", "h200", "a100")


def views() -> dict[str, ClusterView]:
    return {
        "c1": ClusterView(name="c1", default_gpu_type="h100", timezone="UTC", known_gpu_types=TYPES),
        "c2": ClusterView(name="c2", default_gpu_type="h200", timezone="Asia/Tokyo", known_gpu_types=TYPES),
    }


def parse(lines: list[str]) -> list[JobRecord | InputError]:
    return list(SacctParser(clusters=views(), source="f.txt").parse(lines))



def test_completed_job_fields_and_utc_times() -> None:
    [rec] = parse(
        sacct_text(
            "10|10|c1|acme|alice|gpu|COMPLETED|2026-11-01T00:00:00|2026-11-01T00:30:00|2026-11-01T02:00:00|5400|"
            "billing=16,cpu=16,gres/gpu:h100=2,gres/gpu=2,mem=100G,node=1"
        )
    )
    assert rec == JobRecord(
        "c1",
        "10",
        10,
        utc("2026-11-01T00:00:00"),
        "acme",
        "alice",
        "gpu",
        "COMPLETED",
        utc("2026-11-01T00:30:00"),
        utc("2026-11-01T02:00:00"),
        5400,
        (("h100", 2),),
    )


def test_local_times_of_a_tokyo_cluster_become_utc() -> None:
    [rec] = parse(
        sacct_text("5|5|c2|a|u|p|COMPLETED|2026-11-01T09:00:00|2026-11-01T09:00:00|2026-11-01T10:00:00|3600|gres/gpu=1")
    )
    assert isinstance(rec, JobRecord)
    assert rec.start == utc("2026-11-01T00:00:00")
    assert rec.gpus == (("h200", 1),)  # untyped count -> the cluster's default type


def test_epoch_times_from_slurm_time_format_are_accepted() -> None:
    [rec] = parse(sacct_text("5|5|c2|a|u|p|COMPLETED|1793491200|1793491200|1793494800|3600|gres/gpu:h200=1"))
    assert isinstance(rec, JobRecord)
    assert (rec.submit, rec.start, rec.end) == (1793491200, 1793491200, 1793494800)


def test_columns_found_by_name_in_any_order_with_extra_columns() -> None:
    header = (
        "JobName|AllocTRES|ElapsedRaw|End|Start|Submit|State|Partition|User|Account|Cluster|JobIDRaw|JobID|NodeList"
    )
    row = "train|gres/gpu:h100=8|60|2026-11-01T00:01:00|2026-11-01T00:00:00|2026-11-01T00:00:00|COMPLETED|gpu|bob|acme|c1|77|77|n[1-2]"
    [rec] = parse(sacct_text(row, header=header))
    assert isinstance(rec, JobRecord)
    assert (rec.job_id, rec.account, rec.elapsed, rec.gpus) == ("77", "acme", 60, (("h100", 8),))


def test_node_list_is_kept_as_printed_and_files_without_it_still_parse() -> None:
    """NodeList is optional: files saved before quotad asked for it (no column) give nodes None (not known)."""
    run = "|c1|acme|bob|gpu|COMPLETED|2026-11-01T00:00:00|2026-11-01T00:00:00|2026-11-01T00:01:00|60|gres/gpu=8"
    [old] = parse(sacct_text(f"7|7{run}"))
    assert isinstance(old, JobRecord) and old.nodes is None
    header = f"{HEADER}|NodeList"
    found = parse(sacct_text(f"7|7{run}|gpu[01-02,07]", f"8|8{run}|None assigned", f"9|9{run}|gpu[07-01]",
                             f"10|10{run}|node-3", header=header))  # fmt: skip
    assert [r.nodes if isinstance(r, JobRecord) else r.line_no for r in found] == ["gpu[01-02,07]", None, 4, "node-3"]
    bad = found[2]
    assert isinstance(bad, InputError) and "NodeList: hostlist 'gpu[07-01]': range '07-01' runs backwards" in bad.reason


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("CANCELLED by 0", "CANCELLED"),
        ("CANCELLED by 1001", "CANCELLED"),
        ("REQUEUED", "REQUEUED"),
        ("OUT_OF_MEMORY", "OUT_OF_MEMORY"),
        ("NODE_FAIL", "NODE_FAIL"),
    ],
)
def test_states_are_normalised_to_their_first_word(state: str, expected: str) -> None:
    [rec] = parse(
        sacct_text(f"1|1|c1|a|u|p|{state}|2026-11-01T00:00:00|2026-11-01T00:00:00|2026-11-01T00:00:10|10|gres/gpu=1")
    )
    assert isinstance(rec, JobRecord)
    assert rec.state == expected


@pytest.mark.parametrize("missing", ["Unknown", "None", ""])
def test_pending_and_running_jobs_with_unknown_times(missing: str) -> None:
    pending, running = parse(
        sacct_text(
            f"1|1|c1|a|u|p|PENDING|2026-11-01T00:00:00|{missing}|{missing}|0|",
            f"2|2|c1|a|u|p|RUNNING|2026-11-01T00:00:00|2026-11-01T00:00:00|{missing}|120|gres/gpu:h100=4,gres/gpu=4",
        )
    )
    assert isinstance(pending, JobRecord) and isinstance(running, JobRecord)
    assert (pending.start, pending.end, pending.gpus) == (None, None, ())
    assert (running.end, running.elapsed, running.gpu_count) == (None, 120, 4)


def test_array_and_het_job_ids_kept_as_printed() -> None:
    recs = parse(
        sacct_text(
            "100_3|103|c1|a|u|p|COMPLETED|2026-11-01T00:00:00|2026-11-01T00:00:00|2026-11-01T00:00:10|10|gres/gpu=1",
            "200+1|201|c1|a|u|p|COMPLETED|2026-11-01T00:00:00|2026-11-01T00:00:00|2026-11-01T00:00:10|10|gres/gpu=1",
            "300_[5-9]|300|c1|a|u|p|PENDING|2026-11-01T00:00:00|Unknown|Unknown|0|",
        )
    )
    assert [(r.job_id, r.job_id_raw) for r in recs if isinstance(r, JobRecord)] == [
        ("100_3", 103),
        ("200+1", 201),
        ("300_[5-9]", 300),
    ]


@pytest.mark.parametrize(
    ("tres", "expected"),
    [
        ("cpu=4,mem=1G,node=1", ()),
        ("", ()),
        ("gres/gpu=4", (("h100", 4),)),
        ("gres/gpu:h100=4,gres/gpu=4", (("h100", 4),)),
        ("gres/gpu=4,gres/gpu:a100=2,gres/gpu:h100=2", (("a100", 2), ("h100", 2))),
        ("gres/gpu:a100=2,gres/gpu=4", (("a100", 2), ("h100", 2))),  # untyped rest -> default type
        ("gres/gpu:H100=1", (("h100", 1),)),
        ("gres/gpumem=80G,gres/gpuutil=100,cpu=1", ()),
        ("gres/gpu=0", ()),
    ],
)
def test_gpu_counts_from_alloc_tres(tres: str, expected: tuple[tuple[str, int], ...]) -> None:
    assert parse_alloc_gpus(tres, views()["c1"]) == expected


def test_bad_lines_are_reported_with_line_numbers_and_good_ones_still_parse() -> None:
    lines = sacct_text(
        "1|1|c1|a|u|p|COMPLETED|2026-11-01T00:00:00|2026-11-01T00:00:00|2026-11-01T00:00:10|10|gres/gpu=1",
        "2|2|c1|a|u|p|COMPLETED|2026-11-01T00:00:00|2026-11-01T00:00:00",  # truncated
        "3|x|c1|a|u|p|COMPLETED|2026-11-01T00:00:00|Unknown|Unknown|0|",
        "4|4|c9|a|u|p|COMPLETED|2026-11-01T00:00:00|Unknown|Unknown|0|",
        "5|5|c1|a|u|p|COMPLETED|2026-13-01T00:00:00|Unknown|Unknown|0|",
        "6|6|c1|a|u|p|COMPLETED|2026-11-01T00:00:00|2026-11-01T00:00:00|Unknown|ten|gres/gpu=1",
        "7|7|c1|a|u|p|COMPLETED|2026-11-01T00:00:00|2026-11-01T00:00:00|Unknown|10|gres/gpu:v100=1",
        "8|8|c1|a|u|p|COMPLETED|2026-11-01T00:00:00|2026-11-01T00:00:00|Unknown|10|gres/gpu=two",
        "9|9|c1|a|u|p|COMPLETED|2026-11-01T00:00:00|Unknown|Unknown|50|gres/gpu=1",
        "10|10|c1|a|u|p|completed|2026-11-01T00:00:00|Unknown|Unknown|0|",
        "11|11|c1|a|u|p|PENDING|Unknown|Unknown|Unknown|0|",
        "",
        "12|12|c1|a|u|p|COMPLETED|2026-11-01T00:00:00|2026-11-01T00:00:00|2026-11-01T00:00:10|10|gres/gpu=1",
    )
    out = parse(lines)
    errors = {e.line_no: e.reason for e in out if isinstance(e, InputError)}
    assert [r.job_id for r in out if isinstance(r, JobRecord)] == ["1", "12"]
    assert sorted(errors) == [3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    assert "expected 12" in errors[3] and "got 9" in errors[3]
    assert "JobIDRaw 'x'" in errors[4]
    assert "Cluster 'c9' is not configured" in errors[5]
    assert "Submit" in errors[6]
    assert "ElapsedRaw 'ten'" in errors[7]
    assert "'v100'" in errors[8] and "[gpu_types]" in errors[8]
    assert "whole number" in errors[9]
    assert "Start is 'Unknown'" in errors[10]
    assert "'completed'" in errors[11]
    assert "Submit time is missing" in errors[12]
    bad = next(e for e in out if isinstance(e, InputError) and e.line_no == 4)
    assert bad.line == lines[3] and bad.source == "f.txt"


def test_header_without_required_columns_is_fatal_and_names_them() -> None:
    with pytest.raises(InputError) as info:
        parse(["1|1|c1|a|u|p|COMPLETED|2026-11-01T00:00:00|Unknown|Unknown|0|"])
    assert info.value.line_no == 1
    assert "JobIDRaw" in info.value.reason and "--noheader" in info.value.reason


def test_empty_input_yields_nothing() -> None:
    assert parse([]) == []
    assert parse(["", "  "]) == []


def test_header_only_yields_nothing() -> None:
    assert parse([HEADER]) == []
