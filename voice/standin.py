"""A scripted stand-in for the Chinese Vosk model, for tests and demos on machines without it.

The audio is still decoded for real; only the recognition step is replaced: the transcript is
looked up by the sha256 of the voice note's bytes and returned as Vosk would (the same JSON with
per-word confidences), so result parsing, normalisation and the reply policy all run unchanged.
Audio with no script yields silence (no words), like Vosk on audio it cannot make out.
"""

from __future__ import annotations

import json

from voice.decode import DecodedAudio
from voice.recognizer import WordResult, parse_vosk_result


def vosk_json(words: list[tuple[str, float]], seconds_per_word: float = 0.4) -> str:
    """Vosk's result JSON for the given (word, confidence) pairs."""
    result = [
        {"conf": conf, "start": index * seconds_per_word, "end": (index + 1) * seconds_per_word, "word": word}
        for index, (word, conf) in enumerate(words)
    ]
    return json.dumps({"result": result, "text": " ".join(word for word, _ in words)}, ensure_ascii=False)


class ScriptedRecognizer:
    sample_rate = 16000

    def __init__(self, scripted: dict[str, str]) -> None:
        self._scripted = dict(scripted)

    def recognise(self, audio: DecodedAudio) -> tuple[str, list[WordResult]]:
        raw = self._scripted.get(audio.source_sha256)
        if raw is None:
            return "", []
        return parse_vosk_result(raw)
