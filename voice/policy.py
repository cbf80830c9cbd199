"""What to do with a transcribed voice note, and every word the subscriber hears about it.

This is the one place for the voice-note wording. `decide_voice_reply` is a pure function of the
transcript and how many low-confidence notes this subscriber sent recently; `VoicePolicy` adds
the memory of that count (Redis key "voice:lowconf:{openid}", expiring after a quiet while).

The gateway, for a voice note (when the subscriber is not already with a person):
  1. says `echo_text` (if any) to the subscriber;
  2. sends `dialogue_text` (if any) to Rasa like typed text, with `dialogue_metadata`;
  3. requests a handoff when `handoff_reason` is set, and gives the voice note (audio_id) to the
     handoff service so the agent can hear it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis

from core.vocabulary import HandoffReason, Queue
from core.wording import (
    ASK_REPEAT_HEARD,
    ASK_REPEAT_SILENT,
    ECHO,
    HANDOFF_AFTER_REPEAT,
    HANDOFF_NO_ASR,
    MEDIA_FAILED_HANDOFF,
    MEDIA_FAILED_RETRY,
)

if TYPE_CHECKING:
    from voice.transcript import Transcript

LOWCONF_KEY = "voice:lowconf:{openid}"
HANDOFF_REASON = HandoffReason.VOICE_UNRECOGNISED.value

UNDERSTOOD = "understood"
ASK_REPEAT = "ask_repeat"
HANDOFF = "handoff"

# What the agent reads about a voice note handed over (the subscriber's words: core/wording.py).
SUMMARY_LOW_CONFIDENCE = "语音两次没听清（置信度 {confidence}），最后一次像是：“{text}”"
SUMMARY_SILENT = "语音两次没听清（没有识别出文字）"
SUMMARY_NO_ASR = "语音消息，未能自动识别（{reason}）"
SUMMARY_MEDIA_FAILED = "语音两次下载失败（{reason}），没有录音"


@dataclass(frozen=True)
class VoiceReply:
    outcome: str  # understood | ask_repeat | handoff
    echo_text: str | None  # said to the subscriber first
    dialogue_text: str | None  # sent to Rasa like typed text
    dialogue_metadata: dict[str, Any] = field(default_factory=dict)
    handoff_reason: str | None = None
    handoff_queue: str | None = None
    handoff_summary: str | None = None
    audio_id: int | None = None  # the voice note to show the agent (our stored copy)
    low_confidence_count: int = 0  # what to remember for this subscriber (0: forget)


def decide_voice_reply(transcript: Transcript, previous_low_confidence: int, *, min_confidence: float) -> VoiceReply:
    text = (transcript.text or "").strip()
    error = transcript.error or ""

    if error.startswith("media_error") and not text:
        return _media_failed(transcript, previous_low_confidence)
    if not text and transcript.source == "vosk" and not error:
        return _not_heard(transcript, previous_low_confidence, heard=None)
    if not text:
        # no model, undecodable audio or a recogniser failure: a person listens to the note
        reason = error or "no_transcript"
        return VoiceReply(
            outcome=HANDOFF,
            echo_text=HANDOFF_NO_ASR,
            dialogue_text=None,
            handoff_reason=HANDOFF_REASON,
            handoff_queue=Queue.GENERAL.value,
            handoff_summary=SUMMARY_NO_ASR.format(reason=reason),
            audio_id=transcript.audio_id,
        )
    confident = transcript.confidence is None or transcript.confidence >= min_confidence
    if not confident:
        return _not_heard(transcript, previous_low_confidence, heard=text)
    metadata: dict[str, Any] = {"source": "voice", "confidence": transcript.confidence, "asr": transcript.source}
    if transcript.audio_id is not None:
        metadata["audio_id"] = transcript.audio_id
    return VoiceReply(
        outcome=UNDERSTOOD,
        echo_text=ECHO.format(text=text),
        dialogue_text=text,
        dialogue_metadata=metadata,
        audio_id=transcript.audio_id,
    )


def _not_heard(transcript: Transcript, previous: int, *, heard: str | None) -> VoiceReply:
    if previous < 1:
        return VoiceReply(
            outcome=ASK_REPEAT,
            echo_text=ASK_REPEAT_HEARD.format(text=heard) if heard else ASK_REPEAT_SILENT,
            dialogue_text=None,
            audio_id=transcript.audio_id,
            low_confidence_count=previous + 1,
        )
    if heard:
        confidence = f"{transcript.confidence:.2f}" if transcript.confidence is not None else "未知"
        summary = SUMMARY_LOW_CONFIDENCE.format(confidence=confidence, text=heard)
    else:
        summary = SUMMARY_SILENT
    return VoiceReply(
        outcome=HANDOFF,
        echo_text=HANDOFF_AFTER_REPEAT,
        dialogue_text=None,
        handoff_reason=HANDOFF_REASON,
        handoff_queue=Queue.GENERAL.value,
        handoff_summary=summary,
        audio_id=transcript.audio_id,
    )


def _media_failed(transcript: Transcript, previous: int) -> VoiceReply:
    if previous < 1:
        return VoiceReply(
            outcome=ASK_REPEAT, echo_text=MEDIA_FAILED_RETRY, dialogue_text=None, low_confidence_count=previous + 1
        )
    return VoiceReply(
        outcome=HANDOFF,
        echo_text=MEDIA_FAILED_HANDOFF,
        dialogue_text=None,
        handoff_reason=HANDOFF_REASON,
        handoff_queue=Queue.GENERAL.value,
        handoff_summary=SUMMARY_MEDIA_FAILED.format(reason=transcript.error),
    )


class VoicePolicy:
    """`decide_voice_reply` with the per-subscriber low-confidence count kept in Redis."""

    def __init__(self, redis: aioredis.Redis, *, min_confidence: float, memory_seconds: int = 600) -> None:
        self._redis = redis
        self._min_confidence = min_confidence
        self._memory_seconds = memory_seconds

    async def decide(self, openid: str, transcript: Transcript) -> VoiceReply:
        key = LOWCONF_KEY.format(openid=openid)
        previous = int(await self._redis.get(key) or 0)
        reply = decide_voice_reply(transcript, previous, min_confidence=self._min_confidence)
        if reply.low_confidence_count > 0:
            await self._redis.set(key, reply.low_confidence_count, ex=self._memory_seconds)
        elif previous:
            await self._redis.delete(key)
        return reply
