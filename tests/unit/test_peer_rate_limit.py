"""The peers' rate limiter spaces starts evenly: Mobilize's 5 writes a second are 200 ms apart."""

from __future__ import annotations

from bot.peer_http import RateLimiter


def test_starts_are_spaced_to_the_limit() -> None:
    now = [100.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(round(seconds, 6))
        now[0] += seconds

    limiter = RateLimiter(5, clock=lambda: now[0], sleep=sleep)
    for _ in range(6):
        limiter.wait()

    assert waits == [0.2] * 5  # the first goes at once, each next one a fifth of a second later


def test_an_idle_limiter_does_not_wait() -> None:
    now = [0.0]
    limiter = RateLimiter(15, clock=lambda: now[0], sleep=lambda s: None)
    limiter.wait()
    now[0] += 10
    waited: list[float] = []
    limiter._sleep = waited.append
    limiter.wait()
    assert waited == []
