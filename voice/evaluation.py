"""Accuracy measurement for the Chinese model: reference transcripts and character error rate."""

from __future__ import annotations

import csv
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from core.db import PROJECT_ROOT


def shared_speech_dir() -> Path:
    """The team's speech material (never copied into the repository): <repo>/../shared/speech."""
    return Path(os.environ.get("CSBOT_SPEECH_DIR", PROJECT_ROOT.parent / "shared" / "speech"))


@dataclass(frozen=True)
class Reference:
    path: Path
    text: str
    label_kind: str


def load_references(directory: Path) -> list[Reference]:
    """Rows of `transcripts.tsv` (filename, reference[, source, label_kind]); header optional."""
    references = []
    with (directory / "transcripts.tsv").open(encoding="utf-8", newline="") as handle:
        for row in csv.reader(handle, delimiter="\t"):
            if not row or row[0] == "filename":
                continue
            if len(row) == 1:  # one row of the shared file is separated by spaces, not tabs
                row = row[0].split(" ", 3)
            name, text = row[0].strip(), row[1].strip()
            kind = row[3].strip() if len(row) > 3 else "reference"
            references.append(Reference(path=directory / name, text=text, label_kind=kind))
    return references


def comparable(text: str) -> str:
    """Characters that count for CER: letters and digits only (no spaces or punctuation)."""
    return "".join(char for char in text if unicodedata.category(char)[0] in {"L", "N"})


def edit_distance(reference: str, hypothesis: str) -> int:
    previous = list(range(len(hypothesis) + 1))
    for i, ref_char in enumerate(reference, start=1):
        current = [i]
        for j, hyp_char in enumerate(hypothesis, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_char != hyp_char)))
        previous = current
    return previous[-1]


def character_error_rate(references: list[str], hypotheses: list[str]) -> float:
    """Corpus CER: all edits over all reference characters."""
    edits = total = 0
    for reference, hypothesis in zip(references, hypotheses, strict=True):
        ref, hyp = comparable(reference), comparable(hypothesis)
        edits += edit_distance(ref, hyp)
        total += len(ref)
    return edits / total if total else 0.0


def is_chinese_model(path: Path) -> bool:
    """Whether the model directory looks like a Chinese one (name or README), without loading it."""
    if not path.is_dir():
        return False
    if os.environ.get("VOSK_MODEL_LANG", "").lower() in {"zh", "cn", "chinese"}:
        return True
    name = path.name.lower()
    if any(tag in name for tag in ("-cn", "_cn", "-zh", "_zh", "chinese", "mandarin")):
        return True
    readme = path / "README"
    if readme.is_file():
        text = readme.read_text(encoding="utf-8", errors="replace").lower()
        return "chinese" in text or "mandarin" in text
    return False
