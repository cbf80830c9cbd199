"""Speech recognition with Vosk, in a bounded pool of worker processes.

Each worker process loads the model once (pool initializer) and creates one KaldiRecognizer per
utterance. Decoding (ffmpeg/sox) and recognition both run in the worker, never on the event
loop. The pool reports the model state: "ready", "no_model" (nothing at the configured path) or
"failed" (the model is there but does not load; the reason is kept).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from voice.decode import DecodedAudio, DecodeError, decode_to_pcm

log = logging.getLogger(__name__)

READY = "ready"
NO_MODEL = "no_model"
FAILED = "failed"
STARTING = "starting"

DEFAULT_SAMPLE_RATE = 16000
_CHUNK_BYTES = 8000  # 0.25 s of 16 kHz 16-bit audio per AcceptWaveform call
_REQUIRED_MODEL_FILES = ("am/final.mdl", "conf/model.conf")
RESTART_PAUSE_S = 10.0  # after a worker crash, notes go to the fallback this long before a restart


@dataclass(frozen=True)
class ModelStatus:
    state: str  # ready | no_model | failed | starting
    path: str
    reason: str | None = None
    sample_rate: int | None = None
    kind: str = "vosk"


@dataclass(frozen=True)
class WordResult:
    word: str
    start: float
    end: float
    conf: float


@dataclass(frozen=True)
class RecognitionResult:
    text: str  # Vosk's raw text (words separated by spaces); empty when nothing was heard
    words: tuple[WordResult, ...]
    confidence: float | None  # mean word confidence; None when there are no words
    audio_seconds: float
    source_seconds: float
    truncated: bool
    decode_seconds: float
    recognise_seconds: float
    decoder: str | None
    error: str | None = None  # "decode_failed: ..." when the audio could not be decoded

    @property
    def real_time_factor(self) -> float | None:
        if self.audio_seconds <= 0:
            return None
        return (self.decode_seconds + self.recognise_seconds) / self.audio_seconds


class Recognizer(Protocol):
    sample_rate: int

    def recognise(self, audio: DecodedAudio) -> tuple[str, list[WordResult]]: ...


@dataclass(frozen=True)
class RecognizerSpec:
    """What each worker loads: a Vosk model directory, or (tests/demos) a scripted stand-in."""

    model_path: str
    kind: str = "vosk"  # "vosk" | "scripted"
    scripted: dict[str, str] = field(default_factory=dict)  # scripted: audio sha256 -> Vosk JSON


# --- model inspection (cheap, no loading) -----------------------------------------------------


def inspect_model_dir(path: Path) -> ModelStatus | None:
    """A no_model/failed status when the directory cannot hold a model, else None (try loading)."""
    if not path.exists():
        return ModelStatus(NO_MODEL, str(path), f"no model at {path}")
    if not path.is_dir():
        return ModelStatus(FAILED, str(path), f"{path} is not a directory")
    missing = [name for name in _REQUIRED_MODEL_FILES if not (path / name).is_file()]
    if missing:
        return ModelStatus(FAILED, str(path), f"incomplete model at {path}: missing {', '.join(missing)}")
    return None


def model_sample_rate(path: Path) -> int:
    """The rate the model's features are computed at (conf/mfcc.conf), 16 kHz by default."""
    mfcc = path / "conf" / "mfcc.conf"
    if mfcc.is_file():
        for line in mfcc.read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.strip()
            if line.startswith("--sample-frequency="):
                return int(float(line.split("=", 1)[1]))
    return DEFAULT_SAMPLE_RATE


# --- Vosk results ---------------------------------------------------------------------------


def parse_vosk_result(raw: str) -> tuple[str, list[WordResult]]:
    """Text and words of one Vosk result (Result()/FinalResult() JSON, SetWords(True))."""
    payload = json.loads(raw)
    words = [
        WordResult(word=str(item["word"]), start=float(item["start"]), end=float(item["end"]), conf=float(item["conf"]))
        for item in payload.get("result", [])
    ]
    text = str(payload.get("text", "")).strip()
    if not text and words:
        text = " ".join(word.word for word in words)
    return text, words


def mean_confidence(words: list[WordResult] | tuple[WordResult, ...]) -> float | None:
    if not words:
        return None
    return sum(word.conf for word in words) / len(words)


class VoskRecognizer:
    def __init__(self, model_path: str) -> None:
        import vosk

        vosk.SetLogLevel(-1)  # keep warnings and errors, drop Kaldi's per-step LOG lines
        self._vosk = vosk
        self.sample_rate = model_sample_rate(Path(model_path))
        self._model = vosk.Model(model_path)  # raises Exception("Failed to create a model")

    def recognise(self, audio: DecodedAudio) -> tuple[str, list[WordResult]]:
        recognizer = self._vosk.KaldiRecognizer(self._model, audio.sample_rate)
        recognizer.SetWords(True)
        segments: list[str] = []
        pcm = audio.pcm
        for offset in range(0, len(pcm), _CHUNK_BYTES):
            if recognizer.AcceptWaveform(pcm[offset : offset + _CHUNK_BYTES]):
                segments.append(recognizer.Result())
        segments.append(recognizer.FinalResult())
        texts: list[str] = []
        words: list[WordResult] = []
        for raw in segments:
            text, segment_words = parse_vosk_result(raw)
            if text:
                texts.append(text)
            words.extend(segment_words)
        return " ".join(texts), words


def load_recognizer(spec: RecognizerSpec) -> Recognizer:
    if spec.kind == "scripted":
        from voice.standin import ScriptedRecognizer

        return ScriptedRecognizer(spec.scripted)
    return VoskRecognizer(spec.model_path)


def transcribe_audio(recognizer: Recognizer, data: bytes, audio_format: str, max_seconds: float) -> RecognitionResult:
    """Decode + recognise one voice note (blocking; runs in a worker process)."""
    started = time.perf_counter()
    try:
        decoded = decode_to_pcm(data, audio_format, sample_rate=recognizer.sample_rate, max_seconds=max_seconds)
    except DecodeError as exc:
        return RecognitionResult(
            text="", words=(), confidence=None, audio_seconds=0.0, source_seconds=0.0, truncated=False,
            decode_seconds=time.perf_counter() - started, recognise_seconds=0.0, decoder=None,
            error=f"decode_failed: {exc}",
        )  # fmt: skip
    decoded_at = time.perf_counter()
    text, words = recognizer.recognise(decoded)
    finished = time.perf_counter()
    return RecognitionResult(
        text=text,
        words=tuple(words),
        confidence=mean_confidence(words),
        audio_seconds=decoded.duration_s,
        source_seconds=decoded.source_duration_s,
        truncated=decoded.truncated,
        decode_seconds=decoded_at - started,
        recognise_seconds=finished - decoded_at,
        decoder=decoded.decoder,
    )


# --- worker process side ----------------------------------------------------------------------

# One recogniser per worker process: process-wide by nature (the pool initializer sets it once).
_worker_recognizer: Recognizer | None = None
_worker_status: ModelStatus | None = None


def _init_worker(spec: RecognizerSpec, niceness: int = 0) -> None:
    global _worker_recognizer, _worker_status
    if niceness > 0:
        # Recognition is throughput work; the gateway's event loop is latency work on the same
        # cores: a lower priority lets webhooks be answered first when the CPUs are busy.
        os.nice(niceness)
    try:
        _worker_recognizer = load_recognizer(spec)
        _worker_status = ModelStatus(READY, spec.model_path, sample_rate=_worker_recognizer.sample_rate, kind=spec.kind)
    except Exception as exc:  # an initializer that raises breaks the whole pool: report instead
        _worker_recognizer = None
        _worker_status = ModelStatus(FAILED, spec.model_path, f"model failed to load: {exc}", kind=spec.kind)


def _worker_report() -> ModelStatus:
    assert _worker_status is not None, "worker initializer did not run"
    return _worker_status


def _worker_transcribe(data: bytes, audio_format: str, max_seconds: float) -> RecognitionResult:
    if _worker_recognizer is None:
        reason = _worker_status.reason if _worker_status else "not initialised"
        raise RuntimeError(f"recogniser unavailable in worker: {reason}")
    return transcribe_audio(_worker_recognizer, data, audio_format, max_seconds)


# --- the pool, as the service sees it -------------------------------------------------------


class AsrUnavailable(Exception):
    """No usable recogniser (no model, failed model, or the worker pool broke)."""


class AsrPool:
    """A bounded process pool whose workers each hold the model; async-friendly, loop-agnostic."""

    def __init__(self, spec: RecognizerSpec, workers: int = 2, niceness: int = 19) -> None:
        self.spec = spec
        self.workers = workers
        self.niceness = niceness
        self._executor: concurrent.futures.ProcessPoolExecutor | None = None
        self._status = ModelStatus(STARTING, spec.model_path, kind=spec.kind)
        self._in_flight = 0
        self._broken_at: float | None = None  # a worker died: the pool is rebuilt after a pause
        self._start_lock = threading.Lock()

    @property
    def status(self) -> ModelStatus:
        return self._status

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def may_recover(self) -> bool:
        """A worker crashed (the model itself loaded fine): transcribe() will rebuild the pool."""
        return self._broken_at is not None

    async def start(self) -> ModelStatus:
        return await asyncio.to_thread(self.start_sync)

    def start_sync(self) -> ModelStatus:
        """Spawn the workers, load the model in each, and settle the state (logged once)."""
        with self._start_lock:
            if self._executor is not None:
                return self._status
            return self._start_locked()

    def _start_locked(self) -> ModelStatus:
        if self.spec.kind == "vosk":
            problem = inspect_model_dir(Path(self.spec.model_path))
            if problem is not None:
                self._status = problem
                self._log_status()
                return problem
        # spawn, not fork: the parent runs an event loop and threads, which fork would copy half-way.
        executor = concurrent.futures.ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.spec, self.niceness),
        )
        started = time.perf_counter()
        # Workers start on demand; submitting one report per worker at once starts them all now.
        reports = [executor.submit(_worker_report) for _ in range(self.workers)]
        try:
            statuses = [future.result() for future in reports]
        except BrokenProcessPool as exc:
            statuses = [ModelStatus(FAILED, self.spec.model_path, f"worker process died while loading: {exc}")]
        failed = [status for status in statuses if status.state != READY]
        if failed:
            executor.shutdown(wait=False, cancel_futures=True)
            self._status = failed[0]
        else:
            self._executor = executor
            self._status = statuses[0]
            log.info(
                "ASR ready: %s model %s loaded in %d worker(s) in %.1f s (sample rate %d Hz)",
                self.spec.kind, self.spec.model_path, self.workers, time.perf_counter() - started,
                self._status.sample_rate or 0,
            )  # fmt: skip
            return self._status
        self._log_status()
        return self._status

    def _log_status(self) -> None:
        if self._status.state == NO_MODEL:
            log.warning(
                "ASR disabled (no_model): %s. Voice notes fall back to WeChat's Recognition text or a "
                "human agent. Install the model with `csbot voice download-model` or set VOSK_MODEL_PATH.",
                self._status.reason,
            )
        elif self._status.state == FAILED:
            log.error("ASR disabled (failed): %s. Voice notes fall back to WeChat's Recognition or a human.",
                      self._status.reason)  # fmt: skip

    async def transcribe(self, data: bytes, audio_format: str, max_seconds: float) -> RecognitionResult:
        if self._executor is None and self._broken_at is not None:
            if time.monotonic() - self._broken_at >= RESTART_PAUSE_S:
                log.warning("ASR pool: starting new workers after a crash")
                self._broken_at = None
                await asyncio.to_thread(self.start_sync)
        if self._executor is None:
            raise AsrUnavailable(self._status.reason or self._status.state)
        self._in_flight += 1
        try:
            future = self._executor.submit(_worker_transcribe, data, audio_format, max_seconds)
            return await asyncio.wrap_future(future)
        except BrokenProcessPool as exc:
            self._mark_broken(f"worker process died: {exc}")
            raise AsrUnavailable(self._status.reason) from exc
        finally:
            self._in_flight -= 1

    def _mark_broken(self, reason: str) -> None:
        log.error("ASR pool broke (%s): voice notes now fall back until restart", reason)
        self._status = ModelStatus(FAILED, self.spec.model_path, reason, kind=self.spec.kind)
        self._broken_at = time.monotonic()
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
