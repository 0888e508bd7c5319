"""The per-text counters: each text counted under its own channel and intent, every time."""

from __future__ import annotations

from bot import metrics


def _value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def test_each_text_is_counted_under_its_channel_and_intent() -> None:
    before_yes = _value("muster_inbound_messages_total", channel="sms", intent="commit")
    before_unknown = _value("muster_inbound_messages_total", channel="sms", intent="unknown")
    before_replies = _value("muster_replies_total", channel="sms")

    for _ in range(3):
        metrics.count_inbound("sms", "commit")
    metrics.count_inbound("sms", None)
    metrics.count_reply("sms")
    metrics.count_reply("sms")

    assert _value("muster_inbound_messages_total", channel="sms", intent="commit") == before_yes + 3
    assert (
        _value("muster_inbound_messages_total", channel="sms", intent="unknown")
        == before_unknown + 1
    )
    assert _value("muster_replies_total", channel="sms") == before_replies + 2
