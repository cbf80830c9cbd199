"""Voice settings, read from the environment (documented in the README configuration table)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.db import var_dir
from core.env import env_number

MODEL_NAME = "vosk-model-small-cn-0.22"
MODEL_URL = f"https://alphacephei.com/vosk/models/{MODEL_NAME}.zip"
MODEL_SHA256 = "3af8b0e7e0f835ae9d414ce5df580237a3cfb08d586c9fbbb0f7ff29ad5b14ba"


def default_model_path() -> Path:
    return var_dir() / "models" / MODEL_NAME


@dataclass(frozen=True)
class VoiceSettings:
    model_path: Path
    workers: int = 2
    max_seconds: float = 60.0
    min_confidence: float = 0.6
    lowconf_ttl_seconds: int = 600
    transcribe_timeout_seconds: float = 45.0  # queueing included; + RASA_TIMEOUT_S must stay below INBOX_LEASE_S
    max_media_bytes: int = 5 * 1024 * 1024
    media_dir: Path | None = None  # None: var_dir()/media
    worker_niceness: int = 19  # ASR workers yield the CPU to the gateway's event loop

    @classmethod
    def from_env(cls) -> VoiceSettings:
        env = os.environ
        return cls(
            model_path=Path(env.get("VOSK_MODEL_PATH", "").strip() or default_model_path()),
            workers=_read(env, "ASR_WORKERS", 2, int),
            max_seconds=_read(env, "VOICE_MAX_SECONDS", 60.0, float),
            min_confidence=_read(env, "ASR_MIN_CONFIDENCE", 0.6, float, maximum=1.0),
            lowconf_ttl_seconds=_read(env, "VOICE_LOWCONF_TTL", 600, int),
            transcribe_timeout_seconds=_read(env, "ASR_TIMEOUT_SECONDS", 45.0, float),
            worker_niceness=_read(env, "ASR_NICE", 19, int, minimum=0, maximum=19),
        )

    def resolved_media_dir(self) -> Path:
        return self.media_dir if self.media_dir is not None else var_dir() / "media"


def _read(env, name, default, kind, **bounds):
    return env_number(env, name, default, kind, error=ValueError, **bounds)


@dataclass(frozen=True)
class TtsSettings:
    """Voice replies (speech synthesis); see the README's "Voice replies"."""

    enabled: bool = True
    workers: int = 1
    niceness: int = 19  # webhooks first; a voice reply may take a second longer
    timeout_seconds: float = 30.0  # queueing included; then the voice reply is skipped (the text was sent)
    max_seconds: float = 55.0  # WeChat takes voice messages of up to 60 s
    cache_max_files: int = 200
    cache_dir: Path | None = None  # None: var_dir()/tts-cache

    @classmethod
    def from_env(cls) -> TtsSettings:
        env = os.environ
        return cls(
            enabled=env.get("VOICE_REPLIES", "1").strip() != "0",
            workers=_read(env, "TTS_WORKERS", 1, int, minimum=1),
            niceness=_read(env, "TTS_NICE", 19, int, minimum=0, maximum=19),
            timeout_seconds=_read(env, "TTS_TIMEOUT_SECONDS", 30.0, float),
            max_seconds=_read(env, "TTS_MAX_SECONDS", 55.0, float, maximum=60.0),
            cache_max_files=_read(env, "TTS_CACHE_MAX_FILES", 200, int, minimum=0),
        )

    def resolved_cache_dir(self) -> Path:
        return self.cache_dir if self.cache_dir is not None else var_dir() / "tts-cache"
