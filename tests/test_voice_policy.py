"""The voice-note reply policy: echo, ask once, then a person; the count kept in Redis."""

from __future__ import annotations

import redis.asyncio as aioredis

from voice.policy import (
    ASK_REPEAT,
    HANDOFF,
    HANDOFF_REASON,
    UNDERSTOOD,
    VoicePolicy,
    decide_voice_reply,
)
from voice.transcript import Transcript

MIN = 0.6


def vosk(text: str | None, confidence: float | None, audio_id: int | None = 7) -> Transcript:
    return Transcript(text=text, confidence=confidence, source="vosk", audio_id=audio_id, error=None, duration_s=2.0)


def test_confident_transcript_is_echoed_and_sent_to_the_dialogue() -> None:
    reply = decide_voice_reply(vosk("查话费余额", 0.91), 0, min_confidence=MIN)
    assert reply.outcome == UNDERSTOOD
    assert reply.echo_text == "您说的是：查话费余额"
    assert reply.dialogue_text == "查话费余额"
    assert reply.dialogue_metadata == {"source": "voice", "confidence": 0.91, "asr": "vosk", "audio_id": 7}
    assert reply.handoff_reason is None
    assert reply.low_confidence_count == 0


def test_wechat_recognition_without_confidence_is_trusted() -> None:
    transcript = Transcript(text="查询话费余额", confidence=None, source="wechat", audio_id=None, error=None)
    reply = decide_voice_reply(transcript, 1, min_confidence=MIN)
    assert reply.outcome == UNDERSTOOD
    assert reply.dialogue_text == "查询话费余额"
    assert reply.dialogue_metadata["asr"] == "wechat"
    assert reply.low_confidence_count == 0  # understood: the earlier miss is forgotten


def test_low_confidence_asks_once_then_hands_over_with_the_audio() -> None:
    first = decide_voice_reply(vosk("查话费", 0.35), 0, min_confidence=MIN)
    assert first.outcome == ASK_REPEAT
    assert first.dialogue_text is None
    assert (
        "查话费" in (first.echo_text or "") and "打字" in (first.echo_text or "") and "人工" in (first.echo_text or "")
    )
    assert first.handoff_reason is None
    assert first.low_confidence_count == 1

    second = decide_voice_reply(vosk("茶花费", 0.4, audio_id=8), first.low_confidence_count, min_confidence=MIN)
    assert second.outcome == HANDOFF
    assert second.handoff_reason == HANDOFF_REASON
    assert second.handoff_queue == "general"
    assert second.audio_id == 8
    assert "0.40" in (second.handoff_summary or "") and "茶花费" in (second.handoff_summary or "")
    assert second.dialogue_text is None
    assert second.low_confidence_count == 0


def test_nothing_heard_counts_as_low_confidence() -> None:
    reply = decide_voice_reply(vosk(None, None), 0, min_confidence=MIN)
    assert reply.outcome == ASK_REPEAT
    assert "没听清" in (reply.echo_text or "")
    assert decide_voice_reply(vosk(None, None), 1, min_confidence=MIN).outcome == HANDOFF


def test_no_model_and_no_recognition_goes_to_a_person_with_the_audio() -> None:
    transcript = Transcript(text=None, confidence=None, source="none", audio_id=12, error="no_model")
    reply = decide_voice_reply(transcript, 0, min_confidence=MIN)
    assert reply.outcome == HANDOFF
    assert reply.handoff_reason == HANDOFF_REASON
    assert reply.audio_id == 12
    assert "no_model" in (reply.handoff_summary or "")
    assert "语音已收到" in (reply.echo_text or "")


def test_undecodable_audio_goes_to_a_person() -> None:
    transcript = Transcript(text=None, confidence=None, source="none", audio_id=3, error="decode_failed: speex")
    assert decide_voice_reply(transcript, 0, min_confidence=MIN).outcome == HANDOFF


def test_media_error_tells_the_subscriber_then_hands_over() -> None:
    transcript = Transcript(
        text=None, confidence=None, source="none", audio_id=None, error="media_error: 40007 invalid media_id"
    )
    first = decide_voice_reply(transcript, 0, min_confidence=MIN)
    assert first.outcome == ASK_REPEAT
    assert "没能收到" in (first.echo_text or "")
    second = decide_voice_reply(transcript, 1, min_confidence=MIN)
    assert second.outcome == HANDOFF
    assert "40007" in (second.handoff_summary or "")


async def test_policy_remembers_low_confidence_per_subscriber_with_expiry(redis: aioredis.Redis) -> None:
    policy = VoicePolicy(redis, min_confidence=MIN, memory_seconds=120)

    assert (await policy.decide("o-1", vosk("查话费", 0.3))).outcome == ASK_REPEAT
    assert await redis.get("voice:lowconf:o-1") == "1"
    assert 0 < await redis.ttl("voice:lowconf:o-1") <= 120
    # another subscriber is not affected
    assert (await policy.decide("o-2", vosk("查话费", 0.3))).outcome == ASK_REPEAT

    assert (await policy.decide("o-1", vosk("查话费", 0.3))).outcome == HANDOFF
    assert await redis.get("voice:lowconf:o-1") is None  # handed over: start afresh

    await policy.decide("o-2", vosk("查话费余额", 0.95))
    assert await redis.get("voice:lowconf:o-2") is None  # understood: the miss is forgotten
