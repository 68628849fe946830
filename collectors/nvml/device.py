"""The one narrow interface to NVML: initialise, enumerate GPUs, read one sample of each, drain XID events.

Why it is narrow: everything else in the agent works on the typed ``GpuIdentity``/``GpuReading`` records
made here, so the real ``pynvml`` module and the scenario-driven fake (``fake.FakeNvml``) are interchangeable
behind ``NvmlApi`` and no other module imports pynvml.

Units as NVML returns them (nvidia-ml-py): utilisation in percent, memory in bytes, power in milliwatts,
total energy in millijoules since the driver was loaded, clocks in MHz, clock event (throttle) reasons as a
bit mask, ECC counts as totals since the driver was loaded.

Errors never stop the agent: a field that raises ``NVMLError_NotSupported`` is marked unsupported for that
GPU and not asked again; ``NVMLError_GpuIsLost`` marks the whole GPU lost (retried after ``lost_retry_s``);
any other ``NVMLError`` (``TIMEOUT``...) drops that field from this sample. Each is counted in
``nvml_errors{gpu,field,error}`` and logged once per (GPU, field, error). Only a failing ``nvmlInit`` is
fatal, as ``NvmlUnavailableError`` with one clear message.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pynvml

from quotad.collectors.nvml.counters import AgentCounters
from quotad.collectors.nvml.errors import NvmlUnavailableError

__all__ = [
    "FIELDS",
    "GpuIdentity",
    "GpuProcess",
    "GpuReading",
    "NvmlApi",
    "NvmlDevices",
    "error_name",
    "load_nvml",
]

log = logging.getLogger("quotad.agent.nvml")

#: The fields read per sample, in order; the names label error counters and the fake's error injection.
FIELDS = ("utilization", "memory", "power", "energy", "sm_clock", "clock_reasons", "ecc", "processes")
_MAX_EVENTS_PER_SAMPLE = 64
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


class NvmlApi(Protocol):
    """The subset of pynvml the agent calls (same names and arguments); ``pynvml`` itself satisfies it."""

    def nvmlInit(self) -> None: ...
    def nvmlShutdown(self) -> None: ...
    def nvmlSystemGetDriverVersion(self) -> str: ...
    def nvmlDeviceGetCount(self) -> int: ...
    def nvmlDeviceGetHandleByIndex(self, index: int) -> Any: ...
    def nvmlDeviceGetUUID(self, handle: Any) -> str: ...
    def nvmlDeviceGetName(self, handle: Any) -> str: ...
    def nvmlDeviceGetMinorNumber(self, handle: Any) -> int: ...
    def nvmlDeviceGetPciInfo(self, handle: Any) -> Any: ...
    def nvmlDeviceGetUtilizationRates(self, handle: Any) -> Any: ...
    def nvmlDeviceGetMemoryInfo(self, handle: Any) -> Any: ...
    def nvmlDeviceGetPowerUsage(self, handle: Any) -> int: ...
    def nvmlDeviceGetTotalEnergyConsumption(self, handle: Any) -> int: ...
    def nvmlDeviceGetClockInfo(self, handle: Any, clock_type: int) -> int: ...
    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: Any) -> int: ...
    def nvmlDeviceGetCurrentClocksThrottleReasons(self, handle: Any) -> int: ...
    def nvmlDeviceGetTotalEccErrors(self, handle: Any, error_type: int, counter_type: int) -> int: ...
    def nvmlDeviceGetComputeRunningProcesses(self, handle: Any) -> list[Any]: ...
    def nvmlEventSetCreate(self) -> Any: ...
    def nvmlDeviceRegisterEvents(self, handle: Any, event_types: int, event_set: Any) -> None: ...
    def nvmlEventSetWait(self, event_set: Any, timeout_ms: int) -> Any: ...


def load_nvml() -> NvmlApi:
    """The real pynvml module (it loads libnvidia-ml only at ``nvmlInit``)."""
    api: NvmlApi = pynvml
    return api


def error_name(exc: Exception) -> str:
    """``NVMLError_GpuIsLost`` -> ``gpu_is_lost``: the ``error`` label of the error counter."""
    name = type(exc).__name__.removeprefix("NVMLError_").removeprefix("NVMLError")
    return _CAMEL.sub("_", name).lower() or "unknown"


@dataclass(frozen=True, slots=True)
class GpuIdentity:
    """A GPU as NVML enumerates it (``index`` is NVML's, i.e. PCI order); ``minor`` is /dev/nvidia<minor>."""

    index: int
    uuid: str
    name: str
    minor: int | None
    pci_bus_id: str


@dataclass(frozen=True, slots=True)
class GpuProcess:
    """A compute process on a GPU; ``used_memory`` in bytes, None where the driver cannot tell."""

    pid: int
    used_memory: int | None


@dataclass(frozen=True, slots=True)
class GpuReading:
    """One sample of one GPU at epoch ``at``; a field NVML could not give this time is None."""

    index: int
    uuid: str
    at: float
    lost: bool = False
    util_gpu: int | None = None
    util_mem: int | None = None
    mem_used: int | None = None
    mem_total: int | None = None
    power_mw: int | None = None
    energy_mj: int | None = None
    sm_clock_mhz: int | None = None
    clock_reasons: int | None = None
    ecc_uncorrected: int | None = None
    processes: tuple[GpuProcess, ...] = ()
    xids: tuple[int, ...] = ()
    failed: tuple[str, ...] = ()


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def normalise_bus_id(bus_id: str) -> str:
    """NVML's ``00000000:18:00.0`` and /proc's ``0000:18:00.0`` to one lower-case form, ``0000:18:00.0``."""
    parts = bus_id.strip().lower().split(":")
    if len(parts) != 3:
        return bus_id.strip().lower()
    domain, bus, devfn = parts
    return f"{domain[-4:]:0>4}:{bus}:{devfn}"


class NvmlDevices:
    """Owns the NVML session: ``open`` once, ``read_all`` every interval, ``close`` at the end."""

    def __init__(
        self, api: NvmlApi, *, counters: AgentCounters, proc_root: Path = Path("/proc"), lost_retry_s: float = 60
    ) -> None:
        self.api = api
        self.counters = counters
        self.proc_root = proc_root
        self.lost_retry_s = lost_retry_s
        self.driver_version = ""
        self._handles: list[Any] = []
        self._identities: tuple[GpuIdentity, ...] = ()
        self._unsupported: dict[int, set[str]] = {}
        self._lost_since: dict[int, float] = {}
        self._logged: set[tuple[int, str, str]] = set()
        self._events: Any = None
        self._legacy_reasons = False
        self._readers: tuple[tuple[str, Callable[[Any], dict[str, Any]]], ...] = ()

    # -- session -------------------------------------------------------------------------------------------

    def open(self, now: float) -> tuple[GpuIdentity, ...]:
        """Initialise NVML and enumerate the GPUs; raise ``NvmlUnavailableError`` if NVML is unusable."""
        try:
            self.api.nvmlInit()
        except pynvml.NVMLError_LibraryNotFound as exc:
            raise NvmlUnavailableError(
                "NVML is not available: libnvidia-ml.so.1 was not found. Install the NVIDIA driver on this node "
                "(or run `quotad agent --fake SCENARIO.json` to try the agent without a GPU)",
                reason="library_not_found",
            ) from exc
        except pynvml.NVMLError_DriverNotLoaded as exc:
            raise NvmlUnavailableError(
                "NVML is not available: the NVIDIA kernel driver is not loaded (check `nvidia-smi` and "
                "`lsmod | grep nvidia`)",
                reason="driver_not_loaded",
            ) from exc
        except pynvml.NVMLError as exc:
            raise NvmlUnavailableError(
                f"NVML is not available: nvmlInit failed: {exc} ({error_name(exc)})", reason=error_name(exc)
            ) from exc
        try:
            self.driver_version = _text(self.api.nvmlSystemGetDriverVersion())
            count = self.api.nvmlDeviceGetCount()
        except pynvml.NVMLError as exc:
            raise NvmlUnavailableError(
                f"NVML is not available: cannot count GPUs: {exc}", reason=error_name(exc)
            ) from exc
        if count == 0:
            log.warning("NVML sees no GPUs on this node")
        identities = []
        for index in range(count):
            identities.append(self._identify(index, now))
        self._identities = tuple(identities)
        self._readers = self._field_readers()
        self._register_events()
        log.info("NVML %s: %d GPU(s): %s", self.driver_version, count, ", ".join(g.uuid or "?" for g in identities))
        return self._identities

    def close(self) -> None:
        try:
            self.api.nvmlShutdown()
        except pynvml.NVMLError as exc:
            log.debug("nvmlShutdown: %s", exc)

    @property
    def identities(self) -> tuple[GpuIdentity, ...]:
        return self._identities

    def unsupported(self, index: int) -> frozenset[str]:
        """Fields NVML said this GPU does not support (not asked again)."""
        return frozenset(self._unsupported.get(index, ()))

    def is_lost(self, index: int) -> bool:
        return index in self._lost_since

    def _identify(self, index: int, now: float) -> GpuIdentity:
        self._unsupported[index] = set()
        try:
            handle = self.api.nvmlDeviceGetHandleByIndex(index)
            self._handles.append(handle)
            uuid = _text(self.api.nvmlDeviceGetUUID(handle))
            name = _text(self.api.nvmlDeviceGetName(handle))
        except pynvml.NVMLError as exc:
            self._handles.append(None)
            self._error(index, "handle", exc)
            self._lost_since[index] = now
            return GpuIdentity(index=index, uuid="", name="", minor=None, pci_bus_id="")
        bus_id = ""
        try:
            bus_id = normalise_bus_id(_text(self.api.nvmlDeviceGetPciInfo(handle).busId))
        except pynvml.NVMLError as exc:
            self._error(index, "pci_info", exc)
        minor: int | None
        try:
            minor = int(self.api.nvmlDeviceGetMinorNumber(handle))
        except pynvml.NVMLError as exc:
            self._error(index, "minor", exc)
            minor = self._minor_from_proc(bus_id)
        return GpuIdentity(index=index, uuid=uuid, name=name, minor=minor, pci_bus_id=bus_id)

    def _minor_from_proc(self, bus_id: str) -> int | None:
        """The driver's own PCI bus id -> minor mapping, when NVML cannot give the minor number."""
        if not bus_id:
            return None
        info = self.proc_root / "driver" / "nvidia" / "gpus" / bus_id / "information"
        try:
            text = info.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        match = re.search(r"^Device Minor:\s*(\d+)", text, re.MULTILINE)
        return int(match.group(1)) if match else None

    def _register_events(self) -> None:
        try:
            self._events = self.api.nvmlEventSetCreate()
        except pynvml.NVMLError as exc:
            for gpu in self._identities:
                self._mark_unsupported(gpu.index, "xid", exc)
            return
        for gpu in self._identities:
            handle = self._handles[gpu.index]
            if handle is None:
                continue
            try:
                self.api.nvmlDeviceRegisterEvents(handle, pynvml.nvmlEventTypeXidCriticalError, self._events)
            except pynvml.NVMLError as exc:
                self._mark_unsupported(gpu.index, "xid", exc)

    # -- sampling ------------------------------------------------------------------------------------------

    def read_all(self, now: float) -> tuple[GpuReading, ...]:
        """One reading per GPU (lost ones included, flagged), with the XID events since the last call."""
        xids = self._drain_events()
        return tuple(self._read(gpu, now, xids.get(gpu.index, ())) for gpu in self._identities)

    def _drain_events(self) -> dict[int, tuple[int, ...]]:
        if self._events is None:
            return {}
        by_uuid = {g.uuid: g.index for g in self._identities}
        found: dict[int, list[int]] = {}
        for _ in range(_MAX_EVENTS_PER_SAMPLE):
            try:
                event = self.api.nvmlEventSetWait(self._events, 0)
            except pynvml.NVMLError_Timeout:
                break
            except pynvml.NVMLError as exc:
                self._error(-1, "xid", exc)
                break
            try:
                index = by_uuid.get(_text(self.api.nvmlDeviceGetUUID(event.device)), -1)
            except pynvml.NVMLError:
                index = -1
            xid = int(event.eventData)
            log.warning("XID %d on GPU %s", xid, index if index >= 0 else "?")
            found.setdefault(index, []).append(xid)
        return {i: tuple(v) for i, v in found.items()}

    def _field_readers(self) -> tuple[tuple[str, Callable[[Any], dict[str, Any]]], ...]:
        api = self.api

        def utilization(h: Any) -> dict[str, Any]:
            u = api.nvmlDeviceGetUtilizationRates(h)
            return {"util_gpu": int(u.gpu), "util_mem": int(u.memory)}

        def memory(h: Any) -> dict[str, Any]:
            m = api.nvmlDeviceGetMemoryInfo(h)
            return {"mem_used": int(m.used), "mem_total": int(m.total)}

        def processes(h: Any) -> dict[str, Any]:
            procs = api.nvmlDeviceGetComputeRunningProcesses(h)
            return {
                "processes": tuple(
                    GpuProcess(int(p.pid), None if p.usedGpuMemory is None else int(p.usedGpuMemory)) for p in procs
                )
            }

        return (
            ("utilization", utilization),
            ("memory", memory),
            ("power", lambda h: {"power_mw": int(api.nvmlDeviceGetPowerUsage(h))}),
            ("energy", lambda h: {"energy_mj": int(api.nvmlDeviceGetTotalEnergyConsumption(h))}),
            ("sm_clock", lambda h: {"sm_clock_mhz": int(api.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_SM))}),
            ("clock_reasons", lambda h: {"clock_reasons": self._clock_reasons(h)}),
            (
                "ecc",
                lambda h: {
                    "ecc_uncorrected": int(
                        api.nvmlDeviceGetTotalEccErrors(
                            h, pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, pynvml.NVML_VOLATILE_ECC
                        )
                    )
                },
            ),
            ("processes", processes),
        )

    def _clock_reasons(self, handle: Any) -> int:
        """Clock event reasons; drivers before R535 know only the older "throttle reasons" name."""
        if not self._legacy_reasons:
            try:
                return int(self.api.nvmlDeviceGetCurrentClocksEventReasons(handle))
            except (pynvml.NVMLError_FunctionNotFound, AttributeError):
                self._legacy_reasons = True
        return int(self.api.nvmlDeviceGetCurrentClocksThrottleReasons(handle))

    def _read(self, gpu: GpuIdentity, now: float, xids: tuple[int, ...]) -> GpuReading:
        index = gpu.index
        if index in self._lost_since and not self._retry_lost(index, now):
            return GpuReading(index=index, uuid=gpu.uuid, at=now, lost=True, xids=xids)
        handle = self._handles[index]
        values: dict[str, Any] = {}
        failed: list[str] = []
        skip = self._unsupported[index]
        for field, reader in self._readers:
            if field in skip:
                continue
            try:
                values.update(reader(handle))
            except pynvml.NVMLError_NotSupported as exc:
                self._mark_unsupported(index, field, exc)
            except pynvml.NVMLError_GpuIsLost as exc:
                self._error(index, field, exc)
                self._lost_since[index] = now
                log.error("GPU %d (%s) is lost: it is reported as lost until NVML answers again", index, gpu.uuid)
                return GpuReading(index=index, uuid=gpu.uuid, at=now, lost=True, xids=xids)
            except pynvml.NVMLError as exc:
                self._error(index, field, exc)
                failed.append(field)
        return GpuReading(index=index, uuid=gpu.uuid, at=now, xids=xids, failed=tuple(failed), **values)

    def _retry_lost(self, index: int, now: float) -> bool:
        if now - self._lost_since[index] < self.lost_retry_s:
            return False
        try:
            handle = self.api.nvmlDeviceGetHandleByIndex(index)
            self.api.nvmlDeviceGetUUID(handle)
        except pynvml.NVMLError as exc:
            self._error(index, "handle", exc)
            self._lost_since[index] = now
            return False
        self._handles[index] = handle
        del self._lost_since[index]
        log.warning("GPU %d answers NVML again", index)
        return True

    def _mark_unsupported(self, index: int, field: str, exc: Exception) -> None:
        self._unsupported.setdefault(index, set()).add(field)
        self._error(index, field, exc)

    def _error(self, index: int, field: str, exc: Exception) -> None:
        name = error_name(exc)
        gpu = str(index) if index >= 0 else ""
        self.counters.inc("nvml_errors", gpu=gpu, field=field, error=name)
        key = (index, field, name)
        if key not in self._logged:
            self._logged.add(key)
            log.warning("NVML %s on GPU %s, field %s: %s (counted; not logged again)", name, gpu or "?", field, exc)
