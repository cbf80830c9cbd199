"""The gateway's voice transcriber (the `VoiceTranscriber` hook of bot/hooks.py).

For each voice push: download the note (or reuse our stored copy), keep it (file + row), and
- with a ready model: decode + recognise in the worker pool, normalise the text;
- without one: use WeChat's own `Recognition` text when the push carries it;
- otherwise: Transcript(text=None, source="none", error="no_model"), and the reply policy hands
  the note (audio kept) to a person.
transcribe() may take seconds (queueing, long notes): the gateway budgets its passive reply and
answers through the customer-service API when the transcript comes late.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from voice.config import VoiceSettings
from voice.decode import probe_duration, sniff_format
from voice.normalize import normalize_transcript
from voice.policy import VoicePolicy
from voice.recognizer import NO_MODEL, READY, STARTING, AsrPool, AsrUnavailable, RecognitionResult, RecognizerSpec
from voice.store import StoredAudio, VoiceStore
from voice.transcript import Transcript
from wechat.media import MediaClient, MediaError, TokenInvalidator, TokenProvider
from wechat.messages import InboundMessage

log = logging.getLogger(__name__)


class Transcriber:
    def __init__(
        self,
        *,
        store: VoiceStore,
        media: MediaClient,
        pool: AsrPool,
        settings: VoiceSettings,
        owns_pool: bool = True,
    ) -> None:
        self.store = store
        self._media = media
        self._pool = pool
        self._settings = settings
        self._owns_pool = owns_pool
        self._start_lock = asyncio.Lock()
        self._in_progress: dict[str, asyncio.Future[Transcript]] = {}

    async def start(self) -> None:
        """Load the model in every worker (seconds); the state is logged and shown by health()."""
        async with self._start_lock:
            if self._pool.status.state == STARTING:
                await self._pool.start()

    async def close(self) -> None:
        if self._owns_pool:
            await asyncio.to_thread(self._pool.close)

    def health(self) -> dict[str, Any]:
        status = self._pool.status
        report: dict[str, Any] = {
            "asr": status.state,
            "model": status.path,
            "workers": self._pool.workers,
            "in_flight": self._pool.in_flight,
        }
        if status.reason:
            report["reason"] = status.reason
        if status.kind != "vosk":
            report["kind"] = status.kind
        return report

    async def transcribe(self, msg: InboundMessage) -> Transcript:
        """One transcription per voice note at a time: a retry of the same push shares the running one."""
        if not msg.media_id:
            return await self._transcribe(msg)
        running = self._in_progress.get(msg.media_id)
        if running is not None:
            return await asyncio.shield(running)
        task = asyncio.ensure_future(self._transcribe(msg))
        self._in_progress[msg.media_id] = task
        task.add_done_callback(lambda _: self._in_progress.pop(msg.media_id or "", None))
        return await asyncio.shield(task)

    async def _transcribe(self, msg: InboundMessage) -> Transcript:
        recognition = normalize_transcript(msg.recognition) or None
        if not msg.media_id:
            return _fallback(recognition, audio_id=None, error="media_error: the push carries no MediaId")

        stored = await self.store.find_by_media_id(msg.media_id)
        if stored is not None and stored.has_audio and stored.transcribed_at is not None:
            return _from_stored(stored)  # a redelivered push: same answer, no second download

        audio_format = (msg.audio_format or "amr").lower()
        if stored is not None and stored.has_audio:
            data = await self.store.read_audio(stored)
        else:
            try:
                payload = await self._media.fetch(msg.media_id, audio_format)
            except MediaError as exc:
                log.warning("voice note %s of %s not downloaded: %s", msg.media_id, msg.openid, exc)
                await self.store.record_download_failure(
                    openid=msg.openid, media_id=msg.media_id, audio_format=audio_format,
                    error=exc.describe(), msg_key=msg.msg_key,
                )  # fmt: skip
                return _fallback(recognition, audio_id=None, error=exc.describe())
            data = payload.data
            sniffed = sniff_format(data, audio_format)
            stored = await self.store.save_audio(
                openid=msg.openid, media_id=msg.media_id, audio_format=sniffed, data=data,
                duration_s=probe_duration(data, sniffed), msg_key=msg.msg_key,
            )  # fmt: skip

        transcript = await self._recognise(stored, data, recognition)
        await self.store.record_transcript(
            stored.id, text=transcript.text, confidence=transcript.confidence,
            source=transcript.source, error=transcript.error,
        )  # fmt: skip
        return transcript

    async def _recognise(self, stored: StoredAudio, data: bytes, recognition: str | None) -> Transcript:
        status = self._pool.status
        if status.state == STARTING:
            await self.start()
            status = self._pool.status
        if status.state != READY and not self._pool.may_recover:
            error = "no_model" if status.state == NO_MODEL else f"asr_failed: {status.reason}"
            return _fallback(recognition, audio_id=stored.id, error=error, duration_s=stored.duration_s)
        try:
            result = await asyncio.wait_for(
                self._pool.transcribe(data, stored.format, self._settings.max_seconds),
                timeout=self._settings.transcribe_timeout_seconds,
            )
        except asyncio.TimeoutError:
            return _fallback(
                recognition, audio_id=stored.id, error="asr_failed: timed out", duration_s=stored.duration_s
            )
        except AsrUnavailable as exc:
            log.error("recognition of voice note %s unavailable: %s", stored.id, exc)
            return _fallback(recognition, audio_id=stored.id, error=f"asr_failed: {exc}", duration_s=stored.duration_s)
        except Exception as exc:  # whatever a worker raised: this note goes to the fallback, not the gateway
            log.exception("recognition of voice note %s failed", stored.id)
            return _fallback(recognition, audio_id=stored.id, error=f"asr_failed: {exc}", duration_s=stored.duration_s)
        log.info(
            "voice note %s: %.1f s audio, decode %.2f s, recognise %.2f s, confidence %s",
            stored.id, result.audio_seconds, result.decode_seconds, result.recognise_seconds,
            f"{result.confidence:.2f}" if result.confidence is not None else "-",
        )  # fmt: skip
        if result.error:
            return _fallback(recognition, audio_id=stored.id, error=result.error, duration_s=stored.duration_s)
        return self._vosk_transcript(result, stored, recognition)

    def _vosk_transcript(self, result: RecognitionResult, stored: StoredAudio, recognition: str | None) -> Transcript:
        text = normalize_transcript(result.text) or None
        duration = result.source_seconds or stored.duration_s
        unsure = text is None or (result.confidence is not None and result.confidence < self._settings.min_confidence)
        if unsure and recognition:
            # WeChat's server-side recogniser heard something our model could not make out.
            return Transcript(text=recognition, confidence=None, source="wechat", audio_id=stored.id,
                              error=None, duration_s=duration)  # fmt: skip
        return Transcript(text=text, confidence=result.confidence if text else None, source="vosk",
                          audio_id=stored.id, error=None, duration_s=duration)  # fmt: skip


def _fallback(
    recognition: str | None, *, audio_id: int | None, error: str, duration_s: float | None = None
) -> Transcript:
    if recognition:
        return Transcript(text=recognition, confidence=None, source="wechat", audio_id=audio_id, error=None,
                          duration_s=duration_s)  # fmt: skip
    return Transcript(text=None, confidence=None, source="none", audio_id=audio_id, error=error, duration_s=duration_s)


def _from_stored(stored: StoredAudio) -> Transcript:
    return Transcript(
        text=stored.transcript,
        confidence=stored.confidence,
        source=stored.source or "none",
        audio_id=stored.id,
        error=stored.error,
        duration_s=stored.duration_s,
    )


def create_voice_policy(redis: aioredis.Redis, settings: VoiceSettings | None = None) -> VoicePolicy:
    """The reply policy the gateway applies to every transcript (voice/policy.py)."""
    settings = settings or VoiceSettings.from_env()
    return VoicePolicy(redis, min_confidence=settings.min_confidence, memory_seconds=settings.lowconf_ttl_seconds)


def create_transcriber(
    *,
    engine: AsyncEngine,
    session: aiohttp.ClientSession,
    token_provider: TokenProvider,
    api_base: str,
    token_invalidator: TokenInvalidator | None = None,
    settings: VoiceSettings | None = None,
    pool: AsrPool | None = None,
) -> Transcriber:
    """The gateway's transcriber: call `await start()` at start-up (loads the model), `close()` at the end.

    `pool` lets tests and benchmarks share one already-started pool (its owner closes it).
    """
    settings = settings or VoiceSettings.from_env()
    owns_pool = pool is None
    if pool is None:
        pool = AsrPool(
            RecognizerSpec(model_path=str(settings.model_path)), workers=settings.workers,
            niceness=settings.worker_niceness,
        )  # fmt: skip
    return Transcriber(
        store=VoiceStore(engine, settings.resolved_media_dir()),
        media=MediaClient(
            session, api_base, token_provider, token_invalidator=token_invalidator, max_bytes=settings.max_media_bytes
        ),
        pool=pool,
        settings=settings,
        owns_pool=owns_pool,
    )
