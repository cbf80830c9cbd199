"""One use per (timestamp, nonce): a push URL seen once cannot carry another message.

WeChat's signature covers the token, timestamp and nonce (and, in safe mode, the ciphertext),
so within the replay window an observed URL could be sent again. Each pair is recorded in Redis
with SET NX for as long as its timestamp can pass the window check, bound to the message it
carried: the same pair with the same message is WeChat's own retry (answered by the dedup as
before), the same pair with any other message is refused.

The record is written in the push's arrival round trip (gateway/processor.py, `Arrivals.arrive`):
the ledger only names it and judges what Redis holds for it afterwards.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from core.redis_store import as_text


class ReplayedPush(Exception):
    """This (timestamp, nonce) already carried another message."""


@dataclass(frozen=True)
class PushNonce:
    """A push's (timestamp, nonce) as Redis records it: under `key`, for `ttl_s`, with its msg_key."""

    key: str
    ttl_s: int

    def check(self, recorded: bytes | str | None, msg_key: str) -> None:
        """ReplayedPush when the pair, as recorded after this push's SET NX, names another message."""
        if recorded is not None and as_text(recorded) != msg_key:
            raise ReplayedPush("timestamp and nonce already used for another message")


class NonceLedger:
    def __init__(self, window_s: int) -> None:
        # A timestamp passes while |now - timestamp| <= window: up to 2 windows after first use.
        self._ttl_s = 2 * window_s + 60

    def nonce_of(self, timestamp: str, nonce: str) -> PushNonce:
        pair = hashlib.sha256(f"{timestamp}\n{nonce}".encode()).hexdigest()
        return PushNonce(key=f"gw:nonce:{pair}", ttl_s=self._ttl_s)
