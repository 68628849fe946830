"""/metrics: scrape the agent's own registry, parse it back, check names, labels, owner info and counters."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from sqlalchemy import Engine

from quotad.config import Settings
from quotad.ledger.ingest import sync_clusters
from quotad.ledger.registry import AccountRef, add_company
from tests.test_nvml_support import FakeClock, canned_runner, fixture_scenario, make_agent, show_job

GPU_LABELS = {"gpu", "UUID", "modelName", "Hostname"}


def scrape(registry: object) -> dict[str, list[Sample]]:
    text = generate_latest(registry).decode()  # type: ignore[arg-type]
    samples: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, []).append(s)
    return samples


def test_scrape_names_labels_owner_info_and_error_counters(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    with engine.begin() as conn:
        sync_clusters(conn, settings)
        add_company(
            conn, company_id="acme-ai", name_ja="アクメ", name_en="Acme AI", accounts=[AccountRef("c1", "acme")], now=0
        )
    runner = canned_runner(
        {
            ("scontrol", "listpids"): "PID JOBID STEPID LOCALID GLOBALID\n1 5 batch 0 0\n1 6 batch 0 0\n",
            ("scontrol", "show", "job", "-d", "-o", "5"): show_job(5, "0"),
            ("scontrol", "show", "job", "-d", "-o", "6"): show_job(6, "1", account="unclaimed"),
        }
    )
    clock = FakeClock()
    before = set(REGISTRY._names_to_collectors)
    parts, _ = make_agent(fixture_scenario("errors.json"), engine=engine, tmp_path=tmp_path, clock=clock, runner=runner)
    parts.agent.start()
    for _ in range(8):  # to t = 80 s: a timeout at 30-40 s, the XID at 20 s, GPU 2 lost from 60 s
        clock.advance(10)
        parts.agent.sample()
    parts.agent.flush()
    m = scrape(parts.registry)
    assert set(REGISTRY._names_to_collectors) == before

    util = {s.labels["gpu"]: s for s in m["quotad_gpu_util"]}
    assert set(util) == {"0", "1"}  # GPU 2 is lost: no readings
    assert set(util["0"].labels) == GPU_LABELS
    assert util["0"].labels == {
        "gpu": "0",
        "UUID": "GPU-e0000000-0000-4000-8000-000000000000",
        "modelName": "NVIDIA H100 80GB HBM3",
        "Hostname": "gpu001",
    }
    assert util["0"].value == 80
    for name in (
        "quotad_gpu_fb_used",
        "quotad_gpu_power_usage",
        "quotad_gpu_sm_clock",
        "quotad_gpu_xid_errors",
        "quotad_gpu_total_energy_consumption_total",
        "quotad_gpu_recent_util",
        "quotad_gpu_lost",
    ):
        assert all(set(s.labels) == GPU_LABELS for s in m[name]), name
    assert {s.labels["gpu"]: s.value for s in m["quotad_gpu_fb_used"]} == {"0": 1000, "1": 0}
    assert {s.labels["gpu"]: s.value for s in m["quotad_gpu_power_usage"]} == {"0": 400.0}  # GPU 1: unsupported
    assert {s.labels["gpu"]: s.value for s in m["quotad_gpu_total_energy_consumption_total"]} == {"0": 400 * 80 * 1000}
    assert {s.labels["gpu"]: s.value for s in m["quotad_gpu_xid_errors"]} == {"0": 79}
    assert {s.labels["gpu"]: s.value for s in m["quotad_gpu_lost"]} == {"0": 0, "1": 0, "2": 1}
    assert {(s.labels["gpu"], s.labels["field"]) for s in m["quotad_gpu_field_unsupported"]} == {
        ("1", "power"),
        ("1", "energy"),
        ("1", "ecc"),
    }

    owners = {s.labels["gpu"]: s.labels for s in m["quotad_gpu_owner_info"]}
    assert owners["0"] == {
        "gpu": "0",
        "UUID": "GPU-e0000000-0000-4000-8000-000000000000",
        "Hostname": "gpu001",
        "job": "5",
        "account": "acme",
        "company": "acme-ai",
    }
    assert owners["1"]["job"] == "6" and owners["1"]["company"] == ""
    assert all(s.value == 1 for s in m["quotad_gpu_owner_info"])
    assert {s.labels["gpu"]: s.value for s in m["quotad_gpu_allocated"]} == {"0": 1, "1": 1, "2": 0}

    errors = {
        (s.labels["gpu"], s.labels["field"], s.labels["error"]): s.value for s in m["quotad_agent_nvml_errors_total"]
    }
    assert errors[("0", "utilization", "timeout")] == 1
    assert errors[("1", "power", "not_supported")] == 1
    assert errors[("2", "utilization", "gpu_is_lost")] == 1
    assert m["quotad_agent_samples_total"][0].value == 8
    assert m["quotad_agent_flush_failures_total"][0].value == 0
    assert m["quotad_agent_rows_written_total"][0].value == 2
    assert m["quotad_agent_nvml_up"][0].value == 1
    assert m["quotad_agent_spool_windows"][0].value == 0
    assert m["quotad_agent_info"][0].labels["driver_version"] == "550.54.15"


def test_series_do_not_multiply_with_jobs(tmp_path: Path) -> None:
    """Jobs come and go on a GPU: the per-GPU series stay the same; only the owner info changes."""
    clock = FakeClock()
    outputs = {
        ("scontrol", "listpids"): "PID JOBID STEPID LOCALID GLOBALID\n1 5 batch 0 0\n",
        ("scontrol", "show", "job", "-d", "-o", "5"): show_job(5, "0"),
    }
    parts, _ = make_agent(
        fixture_scenario("busy_then_idle.json"),
        engine=None,
        tmp_path=tmp_path,
        clock=clock,
        runner=canned_runner(outputs),
        slurm_refresh_s=10,
    )
    parts.agent.start()
    clock.advance(10)
    parts.agent.sample()
    first = scrape(parts.registry)
    outputs[("scontrol", "listpids")] = "PID JOBID STEPID LOCALID GLOBALID\n1 7 batch 0 0\n"
    outputs[("scontrol", "show", "job", "-d", "-o", "7")] = show_job(7, "0", account="fuji")
    clock.advance(10)
    parts.agent.sample()
    second = scrape(parts.registry)
    per_gpu = [n for n in first if n.startswith("quotad_gpu_") and n != "quotad_gpu_owner_info"]
    for name in per_gpu:
        assert [s.labels for s in first[name]] == [s.labels for s in second.get(name, [])], name
    assert [s.labels["job"] for s in first["quotad_gpu_owner_info"]] == ["5"]
    assert [s.labels["job"] for s in second["quotad_gpu_owner_info"]] == ["7"]
    assert {s.labels["gpu"]: s.value for s in second["quotad_gpu_idle_streak_seconds"]} == {"0": 0, "1": 10}
