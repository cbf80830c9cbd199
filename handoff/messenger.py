"""What the handoff area says to a subscriber, and what it writes in a conversation's transcript.

Every message to her goes through the gateway's outbox (WeChat's 48-hour window and its five
replies per message are checked there) and its delivery state is kept on the transcript row, so
an agent sees what she got and why something did not go out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from handoff import console_texts as texts
from handoff.live import ConsoleEvent, LiveState
from handoff.store import Chat, HandoffStore, Message
from wechat.messages import text_message
from wechat.window import QuotaExhausted, WindowClosed

QUOTA_REFUSAL = "未发送：微信规定用户每发一条消息，客服最多回复5条，这一轮已经用完。请等用户再发消息后继续回复。"
WINDOW_REFUSAL = "未发送：用户超过48小时没有发消息（或已取消关注），微信不允许再发消息。可以创建回电任务。"
NO_OUTBOX = "网关发件箱未接通，消息未发出"


class OutboxLike(Protocol):
    async def enqueue(self, openid: str, message: dict, *, origin: str) -> int: ...

    # the outbox row (gateway.outbox.OutboxRecord: .status, .errcode), None when there is none
    async def get(self, outbox_id: int) -> Any: ...


@dataclass(frozen=True)
class Delivery:
    sent: bool
    message_id: int
    reason: str | None = None  # Chinese, for the agent, when not sent
    offer_callback: bool = False


@dataclass(frozen=True)
class Outcome:
    """What became of a message handed to WeChat, for the agent."""

    text: str  # 已送达微信 / 未送达：why / 已提交微信发送
    failed: bool = False


class ChatMessenger:
    def __init__(
        self,
        store: HandoffStore,
        live: LiveState,
        outbox: OutboxLike | None,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.store = store
        self.live = live
        self.outbox = outbox
        self.clock = clock

    async def send(self, chat: Chat, message_id: int, body: str, origin: str) -> Delivery:
        """Send a transcript row's text; its delivery state (queued or refused, and why) is recorded."""
        if self.outbox is None:
            await self.store.set_delivery(message_id, "refused", NO_OUTBOX, None)
            return Delivery(sent=False, message_id=message_id, reason=f"{NO_OUTBOX}。")
        try:
            outbox_id = await self.outbox.enqueue(chat.openid, text_message(body), origin=origin)
        except QuotaExhausted:
            await self.store.set_delivery(message_id, "refused", QUOTA_REFUSAL, None)
            return Delivery(sent=False, message_id=message_id, reason=QUOTA_REFUSAL)
        except WindowClosed:
            await self.store.set_delivery(message_id, "refused", WINDOW_REFUSAL, None)
            return Delivery(sent=False, message_id=message_id, reason=WINDOW_REFUSAL, offer_callback=True)
        await self.store.set_delivery(message_id, "queued", None, outbox_id)
        return Delivery(sent=True, message_id=message_id)

    async def send_system(self, chat: Chat, body: str) -> Delivery:
        """A message of the service's own (a promise, a closing message), in the transcript and sent."""
        message_id = await self.store.add_message(
            chat.id, "system", "text", self.clock(), text=body, delivery="pending"
        )
        delivery = await self.send(chat, message_id, body, origin="system")
        await self.live.publish(ConsoleEvent("message", chat_id=chat.id))
        return delivery

    async def told(self, chat_id: int, answers: list[str]) -> list[str]:
        """Keep what the gateway will tell the subscriber in the transcript (as the system's)."""
        for answer in answers:
            await self.store.add_message(chat_id, "system", "text", self.clock(), text=answer)
        return answers

    async def note(self, chat_id: int, text: str) -> None:
        """A note for agents in the transcript; the subscriber does not see it."""
        await self.store.add_message(chat_id, "system", "note", self.clock(), text=text)

    async def outcomes(self, messages: list[Message]) -> dict[int, Outcome]:
        """What became of the messages handed to WeChat (message id -> 已送达 / 未送达：why / on its
        way), read from the outbox when the transcript is shown."""
        found: dict[int, Outcome] = {}
        if self.outbox is None:
            return found
        for message in messages:
            if message.delivery != "queued" or message.outbox_id is None:
                continue
            record = await self.outbox.get(message.outbox_id)
            status = getattr(record, "status", None)
            if status == "sent":
                found[message.id] = Outcome(texts.DELIVERED)
            elif status in ("undeliverable", "failed", "skipped"):
                errcode = getattr(record, "errcode", None)
                found[message.id] = Outcome(texts.undelivered(errcode, skipped=status == "skipped"), failed=True)
            else:
                found[message.id] = Outcome(texts.ON_ITS_WAY)
        return found
