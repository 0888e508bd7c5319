"""`muster sync mobilize`: one sync now against the configured Mobilize, its outcome printed."""

from __future__ import annotations

import time

import pytest

from bot.cli import main
from tests.fakes.mobilize_api import FakeMobilize


def test_muster_sync_mobilize_prints_what_changed(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tomorrow = int(time.time()) + 86_400  # the CLI runs on the real clock, and so does the fake
    with FakeMobilize() as fake:
        fake.add_event(title="Office hours", timeslots=[(tomorrow, tomorrow + 3600)])
        for name, value in {**fake.environment(), "DATABASE_URL": db_url}.items():
            monkeypatch.setenv(name, value)

        assert main(["sync", "mobilize"]) == 0
        assert capsys.readouterr().out.strip() == "Mobilize: 1 shift created"

        assert main(["sync", "mobilize"]) == 0
        assert capsys.readouterr().out.strip() == "Mobilize: no changes"


def test_muster_sync_mobilize_without_settings_says_it_is_off(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("MOBILIZE_ORGANIZATION_ID", raising=False)
    assert main(["sync", "mobilize"]) == 2
    assert "MOBILIZE_ORGANIZATION_ID" in capsys.readouterr().err
