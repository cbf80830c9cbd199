"""Audio -> AMR-NB as WeChat serves voice notes (8 kHz mono, 12.2 kbps), for the simulator.

ffmpeg here decodes AMR but cannot encode it; sox (built with libopencore-amrnb) can.
Blocking: call through `asyncio.to_thread` from async code.
"""

from __future__ import annotations

import shutil
import subprocess

from voice.decode import AMR_NB_MAGIC, DecodeError, decode_to_pcm


def to_wechat_amr(data: bytes, declared_format: str | None = None, *, max_seconds: float = 60.0) -> bytes:
    """AMR input is returned as is; anything ffmpeg reads (WAV, Ogg, MP3) is re-encoded, level unchanged."""
    if data.startswith(AMR_NB_MAGIC):
        return data
    if shutil.which("sox") is None:
        raise DecodeError("sox is needed to encode AMR-NB and is not installed")
    decoded = decode_to_pcm(data, declared_format, sample_rate=8000, max_seconds=max_seconds, normalise=False)
    command = [
        "sox",
        "-q",
        "-t",
        "raw",
        "-e",
        "signed-integer",
        "-b",
        "16",
        "-c",
        "1",
        "-r",
        "8000",
        "-",
        "-t",
        "amr-nb",
        "-C",
        "7",
        "-",
    ]  # fmt: skip  (-C 7 = mode MR122, 12.2 kbps, like WeChat)
    completed = subprocess.run(command, input=decoded.pcm, capture_output=True, timeout=60, check=False)
    if completed.returncode != 0 or not completed.stdout.startswith(AMR_NB_MAGIC):
        raise DecodeError(f"sox could not encode AMR-NB: {completed.stderr.decode(errors='replace').strip()}")
    return completed.stdout
