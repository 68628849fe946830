"""The new config sections: unknown keys and bad values refused with their key, header-unsafe values refused,
the SMTP password only from the environment or a file and never in a dump, per-company overrides checked."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import Field, ValidationError

from quotad.config import Settings
from quotad.directives.config import DirectivesConfig, Rules, rules_from
from quotad.errors import ConfigError
from quotad.notify.config import NotifyConfig, SmtpConfig
from quotad.policies.config import PoliciesConfig


class FullSettings(Settings):
    policies: PoliciesConfig = Field(default_factory=PoliciesConfig)
    directives: DirectivesConfig = Field(default_factory=DirectivesConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)


def test_defaults_and_rules_from_plain_settings() -> None:
    rules = rules_from(Settings())
    assert rules.policies.quota_threshold.steps == (50, 80, 90, 100)
    assert rules.cooldown_s("quota_threshold") == 24 * 3600 and rules.escalate_after("underuse") == 3
    assert rules.policies.enforcement("idle_allocation") == "off"
    own = Rules(PoliciesConfig.model_validate({"underuse": {"cooldown_hours": 72}}), DirectivesConfig(), NotifyConfig())
    assert own.cooldown_s("underuse") == 72 * 3600


def test_bad_values_name_their_key() -> None:
    with pytest.raises(ValidationError, match="programme_office"):
        NotifyConfig.model_validate({"programme_office": ["not an address"]})
    with pytest.raises(ValidationError, match="line breaks"):
        NotifyConfig.model_validate({"sender_name": "quotad\r\nBcc: x@y.z"})
    with pytest.raises(ValidationError, match="Extra inputs"):
        NotifyConfig.model_validate({"smtp": {"hostname": "x"}})
    with pytest.raises(ValidationError, match="enforcement"):
        PoliciesConfig.model_validate({"underuse": {"enforcement": "cancel"}})
    with pytest.raises(ValidationError, match=r"overrides\.acme"):
        PoliciesConfig.model_validate({"idle_allocation": {"overrides": {"acme": {"hold_after_minutes": 5}}}})
    with pytest.raises(ValidationError, match="Extra inputs"):
        PoliciesConfig.model_validate({"quota": {}})


def test_smtp_password_from_env_or_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUOTAD_NOTIFY__SMTP__PASSWORD", "s3cret")
    settings = FullSettings(notify={"smtp": {"host": "mail.example.jp", "username": "quotad"}})
    assert settings.notify.smtp.secret() == "s3cret"
    assert "s3cret" not in repr(settings) and "s3cret" not in settings.model_dump_json()
    monkeypatch.delenv("QUOTAD_NOTIFY__SMTP__PASSWORD")
    secret = tmp_path / "smtp-password"
    secret.write_text("from-file\n", encoding="utf-8")
    assert SmtpConfig(password_file=secret).secret() == "from-file"
    with pytest.raises(ConfigError, match="password_file"):
        SmtpConfig(password_file=tmp_path / "missing").secret()
    assert SmtpConfig(security="ssl").resolved_port == 465 and SmtpConfig().resolved_port == 587
