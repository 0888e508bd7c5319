"""One place that wires Muster for production and for tests alike. Nothing connects at import."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from bot.logs import register_settings_secrets
from bot.settings import Settings, load_settings
from handlers.config import OrgConfig
from handlers.ports import Clock, SmsSender, SystemClock
from storage.db import make_engine, make_session_factory
from storage.uow import SqlAlchemyUnitOfWork


@dataclass
class Container:
    settings: Settings
    engine: Engine
    clock: Clock
    _sms_sender: SmsSender | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def org(self) -> OrgConfig:
        return org_config(self.settings)

    @cached_property
    def session_factory(self) -> sessionmaker[Session]:
        return make_session_factory(self.engine)

    @cached_property
    def read_session_factory(self) -> sessionmaker[Session]:
        return make_session_factory(self.engine, read_only=True)

    def uow(self) -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(self.session_factory)

    def read_uow(self) -> SqlAlchemyUnitOfWork:
        """A unit of work that only reads (on SQLite it does not take the write lock)."""
        return SqlAlchemyUnitOfWork(self.read_session_factory)

    @property
    def sms_sender(self) -> SmsSender:
        if self._sms_sender is None:
            self._sms_sender = build_sms_sender(self.settings)
        return self._sms_sender

    @cached_property
    def geocoder(self) -> Any:
        """The `handlers.geocoding.Geocoder` of GEOCODER, or None when it is off."""
        if "geocoder" in self.extras:
            return self.extras["geocoder"]
        if self.settings.geocoder == "census":
            from bot.census_geocoder import CensusGeocoder

            return CensusGeocoder(self.settings.census_geocoder_url)
        return None

    @cached_property
    def legislator_directory(self) -> Any:
        """The Open States adapter (`handlers.legislators.LegislatorDirectory`) when
        OPENSTATES_API_KEY is set, or None: then only the loaded CSVs are known."""
        if "legislator_directory" in self.extras:
            return self.extras["legislator_directory"]
        key = self.settings.openstates_api_key
        if key is None or not key.get_secret_value():
            return None
        from bot.openstates_api import OpenStatesDirectory

        return OpenStatesDirectory(
            base_url=self.settings.openstates_api_url, api_key=key.get_secret_value()
        )

    def database_ok(self) -> tuple[bool, str]:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True, "ok"
        except Exception as exc:
            return False, type(exc).__name__

    def close(self) -> None:
        self.engine.dispose()


def org_config(settings: Settings) -> OrgConfig:
    return OrgConfig(
        org_name=settings.org_name,
        org_contact=settings.org_contact,
        default_timezone=settings.default_timezone,
        quiet_hours=settings.quiet_window,
        organizer_ids=settings.organizer_slack_ids,
        public_url=settings.public_url,
        geocoder=settings.geocoder != "off",
        action_network=settings.action_network_enabled,
        voice_number=settings.twilio_from_number if settings.twilio_voice else None,
    )


def build_sms_sender(settings: Settings) -> SmsSender:
    """Twilio when credentials are set, otherwise the console transport."""
    if settings.twilio_enabled:
        from bot.twilio_sender import TwilioSmsSender

        return TwilioSmsSender(settings)
    from bot.console_sender import ConsoleSmsSender

    return ConsoleSmsSender()


def bootstrap(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    engine: Engine | None = None,
    sms_sender: SmsSender | None = None,
) -> Container:
    settings = settings or load_settings()
    register_settings_secrets(settings)  # never logged, wherever they turn up
    return Container(
        settings=settings,
        engine=engine or make_engine(settings.database_url, hide_parameters=not settings.log_sql),
        clock=clock or SystemClock(),
        _sms_sender=sms_sender,
    )
