"""Configuration: a bad value names the key, the value and what was expected; secrets never come from the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from quotad.config import DEFAULT_GPU_TFLOPS, load_config
from quotad.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "quotad.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    return str(info.value)


def test_defaults_without_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("QUOTAD_CONFIG", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setattr("quotad.config.DEFAULT_CONFIG_PATH", tmp_path / "absent.toml")
    settings = load_config()
    assert settings.database.url == f"sqlite:///{tmp_path / 'quotad' / 'ledger.sqlite'}"
    assert settings.gpu_types == DEFAULT_GPU_TFLOPS
    assert settings.gpu_types["h100"] == 989 and settings.gpu_types["b200"] == 2250


def test_a_full_file_loads_and_gpu_overrides_merge(tmp_path: Path) -> None:
    settings = load_config(
        write(
            tmp_path,
            """
[database]
url = "postgresql+psycopg://quotad@db/quotad"
[programme]
timezone = "Asia/Tokyo"
[gpu_types]
h100 = 990
mi300x = 1307
[[clusters]]
name = "abci"
default_gpu_type = "H100"
timezone = "Asia/Tokyo"
[clusters.sacct]
use_cluster_flag = true
""",
        )
    )
    assert (
        settings.gpu_types["h100"] == 990 and settings.gpu_types["mi300x"] == 1307 and settings.gpu_types["l4"] == 121
    )
    cluster = settings.cluster("abci")
    assert cluster is not None and cluster.default_gpu_type == "h100" and cluster.sacct.use_cluster_flag


def test_unknown_key_is_named(tmp_path: Path) -> None:
    text = problems(tmp_path, '[database]\nurl = "sqlite:///x"\nulr = "typo"\n')
    assert "database.ulr" in text and "unknown key" in text and "'typo'" in text


def test_bad_value_names_key_value_and_expectation(tmp_path: Path) -> None:
    text = problems(tmp_path, "[gpu_types]\nh100 = -5\n")
    assert "gpu_types.h100" in text and "-5" in text and "greater than 0" in text


def test_bad_time_zone(tmp_path: Path) -> None:
    text = problems(tmp_path, '[[clusters]]\nname = "c"\ndefault_gpu_type = "h100"\ntimezone = "Mars/Olympus"\n')
    assert "clusters.0.timezone" in text and "Mars/Olympus" in text and "IANA" in text


def test_cluster_default_gpu_type_must_be_known(tmp_path: Path) -> None:
    text = problems(tmp_path, '[[clusters]]\nname = "c"\ndefault_gpu_type = "v100"\n')
    assert "'v100'" in text and "[gpu_types]" in text


def test_duplicate_cluster_names(tmp_path: Path) -> None:
    block = '[[clusters]]\nname = "c"\ndefault_gpu_type = "h100"\n'
    assert "listed twice" in problems(tmp_path, block + block)


def test_bad_cluster_name_and_missing_required_key(tmp_path: Path) -> None:
    text = problems(tmp_path, '[[clusters]]\nname = "Big Cluster"\n')
    assert "clusters.0.name" in text and "'Big Cluster'" in text
    assert "clusters.0.default_gpu_type" in text and "Field required" in text


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    assert "not valid TOML" in problems(tmp_path, "[database\n")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nope.toml")


def test_password_in_the_file_is_refused(tmp_path: Path) -> None:
    text = problems(tmp_path, '[database]\nurl = "postgresql://q@db/q"\npassword = "hunter2"\n')
    assert "QUOTAD_DATABASE__PASSWORD" in text and "hunter2" not in text


def test_env_overrides_the_file_and_password_stays_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, '[database]\nurl = "sqlite:///from-file"\n')
    monkeypatch.setenv("QUOTAD_DATABASE__URL", "postgresql://q@db/q")
    monkeypatch.setenv("QUOTAD_DATABASE__PASSWORD", "s3cret")
    settings = load_config(path)
    assert settings.database.url == "postgresql://q@db/q"
    assert settings.database_password() == "s3cret"
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.model_dump())
    from quotad.ledger.db import describe_url

    assert "s3cret" not in describe_url(settings) and "***" in describe_url(settings)


def test_password_file(tmp_path: Path) -> None:
    secret = tmp_path / "db-password"
    secret.write_text("from-file\n", encoding="utf-8")
    settings = load_config(write(tmp_path, f'[database]\nurl = "postgresql://q@db/q"\npassword_file = "{secret}"\n'))
    assert settings.database_password() == "from-file"
    missing = load_config(write(tmp_path, '[database]\nurl = "postgresql://q@db/q"\npassword_file = "/nope/pw"\n'))
    with pytest.raises(ConfigError, match="password_file"):
        missing.database_password()


def test_config_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, '[programme]\ntimezone = "Asia/Tokyo"\n')
    monkeypatch.setenv("QUOTAD_CONFIG", str(path))
    assert load_config().programme.timezone == "Asia/Tokyo"


def test_bad_env_override_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUOTAD_DATABASE__URL", "mysql://x")
    text = problems(tmp_path, "")
    assert "database.url" in text and "mysql://x" in text


def test_eval_plugin_section_is_validated_with_the_rest(tmp_path: Path) -> None:
    from quotad.plugins.api import plugin_settings
    from quotad.plugins.eval_config import EvalConfig

    settings = load_config(write(tmp_path, '[eval.tasks.newbench]\nlanguage = "ja"\ncategory = "QA"\n'))
    assert plugin_settings(settings, "eval", EvalConfig).tasks["newbench"].category == "QA"
    text = problems(tmp_path, '[eval.tasks.newbench]\nlangauge = "ja"\n')
    assert "eval.tasks.newbench.langauge" in text and "unknown key" in text


def test_data_plugin_weights_are_validated_with_the_rest(tmp_path: Path) -> None:
    from quotad.plugins.api import plugin_settings
    from quotad.plugins.data_config import DataConfig

    settings = load_config(write(tmp_path, "[data.weights]\ndomain = 40\nprice = 0\n"))
    weights = plugin_settings(settings, "data", DataConfig).weights
    assert (weights.domain, weights.price, weights.language) == (40, 0, 25)
    assert "data.weights.domian" in problems(tmp_path, "[data.weights]\ndomian = 40\n")
    assert "data.weights.size" in problems(tmp_path, "[data.weights]\nsize = -1\n")
