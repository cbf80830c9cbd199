"""The handoff service: the gateway's `HandoffService` port and a conversation's verbs.

The gateway calls `routing`, `before_bot`, `on_subscriber_message` and `request_handoff`
(gateway/ports.py); the console calls the verbs on a conversation (take, reply, transfer, hand
back, close, green channel). The rest is split along its seams, one service each, built here and
reachable as attributes: `assignment` (agents' readiness, dispatch), `callbacks` (call-back and
follow-up tasks), `surveys` (the satisfaction question), `tickets` and `canned` (handoff/tickets.py),
all saying things to the subscriber through one `messenger`. State lives in the database
(handoff/store.py, the conversation record in core/conversations.py); Redis only carries presence
and live-update hints (handoff/live.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import aiohttp
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from billing import load_backend
from billing.backend import BillingError
from billing.binding import BindingService, load_sms_sender
from core import wording
from core.conversations import Routing, RoutingColumns
from core.privacy import mask_phone
from core.redact import mask_openid
from core.vocabulary import ChatStatus
from handoff import console_texts as texts
from handoff import hours
from handoff.agent_store import Agent
from handoff.assignment import Assignment
from handoff.callbacks import CallbackService
from handoff.config import HandoffSettings
from handoff.elder_tags import ElderTagger
from handoff.errors import ConsoleError
from handoff.live import ConsoleEvent, LiveState
from handoff.messenger import ChatMessenger, Delivery, OutboxLike
from handoff.profile import Profile, ProfileSource
from handoff.rasa_history import RasaHistory
from handoff.routing import (
    QUEUE_LABELS,
    QUEUES,
    REASON_LABELS,
    expected_wait_minutes,
    people_ahead,
    route,
    suitable_agent_online,
)
from handoff.store import ROUTING_COLUMNS, Chat, HandoffStore, routing_of
from handoff.surveys import SURVEY_ANSWER_WINDOW, SurveyService
from handoff.tickets import NoticesLike, ticket_services
from voice.config import VoiceSettings
from voice.store import VoiceStore
from wechat.window import CsWindow

log = logging.getLogger(__name__)

MAX_REPLY_CHARS = 600
JUST_PROMISED = dt.timedelta(minutes=2)


class WindowLike(Protocol):
    async def state(self, openid: str) -> Any: ...


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
        # tickets (complaints, faults, call-backs, follow-ups): the console's verbs and canned replies
        self.tickets, self.canned = ticket_services(store.engine, outbox, live, clock, notices)
        self.messenger = ChatMessenger(store, live, outbox, clock)
        self.assignment = Assignment(store, live, self.messenger, clock)
        self.callbacks = CallbackService(store, live, settings, self.messenger, clock)
        self.surveys = SurveyService(store, live, self.messenger, self.callbacks, self.tickets.store, clock)

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

    async def before_bot(self, openid: str, text: str | None) -> tuple[list[str], bool]:
        """Texts owed before the bot's answer, and whether the message was a survey answer (surveys.py)."""
        return await self.surveys.before_bot(openid, text)

    async def is_with_human(self, openid: str) -> bool:
        """Whether people answer her now (a queue or an agent), by the conversation record alone."""
        return (await self.routing(openid)).with_human

    async def routing(self, openid: str) -> Routing:
        """Whether people answer her now, and whether `before_bot` may have something to do, in
        one query: most messages need neither, and this is asked for every message."""
        return await self.store.routing(openid, self.clock() - SURVEY_ANSWER_WINDOW)

    def routing_columns(self) -> RoutingColumns:
        """`routing` as columns the inbox claim returns with each message (no query of its own)."""
        return RoutingColumns(ROUTING_COLUMNS, self._routing_params, routing_of)

    def _routing_params(self) -> dict[str, Any]:
        return {"asked_after": self.clock() - SURVEY_ANSWER_WINDOW}

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
        agents = await self.assignment.agent_states()
        desk_open = hours.is_open(now, self.settings.service_hours, self.settings.timezone)
        expected = None
        if desk_open and suitable_agent_online(decision.queue, agents):
            waiting = await self.assignment.waiting()
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
            text=texts.handoff_note(_reason_label(decision.reason), direct, chat.summary),
        )
        if decision.follow_up:
            await self.callbacks.open_task(chat, "follow_up", "system", note=texts.FOLLOW_UP_CANNOT_COPE)

        if not waits:
            why = "closed" if not desk_open else "busy"
            text = await self.callbacks.promise(chat, why)
            await self.live.publish(ConsoleEvent("tasks", chat_id=chat.id))
            return await self.messenger.told(chat.id, [text])

        await self.live.publish(ConsoleEvent("queue", chat_id=chat.id))
        await self.assignment.dispatch()
        refreshed = await self.store.chat(chat.id)
        return await self.messenger.told(chat.id, await self._status_texts(refreshed or chat, first=True))

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
            return [wording.HANDED_BACK_SAY_AGAIN]
        if msg.msg_type == "event" and (msg.event or "") == "unsubscribe":
            await self._end_chat(chat, "unsubscribed", actor="system", farewell=None)
            return []
        msg_type, fields = _transcript_fields(msg, text, audio_id)
        await self.store.add_message(chat.id, "subscriber", msg_type, self.clock(), **fields)
        await self.live.publish(ConsoleEvent("message", chat_id=chat.id, agent_id=chat.agent_id))
        if chat.status == ChatStatus.WAITING:
            return await self.messenger.told(chat.id, await self._status_texts(chat, first=False))
        return []

    # ==== console actions ===================================================================

    async def take(self, chat_id: int, agent: Agent) -> Chat:
        chat = await self._require_chat(chat_id)
        if chat.status != ChatStatus.WAITING:
            raise ConsoleError(texts.CHAT_NOT_WAITING)
        if not await self.store.assign(chat_id, agent.id, self.clock(), how="taken"):
            raise ConsoleError(texts.CHAT_JUST_TAKEN)
        await self.messenger.note(chat_id, texts.taken_by(agent.name))
        await self.store.audit(agent.name, "chat_take", self.clock(), openid=chat.openid, chat_id=chat_id)
        await self.live.publish(ConsoleEvent("queue", chat_id=chat_id), ConsoleEvent("chat", chat_id, agent.id))
        return await self._require_chat(chat_id)

    async def reply(self, chat_id: int, agent: Agent, text: str) -> Delivery:
        chat = await self._require_own_open_chat(chat_id, agent)
        body = (text or "").strip()
        if not body:
            raise ConsoleError(texts.EMPTY_REPLY)
        if len(body) > MAX_REPLY_CHARS:
            raise ConsoleError(texts.reply_too_long(MAX_REPLY_CHARS))
        now = self.clock()
        introduce = chat.introduced_agent_id != agent.id and chat.agent_id == agent.id
        if introduce:
            body = wording.introduced(agent.name, chat.is_elder, body)
        message_id = await self.store.add_message(
            chat.id, "agent", "text", now, text=body, agent_id=agent.id, delivery="pending"
        )
        delivery = await self.messenger.send(chat, message_id, body, origin="agent")
        # The log says that she replied and whether it went out; the words stay in the transcript.
        await self.store.audit(agent.name, "chat_reply", now, openid=chat.openid, chat_id=chat.id,
                               detail=texts.reply_audit(len(body), delivery.sent))  # fmt: skip
        if delivery.sent:
            await self.store.note_first_reply(chat.id, now)
            if introduce:
                await self.store.set_introduced(chat.id, agent.id)
        await self.live.publish(ConsoleEvent("message", chat_id=chat.id, agent_id=agent.id))
        return delivery

    async def transfer_to_agent(self, chat_id: int, agent: Agent, target_agent_id: int) -> Chat:
        chat = await self._require_own_open_chat(chat_id, agent, allow_waiting=True)
        target = await self.store.agents.agent(target_agent_id)
        if target is None or target.disabled:
            raise ConsoleError(texts.NO_SUCH_AGENT)
        if target.id not in await self.live.online_agent_ids():
            raise ConsoleError(texts.agent_offline(target.name))
        active = (await self.store.active_chat_counts()).get(target.id, 0)
        if active >= target.capacity:
            raise ConsoleError(texts.agent_full(target.name, active))
        if not await self.store.transfer_to_agent(chat.id, agent.id, target.id, self.clock()):
            raise ConsoleError(texts.CHAT_GONE)
        await self.messenger.note(chat.id, texts.transferred_to_agent(agent.name, target.name))
        await self.store.audit(agent.name, "chat_transfer", self.clock(), openid=chat.openid, chat_id=chat.id,
                               detail=texts.transfer_audit(texts.agent_label(target.name)))  # fmt: skip
        await self.live.publish(
            ConsoleEvent("chat", chat.id, target.id), ConsoleEvent("queue", chat.id), ConsoleEvent("agents")
        )
        await self.assignment.dispatch()
        return await self._require_chat(chat.id)

    async def transfer_to_queue(self, chat_id: int, agent: Agent, queue: str) -> Chat:
        if queue not in QUEUES:
            raise ConsoleError(texts.NO_SUCH_QUEUE)
        chat = await self._require_own_open_chat(chat_id, agent, allow_waiting=True)
        if not await self.store.requeue(chat.id, queue, self.clock()):
            raise ConsoleError(texts.CHAT_GONE)
        await self.messenger.note(chat.id, texts.transferred_to_queue(agent.name, _queue_label(queue)))
        await self.store.audit(agent.name, "chat_transfer", self.clock(), openid=chat.openid, chat_id=chat.id,
                               detail=texts.transfer_audit(_queue_label(queue)))  # fmt: skip
        await self.live.publish(ConsoleEvent("queue", chat.id), ConsoleEvent("chat", chat.id), ConsoleEvent("agents"))
        await self.assignment.dispatch()
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
            raise ConsoleError(texts.billing_refused_reactivation(str(exc))) from None
        outcome = texts.reactivation_outcome(balance.status.value == "active")
        await self.store.audit(
            agent.name,
            "green_channel_reactivate",
            now,
            openid=chat.openid,
            phone=profile.phone,
            chat_id=chat.id,
            detail=f"{profile.suspend_reason.value if profile.suspend_reason else ''} -> {balance.status.value}",
        )
        await self.messenger.note(chat.id, texts.green_channel_note(agent.name, mask_phone(profile.phone), outcome))
        await self.live.publish(ConsoleEvent("message", chat_id=chat.id))
        return outcome

    # ==== background work ===================================================================

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
            text = await self.callbacks.promise(chat, "waited" if desk_open else "closed")
            await self.messenger.send_system(chat, text)
            await self.live.publish(ConsoleEvent("queue", chat.id), ConsoleEvent("tasks", chat_id=chat.id))
        await self.assignment.requeue_chats_of_vanished_agents(now)
        await self.tickets.escalate_overdue()
        await self.assignment.dispatch()
        if self.tagger is not None:
            try:
                await self.tagger.reconcile(now)
            except Exception as exc:  # WeChat down or refusing: the next sweep tries again
                log.warning("elder user tags not updated: %s", exc)

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
            agent = await self.store.agents.agent(chat.agent_id) if chat.agent_id else None
            await self.store.set_introduced(chat.id, chat.agent_id)
            return [wording.assigned(agent.name if agent else "", chat.is_elder)]
        waiting = await self.assignment.waiting()
        ahead = people_ahead(chat.id, waiting)
        if not first:
            return [wording.still_waiting(ahead, chat.is_elder)]
        minutes = expected_wait_minutes(chat.queue, ahead, await self.assignment.agent_states())
        return [wording.waiting(ahead, chat.is_elder, minutes)]

    async def _end_chat(self, chat: Chat, reason: str, actor: str, farewell: str | None) -> Chat:
        closed = await self.store.close(chat.id, reason, self.clock())
        if closed is None:
            raise ConsoleError(texts.CHAT_GONE)
        if reason in ("handed_back", "closed") and closed.first_agent_reply_at is not None:
            await self.callbacks.close_answered(closed, actor)
        await self.messenger.note(chat.id, texts.ended_by(actor, reason))
        if farewell:
            await self.surveys.send_closing(closed, farewell)
        await self.live.publish(
            ConsoleEvent("chat", chat.id, chat.agent_id), ConsoleEvent("queue"), ConsoleEvent("agents")
        )
        await self.assignment.dispatch()
        return await self._require_chat(chat.id)

    async def _copy_bot_history(self, chat: Chat) -> None:
        if self.history is None:
            return
        try:
            turns = await self.history.recent_turns(chat.openid)
        except Exception as exc:
            log.warning("could not read Rasa's tracker for chat %s: %s", chat.id, exc)
            await self.messenger.note(chat.id, texts.BOT_HISTORY_UNREADABLE)
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

    async def _require_chat(self, chat_id: int) -> Chat:
        chat = await self.store.chat(chat_id)
        if chat is None:
            raise ConsoleError(texts.NO_SUCH_CHAT)
        return chat

    async def _require_own_open_chat(self, chat_id: int, agent: Agent, allow_waiting: bool = False) -> Chat:
        chat = await self._require_chat(chat_id)
        if not chat.is_open:
            raise ConsoleError(texts.CHAT_GONE)
        if chat.status == ChatStatus.WAITING:
            if allow_waiting:
                return chat
            raise ConsoleError(texts.TAKE_FIRST)
        if chat.agent_id != agent.id and not agent.is_supervisor:
            raise ConsoleError(texts.NOT_YOUR_CHAT)
        return chat


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
        return "location", {"text": texts.location(where)}
    if kind == "link":
        raw = msg.raw or {}
        return "link", {"text": raw.get("Title") or texts.LINK, "media_url": raw.get("Url")}
    if kind == "event":
        return "note", {"text": text or texts.subscriber_event(msg.event or "", msg.event_key or "")}
    return kind if kind in ("video", "shortvideo") else "text", {"text": text or texts.other_message(kind)}


def _reason_label(reason: str) -> str:
    return REASON_LABELS.get(reason, reason)


def _queue_label(queue: str) -> str:
    return QUEUE_LABELS.get(queue, queue)


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
