"""AMR decoding on the real clips, DTX, the duration cap, loudness and bad input."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from voice_support import REAL_DIR, ffprobe_duration, real_clips, require_speech, silent_amr

from voice.decode import (
    TARGET_DBFS,
    DecodeError,
    amr_info,
    decode_to_pcm,
    rms_dbfs,
    sniff_format,
)
from voice.encode import to_wechat_amr


@pytest.mark.parametrize("clip", real_clips() or [REAL_DIR / "missing.amr"], ids=lambda path: path.stem[:40])
def test_real_clip_decodes_to_16k_mono_pcm_of_the_right_length(clip: Path) -> None:
    require_speech()
    data = clip.read_bytes()
    decoded = decode_to_pcm(data, "amr", sample_rate=16000, max_seconds=60)

    reference = ffprobe_duration(clip)
    assert decoded.sample_rate == 16000
    assert decoded.channels == 1
    assert len(decoded.pcm) % 2 == 0
    assert decoded.duration_s == pytest.approx(len(decoded.pcm) / 32000)
    assert abs(decoded.duration_s - reference) <= 0.02 * reference, (decoded.duration_s, reference)
    assert decoded.truncated is False
    assert decoded.decoder == "ffmpeg"  # the shared clips have no DTX frames


def test_clips_are_real_amr_nb_without_dtx() -> None:
    require_speech()
    for clip in real_clips():
        data = clip.read_bytes()
        assert sniff_format(data) == "amr"
        info = amr_info(data)
        assert info.dtx_frames == 0
        assert info.duration_s == pytest.approx(ffprobe_duration(clip), abs=0.021)


def test_amr_with_dtx_frames_goes_through_sox_and_keeps_its_length() -> None:
    require_speech()
    data = (REAL_DIR / "firered_IT0011W0001.amr").read_bytes()
    frame_bytes = 32  # MR122: header byte + 31 payload bytes
    cut = 6 + 20 * frame_bytes
    with_dtx = data[:cut] + b"\x7c" * 50 + data[cut:]  # 50 NO_DATA frames = 1 s of comfort silence

    info = amr_info(with_dtx)
    assert info.dtx_frames == 50
    decoded = decode_to_pcm(with_dtx, "amr", sample_rate=16000, max_seconds=60)
    assert decoded.decoder == "sox"
    assert decoded.duration_s == pytest.approx(info.duration_s, abs=0.02)  # ffmpeg would lose the 1 s


def test_long_note_is_capped() -> None:
    require_speech()
    data = (REAL_DIR / "cosyvoice_wzy_read_poet_27s.amr").read_bytes()
    decoded = decode_to_pcm(data, "amr", sample_rate=16000, max_seconds=10)
    assert decoded.duration_s == pytest.approx(10.0, abs=0.001)
    assert decoded.source_duration_s == pytest.approx(27.1, abs=0.02)
    assert decoded.truncated is True


def test_quiet_speech_is_brought_up_and_loud_speech_is_not_clipped(tmp_path: Path) -> None:
    require_speech()
    clip = REAL_DIR / "funasr_asr_example.amr"  # already at speech level (gain about -1 dB)
    quiet_wav = tmp_path / "quiet.wav"
    subprocess.run(["sox", "-q", "-t", "amr-nb", str(clip), str(quiet_wav), "gain", "-18"], check=True)
    quiet_amr = to_wechat_amr(quiet_wav.read_bytes(), "wav")

    plain = decode_to_pcm(clip.read_bytes(), "amr", sample_rate=16000, max_seconds=60)
    quiet = decode_to_pcm(quiet_amr, "amr", sample_rate=16000, max_seconds=60)
    assert quiet.gain_db > plain.gain_db + 12
    assert rms_dbfs(quiet.pcm) == pytest.approx(rms_dbfs(plain.pcm), abs=3.0)
    assert rms_dbfs(plain.pcm) <= TARGET_DBFS + 0.5
    peak = max(abs(int.from_bytes(plain.pcm[i : i + 2], "little", signed=True)) for i in range(0, len(plain.pcm), 2))
    assert peak < 32767  # the ceiling keeps the gain below clipping


def test_silence_is_not_amplified() -> None:
    decoded = decode_to_pcm(silent_amr(1.0), "amr", sample_rate=16000, max_seconds=60)
    assert decoded.duration_s == pytest.approx(1.0, abs=0.02)
    assert rms_dbfs(decoded.pcm) < -60


def test_other_rates_are_honoured() -> None:
    require_speech()
    decoded = decode_to_pcm(
        (REAL_DIR / "firered_IT0011W0001.amr").read_bytes(), "amr", sample_rate=8000, max_seconds=60
    )
    assert decoded.sample_rate == 8000
    assert len(decoded.pcm) == pytest.approx(1.98 * 8000 * 2, abs=64)


def test_ogg_speex_decodes_and_raw_speex_is_refused(tmp_path: Path) -> None:
    require_speech()
    wav = tmp_path / "clip.wav"
    ogg = tmp_path / "clip.ogg"
    subprocess.run(["sox", "-q", "-t", "amr-nb", str(REAL_DIR / "firered_IT0011W0001.amr"), str(wav)], check=True)
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(wav), "-ar", "16000", "-c:a", "libspeex", str(ogg)], check=True)

    decoded = decode_to_pcm(ogg.read_bytes(), "speex", sample_rate=16000, max_seconds=60)
    assert decoded.duration_s == pytest.approx(1.98, abs=0.05)

    with pytest.raises(DecodeError, match="speex"):
        decode_to_pcm(b"\x0a" + bytes(range(60)) * 3, "speex", sample_rate=16000, max_seconds=60)


@pytest.mark.parametrize(
    ("data", "fmt", "message"),
    [
        (b"", "amr", "empty"),
        (b"\x00\x01\x02garbage" * 20, "amr", "no #!AMR header"),
        (b"\x00\x01\x02garbage" * 20, None, "unsupported audio format"),
        (b"#!AMR\n", "amr", "no audio frames|could not decode"),
    ],
)
def test_bad_audio_raises_decode_error(data: bytes, fmt: str | None, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_to_pcm(data, fmt, sample_rate=16000, max_seconds=60)
