"""Voice notes through the gateway's real WeChat endpoint (signed, AES-encrypted pushes).

The media API is the gateway's stand-in WeChat server; the voice hooks are wired by the gateway's
own app factory (GATEWAY_HOOKS=auto) unless a test gives a transcriber. Where a transcript must be
Chinese, only the recognition step is replaced by a scripted stand-in for the Chinese Vosk model
(voice/standin.py), keyed by the clip's sha256: download, storage, AMR decoding, result parsing,
normalisation, the reply policy and the dialogue all run for real. The real Vosk path is tested
with the packaged Korean model in test_voice_recognizer.py. The built-in handoff recorder
stands in for handoff/ so that these tests do not depend on the desk's opening hours.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from gateway_fixtures import (
    APP_ID,
    APP_SECRET,
    RunningGateway,
    clean_gateway_tables,
    eventually,
    fake_rasa,
    gateway_settings,
    http,
    openid,
    standin,
    start_gateway,
    with_settings,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from voice_support import REAL_DIR, SYNTHETIC_DIR, TEST_NICENESS, require_speech

from billing.binding import BindingService, LogSmsSender
from billing.money import format_yuan
from billing.sql import SqlBillingBackend
from bot.compose import build_transcriber, build_voice_policy
from core.conversations import conversations
from gateway.app import Hooks
from gateway.ports import CallbackRequests
from gateway.settings import Settings
from voice import policy
from voice.recognizer import AsrPool, RecognizerSpec
from voice.service import Transcriber, create_transcriber
from voice.standin import vosk_json
from voice.store import voice_media
from wechat.api import AccessTokens
from wechat.standin import StandinState

BALANCE_CLIP = SYNTHETIC_DIR / "tts_1.amr"  # espeak-ng saying 查询话费余额
UNCLEAR_CLIPS = [REAL_DIR / "firered_IT0011W0001.amr", REAL_DIR / "wenet_nst_ID001.amr"]
BALANCE_PHONE = "13800000001"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def scripted_pool() -> Iterator[AsrPool]:
    """One worker whose recogniser answers like the Chinese model would for these clips."""
    if not REAL_DIR.is_dir():
        pytest.skip("speech material not found (expected <repo>/../shared/speech)")
    scripts = {
        _sha(BALANCE_CLIP): vosk_json([("查询", 0.93), ("话费", 0.88), ("余额", 0.91)]),
        _sha(UNCLEAR_CLIPS[0]): vosk_json([("查", 0.31), ("话费", 0.42)]),
        _sha(UNCLEAR_CLIPS[1]): vosk_json([("嗯", 0.25), ("茶花", 0.38), ("费", 0.4)]),
    }
    pool = AsrPool(
        RecognizerSpec(model_path="standin:chinese", kind="scripted", scripted=scripts),
        workers=1,
        niceness=TEST_NICENESS,
    )
    assert pool.start_sync().state == "ready"
    yield pool
    pool.close()


@pytest.fixture
def voice_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No Chinese model at the configured path; stored media under a temporary var dir."""
    monkeypatch.setenv("CSBOT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("VOSK_MODEL_PATH", str(tmp_path / "models" / "vosk-model-small-cn-0.22"))
    return tmp_path / "var" / "media"


@pytest.fixture
async def test_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    from core.db import create_engine

    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


async def _start(
    settings: Settings, http: aiohttp.ClientSession, engine: AsyncEngine, transcriber: Transcriber | None = None
) -> RunningGateway:
    """The gateway with the real voice parts (or the given transcriber); handoffs become call-back promises."""
    hooks = Hooks(
        handoff=lambda _ctx: CallbackRequests(engine),
        transcriber=build_transcriber if transcriber is None else (lambda _ctx: transcriber),
        voice_policy=build_voice_policy,
    )
    return await start_gateway(with_settings(settings, hooks="auto"), http, hooks)


async def _replies(result, state: StandinState, openid: str, done) -> list[str]:
    """The passive reply plus everything sent through the customer-service API, once `done(texts)`."""
    assert result.status == 200, result.body

    def collected() -> list[str] | None:
        texts = ([result.reply] if result.reply else []) + state.texts_to(openid)
        return texts if done(texts) else None

    return await eventually(collected)


async def _voice_push(gateway: RunningGateway, state: StandinState, openid: str, clip: Path | None,
                      recognition: str | None = None, media_id: str | None = None):  # fmt: skip
    if clip is not None:
        media_id = state.add_media(clip.read_bytes(), "audio/amr", clip.name)
    assert media_id is not None
    return await gateway.aes.push(gateway.aes.voice_fields(openid, media_id, "amr", recognition))


async def _handoff_reasons(engine: AsyncEngine, openid: str) -> list[tuple[str, str | None]]:
    async with engine.connect() as conn:
        query = select(conversations).where(conversations.c.openid == openid).order_by(conversations.c.id)
        rows = (await conn.execute(query)).all()
    return [(row.reason, row.summary) for row in rows]


async def _stored_notes(engine: AsyncEngine, openid: str) -> list[Any]:
    async with engine.connect() as conn:
        return (
            await conn.execute(select(voice_media).where(voice_media.c.openid == openid).order_by(voice_media.c.id))
        ).all()


# --- through the real assistant (Rasa + actions + billing) --------------------------------------


def real_rasa_settings(settings: Settings, rasa_stack) -> Settings:
    """The gateway on the real Rasa stack. The fixtures' 10 s Rasa timeout suits the fake Rasa; a real
    turn (Rasa + action server + PostgreSQL) on a loaded CI machine can take longer, and a timeout
    would turn the answer into an apology and a retry after a back-off."""
    return with_settings(
        settings,
        rasa_url=rasa_stack.rasa_url,
        rasa_token=rasa_stack.rasa_token,
        actions_url=rasa_stack.action_url,
        rasa_timeout_s=25.0,
        inbox_lease_s=40.0,
    )


async def _bind(engine: AsyncEngine, openid: str) -> str:
    await BindingService(engine, LogSmsSender(engine)).bind_directly(openid, BALANCE_PHONE, actor="test")
    balance = await SqlBillingBackend(engine).get_balance(BALANCE_PHONE)
    return format_yuan(balance.balance_fen)


@pytest.mark.rasa
async def test_voice_note_saying_check_balance_gets_the_bound_subscribers_balance(
    rasa_stack, gateway_settings: Settings, standin, http, redis, test_engine: AsyncEngine,
    scripted_pool: AsrPool, voice_env: Path, openid: str,
) -> None:  # fmt: skip
    require_speech()
    state, api_url = standin
    expected = await _bind(test_engine, openid)
    settings = real_rasa_settings(gateway_settings, rasa_stack)
    tokens = AccessTokens(redis, http, api_url, APP_ID, APP_SECRET)
    transcriber = create_transcriber(engine=test_engine, session=http, token_provider=tokens.get,
                                     token_invalidator=tokens.invalidate, api_base=api_url, pool=scripted_pool)  # fmt: skip
    gateway = await _start(settings, http, test_engine, transcriber=transcriber)
    try:
        result = await _voice_push(gateway, state, openid, BALANCE_CLIP)
        texts = await _replies(result, state, openid, lambda t: any(expected in x for x in t))
    finally:
        await gateway.stop()

    assert texts[0] == "您说的是：查询话费余额"
    assert any(f"您的话费余额：{expected}" in text for text in texts), texts
    notes = await _stored_notes(test_engine, openid)
    assert [(n.transcript, n.source) for n in notes] == [("查询话费余额", "vosk")]
    assert notes[0].confidence == pytest.approx((0.93 + 0.88 + 0.91) / 3)


@pytest.mark.rasa
async def test_wechat_recognition_reaches_the_balance_without_a_model(
    rasa_stack,
    gateway_settings: Settings,
    standin,
    http,
    test_engine: AsyncEngine,
    voice_env: Path,
    openid: str,
) -> None:
    require_speech()
    state, _ = standin
    expected = await _bind(test_engine, openid)
    settings = real_rasa_settings(gateway_settings, rasa_stack)
    gateway = await _start(settings, http, test_engine)
    try:
        assert gateway.runtime.transcriber.health()["asr"] in ("no_model", "starting")
        result = await _voice_push(gateway, state, openid, UNCLEAR_CLIPS[0], recognition="查询话费余额。")
        texts = await _replies(result, state, openid, lambda t: any(expected in x for x in t))
    finally:
        await gateway.stop()
    assert texts[0] == "您说的是：查询话费余额。"
    notes = await _stored_notes(test_engine, openid)
    assert [(n.source, n.path is not None) for n in notes] == [("wechat", True)]


# --- the voice paths with the fake Rasa ----------------------------------------------------------


async def test_low_confidence_asks_once_then_hands_the_audio_to_a_person(
    gateway_settings: Settings, standin, http, redis, fake_rasa, test_engine: AsyncEngine,
    scripted_pool: AsrPool, voice_env: Path, openid: str,
) -> None:  # fmt: skip
    state, api_url = standin
    tokens = AccessTokens(redis, http, api_url, APP_ID, APP_SECRET)
    transcriber = create_transcriber(engine=test_engine, session=http, token_provider=tokens.get,
                                     api_base=api_url, pool=scripted_pool)  # fmt: skip
    gateway = await _start(gateway_settings, http, test_engine, transcriber=transcriber)
    try:
        first = await _voice_push(gateway, state, openid, UNCLEAR_CLIPS[0])
        texts = await _replies(first, state, openid, lambda t: len(t) >= 1)
        assert texts == [policy.ASK_REPEAT_HEARD.format(text="查话费")]
        assert fake_rasa.turns_for(openid) == []  # nothing guessed at

        second = await _voice_push(gateway, state, openid, UNCLEAR_CLIPS[1])
        texts = await _replies(second, state, openid, lambda t: len(t) >= 2)
    finally:
        await gateway.stop()

    assert texts[0] == policy.HANDOFF_AFTER_REPEAT
    assert fake_rasa.turns_for(openid) == []
    reasons = await _handoff_reasons(test_engine, openid)
    assert len(reasons) == 1 and reasons[0][0] == "voice_unrecognised"
    assert "茶花费" in (reasons[0][1] or "")
    notes = await _stored_notes(test_engine, openid)
    assert len(notes) == 2 and all(note.path for note in notes)  # both notes kept for the agent
    assert (voice_env / notes[1].path).read_bytes() == UNCLEAR_CLIPS[1].read_bytes()


async def test_no_model_and_no_recognition_hands_over_with_the_audio_kept(
    gateway_settings: Settings,
    standin,
    http,
    fake_rasa,
    test_engine: AsyncEngine,
    voice_env: Path,
    openid: str,
) -> None:
    require_speech()
    state, _ = standin
    gateway = await _start(gateway_settings, http, test_engine)
    try:

        async def settled_health() -> dict | None:
            async with http.get(f"{gateway.internal_url}/healthz") as response:
                health = await response.json()
            return health if health["asr"] != "starting" else None  # the model check runs at start-up

        health = await eventually(settled_health)
        assert health["asr"] == "no_model"
        assert health["asr_detail"]["model"].endswith("vosk-model-small-cn-0.22")

        result = await _voice_push(gateway, state, openid, UNCLEAR_CLIPS[0])
        texts = await _replies(result, state, openid, lambda t: len(t) >= 2)
    finally:
        await gateway.stop()

    assert texts[0] == policy.HANDOFF_NO_ASR
    assert fake_rasa.turns_for(openid) == []
    reasons = await _handoff_reasons(test_engine, openid)
    assert [reason for reason, _ in reasons] == ["voice_unrecognised"]
    assert "no_model" in (reasons[0][1] or "")
    notes = await _stored_notes(test_engine, openid)
    assert len(notes) == 1 and notes[0].error == "no_model"
    assert (voice_env / notes[0].path).read_bytes() == UNCLEAR_CLIPS[0].read_bytes()


async def test_media_json_error_tells_the_subscriber_and_nothing_breaks(
    gateway_settings: Settings,
    standin,
    http,
    fake_rasa,
    test_engine: AsyncEngine,
    voice_env: Path,
    openid: str,
) -> None:
    state, _ = standin
    gateway = await _start(gateway_settings, http, test_engine)
    try:
        result = await _voice_push(gateway, state, openid, None, media_id="EXPIRED-MEDIA-ID")
        texts = await _replies(result, state, openid, lambda t: len(t) >= 1)
        assert texts == [policy.MEDIA_FAILED_RETRY]
        assert any(call["path"] == "/cgi-bin/media/get" for call in state.calls)

        after = await gateway.aes.text(openid, "你好")  # the gateway carries on
        assert after.reply == "收到：你好"
    finally:
        await gateway.stop()

    notes = await _stored_notes(test_engine, openid)
    assert [(n.media_id, n.path, n.error) for n in notes] == [
        ("EXPIRED-MEDIA-ID", None, "media_error: 40007 invalid media_id")
    ]
    assert await _handoff_reasons(test_engine, openid) == []  # asked to resend first
