from __future__ import annotations

import pytest

from bot.settings import SettingsError, load_settings


def _load(**env: str):
    return load_settings(_env_file=None, **env)


def test_defaults_are_the_contracts() -> None:
    s = _load()
    assert s.database_url == "sqlite:///muster.db"
    assert s.public_url == "http://127.0.0.1:8000"
    assert s.slack_command == "/muster"
    assert s.send_rate_mps == 1 and s.send_concurrency == 50
    assert s.quiet_window is not None and s.quiet_window[0].hour == 21
    assert not s.twilio_enabled and not s.slack_enabled
    assert s.log_level == "INFO" and s.log_format == "auto" and s.log_sql is False


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("database_url", "not a url", "setting DATABASE_URL"),
        ("database_url", "mysql://localhost/x", "setting DATABASE_URL"),
        ("quiet_hours", "9pm-9am", "setting QUIET_HOURS: must be HH:MM-HH:MM"),
        ("default_timezone", "Boston", "setting DEFAULT_TIMEZONE: unknown time zone"),
        ("send_rate_mps", "0", "setting SEND_RATE_MPS"),
        ("public_url", "muster.example.org", "setting PUBLIC_URL"),
        ("log_level", "verbose", "setting LOG_LEVEL: must be one of DEBUG, INFO"),
        ("log_format", "xml", "setting LOG_FORMAT: must be text, json or auto"),
    ],
)
def test_a_bad_value_names_the_setting(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as err:
        _load(**{name: value})
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORGANIZER_SLACK_IDS", "U1, U2,,U3")
    monkeypatch.setenv("QUIET_HOURS", "off")
    s = _load()
    assert s.organizer_slack_ids == {"U1", "U2", "U3"}
    assert s.quiet_window is None


def test_secrets_are_not_shown() -> None:
    s = _load(twilio_account_sid="AC" + "0" * 32, twilio_auth_token="supersecret")
    assert "supersecret" not in repr(s)
    assert s.twilio_enabled
