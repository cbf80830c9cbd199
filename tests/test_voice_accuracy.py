"""Chinese accuracy (character error rate) on the shared clips, with the configured Chinese model.

These run whenever VOSK_MODEL_PATH (or the default path) holds a Chinese Vosk model, e.g.
vosk-model-small-cn-0.22 from `csbot voice download-model`, and skip with the reason otherwise.
The bounds can be tightened per deployment: VOICE_CER_MAX_REAL / VOICE_CER_MAX_SYNTHETIC.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from voice_support import REAL_DIR, SYNTHETIC_DIR, require_speech

from voice.config import VoiceSettings
from voice.evaluation import character_error_rate, comparable, edit_distance, is_chinese_model, load_references
from voice.normalize import normalize_transcript
from voice.recognizer import VoskRecognizer, inspect_model_dir, transcribe_audio

# Not yet measured here (no Chinese model on these machines): starting points, not promises.
MAX_CER_REAL = float(os.environ.get("VOICE_CER_MAX_REAL", "0.35"))
MAX_CER_SYNTHETIC = float(os.environ.get("VOICE_CER_MAX_SYNTHETIC", "0.50"))


def test_character_error_rate() -> None:
    assert edit_distance("查询话费余额", "查询话费余额") == 0
    assert edit_distance("查询话费余额", "查话费余额") == 1
    assert edit_distance("查询话费余额", "茶询话费余额啊") == 2
    assert comparable("对，这就是我。 Hi 26年") == "对这就是我Hi26年"
    assert character_error_rate(["查询话费余额", "换一首歌"], ["查询话费余", "换一首歌"]) == pytest.approx(1 / 10)
    assert character_error_rate(["换一首歌"], [""]) == 1.0


def test_references_load() -> None:
    require_speech()
    real = load_references(REAL_DIR)
    synthetic = load_references(SYNTHETIC_DIR)
    assert len(real) == 18 and all(ref.path.is_file() for ref in real)
    assert [ref.text for ref in synthetic][0] == "查询话费余额"
    assert sum(ref.label_kind.startswith("human") for ref in real) == 5


@pytest.fixture(scope="module")
def chinese_recognizer() -> Iterator[VoskRecognizer]:
    require_speech()
    path = VoiceSettings.from_env().model_path
    problem = inspect_model_dir(path)
    if problem is not None:
        pytest.skip(f"Chinese accuracy needs a Chinese Vosk model: {problem.reason} "
                    "(set VOSK_MODEL_PATH, or run `csbot voice download-model` on a machine with internet)")  # fmt: skip
    if not is_chinese_model(path):
        pytest.skip(f"VOSK_MODEL_PATH={path} is not a Chinese model (set VOSK_MODEL_LANG=zh if it is)")
    yield VoskRecognizer(str(path))


def _cer(recognizer: VoskRecognizer, directory) -> tuple[float, list[tuple[str, str, str]]]:
    references, hypotheses, rows = [], [], []
    for ref in load_references(directory):
        result = transcribe_audio(recognizer, ref.path.read_bytes(), "amr", 60)
        assert result.error is None, (ref.path.name, result.error)
        text = normalize_transcript(result.text)
        references.append(ref.text)
        hypotheses.append(text)
        rows.append((ref.path.name, ref.text, text))
    return character_error_rate(references, hypotheses), rows


def test_cer_on_real_speech(chinese_recognizer: VoskRecognizer) -> None:
    cer, rows = _cer(chinese_recognizer, REAL_DIR)
    print(f"\nCER real/: {cer:.3f}")
    for name, ref, hyp in rows:
        print(f"  {name}: {ref} | {hyp}")
    assert cer <= MAX_CER_REAL


def test_cer_on_telecom_sentences(chinese_recognizer: VoskRecognizer) -> None:
    cer, rows = _cer(chinese_recognizer, SYNTHETIC_DIR)
    print(f"\nCER synthetic/: {cer:.3f}")
    for name, ref, hyp in rows:
        print(f"  {name}: {ref} | {hyp}")
    assert cer <= MAX_CER_SYNTHETIC
