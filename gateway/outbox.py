"""The outbox: API messages owed to subscribers, written to the database first.

`Outbox.enqueue` accepts a customer-service message only within the customer-service window and
quota (wechat/window.py) so that a refused message is refused now, with its reason, not lost later.
A notice outside the window (gateway/notices.py) is an outbox row too, on the `subscribe`
(subscription notice) or `template` (template message) channel, which the window does not limit.
`OutboxSender` runs in every gateway process: it claims due rows with a lease (a row claimed by a
worker that died is retried once the lease runs out), sends each subscriber's rows in order, and
sorts failures by kind.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from sqlalchemy import and_, bindparam, exists, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from core.db import inserted_id, one_of, single_statements
from core.metrics import Metrics
from core.redact import mask_openid
from core.vocabulary import NoticeChannel
from gateway.store import outbox
from wechat.api import NO_CONSENT, WeChatApi, WeChatApiError, WeChatUnavailable
from wechat.window import WINDOW, CsWindow, QuotaExhausted, WindowClosed, utcnow

__all__ = ["Outbox", "OutboxSender", "OutboxRecord", "WindowClosed", "QuotaExhausted", "ORIGINS"]

log = logging.getLogger(__name__)

ORIGINS = ("bot", "agent", "system")
# 45015 window closed, 45047 quota used up, 43004 not a follower, 40003 invalid openid,
# 43101 no consent to the subscription notice.
UNDELIVERABLE = frozenset({45015, 45047, 43004, 40003, NO_CONSENT})
# -1 system busy, 45009 daily API limit, plus token errors that survived one refresh.
RETRYABLE = frozenset({-1, 45009, 40001, 40014, 42001})
MAX_BACKOFF_S = 300.0
DUE_MARGIN_S = 0.02


def _claimable(now: Any) -> ColumnElement[bool]:
    return or_(
        and_(outbox.c.status == "pending", outbox.c.not_before <= now),
        and_(outbox.c.status == "sending", outbox.c.lease_until < now),
    )


_EARLIER = outbox.alias("earlier")
# Built once (the sender runs it whenever it wakes). Rows another worker is claiming at the same
# moment are skipped (SKIP LOCKED on PostgreSQL; SQLite has one writer), and the update checks
# again that each row is still claimable. No row is claimed while an earlier one of the same
# subscriber waits: each subscriber's messages leave in order.
_CLAIM_HEADS = (
    update(outbox)
    .where(
        outbox.c.id.in_(
            select(outbox.c.id)
            .where(_claimable(bindparam("at")))
            .where(
                ~exists().where(
                    _EARLIER.c.openid == outbox.c.openid,
                    _EARLIER.c.id < outbox.c.id,
                    one_of(_EARLIER.c.status, ("preparing", "pending", "sending")),
                )
            )
            .order_by(outbox.c.id)
            .limit(bindparam("batch"))
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        ),
        _claimable(bindparam("at")),
    )
    .values(status="sending", lease_until=bindparam("lease_end"), attempts=outbox.c.attempts + 1)
    .returning(*outbox.c)
)


class FinishedListener(Protocol):
    """Told, in the transaction that ends an outbox row carrying a notice, how it ended."""

    async def notice_finished(
        self, conn: AsyncConnection, row: Any, status: str, errcode: int | None, error: str | None, msgid: str | None
    ) -> None: ...


@dataclass(frozen=True)
class OutboxRecord:
    id: int
    openid: str
    payload: dict[str, Any]
    origin: str
    channel: str  # NoticeChannel value
    status: str  # preparing | pending | sending | sent | undeliverable | failed | skipped
    attempts: int
    errcode: int | None
    last_error: str | None
    created_at: dt.datetime
    sent_at: dt.datetime | None


class Outbox:
    def __init__(self, engine: AsyncEngine, cs_window: CsWindow, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self._engine = engine
        self._cs_window = cs_window
        self._clock = clock
        self._senders: list[Callable[[], None]] = []
        self._preparers: list[Callable[[], None]] = []

    def on_enqueue(self, listener: Callable[[], None]) -> None:
        """Called when a committed message is due (the sender wakes up instead of waiting for its poll)."""
        self._senders.append(listener)

    def on_preparing(self, listener: Callable[[], None]) -> None:
        """Called after a message that must be prepared first (`preparing=True`) is committed."""
        self._preparers.append(listener)

    async def enqueue(self, openid: str, message: dict[str, Any], *, origin: str) -> int:
        """Store one customer-service message (body without "touser"); returns its outbox id.

        Raises WindowClosed or QuotaExhausted when WeChat would refuse it.
        """
        async with self._engine.begin() as conn:
            row_id = await self.enqueue_in(conn, openid, message, origin=origin)
        self.notify()
        return row_id

    async def enqueue_in(
        self,
        conn: AsyncConnection,
        openid: str,
        message: dict[str, Any],
        *,
        origin: str,
        inbox_id: int | None = None,
        not_before: dt.datetime | None = None,
        channel: NoticeChannel = NoticeChannel.CUSTOM,
        notice_id: int | None = None,
        keep: int = 0,
        preparing: bool = False,
    ) -> int:
        """Same as `enqueue`, inside the caller's transaction (call `notify()` after commit).

        On the `subscribe` and `template` channels `message` is the notice body (template_id,
        data) and the customer-service window is not consulted. `keep`: allowance messages that
        must remain afterwards (CsWindow.take). `preparing`: the message is not ready yet (a voice
        reply still to be synthesised, gateway/voice_replies.py): it and the subscriber's later
        messages wait until `prepared()` or `skip()`.
        """
        if origin not in ORIGINS:
            raise ValueError(f"origin must be one of {ORIGINS}, got {origin!r}")
        if channel is NoticeChannel.CUSTOM:
            if not isinstance(message.get("msgtype"), str):
                raise ValueError("a customer-service message needs a msgtype")
            await self._cs_window.take(conn, openid, keep=keep)
        elif not isinstance(message.get("template_id"), str) or not isinstance(message.get("data"), dict):
            raise ValueError("a notice needs a template_id and its data")
        now = self._clock()
        result = await conn.execute(
            insert(outbox).values(
                openid=openid,
                payload=message,
                origin=origin,
                channel=channel.value,
                notice_id=notice_id,
                inbox_id=inbox_id,
                status="preparing" if preparing else "pending",
                attempts=0,
                not_before=not_before or now,
                created_at=now,
            )
        )
        return inserted_id(result)

    def notify(self, *, due: dt.datetime | None = None, preparing: bool = False) -> None:
        """After a commit: wake the senders now, or at `due` (a row's `not_before`: a wake-up
        before it would find nothing to send), and the preparers when a row waits for them."""
        if preparing:
            for preparer in self._preparers:
                preparer()
        delay = (due - self._clock()).total_seconds() if due is not None else 0.0
        if delay > 0:  # a little after it: the loop's clock and the wall clock may differ slightly
            asyncio.get_running_loop().call_later(delay + DUE_MARGIN_S, self._wake_senders)
        else:
            self._wake_senders()

    def _wake_senders(self) -> None:
        for sender in self._senders:
            sender()

    # ---- messages made after they were accepted (voice replies) ------------------------------------

    async def claim_preparing(self, lease: dt.timedelta, limit: int) -> list[OutboxRecord]:
        """Rows waiting to be prepared whose lease (if any) ran out, leased to the caller."""
        now = self._clock()
        due = and_(outbox.c.status == "preparing", or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now))
        claimed = []
        async with self._engine.connect() as conn:
            ids = (
                (await conn.execute(select(outbox.c.id).where(due).order_by(outbox.c.id).limit(limit))).scalars().all()
            )
        for row_id in ids:
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    update(outbox)
                    .where(outbox.c.id == row_id, due)
                    .values(lease_until=now + lease, attempts=outbox.c.attempts + 1)
                )
            if result.rowcount == 1 and (record := await self.get(row_id)) is not None:
                claimed.append(record)
        return claimed

    async def prepared(self, outbox_id: int, message: dict[str, Any]) -> None:
        """The message is ready: it is sent like any other, in its place."""
        async with self._engine.begin() as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.id == outbox_id, outbox.c.status == "preparing")
                # not_before stays: a passive first reply still leaves first (AFTER_PASSIVE_DELAY).
                .values(status="pending", payload=message, lease_until=None, attempts=0)
            )
        self.notify()

    async def skip(self, outbox_id: int, reason: str) -> None:
        """The message could not be made: it is not sent; the subscriber's later messages go on."""
        async with self._engine.begin() as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.id == outbox_id, outbox.c.status == "preparing")
                .values(status="skipped", lease_until=None, last_error=reason)
            )
        self.notify()

    async def get(self, outbox_id: int) -> OutboxRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(outbox).where(outbox.c.id == outbox_id))).first()
        if row is None:
            return None
        return OutboxRecord(
            id=row.id,
            openid=row.openid,
            payload=row.payload,
            origin=row.origin,
            channel=row.channel,
            status=row.status,
            attempts=row.attempts,
            errcode=row.errcode,
            last_error=row.last_error,
            created_at=row.created_at,
            sent_at=row.sent_at,
        )

    async def backlog(self) -> int:
        async with self._engine.connect() as conn:
            count = await conn.scalar(
                select(func.count()).select_from(outbox).where(outbox.c.status.in_(("preparing", "pending", "sending")))
            )
        return int(count or 0)


class OutboxSender:
    def __init__(
        self,
        engine: AsyncEngine,
        api: WeChatApi,
        metrics: Metrics,
        lease_s: float = 30.0,
        poll_s: float = 0.5,
        batch_size: int = 20,
        clock: Callable[[], dt.datetime] = utcnow,
        notices: FinishedListener | None = None,
    ) -> None:
        self._engine = engine
        self._single = single_statements(engine)
        self._api = api
        self._metrics = metrics
        self._notices = notices
        self._lease = dt.timedelta(seconds=lease_s)
        self._poll_s = poll_s
        self._batch_size = batch_size
        self._clock = clock
        self._wakeup = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        self._wakeup.set()

    def stop(self) -> None:
        """Finish the current round and return from `run()`."""
        self._stopping = True
        self._wakeup.set()

    async def run(self) -> None:
        while not self._stopping:
            try:
                handled = await self.run_once()
            except Exception:  # a database hiccup must not end the sender
                log.exception("outbox sender round failed")
                handled = 0
            if handled == 0 and not self._stopping:
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), self._poll_s)
                except asyncio.TimeoutError:
                    pass

    async def run_once(self) -> int:
        """Claim the due head row of each subscriber's queue and send them; returns how many."""
        rows = await self._claim()
        await asyncio.gather(*(self._deliver(row) for row in rows))
        return len(rows)

    async def _claim(self) -> list[Any]:
        """Lease the due head row of each subscriber's queue, in one statement (`_CLAIM_HEADS`)."""
        now = self._clock()
        async with self._single.connect() as conn:
            result = await conn.execute(
                _CLAIM_HEADS, {"at": now, "lease_end": now + self._lease, "batch": self._batch_size}
            )
            return sorted(result.all(), key=lambda row: row.id)

    async def _send(self, row: Any) -> str | None:
        """One API call for the row, by its channel; WeChat's msgid for notices."""
        if row.channel == NoticeChannel.SUBSCRIBE.value:
            return await self._api.send_subscribe_notice(row.openid, row.payload)
        if row.channel == NoticeChannel.TEMPLATE.value:
            return await self._api.send_template_message(row.openid, row.payload)
        await self._api.send_custom_message(row.openid, row.payload)
        return None

    async def _deliver(self, row: Any) -> None:
        try:
            msgid = await self._send(row)
        except WeChatApiError as error:
            await self._on_api_error(row, error)
        except WeChatUnavailable as error:
            await self._retry_later(row, None, str(error))
        except Exception as error:  # e.g. the token fetch itself failed in an unforeseen way
            log.exception("outbox %s: unexpected error", row.id)
            await self._retry_later(row, None, f"{type(error).__name__}: {error}")
        else:
            await self._finish(row, status="sent", sent_at=self._clock(), msgid=msgid)
            if row.channel == NoticeChannel.CUSTOM.value:
                self._metrics.replies.inc("api")

    async def _on_api_error(self, row: Any, error: WeChatApiError) -> None:
        if error.errcode in UNDELIVERABLE:
            log.warning("outbox %s to %s undeliverable: %s", row.id, mask_openid(row.openid), error)
            self._metrics.outbox_failures.inc("undeliverable", str(error.errcode))
            await self._finish(row, status="undeliverable", errcode=error.errcode, last_error=str(error))
        elif error.errcode in RETRYABLE:
            await self._retry_later(row, error.errcode, str(error))
        else:
            # e.g. 48001: the account lacks the customer-service permission. Loud, not silent.
            log.error("outbox %s to %s failed for good: %s", row.id, mask_openid(row.openid), error)
            self._metrics.outbox_failures.inc("failed", str(error.errcode))
            await self._finish(row, status="failed", errcode=error.errcode, last_error=str(error))

    async def _retry_later(self, row: Any, errcode: int | None, reason: str) -> None:
        now = self._clock()
        if row.created_at + WINDOW < now:
            self._metrics.outbox_failures.inc("failed", str(errcode or "network"))
            await self._finish(row, status="failed", errcode=errcode, last_error=f"gave up after 48 h: {reason}")
            return
        delay = min(MAX_BACKOFF_S, 2.0 ** max(0, row.attempts - 1)) * random.uniform(1.0, 1.2)
        log.info("outbox %s: retry in %.1fs (%s)", row.id, delay, reason)
        self._metrics.outbox_failures.inc("retry", str(errcode or "network"))
        await self._finish(
            row, status="pending", errcode=errcode, last_error=reason, not_before=now + dt.timedelta(seconds=delay)
        )

    async def _finish(self, row: Any, msgid: str | None = None, **values: Any) -> None:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(outbox)
                .where(outbox.c.id == row.id, outbox.c.status == "sending", outbox.c.attempts == row.attempts)
                .values(lease_until=None, **values)
            )
            status = values["status"]
            if result.rowcount == 1 and row.notice_id is not None and status != "pending" and self._notices:
                await self._notices.notice_finished(
                    conn, row, status, values.get("errcode"), values.get("last_error"), msgid
                )
