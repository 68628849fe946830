"""The PBS accounting line parser on records written from the documented format (no database)."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from quotad.collectors.pbs import ARRAY_SPAN, PbsCluster, assemble, pbs_job_id_raw, running_elapsed
from quotad.collectors.pbs_log import exec_nodes, parse_duration, parse_line, parse_message, select_gpus

FIXTURES = Path(__file__).parent / "fixtures" / "pbs" / "accounting"
TOKYO = ZoneInfo("Asia/Tokyo")
CLUSTER = PbsCluster("p1", "Asia/Tokyo", "h100", frozenset({"h100", "h200"}))


def test_message_pairs_keep_quoted_spaces_and_equals_in_values() -> None:
    attrs = parse_message(
        'user=frank account="acct x" project="llm team" jobname=\'say "hi" now\' '
        "Resource_List.select=2:ncpus=96:ngpus=8 bare words end=1"
    )
    assert attrs == {
        "user": "frank",
        "account": "acct x",
        "project": "llm team",
        "jobname": 'say "hi" now',
        "Resource_List.select": "2:ncpus=96:ngpus=8",
        "end": "1",
    }
    with pytest.raises(ValueError, match="without a closing"):
        parse_message('jobname="open')


@pytest.mark.parametrize(
    ("text", "seconds"), [("01:30:00", 5400), ("100:00:05", 360005), ("10:05", 605), ("42", 42), ("00:00:07.5", 7)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text, "walltime") == seconds


@pytest.mark.parametrize("text", ["1:75:00", "a:b", "1:2:3:4", ""])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text, "walltime")


def test_gpus_from_select_chunks() -> None:
    assert select_gpus("2:ncpus=96:ngpus=8") == 16
    assert select_gpus("1:ncpus=4:ngpus=1+2:ncpus=8:ngpus=4") == 9
    assert select_gpus("ncpus=4:ngpus=2") == 2
    assert select_gpus("1:ncpus=4") == 0
    with pytest.raises(ValueError):
        select_gpus("1:ngpus=many")


def test_line_fields_times_and_skipped_types() -> None:
    line = (
        "04/15/2026 12:20:00;R;1003.pbs01;user=erin group=kumo project=_pbs_project_default queue=gpu ctime=1 "
        "qtime=2 etime=3 start=1776222000 Resource_List.ngpus=8 Resource_List.walltime=04:00:00 session=5 "
        "end=1776223200 Exit_status=-11 resources_used.walltime=00:20:00 run_count=1"
    )
    entry = parse_line(line, 7, TOKYO)
    assert entry is not None
    assert (entry.record_type, entry.sequence, entry.array_index, entry.line_no) == ("R", 1003, None, 7)
    assert entry.logged_at == 1776223200  # 12:20 JST
    assert (entry.start, entry.end, entry.walltime_used, entry.walltime_limit, entry.gpus) == (
        1776222000, 1776223200, 1200, 14400, 8,
    )  # fmt: skip
    assert (entry.exit_status, entry.run_count, entry.project, entry.group) == (-11, 1, "_pbs_project_default", "kumo")
    assert parse_line("04/15/2026 08:55:00;Q;1001.pbs01;queue=gpu", 1, TOKYO) is None
    assert parse_line("04/15/2026 11:10:01;E;1002[].pbs01;array_indices=1-2", 1, TOKYO) is None
    sub = parse_line("04/15/2026 11:10:00;S;1002[4].pbs01;start=5", 1, TOKYO)
    assert sub is not None and (sub.sequence, sub.array_index) == (1002, 4)


def test_hosts_from_exec_host_else_exec_vnode() -> None:
    assert exec_nodes({"exec_host": "g001/0*96+g002/0*96+g001/1*4"}) == "g001,g002"
    assert exec_nodes({"exec_vnode": "(g003[0]:ncpus=48:ngpus=4)+(g003[1]:ncpus=48:ngpus=4)+(g004:ncpus=8)"}) == "g003,g004"
    assert exec_nodes({"exec_host": "g005/0", "exec_vnode": "(other:ncpus=1)"}) == "g005"
    assert exec_nodes({}) is None
    with pytest.raises(ValueError, match="'g\\[1-2\\]' is not a host name"):
        exec_nodes({"exec_host": "g[1-2]/0"})
    line = "04/15/2026 14:00:00;E;9.s;start=1776211205 end=1776216605 exec_host=g007/0*8 Resource_List.ngpus=1"
    assert next(iter(assemble([(1, line)], CLUSTER, source="f", now=100).records.values())).nodes == "g007"


def test_raw_ids_are_unique_per_subjob() -> None:
    assert pbs_job_id_raw(1002, None) == 1002 * ARRAY_SPAN
    assert len({pbs_job_id_raw(1002, None), pbs_job_id_raw(1002, 0), pbs_job_id_raw(1002, 1)}) == 3
    with pytest.raises(ValueError):
        pbs_job_id_raw(1, ARRAY_SPAN)
    assert running_elapsed(100, 50, None) == 0
    assert running_elapsed(100, 10_000, 600) == 600


def test_fixture_file_assembles_into_segments_and_line_errors() -> None:
    lines = list(enumerate((FIXTURES / "20260415").read_text().splitlines(), start=1))
    batch = assemble(lines, CLUSTER, source="f", now=1776258000 + 10 * 3600)
    got = {(r.job_id, r.state, r.account, r.elapsed, r.gpus) for r in batch.records.values()}
    assert got == {
        ("1001.pbs01", "COMPLETED", "sakura-llm", 5400, (("h100", 16),)),
        ("1008.pbs01", "COMPLETED", "kumo-ml", 300, ()),
        ("1002[1].pbs01", "COMPLETED", "fuji-ai", 600, (("h100", 4),)),
        ("1002[2].pbs01", "COMPLETED", "fuji-ai", 600, (("h100", 4),)),
        ("1003.pbs01", "REQUEUED", "kumo", 1200, (("h100", 8),)),
        ("1003.pbs01", "COMPLETED", "kumo", 2400, (("h100", 8),)),
        ("1009.pbs01", "COMPLETED", "sakura-llm", 1800, (("h200", 2),)),
        ("1004.pbs01", "CANCELLED", "sakura-llm", 1802, (("h100", 8),)),
        ("1005.pbs01", "RUNNING", "fuji-ai", 36000, (("h100", 4),)),  # capped at its 10 h limit; A settles it later
        ("1006.pbs01", "RUNNING", "kumo-ml", 7200, (("h100", 8),)),
        ("1007.pbs01", "RUNNING", "llm team", 36000, (("h100", 8),)),
    }
    assert [(e.line_no, e.source) for e in batch.errors] == [(n, "f") for n in range(23, 30)]
    assert "ngpus 'eight'" in batch.errors[0].reason and batch.errors[1].line.startswith("this is not")
    assert batch.aborts == {1005 * ARRAY_SPAN: 1776233400}
    assert batch.skipped == 5  # Q ×3, the array parent's E, L
    assert set(batch.opened) == {
        (1005 * ARRAY_SPAN, 1776232800), (1006 * ARRAY_SPAN, 1776250800), (1007 * ARRAY_SPAN, 1776258000),
    }  # fmt: skip


def test_unknown_site_gpu_type_is_refused() -> None:
    line = "04/15/2026 14:00:00;E;9.s;start=10 end=20 Resource_List.ngpus=1 Resource_List.gpu_type=mi300"
    batch = assemble([(1, line)], CLUSTER, source="f", now=100)
    assert not batch.records and "mi300" in batch.errors[0].reason
