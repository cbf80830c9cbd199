"""The handoff service: the gateway's `HandoffService` hook and every console action.

The gateway calls `is_with_human`, `on_subscriber_message` and `request_handoff` (see
bot/hooks.py); the console calls the agent actions (take, reply, transfer, hand back, close,
call-back tasks, green channel). State lives in the database (handoff/store.py); Redis only
carries presence and live-update hints (handoff/live.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import aiohttp
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from billing import load_backend
from billing.backend import BillingError
from billing.binding import BindingService, load_sms_sender
from core import wording
from core.privacy import mask_phone
from core.redact import mask_openid
from core.vocabulary import Answerer, ChatStatus
from handoff import console_texts as texts
from handoff import hours
from handoff.config import HandoffSettings
from handoff.elder_tags import ElderTagger
from handoff.live import ConsoleEvent, LiveState
from handoff.profile import Profile, ProfileSource
from handoff.rasa_history import RasaHistory
from handoff.routing import (
    QUEUE_LABELS,
    QUEUES,
    REASON_LABELS,
    AgentState,
    WaitingChat,
    expected_wait_minutes,
    people_ahead,
    plan_assignments,
    route,
    suitable_agent_online,
)
from handoff.store import Agent, Chat, HandoffStore, Survey, Task
from handoff.tickets import NoticesLike, ticket_services
from voice.config import VoiceSettings
from voice.store import VoiceStore
from wechat.messages import text_message
from wechat.window import CsWindow, QuotaExhausted, WindowClosed

log = logging.getLogger(__name__)

MAX_REPLY_CHARS = 600
OFFLINE_GRACE_S = 120.0  # an agent's console may be gone this long before their chats are re-queued
QUOTA_REFUSAL = "未发送：微信规定用户每发一条消息，客服最多回复5条，这一轮已经用完。请等用户再发消息后继续回复。"
WINDOW_REFUSAL = "未发送：用户超过48小时没有发消息（或已取消关注），微信不允许再发消息。可以创建回电任务。"
NO_ANSWER_RETRY = dt.timedelta(hours=2)
JUST_PROMISED = dt.timedelta(minutes=2)
TASK_OUTCOMES = {
    "reached": "已联系，问题已解决",
    "resolved_online": "已在微信里解决",
    "no_answer": "未接通，稍后再打",
    "closed_other": "其他（见备注）",
}


class OutboxLike(Protocol):
    async def enqueue(self, openid: str, message: dict, *, origin: str) -> int: ...


class WindowLike(Protocol):
    async def state(self, openid: str) -> Any: ...


class ConsoleError(Exception):
    """An agent action that cannot be done; the message is shown to the agent as is."""


@dataclass(frozen=True)
class Delivery:
    sent: bool
    message_id: int
    reason: str | None = None  # Chinese, for the agent, when not sent
    offer_callback: bool = False


@dataclass(frozen=True)
class WindowView:
    open: bool
    seconds_left: int
    messages_left: int
    known: bool = True


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class HandoffService:
    def __init__(
        self,
        *,
        store: HandoffStore,
        live: LiveState,
        settings: HandoffSettings,
        profiles: ProfileSource,
        outbox: OutboxLike | None,
        window: WindowLike | None,
        history: RasaHistory | None = None,
        voice_store: Any = None,
        clock: Callable[[], dt.datetime] = utc_now,
        tagger: Any = None,
        notices: NoticesLike | None = None,
    ) -> None:
        self.store = store
        self.live = live
        self.settings = settings
        self.profiles = profiles
        self.outbox = outbox
        self.window = window
        self.history = history
        self.voice_store = voice_store
        self.clock = clock
        self.tagger = tagger  # handoff.elder_tags.ElderTagger: WeChat user tags follow the profile
        self._sweeper: asyncio.Task[None] | None = None
        self.offline_grace_s = OFFLINE_GRACE_S
        # tickets (complaints, faults, call-backs, follow-ups): the console's verbs and canned replies
        self.tickets, self.canned = ticket_services(store.engine, outbox, live, clock, notices)

    async def start(self) -> None:
        """Start the periodic sweep (call-back promises, ticket escalation, assignment).
        Idempotent: the gateway and the console may both call it."""
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.create_task(self.run_sweeper(), name="handoff-sweeper")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        if self.history is not None:
            await self.history.aclose()

    async def aclose(self) -> None:
        await self.close()

    # ==== the gateway's hooks ================================================================

    async def is_with_human(self, openid: str) -> bool:
        """Whether people answer her now (a queue or an agent), by the conversation record alone."""
        return await self.store.who_answers(openid) is not Answerer.BOT

    async def request_handoff(
        self, openid: str, reason: str, queue: str, summary: str | None, *, direct: bool = False
    ) -> list[str]:
        """Decide first (desk hours, a suitable agent on duty, the expected wait), then say the
        one true thing: a person now, a person in about N minutes, or a call-back by a stated
        time. The assistant's action says nothing about the person (see README, "Elderly
        subscribers").

        `direct`: an elderly subscriber's first message of a session, already answered by the
        assistant (ELDER_DIRECT). She is connected only when a person can actually come within
        MAX_WAIT_MINUTES; otherwise nothing more is said: she has her answer and asked for
        nothing the assistant could not do, so there is nothing to call back about.
        """
        now = self.clock()
        existing = await self.store.open_chat_for(openid)
        if existing is not None:
            return [] if direct else await self._status_texts(existing, first=False)

        profile = await self.profiles.lookup(openid)
        decision = route(
            reason, queue, profile.age, profile.dialect, self.settings.elder_age, bound=profile.phone is not None
        )
        agents = await self.agent_states()
        desk_open = hours.is_open(now, self.settings.service_hours, self.settings.timezone)
        expected = None
        if desk_open and suitable_agent_online(decision.queue, agents):
            waiting = [_waiting(q.chat, q.enqueued_at) for q in await self.store.waiting()]
            ahead = sum(1 for w in waiting if w.queue == decision.queue)
            expected = expected_wait_minutes(decision.queue, ahead, agents)
        waits = expected is not None and expected <= self.settings.max_wait_minutes
        if direct and not waits:
            log.info(
                "elder direct: %s not connected (%s)",
                mask_openid(openid),
                "no desk" if expected is None else "long wait",
            )
            return []

        values: dict[str, Any] = {
            "openid": openid,
            "status": (ChatStatus.WAITING if waits else ChatStatus.CLOSED).value,
            "queue": decision.queue,
            "reason": decision.reason,
            "summary": (summary or "").strip()[:500] or None,
            "dialect": decision.dialect,
            "is_elder": decision.is_elder,
            "age": profile.age,
            "phone": profile.phone,
        }
        if not waits:
            values |= {"closed_at": now, "close_reason": "callback", "callback_promised_at": now}
        chat = await self.store.create_chat(values, queued=waits, now=now)
        if chat is None:  # another worker opened one a moment ago
            existing = await self.store.open_chat_for(openid)
            return await self._status_texts(existing, first=False) if existing and not direct else []

        await self._copy_bot_history(chat)
        await self.store.add_message(
            chat.id,
            "system",
            "note",
            self.clock(),
            text=f"转人工：{_reason_label(decision.reason)}"
            + ("（首条消息直接接入，机器人已作答）" if direct else "")
            + (f"。摘要：{chat.summary}" if chat.summary else ""),
        )
        if decision.follow_up:
            await self._create_task(chat, "follow_up", "system", note="用户表示不会用，次日回访教一教")

        if not waits:
            why = "closed" if not desk_open else "busy"
            text = await self._promise_callback(chat, why)
            await self.live.publish(ConsoleEvent("tasks", chat_id=chat.id))
            return await self._told(chat.id, [text])

        await self.live.publish(ConsoleEvent("queue", chat_id=chat.id))
        await self.dispatch()
        refreshed = await self.store.chat(chat.id)
        return await self._told(chat.id, await self._status_texts(refreshed or chat, first=True))

    async def on_subscriber_message(self, msg: Any, text: str | None, audio_id: int | None) -> list[str]:
        chat = await self.store.open_chat_for(msg.openid)
        if chat is None:
            promised = await self._just_promised_callback(msg.openid)
            if promised is not None:
                # e.g. the voice note that caused a handoff which became a call-back promise:
                # it belongs to that record, so whoever calls back can listen to it
                msg_type, fields = _transcript_fields(msg, text, audio_id)
                await self.store.add_message(promised.id, "subscriber", msg_type, self.clock(), **fields)
                await self.live.publish(ConsoleEvent("message", chat_id=promised.id))
                return []
            # handed back between the gateway's check and this call: the bot answers from now on
            return ["已为您转回智能助手，请再说一次您的问题。"]
        if msg.msg_type == "event" and (msg.event or "") == "unsubscribe":
            await self._end_chat(chat, "unsubscribed", actor="system", farewell=None)
            return []
        msg_type, fields = _transcript_fields(msg, text, audio_id)
        await self.store.add_message(chat.id, "subscriber", msg_type, self.clock(), **fields)
        await self.live.publish(ConsoleEvent("message", chat_id=chat.id, agent_id=chat.agent_id))
        if chat.status == ChatStatus.WAITING:
            return await self._told(chat.id, await self._status_texts(chat, first=False))
        return []

    # ==== console actions ===================================================================

    async def take(self, chat_id: int, agent: Agent) -> Chat:
        chat = await self._require_chat(chat_id)
        if chat.status != ChatStatus.WAITING:
            raise ConsoleError("这个会话已经被接走或已结束。")
        if not await self.store.assign(chat_id, agent.id, self.clock(), how="taken"):
            raise ConsoleError("这个会话刚被其他客服接走了。")
        await self._note(chat_id, f"客服{agent.name}接入")
        await self.store.audit(agent.name, "chat_take", self.clock(), openid=chat.openid, chat_id=chat_id)
        await self.live.publish(ConsoleEvent("queue", chat_id=chat_id), ConsoleEvent("chat", chat_id, agent.id))
        return await self._require_chat(chat_id)

    async def reply(self, chat_id: int, agent: Agent, text: str) -> Delivery:
        chat = await self._require_own_open_chat(chat_id, agent)
        body = (text or "").strip()
        if not body:
            raise ConsoleError("回复内容不能为空。")
        if len(body) > MAX_REPLY_CHARS:
            raise ConsoleError(f"回复太长了（最多{MAX_REPLY_CHARS}字），请分开发或精简。")
        now = self.clock()
        introduce = chat.introduced_agent_id != agent.id and chat.agent_id == agent.id
        if introduce:
            body = wording.introduced(agent.name, chat.is_elder, body)
        message_id = await self.store.add_message(
            chat.id, "agent", "text", now, text=body, agent_id=agent.id, delivery="pending"
        )
        delivery = await self._send(chat, message_id, body, origin="agent")
        # The log says that she replied and whether it went out; the words stay in the transcript.
        await self.store.audit(agent.name, "chat_reply", now, openid=chat.openid, chat_id=chat.id,
                               detail=f"{len(body)}字，{'已发出' if delivery.sent else '未发出'}")  # fmt: skip
        if delivery.sent:
            await self.store.note_first_reply(chat.id, now)
            if introduce:
                await self.store.set_introduced(chat.id, agent.id)
        await self.live.publish(ConsoleEvent("message", chat_id=chat.id, agent_id=agent.id))
        return delivery

    async def transfer_to_agent(self, chat_id: int, agent: Agent, target_agent_id: int) -> Chat:
        chat = await self._require_own_open_chat(chat_id, agent, allow_waiting=True)
        target = await self.store.agent(target_agent_id)
        if target is None or target.disabled:
            raise ConsoleError("找不到这位客服。")
        if target.id not in await self.live.online_agent_ids():
            raise ConsoleError(f"客服{target.name}不在线，不能转给他/她。")
        active = (await self.store.active_chat_counts()).get(target.id, 0)
        if active >= target.capacity:
            raise ConsoleError(f"客服{target.name}正在服务{active}位客户，已满，请转到队列。")
        if not await self.store.transfer_to_agent(chat.id, agent.id, target.id, self.clock()):
            raise ConsoleError("这个会话已经结束了。")
        await self._note(chat.id, f"客服{agent.name}转给客服{target.name}")
        await self.store.audit(agent.name, "chat_transfer", self.clock(), openid=chat.openid, chat_id=chat.id,
                               detail=f"转给客服{target.name}")  # fmt: skip
        await self.live.publish(
            ConsoleEvent("chat", chat.id, target.id), ConsoleEvent("queue", chat.id), ConsoleEvent("agents")
        )
        await self.dispatch()
        return await self._require_chat(chat.id)

    async def transfer_to_queue(self, chat_id: int, agent: Agent, queue: str) -> Chat:
        if queue not in QUEUES:
            raise ConsoleError("没有这个队列。")
        chat = await self._require_own_open_chat(chat_id, agent, allow_waiting=True)
        if not await self.store.requeue(chat.id, queue, self.clock()):
            raise ConsoleError("这个会话已经结束了。")
        await self._note(chat.id, f"客服{agent.name}转到{_queue_label(queue)}")
        await self.store.audit(agent.name, "chat_transfer", self.clock(), openid=chat.openid, chat_id=chat.id,
                               detail=f"转到{_queue_label(queue)}")  # fmt: skip
        await self.live.publish(ConsoleEvent("queue", chat.id), ConsoleEvent("chat", chat.id), ConsoleEvent("agents"))
        await self.dispatch()
        return await self._require_chat(chat.id)

    async def hand_back(self, chat_id: int, agent: Agent) -> Chat:
        chat = await self._require_own_open_chat(chat_id, agent, allow_waiting=True)
        farewell = wording.HANDED_BACK_ELDER if chat.is_elder else wording.HANDED_BACK
        await self.store.audit(agent.name, "chat_hand_back", self.clock(), openid=chat.openid, chat_id=chat.id)
        return await self._end_chat(chat, "handed_back", actor=agent.name, farewell=farewell)

    async def close_chat(self, chat_id: int, agent: Agent) -> Chat:
        chat = await self._require_own_open_chat(chat_id, agent, allow_waiting=True)
        farewell = wording.CLOSED_ELDER if chat.is_elder else wording.CLOSED
        await self.store.audit(agent.name, "chat_close", self.clock(), openid=chat.openid, chat_id=chat.id)
        return await self._end_chat(chat, "closed", actor=agent.name, farewell=farewell)

    async def create_callback(self, chat_id: int, agent: Agent, note: str | None) -> Task:
        chat = await self._require_chat(chat_id)
        task = await self._create_task(chat, "callback", agent.name, note=(note or "").strip() or "客服创建的回电任务")
        await self._note(chat.id, f"客服{agent.name}创建了回电任务（{_local(task.due_at, self.settings)}前）")
        await self.live.publish(ConsoleEvent("tasks", chat_id=chat.id), ConsoleEvent("message", chat_id=chat.id))
        return task

    async def record_task_outcome(self, task_id: int, agent: Agent, outcome: str, note: str | None) -> Task:
        if outcome not in TASK_OUTCOMES:
            raise ConsoleError("请选择处理结果。")
        task = await self.store.task(task_id)
        if task is None:
            raise ConsoleError("找不到这个任务。")
        if not task.is_open:
            raise ConsoleError("这个任务已经处理过了。")
        clean_note = (note or "").strip()[:500] or None
        if outcome == "closed_other" and not clean_note:
            raise ConsoleError("选择“其他”时请写明备注。")
        now = self.clock()
        if outcome == "no_answer":
            done = await self.store.retry_task_later(task.id, clean_note, agent.name, now + NO_ANSWER_RETRY, now)
        else:
            done = await self.store.finish_task(task.id, outcome, clean_note, agent.name, now)
        if not done:
            raise ConsoleError("这个任务刚被其他客服处理了。")
        await self.store.audit(
            agent.name,
            f"task_{outcome}",
            now,
            openid=task.openid,
            phone=task.phone,
            chat_id=task.chat_id,
            detail=f"task {task.id} ({task.kind})" + (f": {clean_note}" if clean_note else ""),
        )
        await self.live.publish(ConsoleEvent("tasks"))
        updated = await self.store.task(task.id)
        assert updated is not None
        return updated

    async def reveal_task_phone(self, task_id: int, agent: Agent) -> Task | None:
        """The full number of a call-back task, for dialling; every look is audited."""
        task = await self.store.task(task_id)
        if task is None or task.phone is None:
            return None
        await self.store.audit(
            agent.name,
            "reveal_phone",
            self.clock(),
            openid=task.openid,
            phone=task.phone,
            chat_id=task.chat_id,
            detail=f"task {task.id}",
        )
        return task

    async def set_ready(self, agent: Agent, ready: bool) -> None:
        await self.store.set_ready(agent.id, ready)
        await self.live.publish(ConsoleEvent("agents", agent_id=agent.id))
        if ready:
            await self.dispatch()

    async def green_channel(self, chat_id: int, agent: Agent) -> str:
        """One-click reactivation of an elderly subscriber's line (audited with the agent's name)."""
        chat = await self._require_own_open_chat(chat_id, agent, allow_waiting=True)
        profile = await self.profiles.lookup(chat.openid, chat.phone)
        now = self.clock()
        if profile.reported_lost:
            await self.store.audit(
                agent.name,
                "green_channel_refused",
                now,
                openid=chat.openid,
                phone=profile.phone,
                chat_id=chat.id,
                detail="reported_lost: needs a supervisor's identity check",
            )
            raise ConsoleError(texts.LOST_LINE_REFUSED)
        if not profile.green_channel_allowed(self.settings.elder_age):
            raise ConsoleError(texts.GREEN_CHANNEL_ONLY_VOLUNTARY)
        billing = self.profiles.billing
        assert billing is not None and profile.phone is not None
        try:
            balance = await billing.reactivate_line(profile.phone, actor=agent.name)
        except BillingError as exc:
            await self.store.audit(
                agent.name,
                "green_channel_refused",
                now,
                openid=chat.openid,
                phone=profile.phone,
                chat_id=chat.id,
                detail=str(exc),
            )
            raise ConsoleError("计费系统拒绝了复机：" + str(exc)) from None
        outcome = "已复机" if balance.status.value == "active" else "已解除停机保号，但仍欠费停机"
        await self.store.audit(
            agent.name,
            "green_channel_reactivate",
            now,
            openid=chat.openid,
            phone=profile.phone,
            chat_id=chat.id,
            detail=f"{profile.suspend_reason.value if profile.suspend_reason else ''} -> {balance.status.value}",
        )
        await self._note(chat.id, f"绿色通道：客服{agent.name}为{mask_phone(profile.phone)}办理复机，结果：{outcome}")
        await self.live.publish(ConsoleEvent("message", chat_id=chat.id))
        return outcome

    # ==== background work ===================================================================

    async def dispatch(self) -> int:
        """Assign waiting chats to ready agents with free slots (elder queue first)."""
        lock = self.live.dispatch_lock()
        if not await lock.acquire():
            return 0
        assigned = 0
        try:
            waiting = await self.store.waiting()
            if not waiting:
                return 0
            agents = await self.agent_states()
            plan = plan_assignments([_waiting(q.chat, q.enqueued_at) for q in waiting], agents)
            names = {agent.agent_id: agent.name for agent in agents}
            for chat_id, agent_id in plan:
                if await self.store.assign(chat_id, agent_id, self.clock(), how="assigned"):
                    assigned += 1
                    await self._note(chat_id, f"自动分配给客服{names[agent_id]}")
                    await self.live.publish(ConsoleEvent("chat", chat_id, agent_id))
            if assigned:
                await self.live.publish(ConsoleEvent("queue"), ConsoleEvent("agents"))
        finally:
            try:
                await lock.release()
            except Exception:  # the lock expired while we worked: nothing to release
                pass
        return assigned

    async def sweep(self) -> None:
        """Periodic: promise call-backs to chats that waited too long or outlived the desk's
        hours, escalate overdue tickets, and assign what can be assigned."""
        now = self.clock()
        desk_open = hours.is_open(now, self.settings.service_hours, self.settings.timezone)
        limit = dt.timedelta(minutes=self.settings.max_wait_minutes)
        for queued in await self.store.waiting():
            if desk_open and now - queued.enqueued_at < limit:
                continue
            if not await self.store.claim_callback_promise(queued.chat.id, now):
                continue
            chat = await self.store.close(queued.chat.id, "callback", now)
            if chat is None:
                continue
            text = await self._promise_callback(chat, "waited" if desk_open else "closed")
            await self._send_system(chat, text)
            await self.live.publish(ConsoleEvent("queue", chat.id), ConsoleEvent("tasks", chat_id=chat.id))
        await self._requeue_chats_of_vanished_agents(now)
        await self.tickets.escalate_overdue()
        await self.dispatch()
        if self.tagger is not None:
            try:
                await self.tagger.reconcile(now)
            except Exception as exc:  # WeChat down or refusing: the next sweep tries again
                log.warning("elder user tags not updated: %s", exc)

    async def _requeue_chats_of_vanished_agents(self, now: dt.datetime) -> None:
        """Chats must not sit with an agent whose console is gone: back to the queue, keeping
        their place (enqueued at the time of the original request)."""
        online = await self.live.online_agent_ids()
        for chat in await self.store.assigned_chats():
            if chat.agent_id is None or chat.agent_id in online:
                continue
            since = await self.live.offline_since(chat.agent_id)
            if time.time() - since < self.offline_grace_s:
                continue
            if await self.store.requeue(chat.id, chat.queue, now, enqueued_at=chat.created_at):
                agent = await self.store.agent(chat.agent_id)
                await self._note(chat.id, f"客服{agent.name if agent else ''}已离线，会话重新排队")
                await self.live.publish(ConsoleEvent("queue", chat.id), ConsoleEvent("chat", chat.id))

    async def run_sweeper(self) -> None:
        while True:
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("handoff sweep failed; retrying on the next tick")
            await asyncio.sleep(self.settings.sweep_seconds)

    # ==== read models for the console ========================================================

    async def agent_states(self) -> list[AgentState]:
        agents = [a for a in await self.store.list_agents() if not a.disabled]
        online = await self.live.online_agent_ids()
        active = await self.store.active_chat_counts()
        return [
            AgentState(
                agent_id=a.id,
                name=a.name,
                skills=a.skills,
                capacity=a.capacity,
                active_chats=active.get(a.id, 0),
                online=a.id in online,
                ready=a.ready,
            )
            for a in agents
        ]

    async def window_view(self, openid: str) -> WindowView:
        if self.window is None:
            return WindowView(open=False, seconds_left=0, messages_left=0, known=False)
        try:
            state = await self.window.state(openid)
        except Exception as exc:
            log.warning("customer-service window state unavailable: %s", exc)
            return WindowView(open=False, seconds_left=0, messages_left=0, known=False)
        expires_at = getattr(state, "expires_at", None)
        # the gateway's window runs on wall-clock time, whatever clock this service was given
        seconds_left = int((expires_at - utc_now()).total_seconds()) if expires_at is not None else 0
        return WindowView(
            open=bool(getattr(state, "open", False)),
            seconds_left=max(0, seconds_left),
            messages_left=max(0, int(getattr(state, "remaining", 0) or 0)),
        )

    async def profile_of(self, chat: Chat) -> Profile:
        return await self.profiles.lookup(chat.openid, chat.phone)

    # ==== internals ==========================================================================

    async def _status_texts(self, chat: Chat, first: bool) -> list[str]:
        if chat.status == ChatStatus.ASSIGNED:
            if not first:
                return []
            agent = await self.store.agent(chat.agent_id) if chat.agent_id else None
            await self.store.set_introduced(chat.id, chat.agent_id)
            return [wording.assigned(agent.name if agent else "", chat.is_elder)]
        waiting = [_waiting(q.chat, q.enqueued_at) for q in await self.store.waiting()]
        ahead = people_ahead(chat.id, waiting)
        if not first:
            return [wording.still_waiting(ahead, chat.is_elder)]
        minutes = expected_wait_minutes(chat.queue, ahead, await self.agent_states())
        return [wording.waiting(ahead, chat.is_elder, minutes)]

    async def _promise_callback(self, chat: Chat, why: str) -> str:
        task = await self._create_task(chat, "callback", "system", note=chat.summary)
        deadline = hours.describe_deadline(task.due_at, self.clock(), self.settings.timezone)
        text = (
            wording.callback_promise(deadline, why, chat.is_elder)
            if chat.phone
            else wording.callback_without_number(deadline, chat.is_elder)
        )
        await self._note(chat.id, f"已承诺回电（{deadline}前），回电任务#{task.id}")
        return text

    async def _create_task(self, chat: Chat, kind: str, actor: str, note: str | None) -> Task:
        # Asking again before we called back must not queue a second call: the open task stands.
        pending = await self.store.open_task_of(chat.openid, kind)
        if pending is not None:
            return pending
        now = self.clock()
        settings = self.settings
        if kind == "follow_up":
            due = hours.follow_up_due(now, settings.service_hours, settings.timezone, settings.callback_promise_hours)
        else:
            due = hours.callback_due(now, settings.service_hours, settings.timezone, settings.callback_promise_hours)
        values = {
            "kind": kind,
            "openid": chat.openid,
            "phone": chat.phone,
            "chat_id": chat.id,
            "reason": chat.reason,
            "note": note,
            "is_elder": chat.is_elder,
            "queue": chat.queue,
            "due_at": due,
            "created_by": actor,
        }
        if kind == "follow_up" and chat.agent_id is not None and chat.agent_id in await self.live.online_agent_ids():
            values["agent_id"] = chat.agent_id  # back to the agent who served her, while on duty
        return await self.store.create_task(values, now)

    async def _end_chat(self, chat: Chat, reason: str, actor: str, farewell: str | None) -> Chat:
        closed = await self.store.close(chat.id, reason, self.clock())
        if closed is None:
            raise ConsoleError("这个会话已经结束了。")
        if reason in ("handed_back", "closed") and closed.first_agent_reply_at is not None:
            await self._close_answered_callback(closed, actor)
        label = {"handed_back": "转回智能助手", "closed": "结束会话", "unsubscribed": "用户已取消关注"}.get(
            reason, reason
        )
        await self._note(chat.id, f"{actor}：{label}")
        if farewell:
            await self._send_closing(closed, farewell)
        await self.live.publish(
            ConsoleEvent("chat", chat.id, chat.agent_id), ConsoleEvent("queue"), ConsoleEvent("agents")
        )
        await self.dispatch()
        return await self._require_chat(chat.id)

    async def _close_answered_callback(self, chat: Chat, actor: str) -> None:
        """A person answered her in this chat: the call-back promised to her before is kept."""
        task = await self.store.open_task_of(chat.openid, "callback")
        if task is None or task.created_at > chat.created_at:
            return
        note = f"已在会话#{chat.id}中由人工解决"
        if await self.store.finish_task(task.id, "resolved_online", note, actor, self.clock()):
            await self._note(chat.id, f"回电任务#{task.id}已关闭（本次会话已解决）")
            await self.live.publish(ConsoleEvent("tasks"))

    async def _send_closing(self, chat: Chat, farewell: str) -> None:
        """The closing message with the satisfaction question, as one message. If WeChat's
        quota (or window) refuses it now, it is owed: it goes out with the subscriber's next
        answer (`before_bot`), and the transcript says so; it is never dropped silently."""
        survey_id = await self.store.create_survey(chat, self.clock()) if chat.agent_id is not None else None
        text = wording.with_survey(farewell) if survey_id is not None else farewell
        delivery = await self._send_system(chat, text)
        if delivery.sent:
            return
        if survey_id is not None:
            await self.store.survey_undelivered(survey_id, text)
            await self._note(chat.id, "结束语未能立即发出（微信条数限制），将在用户下次发消息时补发")
        else:
            await self._note(chat.id, f"结束语未能发出：{delivery.reason or ''}")

    # ==== after a chat: the closing message owed and the satisfaction answer =================

    async def before_bot(self, openid: str, text: str | None) -> tuple[list[str], bool]:
        """Called by the gateway before a message goes to the bot. Returns (texts to send
        first, whether the message was consumed): an answer 1/2/3 to the satisfaction question
        of a chat that ended recently is stored and thanked, not sent to the bot as a menu
        choice; a closing message the quota refused is delivered now, ahead of the answer."""
        survey = await self.store.latest_survey(openid)
        if survey is None or survey.answered_at is not None:
            return [], False
        now = self.clock()
        if now - survey.asked_at > SURVEY_ANSWER_WINDOW:
            return [], False
        owed: list[str] = []
        if survey.chat_id is None:
            return await self._ticket_survey_answer(survey, text, now)
        if not survey.delivered and survey.closing_text and await self.store.take_owed_closing(survey.id):
            owed = [wording.later_notice(survey.closing_text)]
            await self._note(survey.chat_id, "补发结束语和满意度问题")
            return owed, False  # she has not seen the question yet: this message is for the bot
        score = _survey_score(text)
        if score is None:
            # she wrote something else: the question lapses, so a later 「1」 is a menu choice again
            await self.store.answer_survey(survey.id, None, now)
            return owed, False
        if not await self.store.answer_survey(survey.id, score, now):
            return owed, False
        await self._note(survey.chat_id, f"满意度：{SURVEY_LABELS[score]}")
        chat = await self.store.chat(survey.chat_id)
        if score == 3 and chat is not None:
            await self._create_task(chat, "follow_up", "system", note="用户对人工服务不满意，次日回访")
            await self.live.publish(ConsoleEvent("tasks", chat_id=chat.id))
        return owed + [wording.SURVEY_THANKS[score]], True

    async def _ticket_survey_answer(self, survey: Survey, text: str | None, now: dt.datetime) -> tuple[list[str], bool]:
        """The answer to the satisfaction question sent with a ticket's resolution."""
        score = _survey_score(text)
        if not await self.store.answer_survey(survey.id, score, now) or score is None:
            return [], False
        if survey.ticket_id is not None:
            await self.tickets.store.add_note(survey.ticket_id, "subscriber", f"满意度：{SURVEY_LABELS[score]}", now)
        return [wording.TICKET_SURVEY_THANKS[score]], True

    async def _send(self, chat: Chat, message_id: int, body: str, origin: str) -> Delivery:
        if self.outbox is None:
            await self.store.set_delivery(message_id, "refused", "网关发件箱未接通，消息未发出", None)
            return Delivery(sent=False, message_id=message_id, reason="网关发件箱未接通，消息未发出。")
        try:
            outbox_id = await self.outbox.enqueue(chat.openid, text_message(body), origin=origin)
        except QuotaExhausted:
            reason = QUOTA_REFUSAL
            await self.store.set_delivery(message_id, "refused", reason, None)
            return Delivery(sent=False, message_id=message_id, reason=reason)
        except WindowClosed:
            reason = WINDOW_REFUSAL
            await self.store.set_delivery(message_id, "refused", reason, None)
            return Delivery(sent=False, message_id=message_id, reason=reason, offer_callback=True)
        await self.store.set_delivery(message_id, "queued", None, outbox_id)
        return Delivery(sent=True, message_id=message_id)

    async def _send_system(self, chat: Chat, body: str) -> Delivery:
        message_id = await self.store.add_message(
            chat.id, "system", "text", self.clock(), text=body, delivery="pending"
        )
        delivery = await self._send(chat, message_id, body, origin="system")
        await self.live.publish(ConsoleEvent("message", chat_id=chat.id))
        return delivery

    async def _copy_bot_history(self, chat: Chat) -> None:
        if self.history is None:
            return
        try:
            turns = await self.history.recent_turns(chat.openid)
        except Exception as exc:
            log.warning("could not read Rasa's tracker for chat %s: %s", chat.id, exc)
            await self._note(chat.id, "机器人对话记录暂时读不到")
            return
        rows = [
            {
                "chat_id": chat.id,
                "sender": turn.sender,
                "msg_type": "voice" if turn.source == "voice" else "text",
                "text": turn.text,
                "created_at": turn.at,
            }
            for turn in turns
        ]
        await self.store.add_messages(rows)

    async def _just_promised_callback(self, openid: str) -> Chat | None:
        latest = await self.store.chats_of_openid(openid, limit=1)
        if not latest or latest[0].close_reason != "callback" or latest[0].closed_at is None:
            return None
        return latest[0] if self.clock() - latest[0].closed_at <= JUST_PROMISED else None

    async def _told(self, chat_id: int, answers: list[str]) -> list[str]:
        """Keep what the gateway will tell the subscriber in the transcript (as the system's)."""
        for answer in answers:
            await self.store.add_message(chat_id, "system", "text", self.clock(), text=answer)
        return answers

    async def _note(self, chat_id: int, text: str) -> None:
        await self.store.add_message(chat_id, "system", "note", self.clock(), text=text)

    async def _require_chat(self, chat_id: int) -> Chat:
        chat = await self.store.chat(chat_id)
        if chat is None:
            raise ConsoleError("找不到这个会话。")
        return chat

    async def _require_own_open_chat(self, chat_id: int, agent: Agent, allow_waiting: bool = False) -> Chat:
        chat = await self._require_chat(chat_id)
        if not chat.is_open:
            raise ConsoleError("这个会话已经结束了。")
        if chat.status == ChatStatus.WAITING:
            if allow_waiting:
                return chat
            raise ConsoleError("请先接入这个会话。")
        if chat.agent_id != agent.id and not agent.is_supervisor:
            raise ConsoleError("这个会话由其他客服负责。")
        return chat


SURVEY_ANSWER_WINDOW = dt.timedelta(hours=24)
SURVEY_LABELS = {1: "满意", 2: "一般", 3: "不满意"}
_SURVEY_WORDS = {"1": 1, "2": 2, "3": 3, "满意": 1, "一般": 2, "不满意": 3}


def _survey_score(text: str | None) -> int | None:
    cleaned = (text or "").strip().strip("。.！!").translate(str.maketrans("１２３", "123"))
    return _SURVEY_WORDS.get(cleaned)


def _waiting(chat: Chat, enqueued_at: dt.datetime) -> WaitingChat:
    return WaitingChat(chat_id=chat.id, queue=chat.queue, dialect=chat.dialect, enqueued_at=enqueued_at)


def _transcript_fields(msg: Any, text: str | None, audio_id: int | None) -> tuple[str, dict]:
    kind = msg.msg_type
    if kind == "text":
        return "text", {"text": text if text is not None else msg.content}
    if kind == "voice":
        return "voice", {"text": text or msg.recognition, "audio_id": audio_id}
    if kind == "image":
        return "image", {"text": text, "media_url": msg.pic_url}
    if kind == "location":
        raw = msg.raw or {}
        where = raw.get("Label") or f"{raw.get('Location_X', '')},{raw.get('Location_Y', '')}"
        return "location", {"text": f"位置：{where}"}
    if kind == "link":
        raw = msg.raw or {}
        return "link", {"text": raw.get("Title") or "链接", "media_url": raw.get("Url")}
    if kind == "event":
        return "note", {"text": text or f"用户操作：{msg.event or ''} {msg.event_key or ''}".strip()}
    return kind if kind in ("video", "shortvideo") else "text", {"text": text or f"（{kind}消息）"}


def _reason_label(reason: str) -> str:
    return REASON_LABELS.get(reason, reason)


def _queue_label(queue: str) -> str:
    return QUEUE_LABELS.get(queue, queue)


def _local(moment: dt.datetime, settings: HandoffSettings) -> str:
    return moment.astimezone(settings.timezone).strftime("%m-%d %H:%M")


# ==== wiring ==================================================================================


def create_handoff_service(
    *,
    engine: AsyncEngine,
    redis: aioredis.Redis,
    http: aiohttp.ClientSession | None,
    rasa_url: str,
    outbox: OutboxLike | None,
    window: CsWindow | None,
    rasa_token: str | None = None,
    wechat: Any = None,
    notices: NoticesLike | None = None,
) -> HandoffService:
    """The service, from the resources the composition root (bot/compose.py) already built.
    With `wechat` (wechat.api.WeChatApi) the sweep keeps the elder user tag in step with bindings."""
    settings = HandoffSettings.from_env()
    billing = load_backend(engine)
    directory = BindingService(engine, load_sms_sender(engine), billing=billing)
    profiles = ProfileSource(billing, directory, settings.timezone, utc_now)
    return HandoffService(
        store=HandoffStore(engine, settings.timezone),
        live=LiveState(redis),
        settings=settings,
        profiles=profiles,
        tagger=ElderTagger(engine, wechat, profiles, settings.elder_age) if wechat is not None else None,
        outbox=outbox,
        window=window if window is not None else (CsWindow(engine) if outbox is not None else None),
        history=RasaHistory(http, rasa_url, rasa_token),
        voice_store=VoiceStore(engine, VoiceSettings.from_env().resolved_media_dir()),
        notices=notices,
    )
