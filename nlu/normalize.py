"""Text normalisation applied before tokenising, so that typed, traditional, full-width and
voice-transcript input all look alike to the classifier.

- traditional -> simplified Chinese (OpenCC tables, pure Python)
- full-width ASCII (５０元, ＡＢＣ) -> half-width, ideographic space -> space
- spaces between CJK characters removed (Vosk writes 「查询 话费 余额」)
- runs of whitespace collapsed, ends stripped

`normalize_with_offsets` also returns, for every output character, the index of the input
character it came from, so entity annotations can be carried over.
"""

from __future__ import annotations

import re
from functools import lru_cache

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


@lru_cache(maxsize=1)
def _converter():
    from opencc import OpenCC

    return OpenCC("t2s")


def to_simplified(text: str) -> str:
    converted = _converter().convert(text)
    # The t2s tables map character-for-character; keep the original if they ever do not,
    # because entity offsets depend on equal lengths.
    return converted if len(converted) == len(text) else text


def to_half_width(text: str) -> str:
    out = []
    for char in text:
        code = ord(char)
        if code == 0x3000:
            out.append(" ")
        elif 0xFF01 <= code <= 0xFF5E:
            out.append(chr(code - 0xFEE0))
        else:
            out.append(char)
    return "".join(out)


def _is_cjk(char: str) -> bool:
    return bool(_CJK.match(char))


def normalize_with_offsets(text: str) -> tuple[str, list[int]]:
    """Normalised text and, per output character, its index in the input."""
    text = to_half_width(to_simplified(text))
    kept: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        if char.isspace():
            previous = kept[-1] if kept else ""
            following = _next_non_space(text, index)
            if not previous or not following:
                continue  # leading/trailing space
            if previous == " ":
                continue  # collapse runs
            if _is_cjk(previous) or _is_cjk(following):
                continue  # 「查询 话费」-> 「查询话费」, 「充值 50」-> 「充值50」
            kept.append(" ")
        else:
            kept.append(char)
        origin.append(index)
    return "".join(kept), origin


def _next_non_space(text: str, index: int) -> str:
    for char in text[index + 1 :]:
        if not char.isspace():
            return char
    return ""


def normalize(text: str) -> str:
    return normalize_with_offsets(text)[0]
