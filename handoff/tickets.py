"""The agent's verbs on tickets: take, assign, note, label, resolve; the overdue sweep; and the
one place a ticket's message reaches the subscriber (`announce`).

`announce` sends through the gateway's outbox like an agent's reply, inside WeChat's 48-hour
window. Notices outside that window (subscription messages) are another piece of work: when it
lands, it is this function that chooses the channel.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from core import wording
from core.tickets import Ticket
from core.vocabulary import NoticeKind
from handoff.agent_store import Agent
from handoff.live import ConsoleEvent, LiveState
from handoff.ticket_store import MAX_LABEL_CHARS, MAX_LABELS, CannedReply, TicketEvent, TicketStore
from wechat.messages import text_message
from wechat.window import QuotaExhausted, WindowClosed

MAX_RESOLUTION_CHARS = 300
MAX_NOTE_CHARS = 1000
MAX_CANNED = 12
MAX_CANNED_CHARS = 200


class TicketError(Exception):
    """A ticket action that cannot be done; the message is shown to the agent as is."""


class OutboxLike(Protocol):
    async def enqueue(self, openid: str, message: dict, *, origin: str) -> int: ...


class NoticeOutcome(Protocol):
    @property
    def channel(self) -> Any: ...  # None: not sent
    @property
    def reason(self) -> str | None: ...


class NoticesLike(Protocol):
    """The gateway's NoticeService: a subscription notice or template message once the customer-
    service window is closed (gateway/notices.py)."""

    async def send(self, openid: str, kind: NoticeKind, fields: Mapping[str, str], key: str) -> NoticeOutcome: ...


@dataclass(frozen=True)
class Announcement:
    sent: bool
    reason: str | None = None  # Chinese, for the agent, when not sent


class TicketService:
    def __init__(
        self,
        store: TicketStore,
        outbox: OutboxLike | None,
        live: LiveState,
        clock: Callable[[], dt.datetime],
        notices: NoticesLike | None = None,
    ) -> None:
        self.store = store
        self.outbox = outbox
        self.notices = notices
        self.live = live
        self.clock = clock

    async def require(self, ticket_id: int) -> Ticket:
        ticket = await self.store.ticket(ticket_id)
        if ticket is None:
            raise TicketError("找不到这个工单。")
        return ticket

    async def take(self, ticket_id: int, agent: Agent) -> Ticket:
        await self.require(ticket_id)
        if not await self.store.set_owner(ticket_id, agent.id, agent.name, f"{agent.name}接手", self.clock()):
            raise TicketError("这个工单已经处理完了。")
        await self.live.publish(ConsoleEvent("tickets"))
        return await self.require(ticket_id)

    async def assign(self, ticket_id: int, agent: Agent, target: Agent) -> Ticket:
        await self.require(ticket_id)
        text = f"{agent.name}指派给{target.name}"
        if not await self.store.set_owner(ticket_id, target.id, agent.name, text, self.clock()):
            raise TicketError("这个工单已经处理完了。")
        await self.live.publish(ConsoleEvent("tickets", agent_id=target.id))
        return await self.require(ticket_id)

    async def add_note(self, ticket_id: int, agent: Agent, text: str) -> None:
        """A private note: for agents only, never sent to the subscriber."""
        await self.require(ticket_id)
        clean = text.strip()[:MAX_NOTE_CHARS]
        if not clean:
            raise TicketError("备注不能为空。")
        await self.store.add_note(ticket_id, agent.name, clean, self.clock())

    async def set_labels(self, ticket_id: int, agent: Agent, raw: str) -> Ticket:
        await self.require(ticket_id)
        labels: list[str] = []
        for part in raw.replace("，", ",").replace("、", ",").split(","):
            label = part.strip()[:MAX_LABEL_CHARS]
            if label and label not in labels:
                labels.append(label)
        await self.store.set_labels(ticket_id, tuple(labels[:MAX_LABELS]), agent.name, self.clock())
        return await self.require(ticket_id)

    async def resolve(self, ticket_id: int, agent: Agent, resolution: str) -> Announcement:
        """Resolved with a text the subscriber is told, with one numbered satisfaction question."""
        ticket = await self.require(ticket_id)
        clean = resolution.strip()[:MAX_RESOLUTION_CHARS]
        if not clean:
            raise TicketError("请写明处理结果，它会发给用户。")
        if not await self.store.resolve(ticket.id, clean, agent.name, self.clock()):
            raise TicketError("这个工单已经处理完了。")
        await self.store.create_survey(ticket, self.clock())
        announcement = await self.announce(
            ticket, wording.ticket_resolved(ticket.number, clean), agent.name, resolution=clean
        )
        await self.live.publish(ConsoleEvent("tickets"))
        return announcement

    async def announce(self, ticket: Ticket, text: str, actor: str, resolution: str | None = None) -> Announcement:
        """The one place a ticket's progress or resolution is sent to the subscriber; what
        happened to it is written in the ticket's history. Inside WeChat's 48-hour window it is a
        customer-service message (with the satisfaction question); after it, a notice (订阅通知 or
        模板消息, with the subscriber's consent) when the gateway's notices are wired in."""
        if self.outbox is None:
            result = Announcement(False, "网关发件箱未接通，消息未发出。")
        else:
            try:
                await self.outbox.enqueue(ticket.openid, text_message(text), origin="agent")
                result = Announcement(True)
            except QuotaExhausted:
                result = await self._notice(ticket, text, resolution, "用户48小时内可接收的消息条数已用完")
            except WindowClosed:
                result = await self._notice(ticket, text, resolution, "用户超过48小时没有互动，微信不允许再发客服消息")
        status = "已发送" if result.sent else f"未发送：{result.reason}"
        await self.store.record_message(ticket.id, actor, f"{text}\n（{status}）", self.clock())
        return result

    async def _notice(self, ticket: Ticket, text: str, resolution: str | None, why: str) -> Announcement:
        if self.notices is None:
            return Announcement(False, f"{why}，消息未发出。")
        kind = NoticeKind.TICKET_RESOLVED if resolution is not None else NoticeKind.TICKET_PROGRESS
        summary = _notice_value(resolution if resolution is not None else text)
        fields = {"ticket_no": ticket.number, "result" if resolution is not None else "progress": summary}
        key = f"ticket:{ticket.id}:{kind.value}:{hashlib.sha256(text.encode()).hexdigest()[:16]}"
        outcome = await self.notices.send(ticket.openid, kind, fields, key)
        if outcome.channel is None:
            return Announcement(False, f"{why}；通知也未发出：{outcome.reason or '未知原因'}")
        return Announcement(True)

    async def escalate_overdue(self) -> int:
        """The sweep: open tickets past their promise go to the supervisor view (once each)."""
        escalated = await self.store.escalate_overdue(self.clock())
        if escalated:
            await self.live.publish(ConsoleEvent("tickets"))
        return len(escalated)

    async def history(self, ticket_id: int) -> list[TicketEvent]:
        return await self.store.events(ticket_id)


class CannedReplies:
    """The canned replies of each desk, editable by its agents."""

    def __init__(self, store: TicketStore, clock: Callable[[], dt.datetime]) -> None:
        self.store = store
        self.clock = clock

    async def of_desk(self, queue: str) -> list[CannedReply]:
        return await self.store.canned(queue)

    async def replace(self, queue: str, agent: Agent, raw: str) -> list[CannedReply]:
        """One reply per line; empty lines are dropped."""
        texts = [line.strip()[:MAX_CANNED_CHARS] for line in raw.splitlines() if line.strip()]
        if len(texts) > MAX_CANNED:
            raise TicketError(f"最多{MAX_CANNED}条快捷回复。")
        await self.store.replace_canned(queue, texts, agent.name, self.clock())
        return await self.store.canned(queue)


def ticket_services(
    engine: Any,
    outbox: OutboxLike | None,
    live: LiveState,
    clock: Callable[[], dt.datetime],
    notices: NoticesLike | None = None,
) -> tuple[TicketService, CannedReplies]:
    store = TicketStore(engine)
    return TicketService(store, outbox, live, clock, notices), CannedReplies(store, clock)


NOTICE_VALUE_CHARS = 20  # a template keyword's value is short (thing: 20 characters)


def _notice_value(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= NOTICE_VALUE_CHARS else text[: NOTICE_VALUE_CHARS - 1] + "…"
