"""``quotad policy``, ``quotad directives`` and ``quotad notify`` end to end on both databases, registered on
a test app (as ``quotad.cli.main`` will once they are added there) with ``Settings`` carrying the new
sections: run, dry run with the exact enforcement command, explain, list/show/ack/resolve, send, digest and
weekly (each idempotent), exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from pydantic import Field
from sqlalchemy import Engine
from typer.testing import CliRunner

from quotad.cli import directives as directives_cli
from quotad.cli import notify as notify_cli
from quotad.cli import policy as policy_cli
from quotad.cli.context import AppState
from quotad.cli.main import QuotadGroup
from quotad.config import Settings
from quotad.directives.config import DirectivesConfig
from quotad.notify.config import NotifyConfig
from quotad.policies.config import PoliciesConfig
from tests.conftest import CLUSTERS
from tests.fixtures.policy.builders import DAY, H, Ledger, utc
from tests.fixtures.policy.smtp import SmtpServer, running_server

NOV, MAY = utc("2026-11-01T00:00:00"), utc("2027-05-01T00:00:00")
NOW = "2026-11-20T10:20:00"
NOW_S = utc(NOW)
JOB = 4242


class FullSettings(Settings):
    """``Settings`` with the sections the report asks to add to ``quotad.config``."""

    policies: PoliciesConfig = Field(default_factory=PoliciesConfig)
    directives: DirectivesConfig = Field(default_factory=DirectivesConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    yield from running_server()


def make_cli(settings: Settings) -> Any:
    app = typer.Typer(cls=QuotadGroup, no_args_is_help=True)

    @app.callback()
    def main(ctx: typer.Context) -> None:
        ctx.obj = AppState(_settings=settings)

    app.add_typer(policy_cli.app, name="policy")
    app.add_typer(directives_cli.app, name="directives")
    app.add_typer(notify_cli.app, name="notify")
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


@pytest.fixture
def slurm_calls(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Enforcement's Slurm commands, recorded instead of run (the real cluster is test_directives_slurm's)."""
    calls: list[list[str]] = []

    def runner_for(cluster: object) -> Any:
        def run(argv: list[str], *, timeout: float) -> tuple[int, str, str]:
            calls.append(list(argv))
            return 0, "", ""

        return run

    monkeypatch.setattr(policy_cli, "RUNNER_FOR", runner_for)
    return calls


@pytest.fixture
def full(db_url: str, smtp_server: SmtpServer, slurm_calls: list[list[str]]) -> FullSettings:
    return FullSettings(
        database={"url": db_url},
        clusters=CLUSTERS,
        policies={"idle_allocation": {"enforcement": "hold"}},
        notify={"sender": "quotad@programme.example.jp", "programme_office": ["office@programme.example.jp"],
                "smtp": {"host": "127.0.0.1", "port": smtp_server.port, "security": "none"}},
    )


@pytest.fixture
def ledger(engine: Engine, full: FullSettings) -> Engine:
    hour = NOW_S - NOW_S % H
    with engine.begin() as conn:
        led = Ledger(conn, full).setup()
        led.company("acme", accounts=(("c1", "acme"),), contacts=("ops@acme.example.jp",),
                    name_ja="アクメ", name_en="Acme")
        led.grant("acme", 1000, NOV, MAY)
        led.charge("acme", NOV + DAY, 850 * H)
        led.job("acme", start=hour - 5 * H, elapsed=5 * H, gpus=4, state="RUNNING", job_id=JOB)
        led.gpu(JOB, 0, hour, idle_since=NOW_S - 30 - 150 * 60, last_sample=NOW_S - 30, first_sample=hour)
    return engine


def test_run_dry_run_then_for_real(
    ledger: Engine, full: FullSettings, smtp_server: SmtpServer, slurm_calls: list[list[str]]
) -> None:
    cli = make_cli(full)
    dry = cli("policy", "run", "--dry-run", "--now", NOW)
    assert dry.exit_code == 0, dry.output
    assert f"would run: scontrol requeuehold {JOB}" in dry.stdout and "dry run" in dry.stdout
    listed = cli("directives", "list", "--json")
    assert json.loads(listed.stdout) == [] and slurm_calls == []  # the dry run changed and ran nothing

    real = cli("policy", "run", "--now", NOW, "--json")
    assert real.exit_code == 0, real.output
    report = json.loads(real.stdout)
    assert {r["policy"] for r in report["rows"]} == {"quota_threshold", "idle_allocation"}
    assert slurm_calls == [["scontrol", "requeuehold", str(JOB)]]
    assert report["actions"][0]["outcome"] == "ok" and len(report["queued"]) == 2

    rows = json.loads(cli("directives", "list", "--json").stdout)
    assert {r["policy"] for r in rows} == {"quota_threshold", "idle_allocation"}
    idle = next(r for r in rows if r["policy"] == "idle_allocation")
    show = cli("directives", "show", str(idle["id"]))
    assert "requeuehold" in show.stdout and "enforced" in show.stdout and "notified" in show.stdout
    assert cli("directives", "ack", str(idle["id"]), "--by", "ops@acme", "--now", NOW).exit_code == 0
    assert json.loads(cli("directives", "list", "--state", "acknowledged", "--json").stdout)[0]["id"] == idle["id"]
    resolved = cli("directives", "resolve", str(idle["id"]), "--note", "job gone")
    assert resolved.exit_code == 0 and "resolved by" in resolved.stdout
    assert cli("directives", "show", "999").exit_code == 2

    sent = cli("notify", "send", "--now", NOW, "--json")
    assert sent.exit_code == 0 and len(json.loads(sent.stdout)["rows"]) == 2
    assert len(smtp_server.mailbox.received) == 2
    again = json.loads(cli("policy", "run", "--now", "2026-11-20T10:21:00", "--json").stdout)
    # the quota directive persists (no new one, no notice in the cooldown); the hand-resolved idle one reopens
    assert len(again["opened"]) == 1 and len(again["updated"]) == 1
    assert [q["key"].split(":")[2] for q in again["queued"]] == ["1"]
    assert slurm_calls == [["scontrol", "requeuehold", str(JOB)]] * 2  # the new directive acts once more


def test_digest_and_weekly_are_idempotent(ledger: Engine, full: FullSettings, smtp_server: SmtpServer) -> None:
    cli = make_cli(full)
    assert cli("policy", "run", "--now", NOW).exit_code == 0
    for _ in range(2):
        digest = cli("notify", "digest", "--now", NOW, "--json")
        assert digest.exit_code == 0, digest.output
        weekly = cli("notify", "weekly", "--now", NOW, "--json")
        assert weekly.exit_code == 0, weekly.output
    subjects = [str(m.message["Subject"]) for m in smtp_server.mailbox.received]
    assert sum("daily digest" in s for s in subjects) == 1 and sum("weekly summary 2026-W47" in s for s in subjects) == 1
    holiday = cli("notify", "digest", "--now", "2026-11-23T10:00:00", "--json")  # 勤労感謝の日
    assert json.loads(holiday.stdout)["queued"] == []
    outbox = json.loads(cli("notify", "outbox", "--json").stdout)
    assert {m["kind"] for m in outbox} == {"notice", "digest", "weekly"} and all(m["state"] == "sent" for m in outbox)


def test_explain_and_usage_errors(ledger: Engine, full: FullSettings) -> None:
    cli = make_cli(full)
    job = json.loads(cli("policy", "explain", "--job", str(JOB), "--now", NOW, "--json").stdout)
    by_policy = {r["policy"]: r for r in job}
    assert by_policy["idle_allocation"]["fired"] == "yes" and by_policy["quota_threshold"]["fired"] == "yes"
    assert "partition 'gpu' is not a programme partition" in by_policy["out_of_programme"]["reason"]
    company = json.loads(cli("policy", "explain", "--company", "acme", "--now", NOW, "--json").stdout)
    forecast = next(r for r in company if r["policy"] == "forecast_overrun")
    assert forecast["fired"] == "no" and "no use in the last 7 days" in forecast["reason"]
    assert cli("policy", "explain", "--now", NOW).exit_code == 2
    assert cli("policy", "explain", "--job", "777").exit_code == 2
    assert cli("policy", "explain", "--company", "nobody").exit_code == 2


def test_directives_show_prints_figures_as_people_read_them(ledger: Engine, full: FullSettings) -> None:
    """A date figure is the date (no unit word ``date``), a percent sticks to its number."""
    cli = make_cli(full)
    assert cli("policy", "run", "--now", NOW).exit_code == 0
    rows = json.loads(cli("directives", "list", "--json").stdout)
    quota = next(r for r in rows if r["policy"] == "quota_threshold")
    shown = json.loads(cli("directives", "show", str(quota["id"]), "--json").stdout)
    values = {r["field"]: r["value"] for r in shown["rows"]}
    assert values["figure period_last_day"] == "2027-04-30"
    assert values["figure used_pct"] == "85.0%" and values["figure next_step_pct"] == "90%"


def test_preview_prints_the_exact_messages_without_sending(
    ledger: Engine, full: FullSettings, smtp_server: SmtpServer
) -> None:
    cli = make_cli(full)
    assert cli("policy", "run", "--now", NOW).exit_code == 0
    rows = json.loads(cli("directives", "list", "--json").stdout)
    quota = next(r for r in rows if r["policy"] == "quota_threshold")
    before = json.loads(cli("notify", "outbox", "--json").stdout)

    shown = cli("notify", "preview", str(quota["id"]), "--now", NOW)
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert "To: ops@acme.example.jp" in out and "Reply-To: office@programme.example.jp" in out
    assert "Subject: [quotad] 【再通知・注意】アクメ" in out and "[Reminder, Notice] Acme" in out
    assert out.index("--- text/plain ---") < out.index("様の有効な割当") < out.index("has used")
    assert out.index("--- text/html ---") < out.index('<section lang="ja">')
    raw = cli("notify", "preview", str(quota["id"]), "--now", NOW, "--raw").stdout
    assert "Subject: =?utf-8?b?" in raw and "Content-Transfer-Encoding: base64" in raw

    digest = cli("notify", "preview", "--company", "acme", "--kind", "digest", "--now", NOW)
    assert digest.exit_code == 0 and "本日の指示一覧" in digest.stdout and "daily digest" in digest.stdout
    weekly = cli("notify", "preview", "--kind", "weekly", "--now", NOW)
    assert weekly.exit_code == 0 and "To: office@programme.example.jp" in weekly.stdout

    assert json.loads(cli("notify", "outbox", "--json").stdout) == before  # nothing queued
    assert smtp_server.mailbox.received == []  # nothing sent
    assert cli("notify", "preview").exit_code == 2
    assert cli("notify", "preview", "--kind", "digest").exit_code == 2
    assert cli("notify", "preview", "999").exit_code == 2
    unknown = cli("notify", "preview", "--company", "nope", "--kind", "digest")
    assert unknown.exit_code == 2
