"""Voice replies: who gets them, and the worker that makes them.

Who: a subscriber whose message was a voice note, or who asked for them (「语音回复」「说给我听」
「用语音」): then every answer of the bot also comes as a voice message, until she says 「文字」 or
「打字就行」 (then none, voice notes included). The choice is kept per openid (`gw_voice_prefs`).
A subscriber who only types and never asked never gets audio.

How: the dialogue adds one `voice_reply(...)` message after the texts of an answer. The processor
enqueues it in the same transaction as the texts, as an outbox row in state "preparing" that takes
one message of the customer-service allowance but never the last one (`keep=1`); without that,
the voice is left out and the texts go alone. `VoiceReplyMaker`, a worker in every gateway process,
leases preparing rows, has the audio synthesised (the `SpeechSynthesizer` port: worker processes,
never this event loop), uploads it as voice media and turns the row into an ordinary pending
message, sent in its place (the subscriber's later messages wait behind it). Audio that cannot be
made is skipped: the texts were sent already.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import single_statements, upsert
from core.metrics import Metrics
from core.redact import mask_openid
from gateway.outbox import Outbox, OutboxRecord
from gateway.ports import SpeechSynthesizer
from gateway.store import voice_prefs
from wechat.api import WeChatApi, WeChatUnavailable
from wechat.messages import message_text
from wechat.window import utcnow

log = logging.getLogger(__name__)

# Built once, so that its cache key is memoised (the inbox claim reads the choice for most messages).
_MODE = select(voice_prefs.c.mode).where(voice_prefs.c.openid == bindparam("of_openid"))

MAX_ATTEMPTS = 3  # upload attempts (network errors) before a voice reply is skipped


class VoiceMode(StrEnum):
    VOICE = "voice"  # every answer also as voice
    TEXT = "text"  # never voice


def parse_mode(value: str | None) -> VoiceMode | None:
    """A stored choice (`gw_voice_prefs.mode`); None when she made none."""
    return VoiceMode(value) if value in (VoiceMode.VOICE, VoiceMode.TEXT) else None


@dataclass(frozen=True)
class StoredMode:
    """Her choice as read together with her message (the inbox claim), so that answering it needs no
    read of its own; `mode` None: she made none."""

    mode: VoiceMode | None


_ON = {"语音回复", "语音回答", "用语音", "用语音回复", "用语音回答", "用语音说", "语音回复我", "说给我听",
       "念给我听", "读给我听", "你说给我听", "发语音", "要语音", "我要语音回复"}  # fmt: skip
_OFF = {"文字", "用文字", "文字回复", "文字就行", "用文字回复", "打字就行", "打字吧", "不要语音", "不用语音",
        "别发语音", "不要语音回复", "发文字"}  # fmt: skip
_POLITE = re.compile(r"^(请|麻烦|麻烦你|你)|(吧|吗|呀|啊|哦|了|好吗|可以吗|谢谢)$")
_NOISE = re.compile(r"[\s，。！？!?,.、~～…]+")


def voice_command(text: str | None) -> VoiceMode | None:
    """「语音回复」「说给我听」「用语音」 -> VOICE; 「文字」「打字就行」 -> TEXT; anything else -> None."""
    words = _NOISE.sub("", text or "")
    if len(words) > 12:
        return None
    for candidate in (words, _POLITE.sub("", words), _POLITE.sub("", _POLITE.sub("", words))):
        if candidate in _ON:
            return VoiceMode.VOICE
        if candidate in _OFF:
            return VoiceMode.TEXT
    return None


def voice_reply(replies: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The voice message owed for these replies (their texts, read in order), not made yet."""
    texts = [text for text in (message_text(reply) for reply in replies) if text]
    if not texts:
        return None
    return {"msgtype": "voice", "voice": {"text": "\n".join(texts)}}


def is_unmade_voice(message: dict[str, Any]) -> bool:
    voice = message.get("voice")
    return message.get("msgtype") == "voice" and isinstance(voice, dict) and "media_id" not in voice


class VoicePreferences:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def mode(self, openid: str) -> VoiceMode | None:
        async with single_statements(self._engine).connect() as conn:
            value = await conn.scalar(_MODE, {"of_openid": openid})
        return parse_mode(value)

    async def set(self, openid: str, mode: VoiceMode) -> None:
        async with self._engine.begin() as conn:
            values = {"mode": mode.value, "updated_at": utcnow()}
            await upsert(conn, voice_prefs, {"openid": openid}, values)
        log.info("%s: voice replies %s", mask_openid(openid), "on" if mode is VoiceMode.VOICE else "off")

    async def wanted(self, openid: str, *, voice_note: bool, stored: StoredMode | None = None) -> bool:
        """`stored`: her choice as already read (else it is read now)."""
        mode = stored.mode if stored is not None else await self.mode(openid)
        return mode is VoiceMode.VOICE or (mode is None and voice_note)


class VoiceReplyMaker:
    """Makes the audio of preparing outbox rows (one worker per gateway process)."""

    def __init__(
        self,
        outbox: Outbox,
        speech: SpeechSynthesizer,
        api: WeChatApi,
        metrics: Metrics,
        *,
        concurrency: int = 2,
        lease_s: float = 60.0,
        poll_s: float = 1.0,
    ) -> None:
        self._outbox = outbox
        self._speech = speech
        self._api = api
        self._metrics = metrics
        self._concurrency = concurrency
        self._lease = dt.timedelta(seconds=lease_s)
        self._poll_s = poll_s
        self._wakeup = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        self._wakeup.set()

    def stop(self) -> None:
        self._stopping = True
        self._wakeup.set()

    async def run(self) -> None:
        while not self._stopping:
            self._wakeup.clear()
            try:
                rows = await self._outbox.claim_preparing(self._lease, self._concurrency)
                await asyncio.gather(*(self.make(row) for row in rows))
            except Exception:  # a database hiccup must not end the worker
                log.exception("voice reply round failed")
                rows = []
            if not rows and not self._stopping:
                try:
                    await asyncio.wait_for(self._wakeup.wait(), self._poll_s)
                except asyncio.TimeoutError:
                    pass

    async def make(self, row: OutboxRecord) -> None:
        text = str((row.payload.get("voice") or {}).get("text") or "")
        try:
            audio = await self._speech.speak(text)
            media_id = await self._api.upload_media(audio.data, media_type="voice", filename="reply.amr")
        except WeChatUnavailable as exc:
            if row.attempts < MAX_ATTEMPTS:
                log.info("voice reply %s: upload failed (%s), tried again when its lease ends", row.id, exc)
                return
            await self._skip(row, f"upload failed {row.attempts} times: {exc}")
        except Exception as exc:  # no model, a broken pool, too slow, WeChat refused the media
            await self._skip(row, f"{type(exc).__name__}: {exc}")
        else:
            await self._outbox.prepared(row.id, {"msgtype": "voice", "voice": {"media_id": media_id}})
            self._metrics.voice_replies.inc("cached" if audio.cached else "made")

    async def _skip(self, row: OutboxRecord, reason: str) -> None:
        log.warning("voice reply %s to %s skipped: %s", row.id, mask_openid(row.openid), reason)
        self._metrics.voice_replies.inc("failed")
        await self._outbox.skip(row.id, reason)
