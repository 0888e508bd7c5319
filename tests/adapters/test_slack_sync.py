"""`/muster sync` through the real Slack route: when each integration last ran, what changed,
and its last error in words."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from storage.integrations import Integration, IntegrationWrite, SyncRun, WriteStatus
from tests.adapters.slack_harness import STRANGER, SlackHarness, blocks_text
from tests.conftest import T0


def test_sync_says_when_each_integration_ran_what_changed_and_the_last_error(
    slack: SlackHarness, engine
) -> None:
    assert "Mobilize: never ran" in blocks_text(slack.ask("sync"))
    with Session(bind=engine) as s:
        failed = "Action Network answered 401 (check the key)"
        s.add(SyncRun(integration=Integration.MOBILIZE, started_at=T0, finished_at=T0, ok=True,
                      changes={"created": 3}, summary="3 shifts created"))  # fmt: skip
        s.add(SyncRun(integration=Integration.ACTION_NETWORK, started_at=T0 + timedelta(minutes=1),
                      ok=False, changes={}, error=failed))  # fmt: skip
        s.add(IntegrationWrite(integration=Integration.MOBILIZE, kind="mobilize.attendance",
                               payload={}, dedupe_key="k1", status=WriteStatus.WAITING,
                               attempts=0, next_attempt_at=T0, created_at=T0))  # fmt: skip
        s.commit()
    text = blocks_text(slack.ask("sync"))
    assert "3 shifts created" in text
    assert "failed: Action Network answered 401 (check the key)" in text
    assert "1 waiting" in text
    assert "only organizers" in blocks_text(slack.ask("sync", user=STRANGER))
