"""`muster sync action_network`: one sync now against the configured Action Network, printed."""

from __future__ import annotations

import pytest

from bot.cli import main
from tests.builders import random_phone
from tests.fakes.action_network_api import FakeActionNetwork


def test_muster_sync_action_network_prints_what_changed(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeActionNetwork() as fake:
        number = {"number": random_phone().removeprefix("+"), "status": "subscribed"}
        fake.add_person({"given_name": "Ida", "phone_numbers": [number]})
        for name, value in {**fake.environment(), "DATABASE_URL": db_url}.items():
            monkeypatch.setenv(name, value)

        assert main(["sync", "action_network"]) == 0
        assert capsys.readouterr().out.strip() == (
            "Action Network: sent 0 volunteers; read 1 people (1 joined)"
        )


def test_muster_sync_action_network_without_a_key_says_it_is_off(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("ACTION_NETWORK_API_KEY", raising=False)
    assert main(["sync", "action_network"]) == 2
    assert "ACTION_NETWORK_API_KEY" in capsys.readouterr().err
