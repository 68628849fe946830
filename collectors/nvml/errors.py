"""The agent's own errors, under quotad's root so the CLI maps them to an exit code and one clear line.

    QuotadError
    ├── NvmlUnavailableError   NVML cannot be used on this node at all (library missing, driver not loaded,
    │                          no permission): the agent refuses to start, exit 1
    └── SlurmQueryError        one scontrol/squeue call failed; attribution keeps its last view

Errors of one GPU or one field (``NOT_SUPPORTED``, ``TIMEOUT``, ``GPU_IS_LOST``) are not exceptions here:
they are recorded on the reading and counted, because they must never stop the agent.
"""

from __future__ import annotations

from quotad.errors import QuotadError

__all__ = ["NvmlUnavailableError", "SlurmQueryError"]


class NvmlUnavailableError(QuotadError):
    """NVML could not be initialised; ``reason`` is a short machine-readable cause (``library_not_found``...)."""

    def __init__(self, message: str, *, reason: str) -> None:
        self.reason = reason
        super().__init__(message)


class SlurmQueryError(QuotadError):
    """A Slurm command failed or timed out; ``argv``, ``returncode`` and ``stderr`` say which and how."""

    def __init__(self, argv: tuple[str, ...], *, returncode: int | None, stderr: str) -> None:
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr
        status = "timed out" if returncode is None else f"exited {returncode}"
        super().__init__(f"{' '.join(argv)} {status}: {stderr.strip()[:300]}")
