"""Several Rasa servers behind one gateway: each subscriber pinned to one, re-pinned while it is down.

Rendezvous (highest-random-weight) hashing ranks the replicas for each openid: every gateway
worker ranks them the same way with no shared state, a subscriber's turns go to the same replica
(its lock store and caches stay warm), and when a replica is added or removed only the subscribers
ranked first on it move. A replica that refused a connection is skipped for `down_for_s`, so its
subscribers go to their second choice at once; the tracker store is shared (PostgreSQL), so the
conversation carries on there, and the gateway's one-drain-per-openid keeps it serial.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence


def replica_urls(configured: str) -> list[str]:
    """RASA_URL: one base URL, or several separated by commas."""
    urls = [url.strip().rstrip("/") for url in configured.split(",") if url.strip()]
    if not urls:
        raise ValueError("RASA_URL names no Rasa server")
    return urls


class RasaReplicas:
    def __init__(
        self, urls: Sequence[str], down_for_s: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.urls = list(urls)
        self._down_for_s = down_for_s
        self._clock = clock
        self._down_until: dict[str, float] = {}

    def ranked(self, openid: str) -> list[str]:
        """The replicas in the order this subscriber should try them: her own first, those known to
        be down last (still tried: a replica may be back before its time is up)."""
        by_weight = sorted(self.urls, key=lambda url: _weight(url, openid), reverse=True)
        now = self._clock()
        up = [url for url in by_weight if self._down_until.get(url, 0.0) <= now]
        return up + [url for url in by_weight if url not in up]

    def mark_down(self, url: str) -> None:
        self._down_until[url] = self._clock() + self._down_for_s

    def mark_up(self, url: str) -> None:
        self._down_until.pop(url, None)


def _weight(url: str, openid: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{url}\n{openid}".encode(), digest_size=8).digest(), "big")
