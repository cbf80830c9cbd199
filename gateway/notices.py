"""Notices outside a conversation: call-back and visit reminders, ticket progress and resolution,
low balance before the cut-off, suspension warnings. `NoticeService.send` is the one entry point.

A notice is an outbox message like any other (durable, retried, sent in order per subscriber),
recorded in `gw_notices` under the caller's idempotency key, so the same key never sends twice.
How it goes out is decided when it is queued:

1. the customer-service window is open and its allowance has room: a customer-service text
   (refused by WeChat for a closed window after all, 45015/45047: route 2);
2. else the kind's template (wechat/notices.yml): a subscription notice (订阅通知), which needs
   the subscriber's consent (a one-time consent is spent by it), or a template message (模板消息);
3. else it is not sent: `refused_no_consent` (no consent) or `failed` (nothing configured),
   with the reason recorded for agents, a warning logged and the count in /metrics.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.db import inserted_id
from core.redact import mask_openid
from core.vocabulary import NoticeChannel, NoticeKind, NoticeStatus
from core.wording import (
    NOTICE_CONSENT_REVOKED,
    NOTICE_NO_CONSENT,
    NOTICE_NOT_CONFIGURED,
    NOTICE_STATUS_LABELS,
    NOTICE_TEXTS,
)
from gateway.outbox import Outbox
from gateway.store import notices
from wechat.api import NO_CONSENT
from wechat.consent import NoticeConsents
from wechat.messages import InboundMessage, text_message
from wechat.notice_templates import NOTICE_FIELDS, Consent, NoticeTemplate
from wechat.window import QuotaExhausted, WindowClosed, utcnow

log = logging.getLogger(__name__)

MAX_KEY_LENGTH = 128
WINDOW_REFUSALS = frozenset({45015, 45047})  # customer-service send: window closed / allowance used up


class NoticeError(ValueError):
    """The notice cannot be built: a field of its kind is missing, or the key is unusable."""


@dataclass(frozen=True)
class NoticeResult:
    """What became of one `send` (or of the earlier one with the same key: `duplicate`)."""

    notice_id: int
    status: NoticeStatus
    channel: NoticeChannel | None  # None: not sent
    duplicate: bool
    reason: str | None = None


@dataclass(frozen=True)
class NoticeRecord:
    """One notice as agents and supervisors see it (`csbot notices list`, the console)."""

    id: int
    openid: str
    kind: NoticeKind
    status: NoticeStatus
    channel: NoticeChannel | None
    template_id: str | None
    reason: str | None
    created_at: dt.datetime
    finished_at: dt.datetime | None

    @property
    def status_label(self) -> str:
        return NOTICE_STATUS_LABELS[self.status.value]


class NoticeService:
    def __init__(
        self,
        engine: AsyncEngine,
        outbox: Outbox,
        consents: NoticeConsents,
        templates: Mapping[NoticeKind, NoticeTemplate],
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._engine = engine
        self._outbox = outbox
        self._consents = consents
        self._templates = dict(templates)
        self._clock = clock
        self.long_term_templates = frozenset(
            t.template_id
            for t in templates.values()
            if t.channel is NoticeChannel.SUBSCRIBE and t.consent is Consent.LONG_TERM and t.template_id
        )

    async def send(self, openid: str, kind: NoticeKind, fields: Mapping[str, str], key: str) -> NoticeResult:
        """Queue one notice (see the module docstring); a key seen before returns that notice's result."""
        kind = NoticeKind(kind)
        fields = self._checked_fields(kind, fields, key)
        try:
            async with self._engine.begin() as conn:
                result = await self._queue(conn, openid, kind, fields, key)
        except IntegrityError:
            existing = await self._by_key(key)
            if existing is None:
                raise
            return existing
        if result.channel is not None:
            self._outbox.notify()
        else:
            log.warning("notice %s (%s) to %s not sent: %s", result.notice_id, kind.value, mask_openid(openid),
                        result.status.value)  # fmt: skip
        return result

    async def _queue(
        self, conn: AsyncConnection, openid: str, kind: NoticeKind, fields: dict[str, str], key: str
    ) -> NoticeResult:
        now = self._clock()
        notice_id = inserted_id(
            await conn.execute(
                insert(notices).values(dedup_key=key, openid=openid, kind=kind.value, fields=fields,
                                       status=NoticeStatus.QUEUED.value, created_at=now)
            )
        )  # fmt: skip
        text = text_message(NOTICE_TEXTS[kind.value].format(**fields))
        try:
            outbox_id = await self._outbox.enqueue_in(conn, openid, text, origin="system", notice_id=notice_id)
            return await self._queued(conn, notice_id, NoticeChannel.CUSTOM, None, outbox_id)
        except (WindowClosed, QuotaExhausted):
            pass  # outside the window: a subscription notice or a template message, if allowed
        return await self._outside_window(conn, notice_id, openid, kind, fields)

    async def _outside_window(
        self, conn: AsyncConnection, notice_id: int, openid: str, kind: NoticeKind, fields: dict[str, str]
    ) -> NoticeResult:
        template = self._templates[kind]
        if not template.usable or template.channel is None:
            return await self._not_sent(conn, notice_id, NoticeStatus.FAILED, NOTICE_NOT_CONFIGURED)
        if template.channel is NoticeChannel.SUBSCRIBE and not await self._consents.take(
            conn, openid, template.template_id
        ):
            return await self._not_sent(conn, notice_id, NoticeStatus.REFUSED_NO_CONSENT, NOTICE_NO_CONSENT,
                                        template)  # fmt: skip
        payload = template.payload(fields)
        if template.channel is NoticeChannel.TEMPLATE:
            payload["client_msg_id"] = f"csbot-notice-{notice_id}"  # WeChat sends it once, even when retried
        outbox_id = await self._outbox.enqueue_in(
            conn, openid, payload, origin="system", channel=template.channel, notice_id=notice_id
        )
        return await self._queued(conn, notice_id, template.channel, template.template_id, outbox_id)

    async def _queued(
        self, conn: AsyncConnection, notice_id: int, channel: NoticeChannel, template_id: str | None, outbox_id: int
    ) -> NoticeResult:
        await conn.execute(
            update(notices)
            .where(notices.c.id == notice_id)
            .values(channel=channel.value, template_id=template_id, outbox_id=outbox_id)
        )
        return NoticeResult(notice_id, NoticeStatus.QUEUED, channel, duplicate=False)

    async def _not_sent(
        self,
        conn: AsyncConnection,
        notice_id: int,
        status: NoticeStatus,
        reason: str,
        template: NoticeTemplate | None = None,
    ) -> NoticeResult:
        await conn.execute(
            update(notices)
            .where(notices.c.id == notice_id)
            .values(status=status.value, reason=reason, finished_at=self._clock(),
                    template_id=template.template_id if template else None)
        )  # fmt: skip
        return NoticeResult(notice_id, status, None, duplicate=False, reason=reason)

    # ---- the outbox's report ---------------------------------------------------------------

    async def notice_finished(
        self, conn: AsyncConnection, row: Any, status: str, errcode: int | None, error: str | None, msgid: str | None
    ) -> None:
        """The outbox row carrying notice `row.notice_id` ended with `status` (sent, undeliverable, failed)."""
        if row.channel == NoticeChannel.CUSTOM.value and errcode in WINDOW_REFUSALS:
            # WeChat's window closed before ours did: the notice goes the way of a closed window.
            notice = (await conn.execute(select(notices).where(notices.c.id == row.notice_id))).one()
            kind = NoticeKind(notice.kind)
            result = await self._outside_window(conn, notice.id, notice.openid, kind, dict(notice.fields))
            if result.channel is None:
                log.warning("notice %s (%s) to %s not sent: %s", notice.id, kind.value, mask_openid(notice.openid),
                            result.status.value)  # fmt: skip
            return
        values: dict[str, Any] = {"finished_at": self._clock(), "wechat_msgid": msgid}
        if status == "sent":
            values["status"] = NoticeStatus.SENT.value
        elif errcode == NO_CONSENT:
            values.update(status=NoticeStatus.REFUSED_NO_CONSENT.value, reason=NOTICE_CONSENT_REVOKED)
            await self._consents.withdraw(conn, row.openid, str(row.payload.get("template_id")))
        else:
            values.update(status=NoticeStatus.FAILED.value, reason=error)
            if row.channel == NoticeChannel.SUBSCRIBE.value:
                await self._consents.give_back(conn, row.openid, str(row.payload.get("template_id")))
        await conn.execute(update(notices).where(notices.c.id == row.notice_id).values(**values))
        if values["status"] != NoticeStatus.SENT.value:
            log.warning("notice %s to %s not delivered: %s %s", row.notice_id, mask_openid(row.openid),
                        values["status"], error)  # fmt: skip

    # ---- consent events ----------------------------------------------------------------------

    @staticmethod
    def concerns(message: InboundMessage) -> bool:
        """Whether `record_consent` has anything to do for this push."""
        return bool(message.consents or message.deliveries)

    async def record_consent(self, conn: AsyncConnection, message: InboundMessage) -> None:
        """Called in the transaction that stores a push: consent events update the consent store."""
        if message.consents:
            await self._consents.record(conn, message, self.long_term_templates)
        for delivery in message.deliveries:
            if delivery.error_code == 0:
                continue
            log.warning("subscription notice %s to %s failed after sending: %s %s", delivery.msg_id,
                        mask_openid(message.openid), delivery.error_code, delivery.error_status)  # fmt: skip
            if delivery.msg_id:  # the notice whose send WeChat answered with this msgid
                refused = delivery.error_code == NO_CONSENT
                await conn.execute(
                    update(notices)
                    .where(notices.c.openid == message.openid, notices.c.wechat_msgid == delivery.msg_id,
                           notices.c.channel == NoticeChannel.SUBSCRIBE.value)
                    .values(status=(NoticeStatus.REFUSED_NO_CONSENT if refused else NoticeStatus.FAILED).value,
                            reason=NOTICE_CONSENT_REVOKED if refused else f"微信推送失败：{delivery.error_status or delivery.error_code}")
                )  # fmt: skip

    # ---- reading -----------------------------------------------------------------------------

    async def list(
        self, *, statuses: Iterable[NoticeStatus] | None = None, openid: str | None = None, limit: int = 50
    ) -> list[NoticeRecord]:
        """The most recent notices first, optionally only those with `statuses` or to `openid`."""
        query = select(notices).order_by(notices.c.id.desc()).limit(limit)
        if statuses is not None:
            query = query.where(notices.c.status.in_([s.value for s in statuses]))
        if openid is not None:
            query = query.where(notices.c.openid == openid)
        async with self._engine.connect() as conn:
            return [_record(row) for row in await conn.execute(query)]

    async def counts(self) -> dict[tuple[str, ...], int]:
        """(kind, status) -> how many notices, for /metrics (read from the database: every process agrees)."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(notices.c.kind, notices.c.status, func.count()).group_by(notices.c.kind, notices.c.status)
            )
            return {(row[0], row[1]): int(row[2]) for row in rows}

    async def _by_key(self, key: str) -> NoticeResult | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(notices).where(notices.c.dedup_key == key))).first()
        if row is None:
            return None
        record = _record(row)
        return NoticeResult(record.id, record.status, record.channel, duplicate=True, reason=record.reason)

    def _checked_fields(self, kind: NoticeKind, fields: Mapping[str, str], key: str) -> dict[str, str]:
        if not key or len(key) > MAX_KEY_LENGTH:
            raise NoticeError(f"the idempotency key must have 1 to {MAX_KEY_LENGTH} characters")
        missing = [name for name in NOTICE_FIELDS[kind] if not str(fields.get(name) or "").strip()]
        if missing:
            raise NoticeError(f"a {kind.value} notice needs {', '.join(missing)}")
        return {name: str(fields[name]).strip() for name in NOTICE_FIELDS[kind]}


def _record(row: Any) -> NoticeRecord:
    return NoticeRecord(
        id=row.id,
        openid=row.openid,
        kind=NoticeKind(row.kind),
        status=NoticeStatus(row.status),
        channel=NoticeChannel(row.channel) if row.channel else None,
        template_id=row.template_id,
        reason=row.reason,
        created_at=row.created_at,
        finished_at=row.finished_at,
    )
