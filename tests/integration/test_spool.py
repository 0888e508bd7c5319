"""The inbound spool: texts that arrive while the database is away are kept, then replayed."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from bot.spool import Spool, SpooledRequest, is_database_away
from storage.db import make_engine
from tests.builders import random_phone
from tests.conftest import T0

UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/none"


def _request(n: int, phone: str | None = None) -> SpooledRequest:
    return SpooledRequest(
        path="/twilio/sms",
        params={"MessageSid": f"SM{n:032d}", "From": phone or random_phone(), "Body": f"text {n}"},
        signature="sig",
        received_at=T0 + timedelta(seconds=n),
    )


def test_a_refused_connection_counts_as_the_database_being_away() -> None:
    engine = make_engine(UNREACHABLE)
    with pytest.raises(OperationalError) as caught, engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    engine.dispose()
    assert is_database_away(caught.value)
    assert not is_database_away(ValueError("a bug"))


def test_spooled_requests_are_private_durable_files_replayed_in_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    assert spool.pending() == [] and spool.replay(lambda r: None) == 0
    phone = random_phone()
    for n in range(12):
        spool.put(_request(n, phone))
    files = spool.pending()
    assert len(files) == 12
    assert stat.S_IMODE((tmp_path / "spool").stat().st_mode) == 0o700
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    assert not list((tmp_path / "spool").glob(".*.tmp"))
    loaded = spool.load(files[0])
    assert loaded.params["From"] == phone and loaded.received_at == T0

    seen: list[str] = []

    def handle(request: SpooledRequest) -> None:
        if request.params["Body"] == "text 5" and "away" not in seen:
            seen.append("away")
            raise OperationalError("SELECT 1", {}, Exception("connection refused"))
        if request.params["Body"] == "text 8":
            raise ValueError("a bug in the handler")
        seen.append(request.params["Body"])

    # The database goes away at the sixth: it stays first in line, nothing after it overtakes.
    assert spool.replay(handle) == 5
    assert len(spool.pending()) == 7
    # Back: the rest in order; the one the handler refused is set aside, not retried forever.
    assert spool.replay(handle) == 6
    assert seen == [f"text {n}" for n in range(5)] + ["away"] + [
        f"text {n}" for n in (5, 6, 7, 9, 10, 11)
    ]
    assert spool.pending() == []
    assert [p.name for p in (tmp_path / "spool" / "failed").iterdir()] == [files[8].name]
