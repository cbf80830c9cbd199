"""The transcriber without a model: stored copy kept, WeChat's Recognition used, errors typed."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from voice_support import REAL_DIR, TEST_NICENESS, MediaStandIn, require_speech, static_token, voice_message

from voice.config import VoiceSettings
from voice.service import Transcriber, create_transcriber


@pytest.fixture
async def no_model_transcriber(
    engine: AsyncEngine, aiohttp_server, tmp_path: Path
) -> AsyncIterator[tuple[Transcriber, MediaStandIn]]:
    standin = MediaStandIn()
    server = await aiohttp_server(standin.app)
    settings = VoiceSettings(model_path=tmp_path / "no-such-model", workers=2, media_dir=tmp_path / "media")
    async with aiohttp.ClientSession() as session:
        transcriber = create_transcriber(
            engine=engine, session=session, token_provider=static_token,
            api_base=str(server.make_url("")), settings=settings,
        )  # fmt: skip
        await transcriber.start()
        yield transcriber, standin
        await transcriber.close()


async def test_health_says_no_model_with_the_path(no_model_transcriber, tmp_path: Path) -> None:
    transcriber, _ = no_model_transcriber
    health = transcriber.health()
    assert health["asr"] == "no_model"
    assert health["model"] == str(tmp_path / "no-such-model")
    assert "no model at" in health["reason"]


async def test_no_model_no_recognition_keeps_the_audio_for_a_person(no_model_transcriber) -> None:
    require_speech()
    transcriber, standin = no_model_transcriber
    audio = (REAL_DIR / "firered_IT0011W0001.amr").read_bytes()
    standin.register("MEDIA-NM-1", audio)

    transcript = await transcriber.transcribe(voice_message("o-nm-1", "MEDIA-NM-1"))

    assert (transcript.text, transcript.source, transcript.error) == (None, "none", "no_model")
    assert transcript.audio_id is not None
    assert transcript.duration_s == pytest.approx(1.98)
    stored = await transcriber.store.get(transcript.audio_id)
    assert stored is not None and stored.openid == "o-nm-1"
    assert stored.sha256 == hashlib.sha256(audio).hexdigest()
    assert await transcriber.store.read_audio(stored) == audio
    assert (stored.source, stored.error) == ("none", "no_model")


async def test_no_model_uses_wechat_recognition(no_model_transcriber) -> None:
    require_speech()
    transcriber, standin = no_model_transcriber
    standin.register("MEDIA-NM-2", (REAL_DIR / "firered_IT0011W0001.amr").read_bytes())

    transcript = await transcriber.transcribe(voice_message("o-nm-2", "MEDIA-NM-2", recognition="查询话费余额！"))

    assert (transcript.text, transcript.source, transcript.error, transcript.confidence) == (
        "查询话费余额！",
        "wechat",
        None,
        None,
    )
    assert transcript.audio_id is not None  # the audio is kept all the same


async def test_media_json_error_is_reported_and_recorded(no_model_transcriber) -> None:
    transcriber, standin = no_model_transcriber

    transcript = await transcriber.transcribe(voice_message("o-nm-3", "MEDIA-EXPIRED"))

    assert transcript.text is None and transcript.audio_id is None
    assert transcript.error == "media_error: 40007 invalid media_id"
    row = await transcriber.store.find_by_media_id("MEDIA-EXPIRED")
    assert row is not None and not row.has_audio and row.error == transcript.error
    assert standin.calls == ["MEDIA-EXPIRED"]

    with_recognition = await transcriber.transcribe(voice_message("o-nm-3", "MEDIA-EXPIRED", "我要充值", msg_id=2))
    assert (with_recognition.text, with_recognition.source) == ("我要充值", "wechat")


async def test_redelivered_push_is_answered_from_the_stored_row(no_model_transcriber) -> None:
    require_speech()
    transcriber, standin = no_model_transcriber
    standin.register("MEDIA-NM-4", (REAL_DIR / "firered_IT0011W0001.amr").read_bytes())
    concurrent = await asyncio.gather(
        *(transcriber.transcribe(voice_message("o-nm-4", "MEDIA-NM-4")) for _ in range(3))
    )
    later = await transcriber.transcribe(voice_message("o-nm-4", "MEDIA-NM-4"))
    assert concurrent[0] == concurrent[1] == concurrent[2] == later
    assert standin.calls == ["MEDIA-NM-4"]  # downloaded (and transcribed) once


async def test_pool_recovers_after_a_worker_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    """A killed worker sends the notes in flight to the fallback; the next note gets new workers."""
    import os
    import signal

    from voice import recognizer
    from voice.recognizer import AsrPool, AsrUnavailable, RecognizerSpec

    require_speech()
    data = (REAL_DIR / "firered_IT0011W0001.amr").read_bytes()
    pool = AsrPool(RecognizerSpec(model_path="standin", kind="scripted"), workers=1, niceness=TEST_NICENESS)
    assert (await pool.start()).state == "ready"
    try:
        assert (await pool.transcribe(data, "amr", 60)).audio_seconds > 1.9
        assert pool._executor is not None
        for pid in list(pool._executor._processes):
            os.kill(pid, signal.SIGKILL)
        await asyncio.sleep(0.5)
        with pytest.raises(AsrUnavailable, match="died"):
            await pool.transcribe(data, "amr", 60)
        assert pool.status.state == "failed" and pool.may_recover

        monkeypatch.setattr(recognizer, "RESTART_PAUSE_S", 0.0)
        result = await pool.transcribe(data, "amr", 60)
        assert result.error is None and pool.status.state == "ready"
    finally:
        pool.close()
