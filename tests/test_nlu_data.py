"""Cheap checks on the NLU training data, the plan lexicon and the held-out set (no training).

The held-out accuracy itself is measured by bench/nlu_eval.py, which trains a model.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TRAINING_DIR = PROJECT_ROOT / "data" / "nlu"
HELDOUT = PROJECT_ROOT / "bench" / "eval" / "heldout.yml"
LEXICON = TRAINING_DIR / "plans_lexicon.yml"
JIEBA_DICT = PROJECT_ROOT / "nlu" / "dict" / "telecom.txt"
DOMAIN = PROJECT_ROOT / "domain.yml"


def _load_eval_module():
    spec = importlib.util.spec_from_file_location("nlu_eval", PROJECT_ROOT / "bench" / "nlu_eval.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("nlu_eval", module)
    spec.loader.exec_module(module)
    return module


nlu_eval = _load_eval_module()

CORE_INTENTS = {
    "check_balance",
    "check_usage",
    "top_up",
    "check_plan",
    "list_plans",
    "recommend_plan",
    "change_plan",
    "request_human",
}
OTHER_INTENTS = {
    "greet",
    "goodbye",
    "thank",
    "affirm",
    "deny",
    "check_bill",
    "report_fault",
    "bind_phone",
    "unbind_phone",
    "help",
    "inform",
    "out_of_scope",
}
ALL_INTENTS = CORE_INTENTS | OTHER_INTENTS

# plan code -> official name and the aliases subscribers use (issue 2 / the lead's brief)
PLANS = {
    "ELDER10": ["智慧养老卡", "养老卡", "老年卡", "老人卡", "十元卡", "10元卡"],
    "ELDER18": ["孝心18元套餐", "孝心套餐", "孝心卡"],
    "GUARD8": ["8元保号套餐", "保号套餐", "保号卡", "八元套餐"],
    "MINI19": ["畅享19元卡", "19元卡", "畅享卡"],
    "LIVE29": ["乐享29元套餐", "29元套餐", "乐享29"],
    "LIVE39": ["乐享39元套餐", "39元套餐", "乐享39"],
    "DATA39": ["大流量39元卡", "大流量卡", "流量卡"],
    "5G59": ["5G畅享59元套餐", "59元套餐", "5G59"],
    "5G79": ["5G畅享79元套餐", "79元套餐"],
    "5G129": ["5G畅享129元套餐", "129元套餐"],
    "5G199": ["5G尊享199元套餐", "199元套餐", "尊享套餐"],
    "FAMILY99": ["全家享99元融合套餐", "全家享", "融合套餐", "家庭套餐"],
    "CAMPUS25": ["校园25元卡", "校园卡", "学生卡"],
}

_ANNOTATION = re.compile(r"\[([^\]]+)\]\(([^)]*)\)")


@pytest.fixture(scope="module")
def training():
    return nlu_eval.load_examples(TRAINING_DIR)


@pytest.fixture(scope="module")
def heldout():
    return nlu_eval.load_examples(HELDOUT)


@pytest.fixture(scope="module")
def lexicon():
    return nlu_eval.load_nlu_file(LEXICON)


def _raw_training_lines() -> list[str]:
    lines = []
    for path in sorted(TRAINING_DIR.glob("*.yml")):
        for entry in yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"]:
            if "intent" in entry:
                lines.extend(nlu_eval._block_items(entry["examples"]))
    return lines


def test_every_intent_has_enough_training_examples(training):
    counts = Counter(example.intent for example in training)
    too_few = {
        intent: counts[intent] for intent in ALL_INTENTS if counts[intent] < (45 if intent in CORE_INTENTS else 20)
    }
    assert not too_few, f"intents below their minimum: {too_few}"
    assert set(counts) == ALL_INTENTS, f"unexpected intents: {set(counts) - ALL_INTENTS}"


def test_training_intents_match_the_domain(training):
    domain_intents = set(yaml.safe_load(DOMAIN.read_text(encoding="utf-8"))["intents"])
    trained = {example.intent for example in training}
    assert trained <= domain_intents, f"not in the domain: {trained - domain_intents}"
    assert ALL_INTENTS <= domain_intents


def test_heldout_is_large_and_covers_every_intent(heldout):
    counts = Counter(example.intent for example in heldout)
    assert len(heldout) >= 150
    assert set(counts) == ALL_INTENTS
    assert min(counts.values()) >= 8, counts


def test_no_heldout_utterance_occurs_in_training(heldout, training):
    overlap = nlu_eval.find_overlap(heldout, training)
    assert not overlap, [(held.text, trained.text) for held, trained in overlap]


def test_overlap_check_sees_through_spaces_traditional_and_full_width():
    held = [nlu_eval.Example("check_balance", "查詢 話費 餘額！", "heldout")]
    trained = [nlu_eval.Example("check_balance", "查询话费余额", "train")]
    assert nlu_eval.find_overlap(held, trained)
    assert nlu_eval.normalise_for_overlap("充５０元") == "充50元"
    assert nlu_eval.normalise_for_overlap("改成[養老卡](plan)") == "改成养老卡"


def test_no_duplicate_training_examples_after_normalisation(training):
    forms = Counter(nlu_eval.normalise_for_overlap(example.text) for example in training)
    assert not [form for form, count in forms.items() if count > 1]


def test_every_plan_code_has_a_synonym_with_all_its_aliases(lexicon):
    synonyms = lexicon["synonyms"]
    for code, aliases in PLANS.items():
        assert code in synonyms, f"no synonym for {code}"
        missing = set(aliases) - set(synonyms[code])
        assert not missing, f"{code} lacks aliases {missing}"
    owners = Counter(alias for aliases in synonyms.values() for alias in aliases)
    assert not [alias for alias, count in owners.items() if count > 1], "an alias maps to two plans"


def test_lookup_table_has_every_alias_longest_first(lexicon):
    lookup = lexicon["lookups"]["plan"]
    every_alias = {alias for aliases in lexicon["synonyms"].values() for alias in aliases}
    assert every_alias <= set(lookup), f"missing from lookup: {every_alias - set(lookup)}"
    assert {alias for aliases in PLANS.values() for alias in aliases} <= set(lookup)
    # use_word_boundaries is false: a name listed before a longer name that contains it
    # would win the regex alternation and cut 「全家享99元融合套餐」 down to 「全家享」.
    for index, element in enumerate(lookup):
        shadowed = [later for later in lookup[index + 1 :] if element in later]
        assert not shadowed, f"{element!r} is listed before {shadowed}"


def test_annotations_are_plans_on_simplified_text_and_resolve_to_a_code(lexicon):
    alias_to_code = {alias.lower(): code for code, aliases in lexicon["synonyms"].items() for alias in aliases}
    annotated = 0
    for line in _raw_training_lines():
        for text, entity in _ANNOTATION.findall(line):
            annotated += 1
            assert entity == "plan", line
            assert " " not in text and nlu_eval.normalise_for_overlap(text) == text.lower(), line
            assert text.lower() in alias_to_code, f"{text!r} maps to no plan code"
        assert "{" not in line or "}" not in line, f"use [text](plan) annotations only: {line}"
    assert annotated >= 60


def test_jieba_dictionary_is_simplified_and_well_formed():
    from opencc import OpenCC

    t2s = OpenCC("t2s")
    words = []
    for number, line in enumerate(JIEBA_DICT.read_text(encoding="utf-8").splitlines(), 1):
        assert t2s.convert(line) == line, f"line {number} has traditional characters: {line}"
        word, freq, tag = line.split(" ")
        assert int(freq) > 0 and tag
        words.append(word)
    assert len(words) == len(set(words))
    every_alias = {alias for aliases in PLANS.values() for alias in aliases}
    assert every_alias <= set(words)
    assert {"话费", "余额", "欠费", "流量", "套餐", "充值", "缴费", "停机", "宽带", "人工客服", "转人工"} <= set(words)


def test_eval_script_finds_plan_mentions_leftmost_longest():
    aliases = nlu_eval.alias_codes(LEXICON)
    assert nlu_eval.expected_plans("换成5G畅享129元套餐", aliases) == ["5G129"]
    assert nlu_eval.expected_plans("办理 全家享99元融合套餐", aliases) == ["FAMILY99"]
    assert nlu_eval.expected_plans("養老卡還是孝心卡", aliases) == ["ELDER10", "ELDER18"]
    assert nlu_eval.expected_plans("查话费", aliases) == []
