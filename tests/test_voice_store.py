"""Our stored copy of voice notes: file + row, idempotent per media_id, failures recorded."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from voice.store import VoiceStore

AMR = b"#!AMR\n" + b"\x3c" + bytes(31)


async def test_save_audio_writes_file_and_row(engine: AsyncEngine, tmp_path: Path) -> None:
    store = VoiceStore(engine, tmp_path)
    stored = await store.save_audio(
        openid="o-store-1", media_id="m-store-1", audio_format="amr", data=AMR, duration_s=0.02, msg_key="o:1"
    )
    assert stored.has_audio
    assert stored.sha256 == hashlib.sha256(AMR).hexdigest()
    assert stored.size_bytes == len(AMR)
    assert stored.created_at.tzinfo is not None
    assert store.file_path(stored).read_bytes() == AMR
    assert store.file_path(stored).is_relative_to(tmp_path)
    assert await store.read_audio(stored) == AMR
    assert (await store.get(stored.id)) == stored

    await store.record_transcript(stored.id, text="查询话费余额", confidence=0.8, source="vosk", error=None)
    updated = await store.find_by_media_id("m-store-1")
    assert updated is not None
    assert (updated.transcript, updated.confidence, updated.source) == ("查询话费余额", 0.8, "vosk")
    assert updated.transcribed_at is not None


async def test_same_media_id_is_one_row(engine: AsyncEngine, tmp_path: Path) -> None:
    store = VoiceStore(engine, tmp_path)
    failed = await store.record_download_failure(
        openid="o-store-2", media_id="m-store-2", audio_format="amr", error="media_error: -1 timeout"
    )
    assert not failed.has_audio
    with pytest.raises(FileNotFoundError):
        store.file_path(failed)

    saved = await store.save_audio(
        openid="o-store-2", media_id="m-store-2", audio_format="amr", data=AMR, duration_s=None
    )
    assert saved.id == failed.id
    assert saved.has_audio and saved.error is None
    assert [row.id for row in await store.list_for_openid("o-store-2")] == [saved.id]


async def test_tampered_file_is_detected(engine: AsyncEngine, tmp_path: Path) -> None:
    store = VoiceStore(engine, tmp_path)
    stored = await store.save_audio(
        openid="o-store-3", media_id="m-store-3", audio_format="amr", data=AMR + b"x", duration_s=None
    )
    store.file_path(stored).write_bytes(b"something else")
    with pytest.raises(OSError, match="sha256"):
        await store.read_audio(stored)
