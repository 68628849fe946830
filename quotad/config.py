"""Configuration: one TOML file, validated once into typed models; ``QUOTAD_*`` env vars override it.

Why a single loader: every other module receives a ``Settings`` object and never reads files or the
environment itself, so a bad value is reported once, at start, naming the key, the value and what was
expected. Secrets (the database password) come only from the environment or a file path, never from the
TOML file, and are held as ``SecretStr`` so they cannot be printed by accident.

Resolution of the file: ``--config`` > ``QUOTAD_CONFIG`` > ``/etc/quotad/quotad.toml`` (used only if it
exists) > built-in defaults.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from quotad.agent_config import AgentConfig
from quotad.daemon.config import DaemonConfig
from quotad.directives.config import DirectivesConfig
from quotad.errors import ConfigError
from quotad.notify.config import NotifyConfig
from quotad.plugins.data_config import DataConfig
from quotad.plugins.eval_config import EvalConfig
from quotad.plugins.review_config import ReviewConfig
from quotad.policies.config import PoliciesConfig

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_GPU_TFLOPS",
    "ClusterConfig",
    "DatabaseConfig",
    "PbsConfig",
    "ProgrammeConfig",
    "Settings",
    "default_database_url",
    "load_config",
]

DEFAULT_CONFIG_PATH = Path("/etc/quotad/quotad.toml")

#: Peak dense BF16 TFLOPS per GPU (vendor datasheets, without sparsity). Overridable in ``[gpu_types]``.
DEFAULT_GPU_TFLOPS: dict[str, int] = {"h100": 989, "h200": 989, "a100": 312, "b200": 2250, "l4": 121}

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}; expected an IANA name such as 'UTC' or 'Asia/Tokyo'") from exc
    return value


#: Linux's limits (NAME_MAX, PATH_MAX): a longer path fails in the kernel with a bare ``OSError`` later.
_NAME_MAX, _PATH_MAX = 255, 4096


def _check_path_length(path: str) -> None:
    longest = max((len(part.encode()) for part in path.split("/")), default=0)
    if longest > _NAME_MAX or len(path.encode()) >= _PATH_MAX:
        raise ValueError(
            f"the path is too long for the file system ({len(path.encode())} bytes, longest name {longest}; "
            f"at most {_NAME_MAX} per name and {_PATH_MAX - 1} in all)"
        )


def _short(path: object, keep: int = 120) -> str:
    """A path cut in the middle for messages: a 5,000-character path must not fill the terminal."""
    text = str(path)
    return text if len(text) <= keep else f"{text[: keep // 2]}...{text[-keep // 2 :]}"


def default_database_url() -> str:
    """SQLite file in the XDG data dir: zero set-up for a single operator, PostgreSQL for production."""
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return f"sqlite:///{base / 'quotad' / 'ledger.sqlite'}"


class DatabaseConfig(_Section):
    """Where the ledger lives. ``password`` comes only from ``QUOTAD_DATABASE__PASSWORD``/``password_file``."""

    url: str = Field(default_factory=default_database_url)
    password: SecretStr | None = None
    password_file: Path | None = None

    @field_validator("url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("expected a SQLAlchemy URL starting with 'sqlite' or 'postgresql'")
        if value.startswith("sqlite"):
            _check_path_length(value.partition(":///")[2])
        return value

    @model_validator(mode="after")
    def _password_needs_a_server(self) -> DatabaseConfig:
        if self.url.startswith("sqlite") and (self.password is not None or self.password_file is not None):
            raise ValueError(
                "a database password is set (QUOTAD_DATABASE__PASSWORD or database.password_file) but database.url "
                "is SQLite, which takes no password: unset it, or point database.url at PostgreSQL"
            )
        return self


class SacctConfig(_Section):
    """How the Slurm collector runs ``sacct`` for one cluster."""

    command: str = "sacct"
    slurm_conf: Path | None = None
    use_cluster_flag: bool = False
    timeout_s: PositiveInt = 300
    #: Each poll re-reads this many seconds before the watermark: slurmdbd receives records from slurmctld
    #: asynchronously, so a job can appear with an end time slightly before the previous poll's end.
    overlap_s: PositiveInt = 900


class PbsConfig(_Section):
    """Where the PBS collector reads one server's accounting logs (``PBS_HOME/server_priv/accounting``)."""

    accounting_dir: Path


class ClusterConfig(_Section):
    """One scheduler instance whose jobs are charged. ``timezone`` is how its sacct text prints times."""

    name: str
    scheduler: Literal["slurm", "pbs"] = "slurm"
    #: "pyslurm" is tried first and falls back to sacct, saying why, when it cannot load or cannot be exact.
    backend: Literal["sacct", "pyslurm"] = "sacct"
    default_gpu_type: str
    timezone: str = "UTC"
    programme_partitions: list[str] = Field(default_factory=list)
    #: Plausibility bounds every accounting record is checked against (a record outside them is quarantined,
    #: never charged): the cluster's longest allowed run (Slurm ``MaxTime``) and its GPU count. Unset, the
    #: ceilings in ``quotad.ledger.bounds`` apply.
    max_job_seconds: PositiveInt | None = None
    gpu_count: PositiveInt | None = None
    sacct: SacctConfig = Field(default_factory=SacctConfig)
    #: Required by ``quotad collect pbs`` for ``scheduler = "pbs"`` (or pass ``--accounting-dir``).
    pbs: PbsConfig | None = None

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("expected a lower-case name of letters, digits, '-', '_' or '.' (as Slurm prints it)")
        return value

    @field_validator("default_gpu_type")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _check_timezone(value)


class ProgrammeConfig(_Section):
    """Programme-wide settings. ``timezone`` draws month and day boundaries for reports and burn rates."""

    name_ja: str = "基盤モデル開発計算資源プログラム"
    name_en: str = "Foundation Model Compute Programme"
    timezone: str = "UTC"
    #: Accounting times outside these years (UTC) are refused as implausible (a 0001 or 9999 date, a 17-digit
    #: epoch), so no report ever meets a year it cannot print.
    first_year: int = Field(default=2000, ge=1971, le=9998)
    last_year: int = Field(default=2100, ge=1971, le=9998)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _check_timezone(value)


def _plugin_names() -> set[str]:
    """Names of the installed plugins (their entry points), read from package metadata without importing them."""
    from importlib.metadata import entry_points

    return {ep.name for ep in entry_points(group="quotad.plugins")}


class Settings(BaseSettings):
    """The whole configuration. Environment (``QUOTAD_SECTION__KEY``) overrides the file."""

    model_config = SettingsConfigDict(
        env_prefix="QUOTAD_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        nested_model_default_partial_update=True,
    )

    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    programme: ProgrammeConfig = Field(default_factory=ProgrammeConfig)
    gpu_types: dict[str, PositiveInt] = Field(default_factory=dict)
    clusters: list[ClusterConfig] = Field(default_factory=list)
    agent: AgentConfig = Field(default_factory=AgentConfig)
    daemon: DaemonConfig = Field(default_factory=DaemonConfig)
    policies: PoliciesConfig = Field(default_factory=PoliciesConfig)
    directives: DirectivesConfig = Field(default_factory=DirectivesConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    #: The built-in evaluation plugin's section: task mapping extensions, redistribution flags.
    eval: EvalConfig = Field(default_factory=EvalConfig)
    #: The built-in data plugin's section: weights of the ``quotad data match`` score.
    data: DataConfig = Field(default_factory=DataConfig)
    #: The built-in review plugin's section: the office's logins.
    review: ReviewConfig = Field(default_factory=ReviewConfig)
    #: The sections of plugins that declare their own (``[challenges]``, ``[partners]``), kept as read and
    #: validated by the plugin's model when it reads them (``quotad.plugins.api.plugin_settings``): the core
    #: does not import plugin code to load its configuration. Only an installed plugin's name is taken here, so
    #: a misspelt section is still refused.
    plugin_sections: dict[str, dict[str, Any]] = Field(default_factory=dict, exclude=True)
    source: str = Field(default="<defaults>", exclude=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (env_settings, init_settings)

    @model_validator(mode="before")
    @classmethod
    def _take_plugin_sections(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        unknown = [k for k in data if k not in cls.model_fields]
        if not unknown:
            return data
        names = _plugin_names()
        own = {k: data[k] for k in unknown if k in names}
        for name, value in own.items():
            if not isinstance(value, dict):
                raise ValueError(f"[{name}] must be a table of settings, not {type(value).__name__}")
        rest = {k: v for k, v in data.items() if k not in own}
        return {**rest, "plugin_sections": own} if own else data

    @field_validator("gpu_types")
    @classmethod
    def _merge_defaults(cls, value: dict[str, int]) -> dict[str, int]:
        return {**DEFAULT_GPU_TFLOPS, **{k.lower(): v for k, v in value.items()}}

    @model_validator(mode="after")
    def _clusters_consistent(self) -> Settings:
        seen: set[str] = set()
        for cluster in self.clusters:
            if cluster.name in seen:
                raise ValueError(f"cluster {cluster.name!r} is listed twice in [[clusters]]")
            seen.add(cluster.name)
            if cluster.default_gpu_type not in self.gpu_types:
                known = ", ".join(sorted(self.gpu_types))
                raise ValueError(
                    f"cluster {cluster.name!r}: default_gpu_type {cluster.default_gpu_type!r} is not a known GPU "
                    f"type; expected one of {known} or add it under [gpu_types]"
                )
        return self

    def cluster(self, name: str) -> ClusterConfig | None:
        return next((c for c in self.clusters if c.name == name), None)

    def database_password(self) -> str | None:
        """The password from env or ``password_file``; read here so the secret never sits in the model dump."""
        if self.database.password is not None:
            return self.database.password.get_secret_value()
        if self.database.password_file is not None:
            try:
                return self.database.password_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"database.password_file: cannot read {self.database.password_file}: {exc}") from exc
        return None


#: Key names whose values are secrets: a rejected value under one of them is never echoed back.
_SECRET_KEYS = re.compile(r"pass|secret|token|credential|api_?key", re.IGNORECASE)
#: Key names whose values are URLs, shown with their credentials as ``***``.
_URL_KEYS = re.compile(r"url|dsn", re.IGNORECASE)
#: Everything between the scheme and the last "@" (user and password, however oddly they are written).
_URL_PASSWORD = re.compile(r"://.*@", re.DOTALL)
_MASK = "://***@"


def _shown_value(loc: tuple[Any, ...], value: object) -> str:
    """`` = value`` for the message; a secret key's value hidden, a URL's credentials masked."""
    if isinstance(value, dict | list):
        return ""
    names = [str(part) for part in loc]
    if any(_SECRET_KEYS.search(name) for name in names):
        return " = (value hidden: it may hold a secret)"
    if isinstance(value, str) and any(_URL_KEYS.search(name) for name in names):
        return f" = {_URL_PASSWORD.sub(_MASK, value)!r}"
    return f" = {value!r}"


def _problems(exc: ValidationError, source: str) -> list[str]:
    """One line per problem. Values of secret-bearing keys (``url``, ``password`` ...) are never shown, and
    pydantic's ``msg`` is used without its input, so a rejected ``postgres://u:PW@...`` cannot reach a log."""
    lines = []
    for err in exc.errors(include_url=False, include_input=True):
        loc = ".".join(str(part) for part in err["loc"]) or "(top level)"
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        lines.append(f"{source}: {loc}{_shown_value(err['loc'], err.get('input'))}: {msg}")
    return lines


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {_short(path)}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        # tomllib decodes the whole file as UTF-8 first; a Shift_JIS file from a Japanese desktop fails here.
        raise ConfigError(
            f"{_short(path)}: not UTF-8 text (byte {exc.start} is 0x{exc.object[exc.start]:02x}); "
            "save the file as UTF-8 (Shift_JIS and other encodings are not read)"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{_short(path)}: not valid TOML: {exc}") from exc
    except RecursionError:
        raise ConfigError(f"{_short(path)}: not usable TOML: arrays or tables nested too deeply") from None


def load_config(path: Path | None = None) -> Settings:
    """Find, parse and validate the configuration; raise ``ConfigError`` naming every bad key."""
    env_path = os.environ.get("QUOTAD_CONFIG")
    explicit = path or (Path(env_path) if env_path else None)
    try:
        default_exists = DEFAULT_CONFIG_PATH.exists()
    except OSError:  # /etc/quotad unreadable: reading the file will say so
        default_exists = True
    chosen = explicit or (DEFAULT_CONFIG_PATH if default_exists else None)
    if chosen is not None:
        try:
            _check_path_length(str(chosen))
        except ValueError as exc:
            raise ConfigError(f"cannot read config file {_short(chosen)}: {exc}") from None
    data: dict[str, Any] = _read_toml(chosen) if chosen else {}
    source = _short(chosen) if chosen else "<defaults>"
    database = data.get("database")
    if isinstance(database, dict) and "password" in database:
        raise ConfigError(
            f"{source}: database.password must not be written in the config file; set QUOTAD_DATABASE__PASSWORD "
            "or database.password_file"
        )
    smtp = (data.get("notify") or {}).get("smtp") if isinstance(data.get("notify"), dict) else None
    if isinstance(smtp, dict) and "password" in smtp:
        raise ConfigError(
            f"{source}: notify.smtp.password must not be written in the config file; set "
            "QUOTAD_NOTIFY__SMTP__PASSWORD or notify.smtp.password_file"
        )
    try:
        return Settings(**data, source=source)
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration in {source}:", problems=_problems(exc, source)) from exc
