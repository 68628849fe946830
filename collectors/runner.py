"""Running scheduler commands (``sacct``, ``scontrol``, ``sacctmgr``, ``squeue``): the one subprocess boundary.

One runner, ``SubprocessRunner``, for the collectors (which read schedulers) and ``quotad.enforce`` (which
writes to them), with two shapes for two sizes of output; code takes the protocol of the shape it uses, so
tests pass a fake that controls what a command prints and how it fails:

- ``CommandRunner.stream`` (``sacct``): output is streamed line by line (a first backfill can be millions of
  lines), and the exit status is checked when the stream ends, so a command that fails half-way never counts
  as success.
- ``Runner.__call__`` / ``run_captured`` (``sacctmgr``, ``scontrol``, the agent's Slurm queries): small outputs
  captured whole; the exit status is returned for the caller to judge (``sacctmgr`` says "nothing to change"
  with status 1), and what has no exit status (the command cannot start, or times out) is ``CommandFailed``,
  which callers translate into their own error types.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from quotad.errors import QuotadError

__all__ = [
    "Captured",
    "CommandFailed",
    "CommandRunner",
    "Runner",
    "SubprocessRunner",
    "child_environment",
    "run_captured",
]

#: What a scheduler command may see of quotad's environment: the process basics, locale and time zone, and the
#: schedulers' own settings. Everything else stays behind, above all ``QUOTAD_DATABASE__PASSWORD`` and
#: ``QUOTAD_NOTIFY__SMTP__PASSWORD``: ``sacct`` needs neither, and a child's environment is readable in
#: ``/proc/PID/environ`` by its user and lands in core dumps.
_ALLOWED_NAMES = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "LD_LIBRARY_PATH", "KRB5CCNAME"}
)
_ALLOWED_PREFIXES = ("LC_", "SLURM_", "SACCT_", "SQUEUE_", "SINFO_", "PBS_", "MUNGE_")


def child_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a scheduler command: the allow-listed part of ours, plus ``extra`` (``SLURM_CONF``)."""
    kept = {k: v for k, v in os.environ.items() if k in _ALLOWED_NAMES or k.startswith(_ALLOWED_PREFIXES)}
    return {**kept, **(extra or {})}


class CommandFailed(QuotadError):
    """A scheduler command exited non-zero, timed out or could not be started; ``stderr`` is its own words."""

    def __init__(self, argv: Sequence[str], reason: str, *, stderr: str = "", returncode: int | None = None) -> None:
        self.argv = list(argv)
        self.reason = reason
        self.stderr = stderr.strip()
        self.returncode = returncode
        detail = f": {self.stderr[-2000:]}" if self.stderr else ""
        super().__init__(f"`{' '.join(self.argv)}` {reason}{detail}")


class CommandRunner(Protocol):
    def stream(
        self, argv: Sequence[str], *, env: Mapping[str, str], timeout_s: float
    ) -> AbstractContextManager[Iterator[str]]:
        """Lines of the command's stdout; leaving the context raises ``CommandFailed`` if it failed."""
        ...


class Runner(Protocol):
    """Runs one command: argv in, ``(returncode, stdout, stderr)`` out; raises ``CommandFailed`` (or the caller's
    own error type) only for what has no return code (missing binary, timeout)."""

    def __call__(self, argv: Sequence[str], *, timeout: float) -> tuple[int, str, str]: ...


@dataclass(frozen=True, kw_only=True)
class SubprocessRunner:
    """Runs the real command with ``env`` (e.g. ``SLURM_CONF``) added to the allow-listed part of this process's
    environment (``child_environment``)."""

    env: Mapping[str, str] = field(default_factory=dict)

    def stream(
        self, argv: Sequence[str], *, env: Mapping[str, str], timeout_s: float
    ) -> AbstractContextManager[Iterator[str]]:
        return self._stream(list(argv), {**self.env, **env}, timeout_s)

    def __call__(self, argv: Sequence[str], *, timeout: float) -> tuple[int, str, str]:
        done = run_captured(argv, timeout_s=timeout, env=self.env)
        return done.returncode, done.stdout, done.stderr

    @contextlib.contextmanager
    def _stream(self, argv: list[str], env: dict[str, str], timeout_s: float) -> Iterator[Iterator[str]]:
        with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as err:
            try:
                proc = subprocess.Popen(
                    argv,
                    stdout=subprocess.PIPE,
                    stderr=err,
                    stdin=subprocess.DEVNULL,
                    env=child_environment(env),
                    text=True,
                    encoding="utf-8",
                    errors="replace",
                )
            except OSError as exc:
                raise CommandFailed(argv, f"could not be started ({exc.strerror})") from exc
            timed_out = threading.Event()

            def kill() -> None:
                timed_out.set()
                proc.kill()

            timer = threading.Timer(timeout_s, kill)
            timer.start()
            try:
                assert proc.stdout is not None
                yield iter(proc.stdout)
                proc.stdout.read()  # drain what the consumer did not read, so the command can exit
                returncode = proc.wait()
            finally:
                timer.cancel()
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            err.seek(0)
            stderr = err.read()
            if timed_out.is_set():
                raise CommandFailed(argv, f"timed out after {timeout_s:g} s and was killed", stderr=stderr)
            if returncode != 0:
                raise CommandFailed(argv, f"exited with status {returncode}", stderr=stderr, returncode=returncode)


@dataclass(frozen=True)
class Captured:
    returncode: int
    stdout: str
    stderr: str


def run_captured(argv: Sequence[str], *, timeout_s: float, env: Mapping[str, str] | None = None) -> Captured:
    """Run to completion with ``env`` added to the allow-listed environment; see the module docstring."""
    args = list(argv)
    try:
        done = subprocess.run(
            args,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout_s,
            check=False,
            stdin=subprocess.DEVNULL,
            env=child_environment(env),
        )
    except FileNotFoundError:
        raise CommandFailed(args, f"cannot run: {args[0]!r} not found") from None
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        raise CommandFailed(args, f"timed out after {timeout_s:g} s", stderr=stderr) from exc
    except OSError as exc:
        raise CommandFailed(args, f"cannot run: {exc.strerror or exc}") from exc
    return Captured(done.returncode, done.stdout, done.stderr)
