"""``quotad slurm sync-limits`` / ``slurm accounts check``: a fake sacctmgr/scontrol, then the real 22.05 cluster."""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import Engine
from typer.testing import CliRunner

import quotad.cli.slurm as slurm_cli
from quotad.amounts import NORMALISED, Unit
from quotad.cli import main as main_cli
from quotad.collectors.runner import SubprocessRunner
from quotad.collectors.slurm import ingest_sacct_text
from quotad.config import Settings
from quotad.enforce.sacctmgr import (
    ASSOC_FORMAT,
    SlurmCommandError,
    SlurmOutputError,
    SlurmTools,
    default_runner,
    parse_assoc_mgr_qos,
    parse_parsable,
    parse_scontrol_config,
    parse_tres,
)
from quotad.enforce.slurm_limits import (
    LimitMismatchError,
    SlurmSetupError,
    burn_warnings,
    check_accounts,
    remaining_minutes,
    sync_limits,
)
from quotad.ledger.db import create_ledger_engine, upgrade
from quotad.ledger.ingest import sync_clusters
from quotad.ledger.models import POOL
from quotad.ledger.queries import GrantInfo, company_status
from quotad.ledger.registry import AccountRef, GrantSpec, add_company, set_grant
from quotad.units import TFLOP_PER_EFLOPS_HOUR, GpuCatalog
from tests.conftest import make_settings
from tests.helpers import row, sacct_text

FIXTURES = Path(__file__).parent / "fixtures" / "sacctmgr"
H = 3600


def utc(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


NOV, MAY = utc("2026-11-01T00:00:00"), utc("2027-05-01T00:00:00")
NOW = utc("2026-11-20T00:00:00")
TYPES = ["h100", "h200", "a100"]
CATALOG = GpuCatalog({"h100": 989, "h200": 989, "a100": 312})

# acme: 1000 GPU-h (H100) on c1; used 100 h + 70 h + 59 s  ->  (3,600,000 - 612,059) // 60 = 49,799 minutes
ACME_LEFT = 49_799
# fuji: 2 EFLOPS-h on the pool; used 8 x 86,400 H200-s = 683,596,800 TFLOP  ->  6,516,403,200 // (989 x 60)
FUJI_LEFT = 109_814
# hot: 100 GPU-h, 95 of them in the last 7 days  ->  5 h = 300 minutes left, burning ~13.6 h a day
HOT_LEFT = 300


# -- a fake Slurm ------------------------------------------------------------------------------------------


@dataclass
class FakeQos:
    flags: set[str] = field(default_factory=set)
    tres: dict[str, int] = field(default_factory=dict)


@dataclass
class FakeSlurm:
    """sacctmgr + scontrol of one cluster, in memory; ``-i`` commands change its state like Slurm does."""

    cluster: str
    accounts: dict[str, list[str]]  # account -> users with an association
    qos: dict[str, FakeQos] = field(default_factory=lambda: {"normal": FakeQos()})
    assoc_qos: dict[tuple[str, str], tuple[set[str], str]] = field(default_factory=dict)
    usage: dict[str, dict[str, int]] = field(default_factory=dict)  # what slurmctld counted per QOS
    unknown_to_ctld: set[str] = field(default_factory=set)
    enforce: str = "associations,limits,qos,safe"
    tracked: str = "cpu,mem,energy,node,billing,fs/disk,vmem,pages,gres/gpu,gres/gpu:h100,gres/gpu:h200"
    dbd_clusters: list[str] = field(default_factory=list)
    fail: dict[str, tuple[int, str, str]] = field(default_factory=dict)  # argv substring -> result
    tamper: Callable[[FakeSlurm, list[str]], None] | None = None  # runs after each applied command
    calls: list[list[str]] = field(default_factory=list)

    def __call__(self, argv: Sequence[str], *, timeout: float) -> tuple[int, str, str]:
        argv = list(argv)
        self.calls.append(argv)
        line = " ".join(argv)
        for needle, result in self.fail.items():
            if needle in line:
                return result
        if argv[:2] == ["sacctmgr", "-i"]:
            self._apply(argv[2:])
            if self.tamper:
                self.tamper(self, argv)
            return 0, "", ""
        return 0, self._show(argv), ""

    def _assoc(self, account: str, user: str) -> tuple[set[str], str]:
        return self.assoc_qos.get((account, user), ({"normal"}, ""))

    def _show(self, argv: list[str]) -> str:
        if argv[:5] == ["sacctmgr", "-P", "-n", "show", "assoc"]:
            assert argv[5:] == ["where", f"cluster={self.cluster}", f"format={','.join(ASSOC_FORMAT)}"]
            rows = []
            for account in ["root", *sorted(self.accounts)]:
                for user in ["", *self.accounts.get(account, ["root"])]:
                    qos, default = self._assoc(account, user)
                    rows.append(f"{self.cluster}|{account}|{user}||{','.join(sorted(qos))}|{default}")
            return "\n".join(rows) + "\n"
        if argv == ["sacctmgr", "-P", "-n", "show", "qos", "format=Name,Flags,GrpTRESMins"]:
            lines = [
                f"{name}|{','.join(sorted(q.flags))}|{','.join(f'{k}={v}' for k, v in sorted(q.tres.items()))}"
                for name, q in self.qos.items()
            ]
            return "\n".join(lines) + "\n"
        if argv == ["sacctmgr", "-P", "-n", "show", "cluster", "format=Cluster"]:
            return "\n".join(self.dbd_clusters or [self.cluster]) + "\n"
        if argv == ["scontrol", "show", "config"]:
            text = (FIXTURES / "scontrol-show-config.22.05.txt").read_text()
            text = re.sub(r"(?m)^ClusterName\s*=.*$", f"ClusterName = {self.cluster}", text)
            text = re.sub(r"(?m)^AccountingStorageEnforce\s*=.*$", f"AccountingStorageEnforce = {self.enforce}", text)
            return re.sub(r"(?m)^AccountingStorageTRES\s*=.*$", f"AccountingStorageTRES = {self.tracked}", text)
        if argv[:4] == ["scontrol", "show", "assoc_mgr", "flags=qos"]:
            name = argv[4].removeprefix("qos=")
            if name not in self.qos or name in self.unknown_to_ctld:
                return (FIXTURES / "assoc-mgr-no-qos.22.05.txt").read_text()
            return assoc_mgr_text(name, self.qos[name].tres, self.usage.get(name, {}), self.tracked.split(","))
        raise AssertionError(f"unexpected command {argv}")

    def _apply(self, args: list[str]) -> None:
        if args[:2] == ["add", "qos"]:
            self.qos[args[2]] = FakeQos()
        elif args[:3] == ["modify", "qos", "where"]:
            q = self.qos[args[3].removeprefix("name=")]
            for item in args[5:]:
                key, _, value = item.partition("=")
                if key == "Flags+":
                    q.flags.add(value)
                elif key == "GrpTRESMins":
                    for tres, amount in parse_tres(value, command="fake").items():
                        if amount < 0:
                            q.tres.pop(tres, None)
                        else:
                            q.tres[tres] = amount
        elif args[:3] == ["modify", "account", "where"]:
            account = args[3].removeprefix("name=")
            qos = {a.partition("=")[0]: a.partition("=")[2] for a in args[6:]}
            for user in ["", *self.accounts[account]]:
                self.assoc_qos[(account, user)] = ({qos["QOS"]}, qos["DefaultQOS"])
        else:
            raise AssertionError(f"unexpected sacctmgr -i {args}")


def assoc_mgr_text(name: str, limits: dict[str, int], used: dict[str, int], tracked: list[str]) -> str:
    """What ``scontrol show assoc_mgr flags=qos qos=NAME`` prints on 22.05 (shape of the captured fixture)."""
    real = (FIXTURES / "assoc-mgr-qos-limited.22.05.txt").read_text()
    mins = ",".join(f"{t}={limits.get(t, 'N')}({used.get(t, 0)})" for t in tracked)
    real = real.replace("QOS=quotad-qdexp1(5)", f"QOS={name}(7)")
    return re.sub(r"(?m)^(\s*)GrpTRESMins=.*$", rf"\g<1>GrpTRESMins={mins}", real)


# -- a ledger ----------------------------------------------------------------------------------------------


@pytest.fixture
def ledger(engine: Engine, settings: Settings) -> Engine:
    with engine.begin() as conn:
        sync_clusters(conn, settings)
        accounts = [AccountRef("c1", "acme"), AccountRef("c1", "acme-eval")]
        add_company(conn, company_id="acme", name_ja="アクメ", name_en="Acme", now=NOW, accounts=accounts)
        add_company(
            conn, company_id="fuji", name_ja="富士", name_en="Fuji", now=NOW, accounts=[AccountRef("c2", "fuji")]
        )
        add_company(conn, company_id="hot", name_ja="熱", name_en="Hot", now=NOW, accounts=[AccountRef("c1", "hot")])
        add_company(
            conn, company_id="sakura", name_ja="桜", name_en="Sakura", now=NOW, accounts=[AccountRef("c1", "sakura")]
        )
        set_grant(conn, GrantSpec("acme", "c1", "h100", 1000 * H, NOV, MAY), known_gpu_types=TYPES)
        set_grant(conn, GrantSpec("fuji", POOL, NORMALISED, 2 * TFLOP_PER_EFLOPS_HOUR, NOV, MAY), known_gpu_types=TYPES)
        set_grant(conn, GrantSpec("hot", "c1", "h100", 100 * H, NOV, MAY), known_gpu_types=TYPES)
        lines = sacct_text(
            row("1", 1, start="2026-11-02T00:00:00", end="2026-11-02T12:30:00", elapsed=45000, gpus="gres/gpu=8"),
            row("2", 2, start="2026-11-15T00:00:00", end="2026-11-15T10:00:00", elapsed=36000, gpus="gres/gpu=7", account="acme-eval"),
            row("3", 3, start="2026-11-16T00:00:00", end="2026-11-16T00:00:59", elapsed=59, gpus="gres/gpu=1"),
            row("4", 4, start="2026-11-18T00:00:00", end="2026-11-18T23:45:00", elapsed=85500, gpus="gres/gpu=4", account="hot"),
            row("10", 10, cluster="c2", account="fuji", submit="2026-11-10T09:00:00", start="2026-11-10T09:00:00",
                end="2026-11-11T09:00:00", elapsed=86400, gpus="gres/gpu:h200=8,gres/gpu=8"),
        )  # fmt: skip
        ingest_sacct_text(conn, settings, lines, source="t", now=NOW)
    return engine


def fakes() -> dict[str, FakeSlurm]:
    return {
        "c1": FakeSlurm("c1", {"acme": ["alice", "bob"], "acme-eval": ["bob"], "hot": ["hu"], "sakura": ["sa"]}),
        "c2": FakeSlurm("c2", {"fuji": ["fu1"]}),
    }


def runner_for(fake: dict[str, FakeSlurm]) -> Any:
    return lambda cluster: fake[cluster.name]


@pytest.fixture
def slurm_app(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """``quotad -c CONFIG slurm ...`` on a fresh Typer (main.py does not register ``slurm`` yet)."""
    app = typer.Typer(cls=main_cli.QuotadGroup, pretty_exceptions_enable=False, add_completion=False)
    app.callback()(main_cli.main)
    app.add_typer(slurm_cli.app, name="slurm")

    def invoke(fake: dict[str, FakeSlurm], *args: str) -> Any:
        monkeypatch.setattr(slurm_cli, "RUNNER_FOR", runner_for(fake))
        return CliRunner().invoke(app, ["-c", str(config_file), "slurm", *args])

    return invoke


# -- arithmetic --------------------------------------------------------------------------------------------


def grant(company: str, cluster: str, gpu_type: str, amount: int) -> GrantInfo:
    return GrantInfo(0, company, cluster, Unit(gpu_type), amount, NOV, MAY, (), "")


def test_remaining_minutes_round_down_and_never_go_negative() -> None:
    typed = [grant("a", "c1", "h100", 100 * H)]
    left = remaining_minutes(
        typed,
        {("a", "c1", "h100"): 10 * H + 1},
        company_id="a",
        cluster="c1",
        catalog=CATALOG,
        cluster_gpu_types=["h100"],
    )
    assert left == {"gres/gpu:h100": (90 * H - 1) // 60} == {"gres/gpu:h100": 5399}
    over = remaining_minutes(
        typed, {("a", "c1", "h100"): 101 * H}, company_id="a", cluster="c1", catalog=CATALOG, cluster_gpu_types=["h100"]
    )
    assert over == {"gres/gpu:h100": 0}
    # usage of another type, another company or another cluster does not count against a cluster's typed grant
    cells = {("a", "c1", "h200"): 50 * H, ("b", "c1", "h100"): 50 * H, ("a", "c2", "h100"): 50 * H}
    assert remaining_minutes(
        typed, cells, company_id="a", cluster="c1", catalog=CATALOG, cluster_gpu_types=["h100"]
    ) == {"gres/gpu:h100": 6000}
    # no grant covering the cluster: nothing to set
    assert remaining_minutes(typed, {}, company_id="a", cluster="c2", catalog=CATALOG, cluster_gpu_types=["h100"]) == {}


def test_remaining_minutes_per_type_pool_and_normalised() -> None:
    two = [grant("a", "c1", "h100", 10 * H), grant("a", POOL, "h200", 20 * H)]
    cells = {("a", "c2", "h200"): 5 * H, ("a", "c1", "h100"): H}  # pool H200 grant: c2 usage counts
    assert remaining_minutes(two, cells, company_id="a", cluster="c1", catalog=CATALOG, cluster_gpu_types=["h100"]) == {
        "gres/gpu:h100": 540,
        "gres/gpu:h200": 900,
    }
    # normalised: TFLOP left / (highest peak on the cluster x 60), rounded down
    norm = [grant("a", POOL, NORMALISED, 1_000_000_007)]
    cells = {("a", "c1", "a100"): 1000}
    left = remaining_minutes(
        norm, cells, company_id="a", cluster="c1", catalog=CATALOG, cluster_gpu_types=["a100", "h100"]
    )
    assert left == {"gres/gpu": (1_000_000_007 - 1000 * 312) // (989 * 60)}
    only_a100 = remaining_minutes(
        norm, cells, company_id="a", cluster="c1", catalog=CATALOG, cluster_gpu_types=["a100"]
    )
    assert only_a100 == {"gres/gpu": (1_000_000_007 - 1000 * 312) // (312 * 60)}
    # a typed and a normalised grant on one cluster: everything normalised
    mixed = [grant("a", "c1", "h100", 10 * H), grant("a", POOL, NORMALISED, 989 * 60 * 100)]
    assert remaining_minutes(mixed, {}, company_id="a", cluster="c1", catalog=CATALOG, cluster_gpu_types=["h100"]) == {
        "gres/gpu": 600 + 100
    }


# -- dry run -----------------------------------------------------------------------------------------------


def test_dry_run_prints_the_exact_commands_and_changes_nothing(ledger: Engine, slurm_app: Callable[..., Any]) -> None:
    fake = fakes()
    result = slurm_app(fake, "sync-limits", "--now", "2026-11-20T00:00:00")
    assert result.exit_code == 0, result.output
    commands = [line for line in result.stdout.splitlines() if line.startswith("sacctmgr")]
    assert commands == [
        "sacctmgr -i add qos quotad-acme",
        f"sacctmgr -i modify qos where name=quotad-acme set Flags+=NoDecay GrpTRESMins=gres/gpu:h100={ACME_LEFT}",
        "sacctmgr -i modify account where name=acme cluster=c1 set QOS=quotad-acme DefaultQOS=quotad-acme",
        "sacctmgr -i modify account where name=acme-eval cluster=c1 set QOS=quotad-acme DefaultQOS=quotad-acme",
        "sacctmgr -i add qos quotad-hot",
        f"sacctmgr -i modify qos where name=quotad-hot set Flags+=NoDecay GrpTRESMins=gres/gpu:h100={HOT_LEFT}",
        "sacctmgr -i modify account where name=hot cluster=c1 set QOS=quotad-hot DefaultQOS=quotad-hot",
        "sacctmgr -i add qos quotad-fuji",
        f"sacctmgr -i modify qos where name=quotad-fuji set Flags+=NoDecay GrpTRESMins=gres/gpu={FUJI_LEFT}",
        "sacctmgr -i modify account where name=fuji cluster=c2 set QOS=quotad-fuji DefaultQOS=quotad-fuji",
    ]
    assert "dry run" in result.stdout and "dry run: nothing was changed" in result.stderr
    assert "c1: sakura: no active grant covers this cluster; not limited" in result.stderr
    # nothing but reads ran
    assert all("-i" not in call for f in fake.values() for call in f.calls)
    as_json = json.loads(slurm_app(fakes(), "sync-limits", "--now", "2026-11-20T00:00:00", "--json").stdout)
    assert as_json["applied"] is False and as_json["commands"] == commands
    acme = next(r for r in as_json["rows"] if r["company"] == "acme")
    assert acme == {
        "cluster": "c1",
        "company": "acme",
        "qos": "quotad-acme",
        "tres": "gres/gpu:h100",
        "remaining_minutes": ACME_LEFT,
        "slurm_used_minutes": 0,
        "limit_minutes": ACME_LEFT,
        "current_minutes": None,
    }


def test_limit_is_slurm_usage_of_the_qos_plus_the_ledger_remainder(ledger: Engine, settings: Settings) -> None:
    fake = fakes()
    c1 = fake["c1"]
    # the QOS exists already, with an old typed limit to clear, and slurmctld has counted 1,234 H100-minutes on it
    c1.qos["quotad-acme"] = FakeQos({"NoDecay"}, {"gres/gpu:h100": 5, "gres/gpu": 7, "cpu": 100})
    c1.usage["quotad-acme"] = {"gres/gpu:h100": 1234, "gres/gpu": 1300}
    for account in ("acme", "acme-eval"):
        for user in ["", *c1.accounts[account]]:
            c1.assoc_qos[(account, user)] = ({"quotad-acme"}, "quotad-acme")
    with ledger.connect() as conn:
        result = sync_limits(conn, settings, now=NOW, cluster="c1", runner_for=runner_for(fake))
    acme = next(r for r in result.rows if r.company_id == "acme")
    assert (acme.slurm_used_minutes, acme.remaining_minutes, acme.limit_minutes) == (1234, ACME_LEFT, 1234 + ACME_LEFT)
    assert acme.current_minutes == 5 and acme.changes
    acme_commands = [c for c in result.commands if "quotad-acme" in c]
    # the plain gres/gpu limit is cleared, cpu is not ours to touch; associations already right: no command
    assert acme_commands == [
        f"sacctmgr -i modify qos where name=quotad-acme set GrpTRESMins=gres/gpu=-1,gres/gpu:h100={1234 + ACME_LEFT}"
    ]
    assert ["scontrol", "show", "assoc_mgr", "flags=qos", "qos=quotad-acme"] in c1.calls


def test_apply_runs_the_commands_reads_them_back_and_is_then_idempotent(ledger: Engine, settings: Settings) -> None:
    fake = fakes()
    with ledger.connect() as conn:
        done = sync_limits(conn, settings, now=NOW, apply=True, runner_for=runner_for(fake))
    assert done.applied and len(done.commands) == 10
    c1 = fake["c1"]
    assert c1.qos["quotad-acme"].tres == {"gres/gpu:h100": ACME_LEFT} and c1.qos["quotad-acme"].flags == {"NoDecay"}
    assert c1.assoc_qos[("acme-eval", "bob")] == ({"quotad-acme"}, "quotad-acme")
    assert ("sakura", "") not in c1.assoc_qos  # no grant: left alone
    with ledger.connect() as conn:
        again = sync_limits(conn, settings, now=NOW, apply=True, runner_for=runner_for(fake))
        problems = check_accounts(conn, settings, now=NOW, runner_for=runner_for(fake))
    assert again.commands == [] and all(not r.changes for r in again.rows)
    assert [p.kind for p in problems] == []


# -- failures ----------------------------------------------------------------------------------------------


def test_readback_mismatch_names_the_association_and_both_values(
    ledger: Engine, settings: Settings, slurm_app: Callable[..., Any]
) -> None:
    def lose_limit(fake: FakeSlurm, argv: list[str]) -> None:
        if "name=quotad-acme" in argv:
            fake.qos["quotad-acme"].tres["gres/gpu:h100"] = 42  # e.g. someone else wrote in between

    def lose_bob(fake: FakeSlurm, argv: list[str]) -> None:
        if "name=acme-eval" in argv:
            fake.assoc_qos[("acme-eval", "bob")] = ({"normal", "quotad-acme"}, "normal")

    fake = fakes()
    fake["c1"].tamper = lose_limit
    with ledger.connect() as conn, pytest.raises(LimitMismatchError) as err:
        sync_limits(conn, settings, now=NOW, cluster="c1", apply=True, runner_for=runner_for(fake))
    assert f"QOS quotad-acme: GrpTRESMins gres/gpu:h100 expected {ACME_LEFT}, Slurm has 42" in str(err.value)
    assert err.value.exit_code == 1
    fake = fakes()
    fake["c1"].tamper = lose_bob
    result = slurm_app(fake, "sync-limits", "--cluster", "c1", "--apply", "--now", "2026-11-20T00:00:00")
    assert result.exit_code == 1
    assert "association c1/acme-eval/bob: QOS expected quotad-acme, Slurm has normal,quotad-acme" in result.stderr
    assert "association c1/acme-eval/bob: DefaultQOS expected quotad-acme, Slurm has normal" in result.stderr
    assert "Traceback" not in result.output


def test_sacctmgr_failure_is_one_clear_error(ledger: Engine, settings: Settings, slurm_app: Callable[..., Any]) -> None:
    refused = (1, "", "sacctmgr: error: Problem talking to the database: Connection refused\n")
    fake = fakes()
    fake["c1"].fail["show assoc"] = refused
    result = slurm_app(fake, "sync-limits", "--now", "2026-11-20T00:00:00")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (
        "`sacctmgr -P -n show assoc where cluster=c1 format=Cluster,Account,User,Partition,QOS,DefaultQOS` exited 1: "
        "sacctmgr: error: Problem talking to the database: Connection refused" in result.stderr
    )
    # a write refused half-way: the failing command and its message, nothing after it runs
    fake = fakes()
    fake["c1"].fail["add qos quotad-hot"] = (1, " Nothing new added.\n", "")
    with ledger.connect() as conn, pytest.raises(SlurmCommandError, match="add qos quotad-hot` exited 1: Nothing new"):
        sync_limits(conn, settings, now=NOW, apply=True, runner_for=runner_for(fake))
    assert not any("name=hot" in " ".join(c) for c in fake["c1"].calls)
    # the real runner: a missing binary and a timeout become the same error type
    tools = SlurmTools(runner=SubprocessRunner(), cluster="c1", sacctmgr="/nonexistent/sacctmgr")
    with pytest.raises(SlurmCommandError, match=r"/nonexistent/sacctmgr -P -n show qos.*not found"):
        tools.qos_records()
    slow = SlurmTools(runner=SubprocessRunner(), cluster="c1", timeout_s=0.2)
    with pytest.raises(SlurmCommandError, match=r"`sleep 5` timed out after 0.2 s"):
        slow.run(["sleep", "5"])


def test_bad_output_names_what_was_expected(ledger: Engine, settings: Settings) -> None:
    fake = fakes()
    fake["c1"].fail["show qos"] = (0, "normal|\n", "")
    with (
        ledger.connect() as conn,
        pytest.raises(SlurmOutputError, match=r"3 '\|'-separated fields \(Name,Flags,GrpTRESMins\)"),
    ):
        sync_limits(conn, settings, now=NOW, runner_for=runner_for(fake))
    with pytest.raises(SlurmOutputError, match="TRES list"):
        parse_tres("gres/gpu=lots", command="x")
    with pytest.raises(SlurmOutputError, match=r"GrpTRESMins=NAME=LIMIT\(USED\)"):
        parse_assoc_mgr_qos("QOS=q(3)\n    GrpTRESMins=gres/gpu=5\n", "q", command="x")
    with pytest.raises(SlurmOutputError, match="ClusterName"):
        parse_scontrol_config("hello\n", command="x")
    # a QOS slurmdbd has but slurmctld does not know: its usage is unknown, so no limit can be computed
    fake = fakes()
    fake["c1"].qos["quotad-acme"] = FakeQos({"NoDecay"})
    fake["c1"].unknown_to_ctld.add("quotad-acme")
    with ledger.connect() as conn, pytest.raises(SlurmOutputError, match="usage record of QOS quotad-acme"):
        sync_limits(conn, settings, now=NOW, runner_for=runner_for(fake))


def test_real_22_05_output_parses() -> None:
    rows = parse_parsable((FIXTURES / "show-assoc.22.05.txt").read_text(), ASSOC_FORMAT, command="x")
    assert ["quotad-test", "acme", "quotadtest", "", "normal", ""] in rows
    config = parse_scontrol_config((FIXTURES / "scontrol-show-config.22.05.txt").read_text(), command="x")
    assert config["AccountingStorageEnforce"] == "associations,limits,qos,safe"
    assert config["PriorityDecayHalfLife"] == "00:00:00"
    limited = parse_assoc_mgr_qos(
        (FIXTURES / "assoc-mgr-qos-limited.22.05.txt").read_text(), "quotad-qdexp1", command="x"
    )
    assert limited is not None and limited["gres/gpu:h100"] == 0 and limited["mem"] == 0
    normal = parse_assoc_mgr_qos((FIXTURES / "assoc-mgr-qos-normal.22.05.txt").read_text(), "normal", command="x")
    assert normal is not None and normal["gres/gpu:h100"] >= 0
    assert parse_assoc_mgr_qos((FIXTURES / "assoc-mgr-no-qos.22.05.txt").read_text(), "normal", command="x") is None


def test_cluster_setup_that_cannot_carry_the_limits(ledger: Engine, settings: Settings) -> None:
    fake = fakes()
    fake["c1"].tracked = "cpu,mem,gres/gpu"
    with ledger.connect() as conn, pytest.raises(SlurmSetupError, match=r"does not account gres/gpu:h100"):
        sync_limits(conn, settings, now=NOW, cluster="c1", runner_for=runner_for(fake))
    fake = fakes()
    fake["c1"].dbd_clusters = ["c1", "c2"]
    with ledger.connect() as conn, pytest.raises(SlurmSetupError, match="shares its slurmdbd with configured cluster"):
        sync_limits(conn, settings, now=NOW, runner_for=runner_for(fake))
    fake = fakes()
    fake["c2"].enforce = "associations"
    with ledger.connect() as conn:
        result = sync_limits(conn, settings, now=NOW, cluster="c2", runner_for=runner_for(fake))
    assert "c2: AccountingStorageEnforce lacks 'limits': Slurm will not enforce GrpTRESMins" in result.warnings


# -- warnings and checks -----------------------------------------------------------------------------------


def test_burn_rate_warning_before_applying(ledger: Engine, settings: Settings, slurm_app: Callable[..., Any]) -> None:
    with ledger.connect() as conn:
        rows = company_status(conn, CATALOG, now=NOW)
    warnings = burn_warnings(rows, {"acme", "hot", "fuji"})
    # hot: 5 h left at 95 h / 7 days = 13.57 h a day -> 8.8 h; acme (830 h left, ~10 h a day) is fine
    assert warnings == [
        "hot: reaches its limit in about 8.8 h at its 7-day burn rate (5 GPU-h (H100) left, 14 GPU-h (H100) a day)"
    ]
    result = slurm_app(fakes(), "sync-limits", "--now", "2026-11-20T00:00:00", "--json")
    assert result.exit_code == 0
    assert warnings[0] in json.loads(result.stdout)["warnings"] and warnings[0] in result.stderr
    # warned before anything is written: the warning precedes the first command run
    fake = fakes()
    result = slurm_app(fake, "sync-limits", "--apply", "--now", "2026-11-20T00:00:00")
    assert result.exit_code == 0, result.output
    assert result.stderr.index("hot: reaches its limit") < result.stderr.index("running sacctmgr -i")
    # used up: warned too
    with ledger.begin() as conn:
        set_grant(conn, GrantSpec("acme", "c1", "h100", 100 * H, NOV, MAY), known_gpu_types=TYPES)
        rows = company_status(conn, CATALOG, now=NOW)
    assert "acme: grant used up (170 of 100 GPU-h (H100))" in burn_warnings(rows, {"acme"})


def test_accounts_check_categories(ledger: Engine, settings: Settings, slurm_app: Callable[..., Any]) -> None:
    fake = fakes()
    with ledger.connect() as conn:
        sync_limits(conn, settings, now=NOW, apply=True, runner_for=runner_for(fake))
    clean = slurm_app(fake, "accounts", "check", "--now", "2026-11-20T00:00:00")
    assert clean.exit_code == 0, clean.output
    # now break each category once
    fake["c1"].accounts["stranger"] = ["st"]  # in Slurm, no company claims it
    del fake["c2"].accounts["fuji"]  # in the ledger, not in Slurm
    fake["c1"].usage["quotad-acme"] = {"gres/gpu:h100": 10}  # Slurm counted 10 min the ledger has not seen
    fake["c1"].assoc_qos[("hot", "hu")] = ({"normal"}, "normal")
    result = slurm_app(fake, "accounts", "check", "--now", "2026-11-20T00:00:00", "--json")
    assert result.exit_code == 1
    got = {(p["cluster"], p["kind"], p["subject"], p["detail"]) for p in json.loads(result.stdout)}
    assert got == {
        ("c1", "unclaimed", "stranger", "Slurm account that no company claims"),
        ("c2", "missing", "fuji", "ledger account with no association in Slurm"),
        (
            "c1",
            "limit",
            "QOS quotad-acme",
            f"GrpTRESMins gres/gpu:h100: expected {ACME_LEFT + 10}, Slurm has {ACME_LEFT}",
        ),
        ("c1", "limit", "association c1/hot/hu", "QOS: expected quotad-hot, Slurm has normal"),
        ("c1", "limit", "association c1/hot/hu", "DefaultQOS: expected quotad-hot, Slurm has normal"),
    }
    # --tolerance-minutes accepts usage not yet ingested; --cluster narrows
    narrowed = slurm_app(fake, "accounts", "check", "--cluster", "c2", "--json")
    assert {p["kind"] for p in json.loads(narrowed.stdout)} == {"missing"}
    with ledger.connect() as conn:
        tolerant = check_accounts(
            conn, settings, now=NOW, cluster="c1", tolerance_minutes=10, runner_for=runner_for(fake)
        )
    assert {p.subject for p in tolerant} == {"stranger", "association c1/hot/hu"}
    unknown = slurm_app(fake, "accounts", "check", "--cluster", "nope")
    assert unknown.exit_code == 2 and "no cluster named 'nope'" in unknown.stderr


def test_company_without_any_account_is_reported(ledger: Engine, settings: Settings) -> None:
    with ledger.begin() as conn:
        add_company(conn, company_id="lonely", name_ja="孤", name_en="Lonely", now=NOW)
        problems = check_accounts(conn, settings, now=NOW, runner_for=runner_for(fakes()))
    lonely = [p for p in problems if p.company_id == "lonely"]
    assert [(p.kind, p.subject, p.detail) for p in lonely] == [
        ("missing", "lonely", "company has no Slurm account in the ledger")
    ]


# -- the real cluster --------------------------------------------------------------------------------------


def sh(*argv: str, check: bool = True) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"{argv}: {done.returncode} {done.stdout} {done.stderr}")
    return done.stdout.strip()


def wait_for(what: str, probe: Callable[[], Any], timeout_s: float = 30) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def real_company(slurm_cluster: str, tmp_path: Path) -> Iterator[tuple[str, str, Settings, Engine]]:
    """A throw-away Slurm account (root's association under it) and a SQLite ledger that maps it to a company."""
    company = f"qt{uuid.uuid4().hex[:8]}"
    account = company
    qos = f"quotad-{company}"
    sh("sacctmgr", "-i", "add", "account", account, f"cluster={slurm_cluster}", "parent=root")
    sh("sacctmgr", "-i", "add", "user", "root", f"account={account}", f"cluster={slurm_cluster}")
    settings = make_settings(
        f"sqlite:///{tmp_path / 'ledger.sqlite'}",
        clusters=[{"name": slurm_cluster, "default_gpu_type": "h100", "timezone": "UTC"}],
    )
    engine = create_ledger_engine(settings)
    upgrade(engine)
    with engine.begin() as conn:
        sync_clusters(conn, settings)
        add_company(
            conn,
            company_id=company,
            name_ja="試",
            name_en="Test",
            now=NOW,
            accounts=[AccountRef(slurm_cluster, account)],
        )
    try:
        yield company, account, settings, engine
    finally:
        engine.dispose()
        sh("scancel", "-A", account, check=False)
        wait_for("the test jobs to leave the queue", lambda: not sh("squeue", "-h", "-A", account, check=False))
        for _ in range(20):  # slurmdbd refuses while it still sees the jobs
            if subprocess.run(["sacctmgr", "-i", "delete", "account", account], capture_output=True).returncode == 0:
                break
            time.sleep(0.5)
        sh("sacctmgr", "-i", "delete", "qos", qos, check=False)
        assert account not in sh("sacctmgr", "-P", "-n", "show", "account", "format=Account")
        assert qos not in sh("sacctmgr", "-P", "-n", "show", "qos", "format=Name")


def set_real_grant(engine: Engine, company: str, cluster: str, gpu_seconds: int, now: int) -> None:
    with engine.begin() as conn:
        set_grant(
            conn, GrantSpec(company, cluster, "h100", gpu_seconds, now - 86400, now + 86400), known_gpu_types=TYPES
        )


@pytest.mark.slurm
def test_real_cluster_holds_a_job_over_the_remaining_grant(
    slurm_cluster: str, real_company: tuple[str, str, Settings, Engine]
) -> None:
    company, account, settings, engine = real_company
    qos = f"quotad-{company}"
    now = int(time.time())
    real = default_runner(settings.clusters[0])
    # 20 GPU-minutes and 30 s left in the ledger: the limit is 20 (rounded down)
    set_real_grant(engine, company, slurm_cluster, 20 * 60 + 30, now)
    with engine.connect() as conn:
        done = sync_limits(conn, settings, now=now, apply=True, runner_for=lambda _c: real)
    assert [(r.tres, r.limit_minutes) for r in done.rows] == [("gres/gpu:h100", 20)]
    assert sh("sacctmgr", "-P", "-n", "show", "qos", "where", f"name={qos}", "format=Flags,GrpTRESMins") == (
        "NoDecay|gres/gpu:h100=20"
    )
    with engine.connect() as conn:
        clean = check_accounts(conn, settings, now=now, cluster=slurm_cluster, runner_for=lambda _c: real)
    assert [p for p in clean if p.company_id == company] == []
    # another QOS is no way around it
    refused = subprocess.run(
        ["sbatch", "-A", account, "--qos=normal", "--time=1", "-o", "/dev/null", "--wrap", "true"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert refused.returncode != 0 and "qos" in refused.stderr.lower()
    # Slurm counts usage on the QOS (4 GPUs x ~16 s >= 1 GPU-minute); the ledger has not seen it
    job = sh(
        "sbatch", "--parsable", "-A", account, "--gres=gpu:h100:4", "--time=1", "-o", "/dev/null", "--wrap", "sleep 16"
    )
    wait_for("the job to finish", lambda: not sh("squeue", "-h", "-j", job, check=False), timeout_s=40)
    tools = SlurmTools(runner=real, cluster=slurm_cluster)
    used = wait_for("slurmctld to count the job", lambda: (tools.qos_usage(qos) or {}).get("gres/gpu:h100"))
    assert used >= 1
    # 1 GPU-minute left in the ledger: limit = Slurm's count + 1, so a 5-minute 1-GPU job is held by Slurm itself
    set_real_grant(engine, company, slurm_cluster, 60, now)
    with engine.connect() as conn:
        done = sync_limits(conn, settings, now=now, apply=True, runner_for=lambda _c: real)
    row_ = done.rows[0]
    assert (row_.slurm_used_minutes, row_.remaining_minutes, row_.limit_minutes) == (used, 1, used + 1)
    held = sh(
        "sbatch", "--parsable", "-A", account, "--gres=gpu:h100:1", "--time=5", "-o", "/dev/null", "--wrap", "sleep 60"
    )
    reason = wait_for(
        "Slurm to hold the job",
        lambda: (r := sh("squeue", "-h", "-j", held, "-o", "%r", check=False)).startswith(("QOSGrp", "AssocGrp")) and r,
    )
    assert reason == "QOSGrpGRESMinutes"
    assert sh("squeue", "-h", "-j", held, "-o", "%T") == "PENDING"
