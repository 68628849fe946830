"""The NVML interface over the fake (real pynvml error classes) and over the real pynvml with no driver."""

from __future__ import annotations

import json
from pathlib import Path

import pynvml
import pytest

from quotad.collectors.nvml.counters import AgentCounters
from quotad.collectors.nvml.device import NvmlDevices, error_name, load_nvml, normalise_bus_id
from quotad.collectors.nvml.errors import NvmlUnavailableError
from quotad.collectors.nvml.fake import FakeNvml, load_scenario
from quotad.errors import ConfigError
from tests.test_nvml_support import FIXTURES, MIB, FakeClock, fixture_scenario, scenario


def _devices(scen_name: str, clock: FakeClock, **kwargs: object) -> tuple[NvmlDevices, FakeNvml, AgentCounters]:
    api = FakeNvml(fixture_scenario(scen_name), clock=clock)
    counters = AgentCounters()
    devices = NvmlDevices(api, counters=counters, **kwargs)  # type: ignore[arg-type]
    devices.open(clock())
    return devices, api, counters


def test_readings_carry_nvml_units_and_identity() -> None:
    clock = FakeClock()
    devices, _, counters = _devices("busy_then_idle.json", clock)
    assert [g.minor for g in devices.identities] == [0, 1]
    assert devices.identities[1].pci_bus_id == "0000:2a:00.0"
    assert devices.driver_version == "550.54.15"
    clock.advance(10)
    r0, r1 = devices.read_all(clock())
    assert (r0.util_gpu, r0.util_mem, r0.power_mw, r0.sm_clock_mhz) == (95, 40, 650_000, 1980)
    assert r0.mem_used == 60000 * MIB and r0.mem_total == 81559 * MIB
    assert r0.energy_mj == 650 * 10 * 1000  # mJ since init: 650 W for 10 s
    assert [(p.pid, p.used_memory) for p in r0.processes] == [(4242, 60000 * MIB)]
    assert r1.processes == () and r1.util_gpu == 0
    clock.advance(600)
    assert devices.read_all(clock())[0].util_gpu == 0
    assert counters.snapshot() == {}


def test_not_supported_is_marked_and_not_asked_again() -> None:
    clock = FakeClock()
    devices, api, counters = _devices("errors.json", clock)
    before = api.calls
    first = devices.read_all(clock())[1]
    first_calls = api.calls - before
    assert first.power_mw is None and first.energy_mj is None and first.util_gpu == 50
    assert devices.unsupported(1) == {"power", "energy", "ecc"}
    clock.advance(10)
    before = api.calls
    devices.read_all(clock())
    assert first_calls - (api.calls - before) == 3  # the three unsupported fields are no longer asked
    assert counters.get("nvml_errors", gpu="1", field="power", error="not_supported") == 1


def test_timeout_drops_the_field_for_that_sample_only() -> None:
    clock = FakeClock()
    devices, _, counters = _devices("errors.json", clock)
    clock.advance(35)
    r = devices.read_all(clock())[0]
    assert r.util_gpu is None and r.failed == ("utilization",) and r.mem_used == 1000 * MIB
    assert counters.get("nvml_errors", gpu="0", field="utilization", error="timeout") == 1
    clock.advance(10)
    assert devices.read_all(clock())[0].util_gpu == 80


def test_xid_events_are_drained_once() -> None:
    clock = FakeClock()
    devices, _, _ = _devices("errors.json", clock)
    assert devices.read_all(clock())[0].xids == ()
    clock.advance(25)
    assert devices.read_all(clock())[0].xids == (79,)
    clock.advance(10)
    assert devices.read_all(clock())[0].xids == ()


def test_lost_gpu_is_flagged_then_retried_and_recovers() -> None:
    clock = FakeClock()
    devices, _, counters = _devices("errors.json", clock, lost_retry_s=60)
    clock.advance(65)
    lost = devices.read_all(clock())[2]
    assert lost.lost and devices.is_lost(2)
    assert counters.get("nvml_errors", gpu="2", error="gpu_is_lost", field="utilization") == 1
    clock.advance(30)
    assert devices.read_all(clock())[2].lost  # within the retry delay: not asked
    clock.advance(120)  # t = 215 > the scenario's end of the loss (200) and past the retry delay
    back = devices.read_all(clock())[2]
    assert not back.lost and back.util_gpu == 10
    others = devices.read_all(clock())[:2]
    assert all(not r.lost for r in others)


def test_missing_library_and_driver_are_one_clear_error() -> None:
    clock = FakeClock()
    api = FakeNvml(load_scenario(FIXTURES / "no_library.json"), clock=clock)
    with pytest.raises(NvmlUnavailableError, match=r"libnvidia-ml\.so\.1 was not found") as info:
        NvmlDevices(api, counters=AgentCounters()).open(clock())
    assert info.value.reason == "library_not_found" and info.value.exit_code == 1
    driver = FakeNvml(scenario(init_error="DriverNotLoaded"), clock=clock)
    with pytest.raises(NvmlUnavailableError, match="kernel driver is not loaded"):
        NvmlDevices(driver, counters=AgentCounters()).open(clock())


def test_real_pynvml_without_a_driver_refuses_to_start() -> None:
    """The real module is installed here but there is no GPU: nvmlInit must fail with a clear message."""
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        pass
    else:  # pragma: no cover - only on a GPU machine
        pynvml.nvmlShutdown()
        pytest.skip("a real NVIDIA driver is present; deploy/gpu-check.sh covers this machine")
    with pytest.raises(NvmlUnavailableError, match="NVML is not available") as info:
        NvmlDevices(load_nvml(), counters=AgentCounters()).open(0.0)
    assert info.value.reason in ("library_not_found", "driver_not_loaded")


def test_minor_number_falls_back_to_the_drivers_proc_file(tmp_path: Path) -> None:
    info = tmp_path / "driver" / "nvidia" / "gpus" / "0000:18:00.0"
    info.mkdir(parents=True)
    (info / "information").write_text("Model: NVIDIA H100\nDevice Minor: 5\nBus Location: 0000:18:00.0\n")
    clock = FakeClock()
    scen = scenario(
        {"uuid": "GPU-a", "pci_bus_id": "00000000:18:00.0", "errors": [{"field": "minor", "error": "NotSupported"}]}
    )
    devices = NvmlDevices(FakeNvml(scen, clock=clock), counters=AgentCounters(), proc_root=tmp_path)
    assert devices.open(clock())[0].minor == 5


def test_helpers_and_scenario_validation(tmp_path: Path) -> None:
    assert normalise_bus_id("00000000:3B:00.0") == "0000:3b:00.0" == normalise_bus_id("0000:3b:00.0")
    assert error_name(pynvml.NVMLError_GpuIsLost()) == "gpu_is_lost"
    assert error_name(pynvml.NVMLError(pynvml.NVML_ERROR_TIMEOUT)) == "timeout"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"devices": [{"uuid": "x", "errors": [{"field": "power", "error": "Nope"}]}]}))
    with pytest.raises(ConfigError, match="invalid fake NVML scenario") as info:
        load_scenario(bad)
    assert "devices.0.errors.0.error" in str(info.value)
