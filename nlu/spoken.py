"""Spoken-language front end, applied after nlu.normalize and before tokenising (training and
prediction alike). Pure Python, no Rasa.

Subscribers write like call-centre transcripts: 「喂，你好你好，我我想问一下，我这个号还剩多少钱，谢谢」.
`analyse` turns that into 「我想问一下，我这个号还剩多少钱」-like text for the classifier and splits
it into clauses for the request-first resolver (nlu.components.RequestResolver):

1. clauses: split at ，。！？；、~… (and , . ! ? ; outside numbers), at a space between two long
   stretches of text (typed 「你好 先帮我查下话费 再看看流量」, not Vosk's word spacing), and before
   a connector that starts a second request (还有 积分 / 另外 / 顺便 / 然后 / 对了 / 再帮我 …).
2. repetitions collapsed inside a clause: 我我想 -> 我想, 那个那个 -> 那个, 喂喂喂 -> 喂,
   充充值 -> 充值 (a doubled first character of a telecom word), 话费话费 -> 话费; identical
   consecutive clauses (「退订，退订」) kept once. Real reduplications stay: 看看, 谢谢, 试试, 查查,
   爸爸, 奶奶, AABB forms (多多少少), digits and Chinese numerals (幺三八幺三八).
3. leading greetings, fillers and address words stripped from every clause (喂, 你好/您好, 唉/哎,
   嗯, 呃, 那个, 就是, 请问, 麻烦(你), 打扰一下, 我想问一下, 同志/客服/师傅/姑娘… when followed by a
   pause, 你/您 or 好), clauses that are only politeness (「…，谢谢」「…，麻烦你了」) dropped, and a
   trailing 谢谢 dropped after at least four characters of request (「好的谢谢」 stays). Only when a request is left: if nothing meaningful would remain
   (「你好」, 「客服你好」, 「麻烦你了」) the message keeps its words.
4. dialect words that carry meaning are never touched (啥子, 咋个, 恁多, 俺); particles stay too
   (the character n-grams cope with them).

Every step only deletes characters, and `origin` maps each output character to its index in
the raw input, so annotated entity offsets can be carried over. Text without any CJK character
(WeChat emoji codes 「/::D」「/:rose」, 「ok」, numbers) only gets nlu.normalize, except that a
leading "/" stays a full-width 「／」: Rasa would read 「/::D」 as an intent command.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from nlu.normalize import normalize_with_offsets, to_half_width, to_simplified

ESCAPED_SLASH = "\uff0f"
SEPARATORS = set("，。！？；、~～…,!?;\n")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_NUMERALS = set("零〇一二三四五六七八九十百千万两幺")
# Characters a speaker stutters on: 我我想, 你你好, 喂喂喂.
_STUTTER = set("我喂你就那这俺他她")
# A doubled first character of these words is a restart: 充充值 -> 充值 (but 查查话费, 看看 stay).
_WORDS = {
    "充值",
    "查询",
    "退订",
    "取消",
    "话费",
    "流量",
    "套餐",
    "账单",
    "余额",
    "业务",
    "宽带",
    "办理",
    "积分",
    "发票",
    "投诉",
    "人工",
    "号码",
    "手机",
    "彩铃",
    "绑定",
    "解绑",
    "缴费",
    "交费",
    "欠费",
    "停机",
    "开通",
    "关闭",
    "转人",
}
_PARTICLES = "啊呀哈啦嘛呢哦吧嘞咯噻撒哟"
# Openers stripped from the start of a clause (greetings, hesitations, politeness, help filler).
_OPENER = re.compile(
    r"(?:喂+|你好+|您好+|你们好|哈[喽啰罗咯]|hello|hi|嗨+|唉+|哎+(?:呀|哟)?|诶+|欸+|嗯+|呃+|啊+|哦+|噢+"
    r"|那个(?:啥|什么)?|就是(?:说)?|请问(?:一下|下)?|麻烦(?:你|您)?(?:了|一下)?|打扰(?:一下|了|你了)?"
    r"|(?:我)?(?:就是)?(?:想|要)?(?:问|咨询|请教)(?:一下|下)|(?:我)?(?:想|要)?(?:问|咨询)(?:个|一个|点)(?:事|事情|问题)"
    r"|在吗|在不在|在么|有人吗|有人没|听得[见到]吗|听得[见到]不)"
    rf"[{_PARTICLES}]*",
    re.IGNORECASE,
)
# Address words: stripped only when a pause, 你/您, 好 or a particle follows (「客服电话多少」 stays).
_ADDRESS = re.compile(
    r"(?:同志|客服|小姐|姑娘|师傅|老师|美女|帅哥|小妹|妹子|小伙子|工作人员|小助手|机器人|领导)"
    rf"(?:你好|您好)?[{_PARTICLES}]*"
)
_ADDRESS_FOLLOWERS = set("你您好") | set(_PARTICLES)
# A whole clause of politeness after a request: 「…，谢谢」「…，麻烦你了」.
_POLITE_CLAUSE = re.compile(
    r"(?:好的)?(?:谢谢|谢了|多谢|感谢|麻烦(?:你|您)?了|辛苦(?:了|你了|您了)?|拜托(?:了|你了|您了)?)"
    rf"(?:你|您|你们)?[{_PARTICLES}了]*"
)
# Connectors that start a second request inside a clause.
_CONNECTOR = re.compile(
    r"另外|顺便|顺带|然后|对了|以及|再帮我|再给我|再帮忙|再查|再看|再把|再问"
    r"|还有(?!多少|没|钱|几|好多|剩|啥|什么|吗|呢|不|余额|话费|点|一|些|效|的|用|个|人|就)"
)
_CONNECTOR_HEAD = re.compile(r"(?:还有|另外|顺便|顺带|然后|对了|以及|再)(?:就是|问一下|问下|呢|啊|呀)?")


@dataclass
class Spoken:
    text: str  # the rewritten text (normalised, fillers and repetitions removed)
    origin: list[int]  # per output character, its index in the raw input
    clauses: list[tuple[int, int]] = field(default_factory=list)  # spans in `text`, in order

    def clause_items(self) -> list[tuple[int, int, str]]:
        """(start, end, text) per clause: the span in `text`, and the words the resolver
        classifies (separators and a leading connector such as 还有/顺便/再 removed)."""
        items = []
        strip = "".join(SEPARATORS) + " ."
        for start, end in self.clauses:
            clause = self.text[start:end]
            lead = len(clause) - len(clause.lstrip(strip))
            clause = clause.strip(strip)
            head = _CONNECTOR_HEAD.match(clause)
            if head and len(clause) - head.end() >= 2:
                lead += head.end()
                clause = clause[head.end() :]
            if clause:
                items.append((start + lead, start + lead + len(clause), clause))
        return items

    def clause_texts(self) -> list[str]:
        return [text for _, _, text in self.clause_items()]


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


def analyse(raw: str) -> Spoken:
    text, origin = normalize_with_offsets(raw)
    if text.startswith("/"):
        # Rasa's RegexMessageHandler, at the end of the prediction graph, reads a text that
        # starts with "/" as an intent command (「/::D」 -> intent "::D"); the gateway sends a
        # full-width solidus for that reason, and it stays full-width here (training alike).
        text = ESCAPED_SLASH + text[1:]
    if not has_cjk(text):  # emoji codes (／::D, ／:rose), ok, numbers: only normalised
        return Spoken(text, origin, [(0, len(text))] if text else [])
    boundaries = _space_boundaries(to_half_width(to_simplified(raw)), origin)
    clauses = _clauses(text, boundaries)
    gaps = {j for j in range(1, len(origin)) if origin[j] - origin[j - 1] > 1}
    keep = [True] * len(text)

    for start, end in clauses:
        _collapse_repetitions(text, start, end, keep)
    _drop_repeated_clauses(text, clauses, keep)

    stripped = list(keep)
    for index, (start, end) in enumerate(clauses):
        _strip_opener(text, start, end, stripped, gaps)
        if index > 0 and _is_polite_clause(text, start, end, stripped):
            _delete(stripped, start, end)
    _strip_trailing_thanks(text, clauses, stripped)
    if _meaningful(text, stripped) >= 2:
        keep = stripped
    # A clause left with nothing but separators goes entirely; so do separators at the very start.
    for start, end in clauses:
        if _meaningful(text, keep, start, end) == 0:
            _delete(keep, start, end)
    for index, char in enumerate(text):
        if not keep[index]:
            continue
        if char in SEPARATORS or char in " .":
            keep[index] = False
            continue
        break

    out_chars = [char for char, kept in zip(text, keep) if kept]
    out_origin = [o for o, kept in zip(origin, keep) if kept]
    positions = [i for i, kept in enumerate(keep) if kept]
    spans = []
    for start, end in clauses:
        new_start = bisect.bisect_left(positions, start)
        new_end = bisect.bisect_left(positions, end)
        if new_end > new_start and _meaningful(text, keep, start, end):
            spans.append((new_start, new_end))
    out = "".join(out_chars).rstrip(" ,，、;；")
    return Spoken(out, out_origin[: len(out)], [(s, min(e, len(out))) for s, e in spans if s < len(out)])


def rewrite(raw: str) -> str:
    return analyse(raw).text


def clauses(raw: str) -> list[str]:
    return analyse(raw).clause_texts()


# --- clauses ----------------------------------------------------------------------------------


def _space_boundaries(spaced: str, origin: list[int]) -> set[int]:
    """Output positions where a typed space separated two long stretches of Chinese (>= 5
    characters each): 「你好 先帮我查下话费 再帮我看看流量」, not Vosk's 「我 想 查 话费」 or 「139 1234 5678」."""
    found: set[int] = set()
    for match in re.finditer(r"\s+", spaced):
        before = re.split(r"\s+", spaced[: match.start()].rstrip())[-1] if spaced[: match.start()].strip() else ""
        after = re.split(r"\s+", spaced[match.end() :].lstrip())[0] if spaced[match.end() :].strip() else ""
        if len(before) >= 5 and len(after) >= 5 and has_cjk(before) and has_cjk(after):
            found.add(bisect.bisect_left(origin, match.end()))
    return found


def _is_separator(text: str, index: int) -> bool:
    char = text[index]
    if char in SEPARATORS:
        return True
    if char == ".":  # 12.5 is a number, 「好的.」 a full stop
        return not (0 < index < len(text) - 1 and text[index - 1].isdigit() and text[index + 1].isdigit())
    return False


def _clauses(text: str, boundaries: set[int]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = 0
    index = 0
    while index < len(text):
        if _is_separator(text, index):
            end = index
            while end < len(text) and (_is_separator(text, end) or text[end] == " "):
                end += 1
            spans.append((start, end))
            start = index = end
            continue
        if index in boundaries and index > start:
            spans.append((start, index))
            start = index
        index += 1
    if start < len(text):
        spans.append((start, len(text)))
    result: list[tuple[int, int]] = []
    for span_start, span_end in spans:
        result.extend(_split_at_connectors(text, span_start, span_end))
    return result


def _split_at_connectors(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans = []
    for match in _CONNECTOR.finditer(text, start, end):
        before = text[start : match.start()]
        after = text[match.end() : end]
        if _count_meaningful(before) >= 3 and _count_meaningful(after) >= 2:
            spans.append((start, match.start()))
            start = match.start()
    spans.append((start, end))
    return spans


def _count_meaningful(text: str) -> int:
    return sum(1 for char in text if char.isalnum())


def _meaningful(text: str, keep: list[bool], start: int = 0, end: int | None = None) -> int:
    end = len(text) if end is None else end
    return sum(1 for index in range(start, end) if keep[index] and text[index].isalnum())


def _delete(keep: list[bool], start: int, end: int) -> None:
    for index in range(start, end):
        keep[index] = False


# --- repetitions ------------------------------------------------------------------------------


def _collapsible(unit: str, following: str, after_pair: str) -> bool:
    if not all(_CJK.match(char) for char in unit) or all(char in _NUMERALS for char in unit):
        return False
    if len(unit) > 1:
        return True
    if after_pair[:1] == after_pair[1:2] and after_pair[:1]:
        return False  # AABB: 多多少少, 清清楚楚
    return unit in _STUTTER or unit + after_pair[:1] in _WORDS


def _collapse_repetitions(text: str, start: int, end: int, keep: list[bool]) -> None:
    changed = True
    while changed:
        changed = False
        indices = [index for index in range(start, end) if keep[index]]
        chars = "".join(text[index] for index in indices)
        for position in range(len(chars)):
            for length in (4, 3, 2, 1):
                unit = chars[position : position + length]
                if len(unit) < length or chars[position + length : position + 2 * length] != unit:
                    continue
                after_pair = chars[position + 2 * length : position + 2 * length + 2]
                if _collapsible(unit, unit, after_pair):
                    for offset in range(length):
                        keep[indices[position + offset]] = False
                    changed = True
                    break
            if changed:
                break


def _drop_repeated_clauses(text: str, clauses: list[tuple[int, int]], keep: list[bool]) -> None:
    def body(span: tuple[int, int]) -> str:
        return "".join(text[i] for i in range(*span) if keep[i] and text[i].isalnum())

    for first, second in zip(clauses, clauses[1:]):
        if body(first) and body(first) == body(second) and has_cjk(body(first)):
            _delete(keep, *first)


# --- openers and politeness -------------------------------------------------------------------


def _strip_opener(text: str, start: int, end: int, keep: list[bool], gaps: set[int]) -> None:
    """Delete greetings, fillers and address words at the start of the clause [start, end)."""
    while True:
        indices = [index for index in range(start, end) if keep[index]]
        # skip separators and spaces left at the clause start
        lead = 0
        while lead < len(indices) and (text[indices[lead]] in SEPARATORS or text[indices[lead]] in " ."):
            lead += 1
        chars = "".join(text[index] for index in indices)
        matched = 0
        opener = _OPENER.match(chars, lead)
        if opener and opener.end() > lead:
            matched = opener.end()
        else:
            address = _ADDRESS.match(chars, lead)
            if address and address.end() > lead:
                following = chars[address.end() : address.end() + 1]
                pause = address.end() < len(indices) and indices[address.end()] in gaps
                if (
                    not following
                    or following in SEPARATORS
                    or following in _ADDRESS_FOLLOWERS
                    or pause
                    or _OPENER.match(chars, address.end())
                ):
                    matched = address.end()
        if not matched:
            return
        while matched < len(indices) and (text[indices[matched]] in SEPARATORS or text[indices[matched]] in " "):
            matched += 1
        for position in range(lead, matched):
            keep[indices[position]] = False
        for position in range(lead):
            keep[indices[position]] = False


def _is_polite_clause(text: str, start: int, end: int, keep: list[bool]) -> bool:
    body = "".join(text[i] for i in range(start, end) if keep[i] and text[i] not in SEPARATORS and text[i] != " ")
    return bool(body) and _POLITE_CLAUSE.fullmatch(body) is not None


def _strip_trailing_thanks(text: str, clauses: list[tuple[int, int]], keep: list[bool]) -> None:
    """「…本机话费余额谢谢」 -> 「…本机话费余额」 (the last clause's trailing thanks)."""
    if not clauses:
        return
    start, end = clauses[-1]
    indices = [index for index in range(start, end) if keep[index]]
    chars = "".join(text[index] for index in indices)
    match = re.search(
        rf"(?<![感多太道谢])(?:谢谢|谢了|多谢)(?:你|您|你们)?[{_PARTICLES}了]*[{''.join(SEPARATORS)} .]*$", chars
    )
    if match and _count_meaningful(chars[: match.start()]) >= 4:
        for position in range(match.start(), len(chars)):
            keep[indices[position]] = False


# --- emoji ------------------------------------------------------------------------------------

_WECHAT_CODE = re.compile(r"[/／]:[^\s/／\[]*|\[[\u4e00-\u9fffA-Za-z]{1,4}\]")


def is_emoji_only(text: str) -> bool:
    """A message made only of WeChat emoji codes (「/::D」「／:rose」「[微笑]」) and Unicode emoji."""
    rest = _WECHAT_CODE.sub("", text)
    if rest == text and not rest.strip():
        return False
    import unicodedata

    for char in rest:
        if char.isspace() or char in "\u200d\ufe0f":
            continue
        if unicodedata.category(char) not in ("So", "Sk", "Mn"):
            return False
    return bool(text.strip())
