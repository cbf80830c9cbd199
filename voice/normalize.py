"""Turn a raw transcript (Vosk's or WeChat's) into the text the dialogue model expects.

- Vosk separates Chinese words with spaces (「查询 话费 余额」): join them, keep spaces between
  Latin words and numbers.
- Digit strings read one digit at a time (phone numbers, codes: 「幺三八…」) become digits; counted
  numbers (「五十」「一百」) are left for the NLU, which understands them.
- Fillers (嗯, 啊, 呃 …) at the start and end are dropped, and Vosk's unknown-word tokens removed.
"""

from __future__ import annotations

import re

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_SPACE_AFTER_CJK = re.compile(rf"(?<=[{_CJK}])\s+")
_SPACE_BEFORE_CJK = re.compile(rf"\s+(?=[{_CJK}])")
_UNKNOWN_TOKENS = re.compile(r"\[unk\]|<unk>|<UNK>|\[noise\]|<noise>|\[laughter\]", re.IGNORECASE)

# Digits as read out one by one. 两 is left out: nobody reads a phone number with it, while
# 「三三两两」 and the like are words.
_SPOKEN_DIGITS = {"零": "0", "〇": "0", "洞": "0", "幺": "1", "一": "1", "二": "2", "三": "3", "四": "4",
                  "五": "5", "六": "6", "七": "7", "八": "8", "九": "9"}  # fmt: skip
_DIGIT_CHARS = "".join(_SPOKEN_DIGITS)
# Four or more digit-readings in a row, or three with 幺/洞/零 (which only occur in digit readings).
_DIGIT_RUN = re.compile(rf"[{_DIGIT_CHARS}0-9]{{4,}}|[{_DIGIT_CHARS}0-9]*[幺洞零〇][{_DIGIT_CHARS}0-9]*")

# Fillers only: not 额 (额度), 嘛 (干嘛) or 呀, which end or start real words.
_FILLERS = "嗯啊呃哦噢唔欸诶哎唉"
_LEADING_FILLERS = re.compile(rf"^[{_FILLERS}\s，,。.、！!？?…]+")
_TRAILING_FILLERS = re.compile(rf"[{_FILLERS}\s，,、…]+(?=[。.！!？?]*$)")


def normalize_transcript(text: str | None) -> str:
    if not text:
        return ""
    cleaned = _UNKNOWN_TOKENS.sub(" ", text)
    cleaned = " ".join(cleaned.split())
    cleaned = _SPACE_AFTER_CJK.sub("", cleaned)
    cleaned = _SPACE_BEFORE_CJK.sub("", cleaned)
    cleaned = _digits_for_digit_strings(cleaned)
    stripped = _TRAILING_FILLERS.sub("", _LEADING_FILLERS.sub("", cleaned))
    if not stripped.rstrip("。.！!？?"):
        return cleaned  # only fillers («嗯»): leave them for the dialogue model to read as it can
    return stripped


def _digits_for_digit_strings(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        run = match.group(0)
        if len(run) < 3:
            return run
        return "".join(_SPOKEN_DIGITS.get(char, char) for char in run)

    return _DIGIT_RUN.sub(replace, text)
