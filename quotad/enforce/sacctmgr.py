"""Talk to Slurm's accounting and controller CLIs (``sacctmgr``, ``scontrol``) through an injected runner.

Every call goes through a ``Runner``: ``argv -> (returncode, stdout, stderr)`` with a timeout, so tests drive a
fake and production passes ``SubprocessRunner``. Failures never escape as tracebacks: a non-zero exit, a timeout
or a missing binary raises ``SlurmCommandError`` with the command line and its stderr; output that does not have
the shape asked for raises ``SlurmOutputError`` naming what was expected. ``Runner`` and ``SubprocessRunner`` are
``quotad.collectors.runner``'s, shared with the collectors.

``sacctmgr`` output is always requested as ``-P -n ... format=<columns>`` (``|``-separated, no header) and
parsed by those explicit columns, so a Slurm version that adds columns to its defaults changes nothing.

Errors (all ``quotad.errors.QuotadError``, exit 1):

    SlurmError
    ├── SlurmCommandError    the command failed: ``command``, ``returncode``, ``stderr``
    └── SlurmOutputError     the command's output is not what was asked for: ``command``, ``expected``

Tested against Slurm 22.05 (the project's ``deploy/slurm-testcluster``).
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from quotad.collectors.runner import CommandFailed, Runner, SubprocessRunner
from quotad.config import ClusterConfig
from quotad.errors import QuotadError

__all__ = [
    "ASSOC_FORMAT",
    "QOS_FORMAT",
    "Association",
    "QosRecord",
    "SlurmCommandError",
    "SlurmError",
    "SlurmOutputError",
    "SlurmTools",
    "default_runner",
    "format_tres",
    "parse_assoc_mgr_qos",
    "parse_parsable",
    "parse_scontrol_config",
    "parse_tres",
    "slurm_tools",
]

#: Seconds one sacctmgr/scontrol call may take before it is abandoned.
DEFAULT_TIMEOUT_S = 60

ASSOC_FORMAT = ("Cluster", "Account", "User", "Partition", "QOS", "DefaultQOS")
QOS_FORMAT = ("Name", "Flags", "GrpTRESMins")


class SlurmError(QuotadError):
    """A Slurm command could not be used; ``command`` is the shell-quoted command line."""

    def __init__(self, message: str, *, command: str) -> None:
        self.command = command
        super().__init__(message)


class SlurmCommandError(SlurmError):
    """The command failed to run, timed out or exited non-zero."""

    def __init__(self, command: str, *, reason: str, returncode: int | None = None, stderr: str = "") -> None:
        self.returncode = returncode
        self.stderr = stderr
        detail = f": {stderr.strip()}" if stderr.strip() else ""
        super().__init__(f"`{command}` {reason}{detail}", command=command)


class SlurmOutputError(SlurmError):
    """The command ran but printed something other than what was asked for."""

    def __init__(self, command: str, *, expected: str, got: str) -> None:
        self.expected = expected
        self.got = got
        super().__init__(f"`{command}`: expected {expected}, got {got!r}", command=command)


def default_runner(cluster: ClusterConfig) -> Runner:
    """The real runner for ``cluster``: its ``sacct.slurm_conf`` (if any) becomes ``SLURM_CONF``."""
    conf = cluster.sacct.slurm_conf
    return SubprocessRunner(env={"SLURM_CONF": str(conf)} if conf else {})


@dataclass(frozen=True)
class Association:
    """One row of ``sacctmgr show assoc``: ``user``/``partition`` are empty for the account's own association."""

    cluster: str
    account: str
    user: str
    partition: str
    qos: frozenset[str]
    default_qos: str

    @property
    def label(self) -> str:
        """How people name it: ``cluster/account``, ``cluster/account/user`` (``@partition`` when set)."""
        text = f"{self.cluster}/{self.account}" + (f"/{self.user}" if self.user else "")
        return text + (f"@{self.partition}" if self.partition else "")


@dataclass(frozen=True)
class QosRecord:
    """One row of ``sacctmgr show qos``; ``grp_tres_mins`` maps a TRES name to its limit in TRES-minutes."""

    name: str
    flags: frozenset[str]
    grp_tres_mins: Mapping[str, int]


def parse_tres(text: str, *, command: str) -> dict[str, int]:
    """``gres/gpu=10,gres/gpu:h100=5`` -> ``{"gres/gpu": 10, "gres/gpu:h100": 5}``; empty text -> ``{}``."""
    out: dict[str, int] = {}
    for item in filter(None, text.split(",")):
        name, sep, value = item.partition("=")
        if not sep or not name or not re.fullmatch(r"-?\d+", value):
            raise SlurmOutputError(command, expected="a TRES list such as 'gres/gpu=10,gres/gpu:h100=5'", got=text)
        out[name] = int(value)
    return out


def format_tres(values: Mapping[str, int]) -> str:
    """The inverse of ``parse_tres``, in name order (how sacctmgr takes it)."""
    return ",".join(f"{name}={value}" for name, value in sorted(values.items()))


def parse_parsable(stdout: str, columns: Sequence[str], *, command: str) -> list[list[str]]:
    """Rows of ``sacctmgr -P -n ... format=<columns>`` output, each checked to have exactly those columns."""
    rows = []
    for line in stdout.splitlines():
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) != len(columns):
            raise SlurmOutputError(
                command, expected=f"{len(columns)} '|'-separated fields ({','.join(columns)}) per line", got=line
            )
        rows.append(fields)
    return rows


def parse_scontrol_config(stdout: str, *, command: str) -> dict[str, str]:
    """``scontrol show config`` as ``{key: value}`` (``Key = Value`` lines; headers and blanks skipped)."""
    config: dict[str, str] = {}
    for line in stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and " " not in key.strip():
            config[key.strip()] = value.strip()
    if "ClusterName" not in config:
        raise SlurmOutputError(command, expected="'Key = Value' lines including ClusterName", got=stdout[:200])
    return config


_QOS_HEAD = re.compile(r"^QOS=(?P<name>\S+)\(\d+\)$")
_TRES_USAGE = re.compile(r"^(?P<name>[^=,]+)=(?P<limit>N|-?\d+)\((?P<used>\d+)\)$")


def parse_assoc_mgr_qos(stdout: str, qos: str, *, command: str) -> dict[str, int] | None:
    """Used TRES-minutes of ``qos`` from ``scontrol show assoc_mgr flags=qos qos=<qos>``.

    The ``GrpTRESMins=`` line of the QOS record reads ``name=LIMIT(USED)`` per TRES, ``LIMIT`` being ``N`` when
    unset and ``USED`` whole minutes (Slurm truncates). ``None`` when slurmctld has no record of the QOS.
    """
    lines = [line.strip() for line in stdout.splitlines()]
    for i, line in enumerate(lines):
        match = _QOS_HEAD.match(line)
        if not match or match["name"].lower() != qos.lower():
            continue
        for body in lines[i + 1 :]:
            if _QOS_HEAD.match(body):
                break
            if body.startswith("GrpTRESMins="):
                used: dict[str, int] = {}
                for item in body.removeprefix("GrpTRESMins=").split(","):
                    tres = _TRES_USAGE.match(item)
                    if not tres:
                        raise SlurmOutputError(
                            command, expected="GrpTRESMins=NAME=LIMIT(USED),... in the QOS record", got=body
                        )
                    used[tres["name"]] = int(tres["used"])
                return used
        raise SlurmOutputError(command, expected=f"a GrpTRESMins= line in the record of QOS {qos}", got=line)
    return None


@dataclass(frozen=True, kw_only=True)
class SlurmTools:
    """``sacctmgr``/``scontrol`` of one cluster. The constructor only assigns; every method runs one command."""

    runner: Runner
    cluster: str
    sacctmgr: str = "sacctmgr"
    scontrol: str = "scontrol"
    use_cluster_flag: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S

    # -- running -------------------------------------------------------------------------------------------
    def run(self, argv: Sequence[str]) -> str:
        """Run ``argv``; stdout on exit 0, else ``SlurmCommandError`` with the command and its stderr."""
        command = shlex.join(argv)
        try:
            code, stdout, stderr = self.runner(list(argv), timeout=self.timeout_s)
        except CommandFailed as exc:
            raise SlurmCommandError(command, reason=exc.reason, stderr=exc.stderr) from exc
        except (OSError, subprocess.SubprocessError) as exc:  # a runner that let a dependency error through
            raise SlurmCommandError(command, reason=f"cannot run: {exc}") from exc
        if code != 0:
            # sacctmgr prints some refusals ("Nothing modified") on stdout.
            raise SlurmCommandError(command, reason=f"exited {code}", returncode=code, stderr=stderr or stdout)
        return stdout

    def scontrol_argv(self, *args: str) -> list[str]:
        return [self.scontrol, *(["-M", self.cluster] if self.use_cluster_flag else []), *args]

    # -- reading -------------------------------------------------------------------------------------------
    def associations_argv(self) -> list[str]:
        return [
            self.sacctmgr,
            "-P",
            "-n",
            "show",
            "assoc",
            "where",
            f"cluster={self.cluster}",
            f"format={','.join(ASSOC_FORMAT)}",
        ]

    def associations(self) -> list[Association]:
        """Every association on this cluster (account rows and user rows)."""
        argv = self.associations_argv()
        rows = parse_parsable(self.run(argv), ASSOC_FORMAT, command=shlex.join(argv))
        out = []
        for cluster, account, user, partition, qos, default_qos in rows:
            if cluster != self.cluster or not account:
                raise SlurmOutputError(
                    shlex.join(argv),
                    expected=f"rows of cluster {self.cluster} with an account",
                    got="|".join([cluster, account, user, partition, qos, default_qos]),
                )
            out.append(
                Association(cluster, account, user, partition, frozenset(filter(None, qos.split(","))), default_qos)
            )
        return out

    def qos_argv(self) -> list[str]:
        return [self.sacctmgr, "-P", "-n", "show", "qos", f"format={','.join(QOS_FORMAT)}"]

    def qos_records(self) -> dict[str, QosRecord]:
        """Every QOS the cluster's slurmdbd knows, by name."""
        argv = self.qos_argv()
        command = shlex.join(argv)
        out = {}
        for name, flags, tres in parse_parsable(self.run(argv), QOS_FORMAT, command=command):
            if not name:
                raise SlurmOutputError(command, expected="a QOS name in the first field", got=f"{name}|{flags}|{tres}")
            out[name] = QosRecord(name, frozenset(filter(None, flags.split(","))), parse_tres(tres, command=command))
        return out

    def dbd_clusters(self) -> list[str]:
        """Clusters registered in this cluster's slurmdbd (more than one: QOS are shared between them)."""
        argv = [self.sacctmgr, "-P", "-n", "show", "cluster", "format=Cluster"]
        return [row[0] for row in parse_parsable(self.run(argv), ("Cluster",), command=shlex.join(argv))]

    def qos_usage(self, qos: str) -> dict[str, int] | None:
        """TRES-minutes slurmctld has counted against ``qos`` (``None`` if it has no record of it)."""
        argv = self.scontrol_argv("show", "assoc_mgr", "flags=qos", f"qos={qos}")
        return parse_assoc_mgr_qos(self.run(argv), qos, command=shlex.join(argv))

    def config(self) -> dict[str, str]:
        """``scontrol show config`` of the cluster's slurmctld."""
        argv = self.scontrol_argv("show", "config")
        return parse_scontrol_config(self.run(argv), command=shlex.join(argv))

    # -- writing (argv only; the caller decides whether to run) --------------------------------------------
    def add_qos_argv(self, qos: str) -> list[str]:
        return [self.sacctmgr, "-i", "add", "qos", qos]

    def modify_qos_argv(self, qos: str, settings: Sequence[str]) -> list[str]:
        return [self.sacctmgr, "-i", "modify", "qos", "where", f"name={qos}", "set", *settings]

    def set_account_qos_argv(self, account: str, qos: str) -> list[str]:
        """Make ``qos`` the only allowed and the default QOS of the account's associations (user rows too)."""
        return [
            self.sacctmgr,
            "-i",
            "modify",
            "account",
            "where",
            f"name={account}",
            f"cluster={self.cluster}",
            "set",
            f"QOS={qos}",
            f"DefaultQOS={qos}",
        ]


def slurm_tools(cluster: ClusterConfig, runner: Runner, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> SlurmTools:
    """Tools for a configured cluster: binaries beside its configured ``sacct`` command, ``-M`` as it says."""
    sacct = Path(cluster.sacct.command)
    folder = sacct.parent if sacct.parent != Path(".") else None
    return SlurmTools(
        runner=runner,
        cluster=cluster.name,
        sacctmgr=str(folder / "sacctmgr") if folder else "sacctmgr",
        scontrol=str(folder / "scontrol") if folder else "scontrol",
        use_cluster_flag=cluster.sacct.use_cluster_flag,
        timeout_s=timeout_s,
    )
