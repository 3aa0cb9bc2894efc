"""Carnet's configuration: environment variables prefixed `CARNET_`, with documented defaults.

Durations and limits from `rules.md` live here with the rule's value as default, so an operator can
change them without touching code.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from carnet.errors import ConfigurationError


class OidcProvider(BaseModel):
    """One OpenID Connect provider people may sign in with (`carnet.auth.federation`): FranceConnect
    for holders, Pro Santé Connect for professionals, or any provider of that standard."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]{0,39}$", description="In the paths /login/oidc/NAME."
    )
    label: str = Field(min_length=1, max_length=60, description='Shown as "Sign in with LABEL".')
    issuer: str = Field(description="The provider's issuer; its discovery document is read there.")
    discovery_url: str | None = Field(
        None, description="Default: ISSUER/.well-known/openid-configuration."
    )
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    kind: Literal["holder", "professional"]
    acr_values: tuple[str, ...] = Field(
        min_length=1,
        description="The levels of authentication accepted (the id_token's `acr` must be one), "
        "asked for in this order.",
    )
    scopes: tuple[str, ...] = ("openid", "profile")
    rpps_claim: str = Field(
        "SubjectNameID", description="Professionals: the claim carrying the RPPS number."
    )

    @field_validator("issuer", "discovery_url")
    @classmethod
    def _https_or_loopback(cls, value: str | None) -> str | None:
        """Tokens are only as good as the channel they come by: https, or this very machine."""
        if value is None:
            return value
        parts = urlsplit(value)
        loopback = parts.hostname in ("127.0.0.1", "::1", "localhost")
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
            raise ValueError("must be an https:// URL (http:// only on the loopback address)")
        return value.rstrip("/") if value is not None else value

    @field_validator("scopes")
    @classmethod
    def _openid_scope(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return value if "openid" in value else ("openid", *value)

    @property
    def effective_discovery_url(self) -> str:
        return self.discovery_url or f"{self.issuer}/.well-known/openid-configuration"


class Settings(BaseSettings):
    """Effective configuration. Paths are resolved relative to the working directory."""

    model_config = SettingsConfigDict(env_prefix="CARNET_", extra="ignore", frozen=True)

    data_dir: Path = Field(Path("var"), description="Where Carnet keeps its files.")
    database_url: str = Field(
        "", description="SQLAlchemy URL; default: SQLite file carnet.db in the data dir."
    )
    blob_dir: Path | None = Field(None, description="Encrypted blobs; default: DATA_DIR/blobs.")
    master_key_file: Path | None = Field(
        None, description="Master keyring file (mode 0600); default: DATA_DIR/master.key."
    )
    master_key: SecretStr | None = Field(
        None, description="Master key (base64) given by the environment in production."
    )
    audit_signing_key_file: Path | None = Field(
        None,
        description="Ed25519 key signing audit checkpoints; default: DATA_DIR/audit-signing.key.",
    )
    id_token_signing_key_file: Path | None = Field(
        None,
        description="RSA key signing the OpenID Connect id_tokens given to apps; "
        "default: DATA_DIR/id-token-signing.key.",
    )
    audit_anchor_dir: Path | None = Field(
        None,
        description="Append-only store of audit chain heads, outside the database (ACC-8); "
        "default: DATA_DIR/audit-anchors.",
    )
    base_url: str = Field("http://127.0.0.1:8000", description="Public URL used in links.")
    smtp_url: SecretStr | None = Field(
        None, description="smtp://user:pass@host:port; unset: e-mails are written as .eml files."
    )
    mail_from: str = Field("Carnet <no-reply@carnet.localhost>", description="Sender of e-mails.")
    timezone: str = Field("Europe/Paris", description="Where day-based rules are counted.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    jobs_interval_seconds: int = Field(
        300, ge=0, description="How often `carnet serve` runs due jobs; 0 disables."
    )
    token_ttl_minutes: int = Field(60, ge=1, description="Default lifetime of API tokens.")
    outbox_max_attempts: int = Field(8, ge=1, description="Delivery attempts before giving up.")
    # Durations and limits of rules.md, with the rule's value as default.
    opposition_weeks: int = Field(6, ge=1, description="LC-1: notice date + this many weeks.")
    archive_years: int = Field(
        10, ge=1, description="LC-5: a closed space's archive is kept this long."
    )
    suspension_weeks: int = Field(6, ge=1, description="LC-6: a suspended space closes after this.")
    majority_age: int = Field(
        18, ge=1, description="REP-3: representatives lose access at this age."
    )
    code_ttl_days: int = Field(120, ge=1, description="Lifetime of a provisional code.")
    invitation_days: int = Field(
        14, ge=1, description="REP-1, REP-4: invitations expire after this."
    )
    max_caregivers: int = Field(3, ge=1, description="REP-4: caregivers a holder may have.")
    max_cared_for: int = Field(5, ge=1, description="REP-4: people a caregiver may help.")
    login_max_failures: int = Field(
        5, ge=1, description="Failed logins for one username from one client before a lock."
    )
    login_lock_minutes: int = Field(
        15, ge=1, description="Length of that lock (the username from that client only)."
    )
    # Guessing codes and passwords is slowed per client and for everyone, never per target
    # (LC-2, LC-4; `carnet.auth.throttle`).
    client_free_failures: int = Field(
        5, ge=1, description="Failures one client address may make before it must wait."
    )
    client_max_wait_seconds: int = Field(
        300, ge=1, description="Longest wait of one client; waits double from 1 second."
    )
    client_forget_minutes: int = Field(
        60, ge=1, description="A client's failures are forgotten after this long without one."
    )
    global_window_seconds: int = Field(
        10, ge=1, description="Window of the budget of failures of all clients together."
    )
    global_failures_per_window: int = Field(
        100, ge=1, description="Failures of all clients per window before everyone waits."
    )
    forwarded_allow_ips: str = Field(
        "127.0.0.1,::1",
        description="Proxies trusted to name the client in X-Forwarded-For (comma-separated).",
    )
    otp_ttl_minutes: int = Field(10, ge=1, description="Lifetime of the e-mailed login code.")
    webauthn_rp_id: str = Field(
        "",
        description="Passkeys: the WebAuthn relying party ID, a host name; empty: the host of "
        "BASE_URL, or localhost when that host is an IP address (never a valid RP ID).",
    )
    webauthn_origin: str = Field(
        "",
        description="Passkeys: the origin browsers sign for; empty: BASE_URL's scheme and port "
        "with the RP ID as host.",
    )
    habilitations_file: str | None = Field(
        None, description="ACC-1: a CSV replacing the shipped habilitation matrix."
    )
    emergency_hours: int = Field(12, ge=1, description="ACC-5: length of an emergency grant.")
    export_ttl_days: int = Field(
        7, ge=1, le=90, description="SRV-5: days a built export stays downloadable."
    )
    max_upload_bytes: int = Field(
        5 * 1024 * 1024, ge=1024, description="DOC-1: largest document accepted, in bytes."
    )
    message_attachment_max_bytes: int = Field(
        5 * 1024 * 1024, ge=1024, description="SRV-1: largest message attachment, in bytes."
    )
    space_quota_bytes: int = Field(
        2 * 1024 * 1024 * 1024,
        ge=1024 * 1024,
        description="DOC-1: total size of the documents the holder side uploads into one space "
        "(professionals' deposits are not counted).",
    )
    upload_rate_per_minute: int = Field(
        10, ge=1, description="DOC-1: documents one person (or app) may upload per minute."
    )
    mailbox_quota_bytes: int = Field(
        100 * 1024 * 1024, ge=1024, description="SRV-1: size quota of each mailbox, in bytes."
    )
    oidc_providers: tuple[OidcProvider, ...] = Field(
        (),
        description="Federated sign-in (JSON list): OpenID providers beside the password "
        "(`carnet.auth.federation`, docs/security.md).",
    )
    oidc_state_minutes: int = Field(
        10, ge=1, le=60, description="How long a sign-in started at a provider may take."
    )
    growth_reference_file: Path | None = Field(
        None,
        description="LMS growth reference (CSV, docs/growth-curves.md); unset: no percentiles.",
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="Bearer token of the Prometheus scraper for /metrics (docs/deploy.md); "
        "unset: /metrics answers 404.",
    )

    @field_validator("oidc_providers")
    @classmethod
    def _unique_providers(cls, value: tuple[OidcProvider, ...]) -> tuple[OidcProvider, ...]:
        names = [provider.name for provider in value]
        if len(set(names)) != len(names):
            raise ValueError("two OpenID providers have the same name")
        return value

    def oidc_provider(self, name: str) -> OidcProvider | None:
        return next((p for p in self.oidc_providers if p.name == name), None)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if value and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("only sqlite:/// and postgresql+psycopg:// URLs are supported")
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            raise ValueError("use the psycopg 3 driver: postgresql+psycopg://…")
        return value

    @field_validator("base_url")
    @classmethod
    def _http_base(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _smtp_scheme(self) -> Settings:
        if self.smtp_url is not None:
            url = self.smtp_url.get_secret_value()
            if not url.startswith(("smtp://", "smtps://")):
                raise ValueError("smtp_url must start with smtp:// or smtps://")
        return self

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'carnet.db').resolve()}"

    @property
    def effective_blob_dir(self) -> Path:
        return self.blob_dir or self.data_dir / "blobs"

    @property
    def effective_master_key_file(self) -> Path:
        return self.master_key_file or self.data_dir / "master.key"

    @property
    def effective_audit_signing_key_file(self) -> Path:
        return self.audit_signing_key_file or self.data_dir / "audit-signing.key"

    @property
    def effective_id_token_signing_key_file(self) -> Path:
        return self.id_token_signing_key_file or self.data_dir / "id-token-signing.key"

    @property
    def effective_audit_anchor_dir(self) -> Path:
        return self.audit_anchor_dir or self.data_dir / "audit-anchors"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    def public_view(self) -> dict[str, str]:
        """The configuration as shown to operators: secrets and passwords are never printed."""
        url = self.effective_database_url
        return {
            "data_dir": str(self.data_dir),
            "database_url": _redact_url(url),
            "blob_dir": str(self.effective_blob_dir),
            "master_key": "from environment" if self.master_key else "from file",
            "master_key_file": str(self.effective_master_key_file),
            "audit_signing_key_file": str(self.effective_audit_signing_key_file),
            "id_token_signing_key_file": str(self.effective_id_token_signing_key_file),
            "audit_anchor_dir": str(self.effective_audit_anchor_dir),
            "base_url": self.base_url,
            "smtp_url": _redact_url(self.smtp_url.get_secret_value())
            if self.smtp_url
            else "(unset: .eml files)",
            "mail_from": self.mail_from,
            "timezone": self.timezone,
            "log_level": self.log_level,
            "jobs_interval_seconds": str(self.jobs_interval_seconds),
            "token_ttl_minutes": str(self.token_ttl_minutes),
            "outbox_max_attempts": str(self.outbox_max_attempts),
            "opposition_weeks": str(self.opposition_weeks),
            "archive_years": str(self.archive_years),
            "suspension_weeks": str(self.suspension_weeks),
            "majority_age": str(self.majority_age),
            "code_ttl_days": str(self.code_ttl_days),
            "invitation_days": str(self.invitation_days),
            "max_caregivers": str(self.max_caregivers),
            "max_cared_for": str(self.max_cared_for),
            "login_max_failures": str(self.login_max_failures),
            "login_lock_minutes": str(self.login_lock_minutes),
            "client_free_failures": str(self.client_free_failures),
            "client_max_wait_seconds": str(self.client_max_wait_seconds),
            "client_forget_minutes": str(self.client_forget_minutes),
            "global_window_seconds": str(self.global_window_seconds),
            "global_failures_per_window": str(self.global_failures_per_window),
            "forwarded_allow_ips": self.forwarded_allow_ips,
            "otp_ttl_minutes": str(self.otp_ttl_minutes),
            "max_upload_bytes": str(self.max_upload_bytes),
            "message_attachment_max_bytes": str(self.message_attachment_max_bytes),
            "mailbox_quota_bytes": str(self.mailbox_quota_bytes),
            "habilitations_file": self.habilitations_file or "(shipped default)",
            "emergency_hours": str(self.emergency_hours),
            "growth_reference_file": str(self.growth_reference_file or "(unset: no percentiles)"),
            "export_ttl_days": str(self.export_ttl_days),
            "metrics_token": "set" if self.metrics_token else "(unset: no /metrics)",
            "oidc_providers": ", ".join(f"{p.name} ({p.kind})" for p in self.oidc_providers)
            or "(none)",
        }


def _redact_url(url: str) -> str:
    """Hide the password of a URL (`user:***@host`)."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else f"{scheme}://{user}@{host}"


def load_settings(**overrides: object) -> Settings:
    """Read the environment; any invalid value becomes one ConfigurationError naming the variables."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"CARNET_{'_'.join(str(p) for p in err['loc']).upper() or 'SETTINGS'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigurationError(f"Invalid configuration: {problems}") from None


@functools.cache
def get_settings() -> Settings:
    """Settings of this process, read once."""
    return load_settings()
