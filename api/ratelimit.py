"""Per-key rate limits: one token bucket per API key, held by each server process."""

from __future__ import annotations

import time


class TokenBuckets:
    """Token buckets refilled at ``rate_per_s`` up to ``burst`` tokens, one per key.

    Each server process keeps its own buckets, so with ``N`` workers a key may reach up to
    ``N`` times the rate. Buckets are only made for keys that authenticated, so their
    number is bounded by the number of keys.

    Parameters
    ----------
    rate_per_s : float
        Tokens added per second.
    burst : int
        Largest number of tokens a bucket holds (requests allowed at once).
    clock : callable, optional
        Monotonic time in seconds.
    """

    def __init__(self, rate_per_s: float, burst: int, clock=time.monotonic) -> None:
        self._rate = rate_per_s
        self._burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> float:
        """Take one token for ``key``: 0 when granted, else the seconds until one is due."""
        now = self._clock()
        tokens, last = self._buckets.get(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self._rate
        self._buckets[key] = (tokens - 1.0, now)
        return 0.0
