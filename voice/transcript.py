"""What a voice note became: the text (if any), how sure the recogniser was, and where the audio is."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Transcript:
    text: str | None
    confidence: float | None
    source: str  # "vosk" | "wechat" | "none"
    audio_id: int | None  # row id of our stored copy of the audio (voice/store.py); None if download failed
    error: str | None  # e.g. "media_error: 40007 invalid media_id", "no_model", "decode_failed"
    duration_s: float | None = None
