"""A small in-memory rate limit: at most N events per key in a sliding window.

For the personal answer pages (per token and per client): cheap, no database write on a
GET, and bounded in memory (the oldest keys go first when ``max_keys`` is reached). Each
instance counts for itself, so behind several instances the limit is per instance — a
brake on scripted guessing and floods, not an exact quota (the tokens themselves are 192
random bits; guessing is hopeless anyway).
"""
from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable


class RateLimiter:
    """``allow(key)`` is True while ``key`` had fewer than ``limit`` events in the last
    ``per_seconds``; each allowed call counts as an event."""

    def __init__(self, limit: int, per_seconds: float, *, max_keys: int = 50_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.per_seconds = per_seconds
        self.max_keys = max_keys
        self.clock = clock
        self._events: OrderedDict[str, deque[float]] = OrderedDict()

    def allow(self, key: str) -> bool:
        now = self.clock()
        events = self._events.get(key)
        if events is None:
            events = deque()
            self._events[key] = events
            while len(self._events) > self.max_keys:
                self._events.popitem(last=False)
        else:
            self._events.move_to_end(key)
        while events and events[0] <= now - self.per_seconds:
            events.popleft()
        if len(events) >= self.limit:
            return False
        events.append(now)
        return True


__all__ = ["RateLimiter"]
