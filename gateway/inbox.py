"""The inbox: every accepted push, stored before WeChat gets its answer, processed per openid in order.

A row is `pending` until one worker claims it (`processing`, with a lease: the row of a worker
that died is claimable again once the lease runs out), then `done` or, after 48 hours of
failures, `failed`. A push that is her head when it is stored is leased in that same statement
(`take_new`). The unique msg_key is the durable dedup behind the Redis one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from sqlalchemy import and_, bindparam, case, exists, func, insert, literal, null, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from core.conversations import Routing, RoutingColumns
from core.db import compiled_once, inserted_id, one_of, single_statements
from core.driver_statements import DriverStatement
from gateway.store import inbox, voice_prefs
from wechat.messages import InboundMessage
from wechat.window import CsWindow, Renewal, renewal_from, utcnow

UNFINISHED = ("pending", "processing")


def _claimable(now: Any, due_only: bool) -> ColumnElement[bool]:
    """Pending rows (with `due_only`, those whose retry time has come), and leases that ran out."""
    pending = inbox.c.status == "pending"
    return or_(
        and_(pending, inbox.c.next_attempt_at <= now) if due_only else pending,
        and_(inbox.c.status == "processing", inbox.c.lease_until < now),
    )


# The statements every message runs, built once: building a statement and its cache key costs more
# CPU than running it (1.6 ms for the claim on a slow core); a built one's key is memoised.
# Parameter names differ from column names, which an UPDATE would take for values to set.
# One INSERT for both ways of storing a push, so that both write the same columns.
_STORED_COLUMNS = ("msg_key", "openid", "msg_type", "event", "message", "arrival_seq", "status", "attempts",
                   "next_attempt_at", "apologised", "received_at")  # fmt: skip
_INSERT = insert(inbox).values({name: bindparam(name, type_=inbox.c[name].type) for name in _STORED_COLUMNS})
# PostgreSQL, a push that only renews the window (most of them): the row and the window's renewal
# in one statement, atomic by itself; a transaction would cost three round trips more per message.
_STORED = _INSERT.returning(inbox.c.id, inbox.c.openid).cte("stored")
_STORE_RENEWING = compiled_once(select(_STORED.c.id).add_cte(renewal_from(_STORED).cte("renewed")), "postgresql")
_EARLIER = inbox.alias("earlier")  # its own FROM: not correlated with the updated row
# Stored and leased at once (`Inbox.take_new`): nothing of hers is unfinished, so the new row is
# her head and the claim would lease it next; else it is stored pending, as `_INSERT` stores it.
_ALONE = ~exists().where(
    _EARLIER.c.openid == bindparam("openid", type_=inbox.c.openid.type), one_of(_EARLIER.c.status, UNFINISHED)
)
_INSERT_TAKING = insert(inbox).values(
    {
        **{name: bindparam(name, type_=inbox.c[name].type) for name in _STORED_COLUMNS},
        "status": case((_ALONE, literal("processing")), else_=literal("pending")),
        "attempts": case((_ALONE, literal(1)), else_=literal(0)),
        "lease_until": case((_ALONE, bindparam("lease_end", type_=inbox.c.lease_until.type)), else_=null()),
    }
)
_TAKEN = _INSERT_TAKING.returning(inbox.c.id, inbox.c.openid, inbox.c.status).cte("stored")
_HEAD = (
    select(_EARLIER.c.id)
    .where(_EARLIER.c.openid == bindparam("of_openid"), one_of(_EARLIER.c.status, UNFINISHED))
    .order_by(_EARLIER.c.arrival_seq, _EARLIER.c.id)
    .limit(1)
    .scalar_subquery()
)
# Whether more of her messages wait behind the claimed one, returned with it (no second round trip):
# her unfinished rows, the claimed one included, counted up to two. Not correlated with the updated
# row, which SQLite's RETURNING cannot name.
_UNFINISHED_OF = (
    select(inbox.c.id)
    .where(inbox.c.openid == bindparam("of_openid"), one_of(inbox.c.status, UNFINISHED))
    .limit(2)
    .subquery("unfinished_of")
)
_MORE = select(func.count()).select_from(_UNFINISHED_OF).scalar_subquery().label("unfinished_count")
# Her voice-reply choice, which answering the message needs (gateway/voice_replies.py): read here, it
# costs no round trip of its own.
_VOICE_MODE = (
    select(voice_prefs.c.mode)
    .where(voice_prefs.c.openid == bindparam("of_openid"))
    .scalar_subquery()
    .label("voice_mode")
)
_CLAIM = (
    update(inbox)
    .where(
        inbox.c.id == _HEAD,
        _claimable(bindparam("at"), due_only=False),
    )
    .values(status="processing", lease_until=bindparam("lease_end"), attempts=inbox.c.attempts + 1)
    .returning(*inbox.c, _MORE, _VOICE_MODE)
)
_FINISH = (
    update(inbox)
    .where(inbox.c.id == bindparam("row_id"))
    .values(
        status="done",
        reply_channel=bindparam("channel"),
        lease_until=None,
        done_at=bindparam("at"),
        error=bindparam("failure"),
    )
)


class ConsentRecorder(Protocol):
    """Records subscription-notice consent events (gateway.notices.NoticeService)."""

    def concerns(self, message: InboundMessage) -> bool: ...  # whether record_consent has anything to do

    async def record_consent(self, conn: AsyncConnection, message: InboundMessage) -> None: ...


@dataclass(frozen=True)
class TakenRow:
    """A row leased in the statement that stored it (`Inbox.take_new`): the columns answering a
    message reads, as a claimed row has them."""

    id: int
    msg_key: str
    openid: str
    message: dict[str, Any]
    attempts: int
    received_at: dt.datetime
    lease_until: dt.datetime


@dataclass(frozen=True)
class Stored:
    """A stored push: its row's id, and the row as claimed when it was leased at once."""

    id: int
    taken: Claimed | None = None


@dataclass(frozen=True)
class Claimed:
    """A leased inbox row, whether more unfinished messages of the subscriber waited behind it, her
    voice-reply choice (`gw_voice_prefs.mode`, None when she made none) and who answers her (None
    when the inbox was given no routing columns)."""

    row: Any
    more: bool
    voice_mode: str | None
    routing: Routing | None = None


class Inbox:
    def __init__(
        self,
        engine: AsyncEngine,
        cs_window: CsWindow,
        lease_s: float,
        clock: Callable[[], dt.datetime] = utcnow,
        consents: ConsentRecorder | None = None,
        routing: RoutingColumns | None = None,
    ) -> None:
        """`routing`: read who answers her with each claim (HandoffService.routing_columns)."""
        self._engine = engine
        self._routing = routing
        # Built once per inbox, for the same reason as the module's statements.
        self._claim = _CLAIM.returning(*routing.columns) if routing is not None else _CLAIM
        taken_columns = (*routing.columns,) if routing is not None else ()
        self._single = single_statements(engine)
        # PostgreSQL: the two statements of every message run on the driver (core/driver_statements.py).
        postgres = engine.dialect.name == "postgresql"
        self._store_taking = (
            DriverStatement(
                select(_TAKEN.c.id, _TAKEN.c.status, _VOICE_MODE, *taken_columns).add_cte(
                    renewal_from(_TAKEN).cte("renewed")
                ),
                self._single,
            )
            if postgres
            else None
        )
        self._finish_alone = DriverStatement(_FINISH, self._single) if postgres else None
        self._cs_window = cs_window
        self._lease = dt.timedelta(seconds=lease_s)
        self._clock = clock
        self._consents = consents

    async def record(self, message: InboundMessage, arrival_seq: int | None) -> int | None:
        """Store a push (and open the customer-service window, and record a consent to notices);
        None when it was stored before. Both happen once per push, atomically with storing it."""
        return await self._store(message, self._row(message, arrival_seq), self._renewing_alone(message))

    async def take_new(self, message: InboundMessage, arrival_seq: int) -> Stored | None:
        """`record`, and lease the row to this worker in the same statement when nothing of hers is
        unfinished: it is her head, so the claim would lease it next (`Stored.taken`, as
        `claim_next` gives it). For a push that arrived with nothing of hers in flight (an earlier
        push of hers is then stored and visible, or it arrived later): her drain answers it without
        a claim's round trip. Only the statement that stores a push and renews her window does this
        (PostgreSQL, nearly every push); the others are stored as `record` stores them."""
        row = self._row(message, arrival_seq)
        renewal = self._renewing_alone(message)
        if renewal is None or self._store_taking is None:
            row_id = await self._store(message, row, renewal)
            return None if row_id is None else Stored(row_id)
        now = row["received_at"]
        params = {**row, **renewal.params(), "lease_end": now + self._lease, "of_openid": message.openid}
        if self._routing is not None:
            params.update(self._routing.params())
        try:
            (stored,) = await self._store_taking.fetch(params)
        except IntegrityError:
            return None
        if stored.status != "processing":
            return Stored(stored.id)
        taken = TakenRow(stored.id, message.msg_key, message.openid, row["message"], 1, now, params["lease_end"])
        routing = self._routing.read(stored) if self._routing is not None else None
        return Stored(stored.id, Claimed(taken, more=False, voice_mode=stored.voice_mode, routing=routing))

    def _row(self, message: InboundMessage, arrival_seq: int | None) -> dict[str, Any]:
        now = self._clock()
        return {
            "msg_key": message.msg_key,
            "openid": message.openid,
            "msg_type": message.msg_type,
            "event": message.event,
            "message": message.to_dict(),
            "arrival_seq": arrival_seq,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "apologised": False,
            "received_at": now,
        }

    def _renewing_alone(self, message: InboundMessage) -> Renewal | None:
        """The window renewal the push makes, when storing it is one statement with that renewal
        (PostgreSQL, no notice consent to record); None when it takes a transaction."""
        if self._engine.dialect.name != "postgresql":
            return None
        if self._consents is not None and self._consents.concerns(message):
            return None
        return self._cs_window.renewal(message)

    async def _store(self, message: InboundMessage, row: dict[str, Any], renewal: Renewal | None) -> int | None:
        """`row` stored: with `renewal` in one statement (`_renewing_alone`), else in a transaction
        with the window's bookkeeping and any consent."""
        try:
            if renewal is not None:
                async with self._single.connect() as conn:
                    return int((await conn.execute(_STORE_RENEWING, {**row, **renewal.params()})).scalar_one())
            async with self._engine.begin() as conn:
                result = await conn.execute(_INSERT, row)
                await self._cs_window.record_interaction(conn, message)
                if self._consents is not None:
                    await self._consents.record_consent(conn, message)
        except IntegrityError:
            return None
        return inserted_id(result)

    async def status(self, msg_key: str) -> str | None:
        async with self._single.connect() as conn:
            return await conn.scalar(select(inbox.c.status).where(inbox.c.msg_key == msg_key))

    async def claim_next(self, openid: str) -> Claimed | None:
        """Lease the subscriber's oldest unfinished message to this worker (nothing newer may be
        processed before it); None when she has none, or when another worker holds a live lease
        on it. One statement chooses and leases the head and tells whether more of her messages
        wait behind it.

        A deferred row is claimable before its retry time: a drain runs when the subscriber writes
        again, which is a good moment to retry what waits in front of the new message.
        """
        now = self._clock()
        params = {"of_openid": openid, "at": now, "lease_end": now + self._lease}
        if self._routing is not None:
            params.update(self._routing.params())
        async with self._single.connect() as conn:
            row = (await conn.execute(self._claim, params)).first()
        if row is None:
            return None
        routing = self._routing.read(row) if self._routing is not None else None
        return Claimed(row, more=row.unfinished_count > 1, voice_mode=row.voice_mode, routing=routing)

    async def finish(self, conn: AsyncConnection | None, row_id: int, channel: str, error: str | None = None) -> None:
        """Mark the row done, in `conn`'s transaction (its replies are queued in the same one), or
        on its own when `conn` is None (nothing else to write)."""
        values = {"row_id": row_id, "channel": channel, "at": self._clock(), "failure": error}
        if conn is not None:
            await conn.execute(_FINISH, values)
            return
        if self._finish_alone is not None:
            await self._finish_alone.fetch(values)
            return
        async with self._single.connect() as alone:
            await alone.execute(_FINISH, values)

    async def fail(self, row_id: int, error: str) -> None:
        async with self._single.connect() as conn:
            await conn.execute(
                update(inbox)
                .where(inbox.c.id == row_id)
                .values(status="failed", lease_until=None, done_at=self._clock(), error=error)
            )

    async def release(self, row_id: int, lease_until: dt.datetime | None = None) -> None:
        """Give a leased row back untouched, claimable at once (its drain could not finish it, or
        shutdown came in the middle of it). With `lease_until`, only while it is still that lease:
        a row whose lease ran out may be another worker's by now."""
        leased = inbox.c.status == "processing"
        if lease_until is not None:
            leased = and_(leased, inbox.c.lease_until == lease_until)
        async with self._single.connect() as conn:
            await conn.execute(
                update(inbox)
                .where(inbox.c.id == row_id, leased)
                .values(status="pending", lease_until=None, next_attempt_at=self._clock())
            )

    async def defer(self, row: Any, retry_at: dt.datetime, error: str) -> list[Any]:
        """Put the row (the subscriber's oldest unfinished) back for a retry at `retry_at`; the
        subscriber's later messages wait behind it.

        Returns the unfinished rows of the subscriber that have not been apologised for yet.
        """
        async with self._engine.begin() as conn:
            await conn.execute(
                update(inbox)
                .where(inbox.c.id == row.id)
                .values(status="pending", lease_until=None, next_attempt_at=retry_at, error=error)
            )
            await conn.execute(
                update(inbox)
                .where(inbox.c.openid == row.openid, inbox.c.id != row.id, inbox.c.status == "pending")
                .values(next_attempt_at=retry_at)
            )
            return list(
                (
                    await conn.execute(
                        select(inbox)
                        .where(
                            inbox.c.openid == row.openid,
                            inbox.c.status.in_(UNFINISHED),
                            inbox.c.apologised.is_(False),
                        )
                        .order_by(inbox.c.arrival_seq, inbox.c.id)
                    )
                ).all()
            )

    async def mark_apologised(self, row_id: int) -> None:
        async with self._single.connect() as conn:
            await conn.execute(update(inbox).where(inbox.c.id == row_id).values(apologised=True))

    async def due_openids(self, settle_s: float, limit: int = 50) -> list[str]:
        """Subscribers with a message to retry: deferred ones now due, or leases of dead workers.

        Fresh messages (younger than `settle_s`) are left to the drain their own webhook started.
        """
        now = self._clock()
        async with self._single.connect() as conn:
            rows = await conn.execute(
                select(inbox.c.openid)
                .where(_claimable(now, due_only=True), inbox.c.received_at <= now - dt.timedelta(seconds=settle_s))
                .group_by(inbox.c.openid)
                # Oldest first, so a backlog larger than `limit` cannot starve anyone.
                .order_by(func.min(inbox.c.received_at))
                .limit(limit)
            )
            return [row.openid for row in rows]

    async def pending_count(self) -> int:
        async with self._single.connect() as conn:
            count = await conn.scalar(select(func.count()).select_from(inbox).where(inbox.c.status.in_(UNFINISHED)))
        return int(count or 0)
