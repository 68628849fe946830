"""A fake NVML driven by scenario data, with pynvml's function names, handle objects and real error classes.

Why: the agent must be testable, benchmarkable and demonstrable on machines without a GPU, including the
awkward cases (a field NOT_SUPPORTED on one GPU, a TIMEOUT mid-run, a GPU lost, XID events, a process that
appears and goes). ``FakeNvml`` satisfies ``device.NvmlApi`` and raises the real ``pynvml.NVMLError_*``
classes, so the code that catches them is the code that runs in production.

A scenario (JSON, see ``tests/fixtures/nvml/*.json``) describes each GPU over time; times are seconds since
the fake was initialised (``nvmlInit``), curves are piecewise constant ``[[from_s, value], ...]``::

    {"devices": [{"uuid": "GPU-0", "minor": 2, "util": [[0, 95], [600, 0]],
                  "memory_used_mib": [[0, 60000]], "power_w": [[0, 650], [600, 90]],
                  "processes": [{"pid": 4242, "start": 0, "end": 1200, "used_memory_mib": 60000}],
                  "errors": [{"field": "power", "error": "NotSupported"},
                             {"field": "all", "error": "GpuIsLost", "start": 900}],
                  "xids": [{"at": 100, "xid": 79}]}]}

``init_error`` (e.g. ``"LibraryNotFound"``, ``"DriverNotLoaded"``) makes ``nvmlInit`` fail.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pynvml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from quotad.errors import ConfigError

__all__ = ["FakeDevice", "FakeNvml", "Scenario", "load_scenario"]

MIB = 1024 * 1024
_FIELDS = {
    "all",
    "handle",
    "minor",
    "pci_info",
    "utilization",
    "memory",
    "power",
    "energy",
    "sm_clock",
    "clock_reasons",
    "ecc",
    "processes",
    "xid",
}
Curve = list[tuple[float, float]]


def _curve_ok(value: Curve) -> Curve:
    if not value:
        raise ValueError("a curve needs at least one [from_s, value] point")
    starts = [t for t, _ in value]
    if starts != sorted(starts):
        raise ValueError("curve points must be in time order")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FakeProcess(_Model):
    pid: int
    start: float = 0
    end: float | None = None
    used_memory_mib: int = 0


class FakeError(_Model):
    field: str
    error: str
    start: float = 0
    end: float | None = None

    @field_validator("field")
    @classmethod
    def _field(cls, value: str) -> str:
        if value not in _FIELDS:
            raise ValueError(f"expected one of {', '.join(sorted(_FIELDS))}")
        return value

    @field_validator("error")
    @classmethod
    def _error(cls, value: str) -> str:
        if not isinstance(getattr(pynvml, f"NVMLError_{value}", None), type):
            raise ValueError("expected a pynvml error name such as NotSupported, Timeout, GpuIsLost")
        return value


class FakeXid(_Model):
    at: float
    xid: int


class FakeDevice(_Model):
    uuid: str
    name: str = "NVIDIA H100 80GB HBM3"
    minor: int | None = None
    pci_bus_id: str | None = None
    memory_total_mib: int = 81559
    util: Curve = Field(default_factory=lambda: [(0.0, 0.0)])
    mem_util: Curve = Field(default_factory=lambda: [(0.0, 0.0)])
    memory_used_mib: Curve = Field(default_factory=lambda: [(0.0, 0.0)])
    power_w: Curve = Field(default_factory=lambda: [(0.0, 70.0)])
    sm_clock_mhz: Curve = Field(default_factory=lambda: [(0.0, 1980.0)])
    clock_reasons: Curve = Field(default_factory=lambda: [(0.0, 0.0)])
    ecc_uncorrected: Curve = Field(default_factory=lambda: [(0.0, 0.0)])
    processes: list[FakeProcess] = Field(default_factory=list)
    errors: list[FakeError] = Field(default_factory=list)
    xids: list[FakeXid] = Field(default_factory=list)

    @field_validator(
        "util", "mem_util", "memory_used_mib", "power_w", "sm_clock_mhz", "clock_reasons", "ecc_uncorrected"
    )
    @classmethod
    def _curves(cls, value: Curve) -> Curve:
        return _curve_ok(value)


class Scenario(_Model):
    driver_version: str = "550.54.15"
    init_error: str | None = None
    devices: list[FakeDevice] = Field(default_factory=list)

    @field_validator("init_error")
    @classmethod
    def _init_error(cls, value: str | None) -> str | None:
        if value is not None and not isinstance(getattr(pynvml, f"NVMLError_{value}", None), type):
            raise ValueError("expected a pynvml error name such as LibraryNotFound or DriverNotLoaded")
        return value


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file; a bad one is a ``ConfigError`` naming the key."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read fake NVML scenario {path}: {exc}") from exc
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(f"invalid fake NVML scenario {path}:", problems=problems) from exc


def _at(curve: Curve, t: float) -> float:
    value = curve[0][1]
    for start, v in curve:
        if start > t:
            break
        value = v
    return value


def _integral(curve: Curve, t: float) -> float:
    """∫ curve from 0 to t (the curve is 0 before its first point)."""
    total = 0.0
    for i, (start, value) in enumerate(curve):
        if start >= t:
            break
        end = curve[i + 1][0] if i + 1 < len(curve) else t
        total += value * (min(end, t) - max(start, 0.0))
    return total


@dataclass(frozen=True)
class FakeHandle:
    index: int


@dataclass(frozen=True)
class _Utilization:
    gpu: int
    memory: int


@dataclass(frozen=True)
class _Memory:
    total: int
    used: int
    free: int


@dataclass(frozen=True)
class _Pci:
    busId: str


@dataclass(frozen=True)
class _Process:
    pid: int
    usedGpuMemory: int | None


@dataclass(frozen=True)
class _Event:
    device: FakeHandle
    eventType: int
    eventData: int


class _EventSet:
    def __init__(self) -> None:
        self.devices: set[int] = set()
        self.delivered: set[tuple[int, int]] = set()


class FakeNvml:
    """pynvml's functions over a ``Scenario``; time is ``clock()`` minus the moment ``nvmlInit`` was called."""

    def __init__(self, scenario: Scenario, *, clock: Callable[[], float]) -> None:
        self.scenario = scenario
        self.clock = clock
        self.started: float | None = None
        self.calls = 0

    # -- internals -----------------------------------------------------------------------------------------

    def _t(self) -> float:
        if self.started is None:
            raise pynvml.NVMLError_Uninitialized()
        self.calls += 1
        return self.clock() - self.started

    def _device(self, handle: Any, field: str) -> tuple[FakeDevice, float]:
        t = self._t()
        if not isinstance(handle, FakeHandle) or not 0 <= handle.index < len(self.scenario.devices):
            raise pynvml.NVMLError_InvalidArgument()
        device = self.scenario.devices[handle.index]
        for err in device.errors:
            if err.field in (field, "all") and err.start <= t and (err.end is None or t < err.end):
                raise getattr(pynvml, f"NVMLError_{err.error}")()
        return device, t

    # -- pynvml surface ------------------------------------------------------------------------------------

    def nvmlInit(self) -> None:
        if self.scenario.init_error:
            raise getattr(pynvml, f"NVMLError_{self.scenario.init_error}")()
        self.started = self.clock()

    def nvmlShutdown(self) -> None:
        self.started = None

    def nvmlSystemGetDriverVersion(self) -> str:
        self._t()
        return self.scenario.driver_version

    def nvmlDeviceGetCount(self) -> int:
        self._t()
        return len(self.scenario.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> Any:
        handle = FakeHandle(index)
        self._device(handle, "handle")
        return handle

    def nvmlDeviceGetUUID(self, handle: Any) -> str:
        return self._device(handle, "handle")[0].uuid

    def nvmlDeviceGetName(self, handle: Any) -> str:
        return self._device(handle, "handle")[0].name

    def nvmlDeviceGetMinorNumber(self, handle: Any) -> int:
        device, _ = self._device(handle, "minor")
        return handle.index if device.minor is None else device.minor

    def nvmlDeviceGetPciInfo(self, handle: Any) -> Any:
        device, _ = self._device(handle, "pci_info")
        return _Pci(device.pci_bus_id or f"00000000:{0x18 + 0x10 * handle.index:02X}:00.0")

    def nvmlDeviceGetUtilizationRates(self, handle: Any) -> Any:
        device, t = self._device(handle, "utilization")
        return _Utilization(int(_at(device.util, t)), int(_at(device.mem_util, t)))

    def nvmlDeviceGetMemoryInfo(self, handle: Any) -> Any:
        device, t = self._device(handle, "memory")
        total = device.memory_total_mib * MIB
        used = int(_at(device.memory_used_mib, t) * MIB)
        return _Memory(total, used, total - used)

    def nvmlDeviceGetPowerUsage(self, handle: Any) -> int:
        device, t = self._device(handle, "power")
        return int(_at(device.power_w, t) * 1000)

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: Any) -> int:
        device, t = self._device(handle, "energy")
        return int(_integral(device.power_w, t) * 1000)

    def nvmlDeviceGetClockInfo(self, handle: Any, clock_type: int) -> int:
        device, t = self._device(handle, "sm_clock")
        return int(_at(device.sm_clock_mhz, t))

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: Any) -> int:
        device, t = self._device(handle, "clock_reasons")
        return int(_at(device.clock_reasons, t))

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, handle: Any) -> int:
        return self.nvmlDeviceGetCurrentClocksEventReasons(handle)

    def nvmlDeviceGetTotalEccErrors(self, handle: Any, error_type: int, counter_type: int) -> int:
        device, t = self._device(handle, "ecc")
        return int(_at(device.ecc_uncorrected, t))

    def nvmlDeviceGetComputeRunningProcesses(self, handle: Any) -> list[Any]:
        device, t = self._device(handle, "processes")
        return [
            _Process(p.pid, p.used_memory_mib * MIB)
            for p in device.processes
            if p.start <= t and (p.end is None or t < p.end)
        ]

    def nvmlEventSetCreate(self) -> Any:
        self._t()
        return _EventSet()

    def nvmlDeviceRegisterEvents(self, handle: Any, event_types: int, event_set: Any) -> None:
        self._device(handle, "xid")
        event_set.devices.add(handle.index)

    def nvmlEventSetWait(self, event_set: Any, timeout_ms: int) -> Any:
        t = self._t()
        for index in sorted(event_set.devices):
            for n, xid in enumerate(self.scenario.devices[index].xids):
                if xid.at <= t and (index, n) not in event_set.delivered:
                    event_set.delivered.add((index, n))
                    return _Event(FakeHandle(index), pynvml.nvmlEventTypeXidCriticalError, xid.xid)
        raise pynvml.NVMLError_Timeout()
