"""Several Rasa servers behind one gateway: each subscriber pinned to one, re-pinned while it is down
or while it is much busier than another.

Rendezvous (highest-random-weight) hashing ranks the replicas for each openid: every gateway
worker ranks them the same way with no shared state, a subscriber's turns go to the same replica,
and when a replica is added or removed only the subscribers ranked first on it move. A replica
that refused a connection, or could not finish a turn because its own action server is down, is
skipped for `down_for_s`, so its subscribers go to their second choice at once; the tracker store
is shared (PostgreSQL), so the conversation carries on there, and the gateway's
one-drain-per-openid keeps it serial.

A hash splits a few active subscribers unevenly (12 and 8 of 20 is common), and the busier
replica's queue sets everyone's worst latency. So a turn goes to the least busy replica (by this
worker's turns in flight) when the subscriber's own has more than `slack` turns more in flight:
no replica keeps state between turns (the tracker is in the shared store, the lock is the
gateway's), so moving costs nothing, and under light load every subscriber stays on her own.
A retried message is not moved: it goes back to the replica its last attempt went to (in this
worker, within `recent_s`), where an attempt that timed out but still runs holds the
conversation's lock, so the two never run side by side on the shared tracker.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager


def replica_urls(configured: str) -> list[str]:
    """RASA_URL: one base URL, or several separated by commas."""
    urls = [url.strip().rstrip("/") for url in configured.split(",") if url.strip()]
    if not urls:
        raise ValueError("RASA_URL names no Rasa server")
    return urls


class RasaReplicas:
    def __init__(
        self,
        urls: Sequence[str],
        down_for_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        slack: int = 1,
        recent_s: float = 120.0,
    ) -> None:
        self.urls = list(urls)
        self._down_for_s = down_for_s
        self._clock = clock
        self._down_until: dict[str, float] = {}
        self._slack = slack
        self._in_flight = dict.fromkeys(self.urls, 0)
        self._recent_s = recent_s
        self._last_turn: dict[str, tuple[str, float]] = {}  # openid -> (replica, when), oldest first

    def for_turn(self, openid: str, *, retry: bool = False) -> list[str]:
        """`ranked`, except that the least busy replica that is up comes first when hers has more
        than `slack` turns more in flight; with `retry`, the replica of her last turn comes first."""
        order = self.ranked(openid)
        now = self._clock()
        up = [url for url in order if self._down_until.get(url, 0.0) <= now]
        if retry:
            last = self._last_turn.get(openid)
            recent = last is not None and last[1] > now - self._recent_s and last[0] in up
            chosen = last[0] if recent and last is not None else order[0]
        elif len(up) < 2:
            return order
        else:
            idlest = min(up, key=lambda url: self._in_flight[url])  # first of the least busy, in her order
            busier = self._in_flight[up[0]] - self._in_flight[idlest] > self._slack
            chosen = idlest if busier else order[0]
        return [chosen] + [url for url in order if url != chosen]

    @contextmanager
    def turn_on(self, url: str, openid: str) -> Iterator[None]:
        """Count a turn in flight on `url` while the block runs, and remember where her turn went."""
        self._forget_old()
        self._last_turn.pop(openid, None)  # re-inserted last: the dict stays ordered by time
        self._last_turn[openid] = (url, self._clock())
        self._in_flight[url] += 1
        try:
            yield
        finally:
            self._in_flight[url] -= 1

    def _forget_old(self) -> None:
        horizon = self._clock() - self._recent_s
        while self._last_turn:
            openid, (_, when) = next(iter(self._last_turn.items()))
            if when > horizon:
                return
            del self._last_turn[openid]

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
