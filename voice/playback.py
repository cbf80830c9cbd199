"""A stored voice note as WAV, for the agent console (browsers do not play AMR)."""

from __future__ import annotations

import asyncio
import io
import wave

from voice.decode import decode_to_pcm
from voice.store import StoredAudio, VoiceStore

PLAYBACK_RATE = 8000  # AMR-NB is 8 kHz speech: nothing is gained by upsampling for a person


async def stored_audio_as_wav(store: VoiceStore, stored: StoredAudio, *, max_seconds: float = 60.0) -> bytes:
    """WAV bytes of a stored voice note (loudness-normalised); raises OSError / DecodeError."""
    data = await store.read_audio(stored)
    return await asyncio.to_thread(_to_wav, data, stored.format, max_seconds)


def _to_wav(data: bytes, audio_format: str, max_seconds: float) -> bytes:
    decoded = decode_to_pcm(data, audio_format, sample_rate=PLAYBACK_RATE, max_seconds=max_seconds)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(decoded.sample_rate)
        out.writeframes(decoded.pcm)
    return buffer.getvalue()
