"""Every setting of the contract, read from the environment and `.env`, validated at start.

A bad value stops the process with one line naming the setting (see `load_settings`), never a
traceback. Nothing here connects to anything.
"""

from __future__ import annotations

import re
import sys
from datetime import time
from functools import cached_property
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("auto", "text", "json")
_HHMM_RANGE = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-3]):([0-5]\d)\s*$")


class SettingsError(Exception):
    """A setting has a value Muster cannot run with; the message names it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    database_url: str = "sqlite:///muster.db"
    public_url: str = "http://127.0.0.1:8000"

    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from_number: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_api_url: str = "https://api.twilio.com"
    # Patch-through calls (docs/rapid-response.md): CALL offers to ring the volunteer and connect
    # them to their legislator's office through Twilio Voice, from TWILIO_FROM_NUMBER.
    twilio_voice: bool = False

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_command: str = "/muster"
    slack_inbox_channel: str | None = None
    organizer_slack_ids: Annotated[frozenset[str], NoDecode] = frozenset()

    org_name: str = "Muster"
    org_contact: str | None = None
    default_timezone: str = "America/New_York"
    quiet_hours: str = "21:00-09:00"
    send_rate_mps: float = Field(default=1.0, gt=0)
    send_concurrency: int = Field(default=50, ge=1, le=1000)
    # SQLite only: how long a dead clock's leadership lease lasts before a standby takes over.
    clock_lease_seconds: float = Field(default=10.0, ge=2, le=300)

    # Integrations (docs/integrations.md): each is off unless its settings are given.
    mobilize_organization_id: str | None = None
    mobilize_api_key: SecretStr | None = None  # needed only to write attendances back
    mobilize_api_url: str = "https://api.mobilize.us"
    action_network_api_key: SecretStr | None = None
    action_network_api_url: str = "https://actionnetwork.org/api/v2"
    action_network_webhook_secret: SecretStr | None = None

    # Districts (docs/districts.md): street addresses looked up through a geocoder.
    geocoder: str = "off"  # off, census
    census_geocoder_url: str = "https://geocoding.geo.census.gov/geocoder"
    # Rapid response (docs/rapid-response.md): legislators looked up through Open States.
    openstates_api_key: SecretStr | None = None
    openstates_api_url: str = "https://v3.openstates.org"

    metrics_token: SecretStr | None = None
    log_level: str = "INFO"
    log_format: str = "auto"  # text (a short line a person reads), json (one object a line), auto
    log_sql: bool = False  # SQLAlchemy's statements, with their parameters: development only
    spool_dir: str = "spool"

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"not a SQLAlchemy URL ({exc})") from None
        if url.get_backend_name() not in {"sqlite", "postgresql"}:
            raise ValueError("Muster supports sqlite:/// and postgresql+psycopg:// URLs")
        if url.get_backend_name() == "postgresql" and url.get_driver_name() != "psycopg":
            raise ValueError("use the psycopg 3 driver: postgresql+psycopg://...")
        return value

    @field_validator(
        "public_url",
        "twilio_api_url",
        "slack_api_url",
        "mobilize_api_url",
        "action_network_api_url",
        "census_geocoder_url",
        "openstates_api_url",
    )
    @classmethod
    def _check_http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if not value.endswith("/api/") else value

    @field_validator("geocoder")
    @classmethod
    def _check_geocoder(cls, value: str) -> str:
        name = value.strip().lower() or "off"
        if name not in ("off", "census"):
            raise ValueError("must be off or census")
        return name

    @field_validator("default_timezone")
    @classmethod
    def _check_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _check_quiet_hours(cls, value: str) -> str:
        if value.strip() == "" or value.strip().lower() == "off":
            return "off"
        if not _HHMM_RANGE.match(value):
            raise ValueError("must be HH:MM-HH:MM, e.g. 21:00-09:00 (or 'off')")
        return value.replace(" ", "")

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("log_format")
    @classmethod
    def _check_log_format(cls, value: str) -> str:
        fmt = value.strip().lower()
        if fmt not in LOG_FORMATS:
            raise ValueError("must be text, json or auto (json when not on a terminal)")
        return fmt

    @field_validator("organizer_slack_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("mobilize_organization_id")
    @classmethod
    def _check_organization_id(cls, value: str | None) -> str | None:
        if value is not None and value.strip() and not value.strip().isdigit():
            raise ValueError("must be Mobilize's numeric organization id")
        return value.strip() or None if value is not None else None

    @field_validator("slack_command")
    @classmethod
    def _check_command(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value

    # Derived values -------------------------------------------------------------------------

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.default_timezone)

    @cached_property
    def quiet_window(self) -> tuple[time, time] | None:
        """(start, end) of recipient-local quiet hours, or None when they are off."""
        match = _HHMM_RANGE.match(self.quiet_hours)
        if not match:
            return None
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        return time(h1, m1), time(h2, m2)

    @model_validator(mode="after")
    def _check_voice(self) -> Settings:
        if self.twilio_voice and not (self.twilio_enabled and self.twilio_from_number):
            raise ValueError(
                "TWILIO_VOICE=on needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and "
                "TWILIO_FROM_NUMBER (a voice-capable Twilio number: calls are placed from it)"
            )
        return self

    @property
    def twilio_enabled(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token and self.slack_signing_secret)

    @property
    def mobilize_enabled(self) -> bool:
        return bool(self.mobilize_organization_id)

    @property
    def action_network_enabled(self) -> bool:
        key = self.action_network_api_key
        return key is not None and bool(key.get_secret_value().strip())

    @property
    def action_network_webhook_on(self) -> bool:
        secret = self.action_network_webhook_secret
        return secret is not None and bool(secret.get_secret_value().strip())

    @property
    def is_sqlite(self) -> bool:
        return make_url(self.database_url).get_backend_name() == "sqlite"


def load_settings(**overrides: object) -> Settings:
    """Read the settings; on a bad value raise SettingsError whose message is one clear line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        reason = first["msg"].removeprefix("Value error, ")
        raise SettingsError(f"setting {name}: {reason}") from None


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        print(f"muster: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
