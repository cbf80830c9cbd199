"""Processing of stored pushes: one subscriber at a time across all workers, in arrival order.

The webhook stores a push, then `schedule(openid)` starts a drain: under the Redis lock
"gw:order:{openid}" the drain processes that subscriber's unfinished inbox rows oldest first,
starting with the row the push was leased as when it was stored (`Inbox.take_new`), if it was.

Who answers WeChat: every push has a passive slot in Redis ("gw:passive:{msg_key}"), filled
once with SET NX, by whoever comes first: the drain with the first reply text (the webhook then
answers passively), or the webhook at its deadline with "closed" (it answers `success` and the
reply goes through the outbox). A WeChat retry reads the same slot, so it never yields a second
answer, and it never starts a second dialogue turn (the push is stored once).

When Rasa cannot answer, the row waits for a retry (backoff; the retry worker picks it up) and the
subscriber gets one short apology per message; later messages wait behind the deferred one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from core.locks import LockTimeout, RedisLock
from core.metrics import Metrics
from core.redact import mask_msg_key, mask_openid
from core.redis_store import as_text
from core.wording import APOLOGY
from gateway.dialogue import Dialogue, Outgoing
from gateway.inbox import Claimed, Inbox
from gateway.outbox import Outbox
from gateway.rasa_client import RasaUnavailable
from gateway.replay import PushNonce, ReplayedPush
from gateway.spool import STREAM as SPOOL_STREAM
from gateway.voice_replies import StoredMode, is_unmade_voice, parse_mode
from wechat.messages import InboundMessage, message_text, text_message
from wechat.window import WINDOW, QuotaExhausted, WindowClosed, utcnow

log = logging.getLogger(__name__)

SLOT_TTL_S = 3600
SEEN_TTL_S = 3600
INFLIGHT_TTL_S = 60  # a worker that died between arrival and commit blocks nobody for longer
# The rest of a multi-message answer leaves after the passive first part has reached WeChat.
AFTER_PASSIVE_DELAY = dt.timedelta(seconds=1)
# A passive reply is offered only while the webhook surely still waits: Redis's record that it gave
# up can be lost (a Redis restart), and an offer nobody collects would be an answer lost.
PASSIVE_MARGIN = dt.timedelta(seconds=0.5)
MAX_RETRY_DELAY_S = 60.0
SETTLE_S = 5.0  # fresh rows belong to the drain their webhook started
# A webhook is woken at once by a drain of its own process (the usual case: the push's own drain);
# another worker's drain (a burst of one subscriber's pushes spread over processes) is noticed by
# polling Redis, at growing intervals: each poll costs the gateway CPU, and under load a turn
# takes a second or more.
POLL_FIRST_S = 0.2
POLL_MAX_S = 0.8
LOCK_POLL_S = 0.05  # a drain waiting for a subscriber's order lock held by another worker

_SUCCESS = "0"
_TEXT = "1"

# A push's arrival and the end of it, each one atomic round trip (the arrival was a MULTI): a
# script's single reply costs the gateway a third of the CPU of a transaction's queued replies
# (0.15 against 0.38 ms here), and the arrival and its end run for every push.
# KEYS: seen mark, her in-flight count, the arrival counter, the spool's stream[, the push's nonce]
# ARGV: in-flight TTL[, msg_key, nonce TTL]
_ARRIVE = """
local recorded = false
if KEYS[5] then
  redis.call('SET', KEYS[5], ARGV[2], 'NX', 'EX', ARGV[3])
  recorded = redis.call('GET', KEYS[5])
end
local seen = redis.call('EXISTS', KEYS[1])
local in_flight = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[1])
return {recorded, seen, in_flight, redis.call('INCR', KEYS[3]), redis.call('XLEN', KEYS[4])}
"""
# KEYS: her in-flight count[, the seen mark to set][, her order lock to try]
# ARGV: the seen mark's TTL or '', the lock's token or ''[, its lease in ms]
_END = """
local left = redis.call('DECR', KEYS[1])
local next_key = 2
if ARGV[1] ~= '' then
  redis.call('SET', KEYS[next_key], '1', 'EX', ARGV[1])
  next_key = next_key + 1
end
if ARGV[2] ~= '' and redis.call('SET', KEYS[next_key], ARGV[2], 'NX', 'PX', ARGV[3]) then
  return {left, 1}
end
return {left, 0}
"""


@dataclass(frozen=True)
class Arrival:
    seq: int  # its place in the order of all arrivals
    behind_spool: bool  # the spool holds pushes (the database was down): this one queues behind them
    # Nothing else of hers was in flight: every earlier push of hers is stored, and any other comes
    # later, so if nothing of hers is unfinished this one is her head (`Inbox.take_new`).
    alone: bool = False


@dataclass(frozen=True)
class Handover:
    """A subscriber's order lock, taken for her drain in the round trip that ended her push's arrival
    (`Arrivals.end`), and whether nothing of hers was in flight then: that drain takes neither the
    lock nor the first look at the in-flight count in round trips of its own."""

    lock: RedisLock
    settled: bool


class Arrivals:
    """Arrival bookkeeping shared by every worker: dedup of pushes and one order per subscriber.

    Inbox ids follow the database's sequence, not arrival (two workers' inserts can swap), so each
    push takes a number from one Redis counter, and counts itself "in flight" for a subscriber until
    its row is committed; a drain waits until nothing is in flight before it picks the next row.
    """

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self._arrive = redis.register_script(_ARRIVE)
        self._end = redis.register_script(_END)

    async def arrive(self, msg_key: str, openid: str, nonce: PushNonce | None = None) -> Arrival | None:
        """The push's arrival, counted in flight for its subscriber until `end`; None when it was
        stored before (by any worker: its row or spool entry exists), and nothing counted.
        With `nonce`, the push's (timestamp, nonce) is recorded too: ReplayedPush (nothing counted)
        when it carried another message before (gateway/replay.py).
        One round trip: a duplicate or a replay is rare, so it is counted and uncounted rather than
        asked first."""
        keys = [self._seen(msg_key), self._inflight(openid), "gw:arrival", SPOOL_STREAM]
        args: list[str | int] = [INFLIGHT_TTL_S]
        if nonce is not None:
            keys.append(nonce.key)
            args += [msg_key, nonce.ttl_s]
        recorded, seen, in_flight, seq, spooled = await self._arrive(keys=keys, args=args)
        if nonce is not None:
            try:
                nonce.check(recorded, msg_key)
            except ReplayedPush:
                await self.end(openid)
                raise
        if seen:
            await self.end(openid)
            return None
        return Arrival(seq=int(seq), behind_spool=int(spooled) > 0, alone=int(in_flight) == 1)

    async def mark_seen(self, msg_key: str) -> None:
        """Only after the push's row (or spool entry) is committed: until then a retry is a first delivery."""
        await self._redis.set(self._seen(msg_key), "1", ex=SEEN_TTL_S)

    async def end(self, openid: str, stored_key: str | None = None, take: RedisLock | None = None) -> Handover | None:
        """No longer in flight; with `stored_key`, that push's row is committed: mark it seen too.
        With `take`, her order lock is tried in the same round trip: the Handover when it was free."""
        keys = [self._inflight(openid)]
        args: list[str | int] = ["", ""]
        if stored_key is not None:
            keys.append(self._seen(stored_key))
            args[0] = SEEN_TTL_S
        if take is not None:
            lock_key, token, lease_ms = take.tried_in_script()
            keys.append(lock_key)
            args[1:] = [token, lease_ms]
        left, taken = await self._end(keys=keys, args=args)
        if take is None or not taken:
            return None
        # Nothing of hers in flight right after this push left: as `settled` would have found.
        return Handover(take, settled=int(left) <= 0)

    async def settled(self, openid: str, timeout_s: float = 2.0) -> bool:
        """Wait until no push of this subscriber is between arrival and commit."""
        deadline = time.monotonic() + timeout_s
        while int(await self._redis.get(self._inflight(openid)) or 0) > 0:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    @staticmethod
    def _inflight(openid: str) -> str:
        return f"gw:inflight:{openid}"

    @staticmethod
    def _seen(msg_key: str) -> str:
        return f"gw:seen:{msg_key}"


class _Waiter:
    """A webhook of this process waiting for its push's slot; `value`: what a drain of this
    process put into the slot, so that the webhook need not read it back from Redis."""

    def __init__(self, openid: str | None) -> None:
        self.openid = openid
        self.event = asyncio.Event()
        self.value: str | None = None
        self.decided = False  # an offer found the slot already decided: read it, whoever holds the lock


class PassiveSlots:
    """The Redis slots deciding, once per push, between a passive answer and `success`.

    Only the drain holding a subscriber's order lock answers her messages. While a drain of this
    process holds it (`drain_holds`), that drain fills her slots and wakes their webhooks itself, so
    they do not poll Redis (under load a turn takes a second or more: two or three reads per push);
    when it lets go (`drain_ended`), they read Redis once and poll as before."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self._waiters: dict[str, _Waiter] = {}
        self._held: set[str] = set()  # openids whose order lock a drain of this process holds

    def drain_holds(self, openid: str) -> None:
        self._held.add(openid)

    def drain_ended(self, openid: str) -> None:
        self._held.discard(openid)
        for waiter in self._waiters.values():
            if waiter.openid == openid:
                waiter.event.set()  # no value: read Redis now, another worker may answer from here on

    async def offer_text(self, msg_key: str, text: str) -> bool:
        """Offer the passive reply; False when the webhook has already answered `success`."""
        return await self._fill(msg_key, _TEXT + text)

    async def offer_nothing(self, msg_key: str) -> None:
        await self._fill(msg_key, _SUCCESS)

    async def peek(self, msg_key: str) -> str | None:
        """The passive reply already decided for this push, if it was a text."""
        value = await self._redis.get(self._key(msg_key))
        return _decode(as_text(value)) if value is not None else None

    async def wait(
        self, msg_key: str, deadline: float, *, fresh: bool = False, openid: str | None = None
    ) -> str | None:
        """The passive reply text, or None for `success` (at the deadline at the latest). `fresh`: the
        push was stored just now, so its slot cannot be filled yet: the first read is skipped.
        `openid`: the push's subscriber, whose drain in this process, if any, spares the polls."""
        waiter = self._waiters.setdefault(msg_key, _Waiter(openid))
        poll_s = POLL_FIRST_S
        read = not fresh
        try:
            while True:
                value = waiter.value
                if value is None and read and (openid not in self._held or waiter.decided):
                    value = await self._read(msg_key)
                read = True
                if value is not None:
                    return _decode(value)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    await asyncio.wait_for(waiter.event.wait(), min(remaining, poll_s))
                except asyncio.TimeoutError:
                    pass
                if waiter.value is None:
                    waiter.event.clear()  # woken without a value: read Redis on the next round
                poll_s = min(POLL_MAX_S, 2 * poll_s)
            if await self._fill(msg_key, _SUCCESS):
                return None
            return _decode(await self._read(msg_key) or _SUCCESS)
        finally:
            self._waiters.pop(msg_key, None)

    async def _read(self, msg_key: str) -> str | None:
        value = await self._redis.get(self._key(msg_key))
        return as_text(value) if value is not None else None

    async def _fill(self, msg_key: str, value: str) -> bool:
        filled = bool(await self._redis.set(self._key(msg_key), value, nx=True, ex=SLOT_TTL_S))
        waiter = self._waiters.get(msg_key)
        if waiter is not None:
            if filled:  # the slot holds this value from now on: the waiter need not read it back
                waiter.value = value
            else:
                waiter.decided = True
            waiter.event.set()
        return filled

    @staticmethod
    def _key(msg_key: str) -> str:
        return f"gw:passive:{msg_key}"


def _decode(value: str) -> str | None:
    return value[1:] if value.startswith(_TEXT) else None


class Processor:
    def __init__(
        self,
        engine: AsyncEngine,
        redis: aioredis.Redis,
        inbox: Inbox,
        outbox: Outbox,
        dialogue: Dialogue,
        arrivals: Arrivals,
        slots: PassiveSlots,
        metrics: Metrics,
        lock_ttl_s: float,
        passive_budget_s: float,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._engine = engine
        self._passive_budget = dt.timedelta(seconds=passive_budget_s)
        self._redis = redis
        self._inbox = inbox
        self._outbox = outbox
        self._dialogue = dialogue
        self._arrivals = arrivals
        self._slots = slots
        self._metrics = metrics
        self._lock_ttl_s = lock_ttl_s
        self._clock = clock
        self._drains: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        self._handovers: dict[str, Handover] = {}  # order locks taken for a drain, by openid
        # Rows leased when they were stored (`Inbox.take_new`), by openid, and when: her drain
        # answers such a row before it claims anything.
        self._taken: dict[str, tuple[Claimed, float]] = {}
        # Leased rows this worker could not give back (the database was away), with their leases:
        # given back as soon as it answers again (while the lease is still theirs), so that they
        # are retried within seconds, not when their lease runs out.
        self._owed_give_backs: dict[int, dt.datetime] = {}
        self._stopping = asyncio.Event()

    # ---- scheduling -----------------------------------------------------------------------------

    def order_lock(self, openid: str) -> RedisLock:
        """The lock under which one drain at a time, in any worker, answers this subscriber."""
        return RedisLock(self._redis, f"gw:order:{openid}", ttl_s=self._lock_ttl_s)

    def schedule(self, openid: str, handover: Handover | None = None, taken: Claimed | None = None) -> None:
        """Make sure a drain for this subscriber runs (again) in this process; `handover`: her order
        lock, already taken for it (`Arrivals.end`); `taken`: her row, leased when it was stored."""
        if handover is not None:
            self._handovers[openid] = handover
        if taken is not None:
            self._taken[openid] = (taken, time.monotonic())
        task = self._drains.get(openid)
        if task is not None and not task.done():
            self._again.add(openid)
            return
        self._drains[openid] = asyncio.create_task(self._drain_loop(openid), name=f"drain:{mask_openid(openid)}")

    async def _drain_loop(self, openid: str) -> None:
        try:
            while True:
                self._again.discard(openid)
                try:
                    await self._drain(openid)
                except LockTimeout:
                    log.warning("drain for %s gave up waiting for the lock", mask_openid(openid))
                    await self._give_back_taken(openid)  # for the retry worker, now, not after its lease
                except Exception:
                    log.exception("drain for %s failed", mask_openid(openid))
                    await self._give_back_taken(openid)
                if openid not in self._again:
                    return
        finally:
            if self._drains.get(openid) is asyncio.current_task():
                del self._drains[openid]

    async def run_retries(self, poll_s: float) -> None:
        """Background worker: deferred messages now due, and messages left by a worker that died."""
        while not self._stopping.is_set():
            try:
                await self._give_back_owed()
                for openid in await self._inbox.due_openids(SETTLE_S):
                    self.schedule(openid)
            except Exception:
                log.exception("retry scan failed")
            try:
                await asyncio.wait_for(self._stopping.wait(), poll_s)
            except asyncio.TimeoutError:
                pass

    async def close(self, grace_s: float = 5.0) -> None:
        """Stop retrying; give running drains `grace_s` to finish, then cancel them (their rows go back)."""
        self._stopping.set()
        tasks = list(self._drains.values())
        if tasks:
            await asyncio.wait(tasks, timeout=grace_s)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for openid in list(self._taken):  # leased for a drain that never ran: claimable at once
            await self._give_back_taken(openid)
        try:
            await self._give_back_owed()
        except Exception:  # still away: their leases run out instead
            log.warning(
                "%d inbox rows could not be given back: retried when their leases end", len(self._owed_give_backs)
            )
        handovers, self._handovers = list(self._handovers.values()), {}
        for handover in handovers:  # taken for a drain that never ran: let another worker have it
            try:
                await handover.lock.release()
            except Exception:
                log.warning("could not release %s: it expires", handover.lock.name)

    # ---- one subscriber ---------------------------------------------------------------------------

    async def _drain(self, openid: str) -> None:
        lock, settled = await self._take_order_lock(openid)
        try:
            self._slots.drain_holds(openid)
            try:
                await self._drain_holding(openid, lock, settled)
            finally:
                self._slots.drain_ended(openid)
        finally:
            await asyncio.shield(lock.release())

    async def _take_order_lock(self, openid: str) -> tuple[RedisLock, bool]:
        """Her order lock, and whether she was known to be settled when it was taken: handed over by
        the push that scheduled this drain, else waited for (LockTimeout after a lease and 5 s). A
        handover can also come while this drain waits: the lock was free again when a push ended."""
        lock = self.order_lock(openid)
        deadline = time.monotonic() + self._lock_ttl_s + 5
        while True:
            handover = self._handovers.pop(openid, None)
            if handover is not None:
                return handover.lock, handover.settled
            if await lock.acquire(timeout_s=0):
                return lock, False
            if time.monotonic() >= deadline:
                raise LockTimeout(lock.name)
            await asyncio.sleep(LOCK_POLL_S)

    async def _drain_holding(self, openid: str, lock: RedisLock, settled: bool) -> None:
        """Her unfinished messages in order, while this drain holds her order lock. `settled`: nothing
        of hers is in flight (known when the lock was taken), so the first look is skipped."""
        while True:
            claimed = await self._taken_row(openid)
            if claimed is None:
                if not settled and not await self._arrivals.settled(openid):
                    log.warning("%s: a push stayed in flight; going on without it", mask_openid(openid))
                claimed = await self._inbox.claim_next(openid)
                if claimed is None:
                    return  # nothing left, or the head is leased by a worker that is still alive
            settled = False
            if not await self._process(claimed):
                return
            if not claimed.more and openid not in self._again:
                # A message stored from now on schedules a drain after its commit: in this
                # process it runs this loop again (`_again`), in another it waits for the lock.
                return
            # More of hers: stored behind this one, or stored in this process while it was answered
            # (`_again`: she wrote again before her answer, "你好" then her question). Taken up
            # without letting go of her lock and taking it again, and the lease extended only once
            # it has aged: a burst of hers costs no lock round trips between her messages.
            self._again.discard(openid)
            await lock.keep()

    async def _taken_row(self, openid: str) -> Claimed | None:
        """Her row leased when it was stored, while its lease (the lock's TTL, INBOX_LEASE_S) surely
        lasts through its turn; an older one is given back (claimable at once), and the claim
        takes it up. Leases name no owner: an answer after the lease ran out could be a second."""
        taken = self._taken.get(openid)
        if taken is None:
            return None
        claimed, taken_at = taken
        if time.monotonic() - taken_at < self._lock_ttl_s / 3:
            del self._taken[openid]
            return claimed
        await self._give_back_taken(openid)
        return None

    async def _give_back_taken(self, openid: str) -> None:
        taken = self._taken.pop(openid, None)
        if taken is not None:
            await asyncio.shield(self._release_quietly(taken[0].row))

    async def _process(self, claimed: Claimed) -> bool:
        """Answer one row; False when it was deferred (what follows must wait)."""
        row = claimed.row
        msg = InboundMessage.from_dict(row.message)
        voice = StoredMode(parse_mode(claimed.voice_mode))
        try:
            replies = await self._dialogue.respond(
                msg, retry=row.attempts > 1, stored_voice=voice, routing=claimed.routing
            )
        except asyncio.CancelledError:
            await asyncio.shield(self._inbox.release(row.id))
            raise
        except RasaUnavailable as exc:
            self._metrics.rasa_failures.inc()
            await self._defer_or_give_back(row, f"rasa unavailable: {exc}")
            return False
        except Exception as exc:
            log.exception("processing %s failed", mask_msg_key(row.msg_key))
            await self._defer_or_give_back(row, f"{type(exc).__name__}: {exc}")
            return False
        try:
            await self._deliver(row, msg, replies)
        except Exception:
            # The answer could not be stored (Redis or the database failed right now): the row is
            # taken up again by the retry worker in seconds, instead of when its lease runs out.
            # Its turn is not run again (Rasa finds the answer by msg_key), and a first part that
            # already went passively is not sent twice (`_deliver`).
            log.exception("storing the answer to %s failed: it is taken up again", mask_msg_key(row.msg_key))
            await asyncio.shield(self._release_quietly(row))
            return False
        return True

    async def _defer_or_give_back(self, row: Any, reason: str) -> None:
        """Defer the row; when that cannot be written (the database is away), give it back instead,
        now or once the database answers, so that it is retried within seconds of its return."""
        try:
            await self._defer(row, reason)
        except Exception:
            log.exception("could not defer %s: it is given back for a retry", mask_msg_key(row.msg_key))
            await asyncio.shield(self._release_quietly(row))

    async def _release_quietly(self, row: Any) -> None:
        """Give a leased row back; when the database is away, once it answers again."""
        try:
            await self._inbox.release(row.id)
        except Exception:  # the database is away too: the retry worker gives it back once it answers
            self._owed_give_backs[row.id] = row.lease_until  # every leased row has one (take_new, claim)
            log.warning("could not give back inbox row %s now: it is given back once the database answers", row.id)

    async def _give_back_owed(self) -> None:
        """Give back the rows `_release_quietly` could not; raises while the database is still away.
        A row whose lease ran out meanwhile is left alone: the retry scan takes it, or has."""
        for row_id, lease_until in sorted(self._owed_give_backs.items()):
            await self._inbox.release(row_id, lease_until)
            del self._owed_give_backs[row_id]

    async def _deliver(self, row: Any, msg: InboundMessage, replies: list[Outgoing]) -> None:
        first_text = message_text(replies[0]) if replies else None
        webhook_waits = self._clock() < row.received_at + self._passive_budget - PASSIVE_MARGIN
        passive = False
        if first_text is not None:
            if webhook_waits:
                passive = await self._slots.offer_text(msg.msg_key, first_text)
                if passive:
                    await asyncio.sleep(0)  # its webhook answers WeChat before this drain writes the row
            if not passive and row.attempts > 1:
                # Taken up again after an earlier attempt stored nothing: if that attempt's first part
                # filled the slot, WeChat has had it as the passive reply.
                passive = await self._slots.peek(msg.msg_key) == first_text
        if not replies:
            await self._slots.offer_nothing(msg.msg_key)
        owed = replies[1:] if passive else replies
        if not owed:  # answered passively, or nothing to say: only the row is written
            await self._inbox.finish(None, row.id, "passive" if passive else "none")
            if passive:
                self._metrics.replies.inc("passive")
            return
        refused = None
        not_before = self._clock() + AFTER_PASSIVE_DELAY if passive else None
        any_voice = False
        async with self._engine.begin() as conn:
            for message in owed:
                voice = is_unmade_voice(message)
                any_voice = any_voice or voice
                try:
                    await self._outbox.enqueue_in(
                        conn,
                        msg.openid,
                        message,
                        origin="bot",
                        inbox_id=row.id,
                        not_before=not_before,
                        keep=1 if voice else 0,  # the allowance's last message is never audio
                        preparing=voice,
                    )
                except (WindowClosed, QuotaExhausted) as exc:
                    if voice:  # the texts went; the voice is left out
                        self._metrics.voice_replies.inc("no_allowance")
                        log.info("voice reply to %s left out: %s", mask_msg_key(row.msg_key), exc)
                        break
                    refused = f"{type(exc).__name__}: {exc}"
                    self._metrics.outbox_failures.inc("refused", type(exc).__name__)
                    log.warning("reply to %s not sent: %s", mask_msg_key(row.msg_key), refused)
                    break
            await self._inbox.finish(conn, row.id, "passive" if passive else "api", error=refused)
        if passive:
            self._metrics.replies.inc("passive")
        self._outbox.notify(due=not_before, preparing=any_voice)

    async def _defer(self, row: Any, reason: str) -> None:
        now = self._clock()
        if row.received_at + WINDOW < now:
            await self._inbox.fail(row.id, f"gave up after 48 h: {reason}")
            return
        delay = min(MAX_RETRY_DELAY_S, 2.0 ** max(0, row.attempts - 1))
        log.warning("%s deferred %.0fs: %s", mask_msg_key(row.msg_key), delay, reason)
        for waiting in await self._inbox.defer(row, now + dt.timedelta(seconds=delay), reason):
            await self._apologise(waiting)

    async def _apologise(self, row: Any) -> None:
        """One apology per message: passively if its webhook still waits, else through the outbox."""
        if not await self._slots.offer_text(row.msg_key, APOLOGY):
            try:
                await self._outbox.enqueue(row.openid, text_message(APOLOGY), origin="system")
            except (WindowClosed, QuotaExhausted) as exc:
                log.warning("no apology for %s: %s", mask_msg_key(row.msg_key), exc)
        await self._inbox.mark_apologised(row.id)
