"""Settings, built once at start (from environment variables ``MAMORI_*``) and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "mamori"


class Settings(BaseSettings):
    """Every setting mamori reads, with its environment variable ``MAMORI_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="MAMORI_", extra="ignore", frozen=True)

    data_dir: Path = Field(default_factory=default_data_dir, description="where SQLite lives")
    database_url: SecretStr | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file in data_dir"
    )
    host: str = Field(default="127.0.0.1", description="address the server listens on")
    port: int = Field(default=8080, ge=0, le=65535)
    retention_days: int = Field(default=90, ge=0, description="0 keeps alerts forever")
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    max_batch_items: int = Field(default=5000, ge=1)
    spool_max_bytes: int = Field(
        default=512 * 1024 * 1024,
        ge=1 << 20,
        description="sensor spool bound while the server is unreachable; oldest dropped first",
    )
    session_ttl_hours: int = Field(default=12, ge=1)
    secure_cookies: bool = Field(default=False, description="set when served behind HTTPS")
    tls_certfile: Path | None = Field(
        default=None,
        description="PEM certificate (chain) to serve HTTPS with; needs tls_keyfile",
    )
    tls_keyfile: Path | None = Field(default=None, description="PEM private key of tls_certfile")
    log_level: str = Field(default="info")
    cluster_name: str | None = Field(
        default=None, description="cluster name the sensor puts on its events and alerts"
    )
    audit_journal_dir: Path | None = Field(
        default=None, description="audit webhook journal; default: data_dir/audit-journal"
    )
    audit_rules: list[Path] = Field(
        default_factory=list, description="more k8s_audit rules files, loaded after mamori's"
    )
    audit_default_rules: bool = Field(default=True, description="load mamori's k8s_audit rules")
    audit_stateful: bool = Field(
        default=True, description="run the stateful audit detections (exposure, baselines)"
    )
    audit_learning_days: float = Field(
        default=7.0, gt=0, description="learning window of CP-004 and CP-016, in days"
    )
    audit_state_file: Path | None = Field(
        default=None,
        description="stateful audit detector state; default: data_dir/audit-state.json",
    )
    posture_config: Path | None = Field(
        default=None, description="PostureConfig YAML for the admission webhook (actions, params)"
    )
    drift_policy: Path | None = Field(
        default=None, description="DriftPolicy YAML for the local sensor of `mamori up`"
    )
    posture_checks: str = Field(
        default="defender", description="check families or IDs the admission webhook runs"
    )

    @field_validator("database_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "mamori.db"

    @property
    def audit_journal(self) -> Path:
        return self.audit_journal_dir or self.data_dir / "audit-journal"

    @property
    def audit_state(self) -> Path:
        return self.audit_state_file or self.data_dir / "audit-state.json"

    def resolved_database_url(self) -> str:
        """The database URL in use (secret: never log it whole; see ``display_database_url``)."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.sqlite_path}"

    def display_database_url(self) -> str:
        """The database URL with any password masked."""
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            return make_url(self.resolved_database_url()).render_as_string(hide_password=True)
        except ArgumentError:
            return "(not a valid database URL)"  # never echo it: it may hold a password
