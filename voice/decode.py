"""Voice-note audio -> 16-bit mono PCM at the recogniser's sample rate, loudness-normalised, capped.

WeChat serves voice notes as AMR-NB (8 kHz, "#!AMR\\n" magic). ffmpeg (through pydub) decodes
it; AMR recorded with silence compression (DTX) loses frames in ffmpeg's decoder, so such files
go to sox first (see docs/field-notes). Speex is decoded when it comes in an Ogg container;
WeChat's raw, unframed speex has no decoder here and is reported as undecodable (the caller then
hands the note to a person, audio kept).

This module blocks (it runs ffmpeg/sox): call it from a worker process, never an event loop.
"""

from __future__ import annotations

import hashlib
import io
import math
import shutil
import subprocess
from dataclasses import dataclass

from pydub import AudioSegment

AMR_NB_MAGIC = b"#!AMR\n"
AMR_WB_MAGIC = b"#!AMR-WB\n"
OGG_MAGIC = b"OggS"
WAV_MAGIC = b"RIFF"

# AMR-NB storage format (RFC 4867 section 5): one header byte per 20 ms frame, whose frame
# type (bits 3-6) fixes the payload size. Types 8 (SID) and 15 (NO_DATA) only appear with DTX.
_AMR_NB_PAYLOAD_BYTES = (12, 13, 15, 17, 19, 20, 26, 31, 5, 0, 0, 0, 0, 0, 0, 0)
_AMR_FRAME_SECONDS = 0.02
_AMR_DTX_FRAME_TYPES = {8, 15}

TARGET_DBFS = -20.0  # speech loudness fed to the recogniser
PEAK_CEILING_DBFS = -1.0
MAX_GAIN_DB = 24.0  # never turn near-silence into loud noise


class DecodeError(Exception):
    """The audio could not be turned into PCM (unknown format, corrupt data, missing decoder)."""


@dataclass(frozen=True)
class AmrInfo:
    frames: int
    dtx_frames: int
    duration_s: float


@dataclass(frozen=True)
class DecodedAudio:
    pcm: bytes  # signed 16-bit little-endian, mono
    sample_rate: int
    channels: int
    duration_s: float  # of the PCM returned (after the cap)
    source_duration_s: float  # before the cap
    truncated: bool
    gain_db: float
    decoder: str  # "ffmpeg" | "sox"
    source_sha256: str  # of the encoded input: lets a stored copy and its PCM be matched


def sniff_format(data: bytes, declared: str | None = None) -> str:
    """The container actually present: amr, amr-wb, ogg, wav, or the declared format lower-cased."""
    if data.startswith(AMR_NB_MAGIC):
        return "amr"
    if data.startswith(AMR_WB_MAGIC):
        return "amr-wb"
    if data.startswith(OGG_MAGIC):
        return "ogg"
    if data.startswith(WAV_MAGIC):
        return "wav"
    return (declared or "unknown").strip().lower()


def amr_info(data: bytes) -> AmrInfo:
    """Count the frames of an AMR-NB file (exact duration, and whether DTX frames are present)."""
    if not data.startswith(AMR_NB_MAGIC):
        raise DecodeError("not an AMR-NB file (missing #!AMR header)")
    position = len(AMR_NB_MAGIC)
    frames = dtx = 0
    while position < len(data):
        frame_type = (data[position] >> 3) & 0x0F
        position += 1 + _AMR_NB_PAYLOAD_BYTES[frame_type]
        frames += 1
        if frame_type in _AMR_DTX_FRAME_TYPES:
            dtx += 1
    return AmrInfo(frames=frames, dtx_frames=dtx, duration_s=frames * _AMR_FRAME_SECONDS)


def probe_duration(data: bytes, declared_format: str | None = None) -> float | None:
    """Cheap duration for the stored copy's metadata (AMR only; None when unknown)."""
    if sniff_format(data, declared_format) != "amr":
        return None
    try:
        return amr_info(data).duration_s
    except DecodeError:
        return None


def decode_to_pcm(
    data: bytes, declared_format: str | None, *, sample_rate: int, max_seconds: float, normalise: bool = True
) -> DecodedAudio:
    """Decode a voice note; raise DecodeError when it cannot be decoded."""
    if not data:
        raise DecodeError("empty audio")
    container = sniff_format(data, declared_format)
    if container == "amr" and not data.startswith(AMR_NB_MAGIC):
        raise DecodeError("declared AMR but the data has no #!AMR header")
    if container == "speex":
        raise DecodeError("raw WeChat speex frames are not supported (only Ogg-contained speex)")
    if container not in {"amr", "amr-wb", "ogg", "wav", "mp3"}:
        raise DecodeError(f"unsupported audio format {container!r}")

    prefer_sox = container == "amr" and amr_info(data).dtx_frames > 0
    decoders = [_decode_with_sox, _decode_with_ffmpeg] if prefer_sox else [_decode_with_ffmpeg, _decode_with_sox]
    if container not in {"amr", "wav"}:
        decoders = [_decode_with_ffmpeg]  # sox here lacks ogg-speex; ffmpeg reads all of these

    failures: list[str] = []
    for decoder in decoders:
        try:
            segment, decoder_name = decoder(data, container, sample_rate, max_seconds)
            break
        except DecodeError as exc:
            failures.append(str(exc))
    else:
        raise DecodeError("; ".join(failures))

    if not segment.raw_data:
        raise DecodeError(f"no audio frames in the {container} data")
    source_duration = _source_duration(data, container, segment)
    segment, gain_db = normalise_loudness(segment) if normalise else (segment, 0.0)
    capped = segment[: int(max_seconds * 1000)]
    return DecodedAudio(
        pcm=capped.raw_data,
        sample_rate=capped.frame_rate,
        channels=capped.channels,
        duration_s=len(capped.raw_data) / (2 * capped.frame_rate),
        source_duration_s=source_duration,
        truncated=source_duration > max_seconds + _AMR_FRAME_SECONDS,
        gain_db=gain_db,
        decoder=decoder_name,
        source_sha256=hashlib.sha256(data).hexdigest(),
    )


def normalise_loudness(segment: AudioSegment) -> tuple[AudioSegment, float]:
    """Bring speech to about TARGET_DBFS without clipping; leave digital silence alone."""
    if segment.rms == 0:
        return segment, 0.0
    gain = TARGET_DBFS - segment.dBFS
    gain = min(gain, PEAK_CEILING_DBFS - segment.max_dBFS, MAX_GAIN_DB)
    if abs(gain) < 0.1:
        return segment, 0.0
    return segment.apply_gain(gain), gain


def _decode_with_ffmpeg(data: bytes, container: str, sample_rate: int, max_seconds: float) -> tuple[AudioSegment, str]:
    pydub_format = {"amr": "amr", "amr-wb": "amr", "ogg": "ogg", "wav": "wav", "mp3": "mp3"}[container]
    try:
        # Resampling happens inside ffmpeg (better filter than pydub's audioop); the extra
        # second beyond the cap lets the caller see that the note was longer than allowed.
        segment = AudioSegment.from_file(
            io.BytesIO(data),
            format=pydub_format,
            parameters=["-ac", "1", "-ar", str(sample_rate), "-t", f"{max_seconds + 1:.2f}"],
        )
    except Exception as exc:  # pydub raises CouldntDecodeError or OSError with ffmpeg's stderr
        raise DecodeError(f"ffmpeg could not decode {container}: {_short(str(exc))}") from exc
    return _as_pcm16_mono(segment, sample_rate), "ffmpeg"


def _decode_with_sox(data: bytes, container: str, sample_rate: int, max_seconds: float) -> tuple[AudioSegment, str]:
    if shutil.which("sox") is None:
        raise DecodeError("sox is not installed")
    input_type = {"amr": "amr-nb", "wav": "wav"}.get(container)
    if input_type is None:
        raise DecodeError(f"sox is not used for {container}")
    command = [
        "sox", "-q", "-t", input_type, "-",
        "-t", "raw", "-e", "signed-integer", "-b", "16", "-c", "1", "-r", str(sample_rate), "-",
        "trim", "0", f"{max_seconds + 1:.2f}",
    ]  # fmt: skip
    try:
        completed = subprocess.run(command, input=data, capture_output=True, timeout=60, check=False)
    except subprocess.TimeoutExpired as exc:
        raise DecodeError("sox timed out") from exc
    if completed.returncode != 0 or not completed.stdout:
        raise DecodeError(f"sox could not decode {container}: {_short(completed.stderr.decode(errors='replace'))}")
    segment = AudioSegment(data=completed.stdout, sample_width=2, frame_rate=sample_rate, channels=1)
    return segment, "sox"


def _as_pcm16_mono(segment: AudioSegment, sample_rate: int) -> AudioSegment:
    if segment.channels != 1:
        segment = segment.set_channels(1)
    if segment.frame_rate != sample_rate:
        segment = segment.set_frame_rate(sample_rate)
    if segment.sample_width != 2:
        segment = segment.set_sample_width(2)
    return segment


def _source_duration(data: bytes, container: str, decoded: AudioSegment) -> float:
    if container == "amr":
        return amr_info(data).duration_s
    return len(decoded.raw_data) / (2 * decoded.frame_rate)


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else "…" + text[-limit:]


def rms_dbfs(pcm: bytes) -> float:
    """Loudness of 16-bit PCM in dBFS (-inf for silence); used by tests and the benchmark."""
    segment = AudioSegment(data=pcm, sample_width=2, frame_rate=16000, channels=1)
    return segment.dBFS if segment.rms else -math.inf
