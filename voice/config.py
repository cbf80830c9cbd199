"""Voice settings, read from the environment (documented in the README configuration table)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from actions.db import var_dir

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
            workers=_positive_int(env.get("ASR_WORKERS"), 2, "ASR_WORKERS"),
            max_seconds=_positive_float(env.get("VOICE_MAX_SECONDS"), 60.0, "VOICE_MAX_SECONDS"),
            min_confidence=_fraction(env.get("ASR_MIN_CONFIDENCE"), 0.6, "ASR_MIN_CONFIDENCE"),
            lowconf_ttl_seconds=_positive_int(env.get("VOICE_LOWCONF_TTL"), 600, "VOICE_LOWCONF_TTL"),
            transcribe_timeout_seconds=_positive_float(
                env.get("ASR_TIMEOUT_SECONDS"), 45.0, "ASR_TIMEOUT_SECONDS"
            ),
            worker_niceness=_niceness(env.get("ASR_NICE")),
        )

    def resolved_media_dir(self) -> Path:
        return self.media_dir if self.media_dir is not None else var_dir() / "media"


def _positive_int(raw: str | None, default: int, name: str) -> int:
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return value


def _positive_float(raw: str | None, default: float, name: str) -> float:
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def _niceness(raw: str | None) -> int:
    if raw is None or not raw.strip():
        return 19
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"ASR_NICE must be a whole number from 0 to 19, got {raw!r}") from None
    if not 0 <= value <= 19:
        raise ValueError(f"ASR_NICE must be from 0 to 19, got {value}")
    return value


def _fraction(raw: str | None, default: float, name: str) -> float:
    value = _positive_float(raw, default, name) if raw and raw.strip() else default
    if not 0.0 < value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value}")
    return value
