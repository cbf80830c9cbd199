"""Our own copy of every voice note (WeChat keeps media for 3 days only) and its transcript.

The audio bytes live in files under the media directory (default `var/media`), named by their
sha256; a `voice_media` row holds the metadata, the transcript and any error. A row is also
written when the download failed, so a voice note that could not be fetched is not silently lost.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import (
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import UtcDateTime

metadata = MetaData()

voice_media = Table(
    "voice_media",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("openid", String(64), nullable=False),
    Column("media_id", String(128), nullable=False),
    Column("msg_key", String(64), nullable=True),
    Column("format", String(16), nullable=False),
    Column("path", String(512), nullable=True),  # relative to the media directory; NULL: not downloaded
    Column("sha256", String(64), nullable=True),
    Column("size_bytes", Integer, nullable=True),
    Column("duration_s", Float, nullable=True),
    Column("transcript", Text, nullable=True),
    Column("confidence", Float, nullable=True),
    Column("source", String(16), nullable=True),  # vosk | wechat | none
    Column("error", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("transcribed_at", UtcDateTime, nullable=True),
    UniqueConstraint("media_id", name="uq_voice_media_media_id"),
    Index("ix_voice_media_openid_created", "openid", "created_at"),
)


@dataclass(frozen=True)
class StoredAudio:
    id: int
    openid: str
    media_id: str
    msg_key: str | None
    format: str
    path: str | None
    sha256: str | None
    size_bytes: int | None
    duration_s: float | None
    transcript: str | None
    confidence: float | None
    source: str | None
    error: str | None
    created_at: dt.datetime
    transcribed_at: dt.datetime | None

    @property
    def has_audio(self) -> bool:
        return self.path is not None


class VoiceStore:
    def __init__(self, engine: AsyncEngine, media_dir: Path) -> None:
        self._engine = engine
        self.media_dir = media_dir

    async def get(self, audio_id: int) -> StoredAudio | None:
        return await self._fetch_one(voice_media.c.id == audio_id)

    async def find_by_media_id(self, media_id: str) -> StoredAudio | None:
        return await self._fetch_one(voice_media.c.media_id == media_id)

    async def list_for_openid(self, openid: str, limit: int = 20) -> list[StoredAudio]:
        query = (
            select(voice_media)
            .where(voice_media.c.openid == openid)
            .order_by(voice_media.c.created_at.desc(), voice_media.c.id.desc())
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [StoredAudio(**row) for row in rows]

    async def save_audio(
        self,
        *,
        openid: str,
        media_id: str,
        audio_format: str,
        data: bytes,
        duration_s: float | None,
        msg_key: str | None = None,
    ) -> StoredAudio:
        """Write the file first, then the row: a crash in between leaves a harmless orphan file."""
        digest = hashlib.sha256(data).hexdigest()
        relative = await asyncio.to_thread(self._write_file, digest, audio_format, data)
        values = {
            "path": relative,
            "sha256": digest,
            "size_bytes": len(data),
            "duration_s": duration_s,
            "format": audio_format,
            "error": None,
        }
        return await self._upsert(openid=openid, media_id=media_id, msg_key=msg_key, values=values)

    async def record_download_failure(
        self, *, openid: str, media_id: str, audio_format: str, error: str, msg_key: str | None = None
    ) -> StoredAudio:
        values = {"format": audio_format, "error": error}
        return await self._upsert(openid=openid, media_id=media_id, msg_key=msg_key, values=values)

    async def record_transcript(
        self, audio_id: int, *, text: str | None, confidence: float | None, source: str, error: str | None
    ) -> None:
        statement = (
            update(voice_media)
            .where(voice_media.c.id == audio_id)
            .values(transcript=text, confidence=confidence, source=source, error=error, transcribed_at=_now())
        )
        async with self._engine.begin() as conn:
            await conn.execute(statement)

    def file_path(self, stored: StoredAudio) -> Path:
        if stored.path is None:
            raise FileNotFoundError(f"voice note {stored.id} was never downloaded ({stored.error})")
        return self.media_dir / stored.path

    async def read_audio(self, stored: StoredAudio) -> bytes:
        path = self.file_path(stored)
        data = await asyncio.to_thread(path.read_bytes)
        if stored.sha256 and hashlib.sha256(data).hexdigest() != stored.sha256:
            raise OSError(f"stored voice note {stored.id} at {path} does not match its sha256")
        return data

    async def _upsert(self, *, openid: str, media_id: str, msg_key: str | None, values: dict) -> StoredAudio:
        existing = await self.find_by_media_id(media_id)
        if existing is None:
            row = {"openid": openid, "media_id": media_id, "msg_key": msg_key, "created_at": _now(), **values}
            try:
                async with self._engine.begin() as conn:
                    await conn.execute(insert(voice_media).values(**row))
            except IntegrityError:
                # Another worker stored the same media_id a moment ago: update that row instead.
                await self._update_by_media_id(media_id, values)
        else:
            await self._update_by_media_id(media_id, values)
        stored = await self.find_by_media_id(media_id)
        assert stored is not None
        return stored

    async def _update_by_media_id(self, media_id: str, values: dict) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(update(voice_media).where(voice_media.c.media_id == media_id).values(**values))

    async def _fetch_one(self, condition) -> StoredAudio | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(voice_media).where(condition))).mappings().first()
        return StoredAudio(**row) if row is not None else None

    def _write_file(self, digest: str, audio_format: str, data: bytes) -> str:
        extension = _safe_extension(audio_format)
        relative = Path(digest[:2]) / f"{digest}.{extension}"
        target = self.media_dir / relative
        if target.exists() and target.stat().st_size == len(data):
            return relative.as_posix()
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(handle, "wb") as temp:
                temp.write(data)
                temp.flush()
                os.fsync(temp.fileno())
            os.replace(temp_name, target)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        return relative.as_posix()


def _safe_extension(audio_format: str) -> str:
    cleaned = "".join(ch for ch in audio_format.lower() if ch.isalnum())
    return cleaned[:8] or "bin"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)
