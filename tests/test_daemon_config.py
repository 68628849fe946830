"""``[daemon]`` validation: defaults, unknown keys and inconsistent schedules refused by name."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from quotad.config import Settings
from quotad.daemon.config import DEFAULT_LISTEN, DaemonConfig, JobSchedule, daemon_config
from quotad.listen import parse_listen


def test_defaults_listen_on_loopback() -> None:
    config = DaemonConfig()
    assert config.listen == DEFAULT_LISTEN == "127.0.0.1:9817"
    assert config.address == ("127.0.0.1", 9817)
    assert config.jobs.schedule("slurm_poll") == JobSchedule()


def test_job_tables_override_by_name() -> None:
    config = DaemonConfig.model_validate(
        {"jobs": {"slurm_poll": {"interval_s": 60, "stale_after_s": 600}, "outbox": {"enabled": False}}}
    )
    assert config.jobs.schedule("slurm_poll").interval_s == 60
    assert config.jobs.schedule("outbox").enabled is False
    assert config.jobs.schedule("not_a_field") == JobSchedule()


def test_unknown_job_name_is_refused_naming_it() -> None:
    with pytest.raises(ValidationError) as info:
        DaemonConfig.model_validate({"jobs": {"polcy_tick": {"interval_s": 60}}})
    assert "polcy_tick" in str(info.value)
    assert info.value.errors()[0]["type"] == "extra_forbidden"


def test_unknown_key_in_a_job_table_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        DaemonConfig.model_validate({"jobs": {"slurm_poll": {"intervall_s": 60}}})
    assert "intervall_s" in str(info.value)


def test_staleness_shorter_than_the_interval_is_refused() -> None:
    with pytest.raises(ValidationError, match="shorter than interval_s"):
        JobSchedule(interval_s=600, stale_after_s=60)


@pytest.mark.parametrize("bad", ["9817", "localhost", "127.0.0.1:99999", "a b:1", ""])
def test_bad_listen_addresses_are_refused(bad: str) -> None:
    with pytest.raises(ValidationError, match="ADDR:PORT"):
        DaemonConfig(listen=bad)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("0.0.0.0:9817", ("0.0.0.0", 9817)), ("[::1]:9817", ("::1", 9817)), (":9817", ("", 9817)), ("h:0", ("h", 0))],
)
def test_listen_forms(text: str, parsed: tuple[str, int]) -> None:
    assert parse_listen(text) == parsed


def test_non_positive_intervals_are_refused() -> None:
    with pytest.raises(ValidationError):
        JobSchedule(interval_s=0)


def test_settings_without_a_daemon_section_get_the_defaults() -> None:
    assert daemon_config(Settings()) == DaemonConfig()
