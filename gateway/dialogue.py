"""What the subscriber gets for one inbound message: the customer-service messages to send, in order.

Order of decisions (bot/hooks.py): with a human -> the handoff service gets the message and
the bot stays silent; else voice -> transcript -> policy -> Rasa; text -> Rasa; events ->
intent triggers; anything else -> a short polite answer. A handoff payload from the actions
goes to `HandoffService.request_handoff`. Raises RasaUnavailable when the answer must wait.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from core.conversations import Routing
from core.db import upsert
from core.redact import mask_openid
from core.vocabulary import HandoffReason, Queue
from core.wording import EMPTY_TEXT, UNKNOWN_MENU, UNSUPPORTED, VOICE_REPLIES_OFF, VOICE_REPLIES_ON
from gateway.ports import HANDOFF_REASONS, QUEUES, HandoffService, VoicePolicy, VoiceTranscriber
from gateway.rasa_client import RasaClient
from gateway.store import subscribers
from gateway.voice_replies import StoredMode, VoiceMode, VoicePreferences, voice_command, voice_reply
from wechat.messages import InboundMessage, text_message

log = logging.getLogger(__name__)

GREET_TRIGGER = "/greet"
SHARED_TRIGGERS = {"location": "/shared_location", "image": "/shared_image"}
QR_SCENE_PREFIX = "qrscene_"

Outgoing = dict[str, Any]  # a customer-service message body, e.g. text_message("...")


class Dialogue:
    def __init__(
        self,
        engine: AsyncEngine,
        rasa: RasaClient,
        handoff: HandoffService,
        transcriber: VoiceTranscriber,
        voice_policy: VoicePolicy,
        menu_intents: dict[str, str],
        voice_prefs: VoicePreferences | None = None,
    ) -> None:
        """`voice_prefs`: voice replies are on (a speech synthesiser is configured)."""
        self._engine = engine
        self._voice_prefs = voice_prefs
        self._rasa = rasa
        self._handoff = handoff
        self._transcriber = transcriber
        self._voice_policy = voice_policy
        self._menu_intents = menu_intents
        # Voice-reply choices made while answering a message, by msg_key (drains run concurrently).
        self._chosen_in_turn: dict[str, VoiceMode] = {}

    async def respond(
        self,
        msg: InboundMessage,
        *,
        retry: bool = False,
        stored_voice: StoredMode | None = None,
        routing: Routing | None = None,
    ) -> list[Outgoing]:
        """`retry`: this message was taken up before; a Rasa turn it already had is not run again.
        `routing`: who answers her, as read with her message (else it is read here).
        The bot's answer ends with a voice reply (gateway/voice_replies.py) when the subscriber wants
        one: her choice as made in this turn, else `stored_voice` (read with her message), else read."""
        try:
            return await self._respond(msg, retry, stored_voice, routing)
        finally:
            self._chosen_in_turn.pop(msg.msg_key, None)

    async def _respond(
        self, msg: InboundMessage, retry: bool, stored_voice: StoredMode | None, routing: Routing | None
    ) -> list[Outgoing]:
        if msg.msg_type == "event" and msg.event in ("subscribe", "unsubscribe", "scan"):
            return await self._on_subscription_event(msg, retry)
        if routing is None:
            routing = await self._handoff.routing(msg.openid)
        if routing.with_human:
            return await self._to_human(msg)
        replies = await self._bot_answer(msg, retry, routing.survey_open)
        if self._voice_prefs is not None and msg.msg_type in ("text", "voice", "event"):
            chosen = self._chosen_in_turn.get(msg.msg_key)
            stored = StoredMode(chosen) if chosen is not None else stored_voice
            voice_note = msg.msg_type == "voice"
            if replies and await self._voice_prefs.wanted(msg.openid, voice_note=voice_note, stored=stored):
                spoken = voice_reply(replies)
                replies = replies + [spoken] if spoken else replies
        return replies

    async def _choose_voice(self, msg: InboundMessage, mode: VoiceMode) -> None:
        """Store her choice, and remember it for the rest of this message's answer."""
        assert self._voice_prefs is not None
        await self._voice_prefs.set(msg.openid, mode)
        self._chosen_in_turn[msg.msg_key] = mode

    async def _bot_answer(self, msg: InboundMessage, retry: bool, survey_open: bool) -> list[Outgoing]:
        if msg.msg_type == "text":
            if not (msg.content or "").strip():
                return [text_message(EMPTY_TEXT)]
            if self._voice_prefs is not None and (mode := voice_command(msg.content)) is not None:
                await self._choose_voice(msg, mode)
                return [text_message(VOICE_REPLIES_ON if mode is VoiceMode.VOICE else VOICE_REPLIES_OFF)]
            first, consumed = await self._handoff.before_bot(msg.openid, msg.content) if survey_open else ([], False)
            if consumed:
                return _texts(first)
            return _texts(first) + await self._ask_rasa(msg, msg.content or "", {"msg_type": "text"}, retry=retry)
        if msg.msg_type == "voice":
            return await self._on_voice(msg, retry)
        if msg.msg_type == "event":
            return await self._on_event(msg, retry)
        if msg.msg_type in SHARED_TRIGGERS:
            # A fault report may be waiting for "where" (or a photo): the assistant gets the message
            # as its own trigger, the content in the metadata (never as text it would classify).
            shared = shared_metadata(msg)
            return await self._ask_rasa(msg, SHARED_TRIGGERS[msg.msg_type], shared, trigger=True, retry=retry)
        return [text_message(UNSUPPORTED)]

    async def _to_human(self, msg: InboundMessage) -> list[Outgoing]:
        text, audio_id = msg.content, None
        if msg.msg_type == "voice":
            transcript = await self._transcriber.transcribe(msg)
            text, audio_id = transcript.text, transcript.audio_id
        elif msg.msg_type == "event":
            if msg.event != "click":
                return []
            text = f"[点击菜单] {msg.event_key or ''}"
        elif msg.msg_type != "text":
            text = describe_other(msg)
        return _texts(await self._handoff.on_subscriber_message(msg, text, audio_id))

    async def _on_voice(self, msg: InboundMessage, retry: bool) -> list[Outgoing]:
        transcript = await self._transcriber.transcribe(msg)
        decision = await self._voice_policy.decide(msg.openid, transcript)
        replies: list[Outgoing] = []
        if decision.echo_text:
            replies.append(text_message(decision.echo_text))
        if decision.dialogue_text and self._voice_prefs is not None:
            if (mode := voice_command(decision.dialogue_text)) is not None:  # 「用文字」 said aloud
                await self._choose_voice(msg, mode)
                return replies + [text_message(VOICE_REPLIES_ON if mode is VoiceMode.VOICE else VOICE_REPLIES_OFF)]
        if decision.dialogue_text:
            replies.extend(
                await self._ask_rasa(msg, decision.dialogue_text, dict(decision.dialogue_metadata), retry=retry)
            )
        if decision.handoff_reason:
            replies.extend(
                await self._request_handoff(
                    msg.openid, decision.handoff_reason, decision.handoff_queue, decision.handoff_summary
                )
            )
            if transcript.audio_id is not None:
                # The note itself goes to the chat just opened, so the agent can listen to it.
                await self._handoff.on_subscriber_message(msg, transcript.text, transcript.audio_id)
        return replies

    async def _on_event(self, msg: InboundMessage, retry: bool) -> list[Outgoing]:
        if msg.event != "click":
            return []  # view, location reports, send-job notifications: nothing to say
        intent = self._menu_intents.get(msg.event_key or "")
        if intent is None:
            return [text_message(UNKNOWN_MENU)]
        menu = {"msg_type": "event", "menu_key": msg.event_key}
        return await self._ask_rasa(msg, intent, menu, trigger=True, retry=retry)

    async def _on_subscription_event(self, msg: InboundMessage, retry: bool) -> list[Outgoing]:
        now = dt.datetime.now(dt.timezone.utc)
        scene = _scene(msg.event_key)
        async with self._engine.begin() as conn:
            if msg.event == "unsubscribe":
                values: dict[str, Any] = {"subscribed": False, "unsubscribed_at": now}
            elif msg.event == "subscribe":
                values = {"subscribed": True, "subscribed_at": now, "scene": scene}
            else:  # a follower scanned one of our QR codes
                values = {"subscribed": True, "scene": scene}
            await upsert(conn, subscribers, {"openid": msg.openid}, values)
        log.info("%s %s (scene %s)", mask_openid(msg.openid), msg.event, scene)
        if msg.event != "subscribe":
            return []
        greeting = {"msg_type": "event", "scene": scene}
        return await self._ask_rasa(msg, GREET_TRIGGER, greeting, trigger=True, retry=retry)

    async def _ask_rasa(
        self, msg: InboundMessage, text: str, metadata: dict[str, Any], *, trigger: bool = False, retry: bool
    ) -> list[Outgoing]:
        """Subscriber text (typed, or a voice transcript) is sent as text; `trigger` only for the
        gateway's own intents (menu clicks, the greeting). The turn carries the message's key, so a
        retry can find the answer Rasa already gave."""
        openid = msg.openid
        replies: list[Outgoing] = []
        metadata = {"channel": "wechat", **metadata, "msg_key": msg.msg_key}
        answer = await (self._rasa.trigger if trigger else self._rasa.send)(openid, text, metadata, retry=retry)
        for item in answer:
            # A turn that looped on its fallback (Rasa's circuit breaker stops it) says the same
            # sentence several times: the subscriber gets it once, and the quota is kept.
            if item.get("text") and text_message(_render_text(item)) not in replies:
                replies.append(text_message(_render_text(item)))
            custom = item.get("custom")
            if isinstance(custom, dict) and self._voice_prefs is not None and custom.get("voice_replies") in VoiceMode:
                await self._choose_voice(msg, VoiceMode(custom["voice_replies"]))  # action_voice_reply
            if isinstance(custom, dict) and isinstance(custom.get("handoff"), dict):
                handoff = custom["handoff"]
                replies.extend(
                    await self._request_handoff(
                        openid,
                        handoff.get("reason"),
                        handoff.get("queue"),
                        handoff.get("summary"),
                        direct=handoff.get("direct") is True,
                    )
                )
        return replies

    async def _request_handoff(
        self, openid: str, reason: str | None, queue: str | None, summary: str | None, direct: bool = False
    ) -> list[Outgoing]:
        reason = reason if reason in HANDOFF_REASONS else HandoffReason.REQUEST_HUMAN.value
        queue = queue if queue in QUEUES else Queue.GENERAL.value
        log.info("handoff for %s: %s -> %s%s", mask_openid(openid), reason, queue, " (direct)" if direct else "")
        if direct:
            return _texts(await self._handoff.request_handoff(openid, reason, queue, summary, direct=True))
        return _texts(await self._handoff.request_handoff(openid, reason, queue, summary))


def _render_text(item: dict[str, Any]) -> str:
    """Rasa text, with any buttons as a numbered list (one tap is not possible in a text message)."""
    text = str(item["text"])
    buttons = item.get("buttons") or []
    titles = [str(button.get("title")) for button in buttons if isinstance(button, dict) and button.get("title")]
    if titles:
        text += "\n" + "\n".join(f"{number}. {title}" for number, title in enumerate(titles, start=1))
    return text


def _texts(texts: list[str]) -> list[Outgoing]:
    return [text_message(text) for text in texts if text]


def _scene(event_key: str | None) -> str | None:
    if not event_key:
        return None
    return event_key[len(QR_SCENE_PREFIX) :] if event_key.startswith(QR_SCENE_PREFIX) else event_key


def shared_metadata(msg: InboundMessage) -> dict[str, Any]:
    """A location or photo message, for the assistant's ticket forms."""
    raw = msg.raw
    if msg.msg_type == "location":
        return {
            "msg_type": "location",
            "label": raw.get("Label", ""),
            "latitude": raw.get("Location_X", ""),
            "longitude": raw.get("Location_Y", ""),
        }
    return {"msg_type": "image", "pic_url": msg.pic_url or ""}


def describe_other(msg: InboundMessage) -> str:
    """A one-line text for the agent for messages that are neither text nor voice."""
    raw = msg.raw
    if msg.msg_type == "image":
        return f"[图片] {msg.pic_url or ''}".strip()
    if msg.msg_type == "location":
        return f"[位置] {raw.get('Label', '')} ({raw.get('Location_X', '')}, {raw.get('Location_Y', '')})"
    if msg.msg_type == "link":
        return f"[链接] {raw.get('Title', '')} {raw.get('Url', '')}".strip()
    if msg.msg_type in ("video", "shortvideo"):
        return "[视频]"
    return f"[{msg.msg_type}]"
