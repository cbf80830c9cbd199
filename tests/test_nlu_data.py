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

SPOKEN = PROJECT_ROOT / "bench" / "eval" / "spoken.yml"
E2E = PROJECT_ROOT / "bench" / "eval" / "e2e_60.yml"
LOOKUPS = TRAINING_DIR / "lookups.yml"

# The domain is the one list of intents; the thresholds below are data policy.
# Sent only by the gateway as triggers (a WeChat location or photo message), never classified.
TRIGGER_ONLY_INTENTS = {"shared_location", "shared_image"}
ALL_INTENTS = set(yaml.safe_load(DOMAIN.read_text(encoding="utf-8"))["intents"]) - TRIGGER_ONLY_INTENTS
# The menu's requests: the most varied phrasing, so the most examples.
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
# The intents of the first version: the clean held-out set covers each of them.
FIRST_VERSION_INTENTS = CORE_INTENTS | {
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
# Handlings an eval item may expect besides an intent.
HANDLINGS = {"clarify", "handoff"}
ANNOTATED_ENTITIES = {"plan", "service", "relative"}

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


def test_heldout_is_large_and_covers_every_first_version_intent(heldout):
    counts = Counter(example.intent for example in heldout)
    assert len(heldout) >= 150
    assert set(counts) <= ALL_INTENTS, set(counts) - ALL_INTENTS
    assert {intent: counts[intent] for intent in FIRST_VERSION_INTENTS if counts[intent] < 8} == {}


def _eval_items(path: Path) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["items"]


@pytest.mark.parametrize("path", [SPOKEN, E2E], ids=["spoken", "e2e"])
def test_spoken_eval_sets_use_known_handlings(path):
    for item in _eval_items(path):
        for handling in [item["expect"], *item.get("accept", []), *([item["second"]] if "second" in item else [])]:
            assert handling in ALL_INTENTS | HANDLINGS, (handling, item["text"])


def test_spoken_set_is_large_and_expects_every_intent():
    items = _eval_items(SPOKEN)
    assert len(items) >= 300
    expected = {item["expect"] for item in items}
    assert ALL_INTENTS <= expected, ALL_INTENTS - expected


@pytest.mark.parametrize("path", [SPOKEN, E2E], ids=["spoken", "e2e"])
def test_no_spoken_eval_utterance_occurs_in_training(path, training):
    items = [nlu_eval.Example(item["expect"], item["text"], path.name) for item in _eval_items(path)]
    overlap = [pair for pair in nlu_eval.find_overlap(items, training) if not _different_emoji_codes(*pair)]
    assert not overlap, [(held.text, trained.text) for held, trained in overlap]


def _different_emoji_codes(held, trained) -> bool:
    # Dropping punctuation leaves 「/:,@-D」 and 「/::D」 both as "d": codes are compared as written.
    return len(nlu_eval.normalise_for_overlap(held.text)) <= 1 and held.text.strip() != trained.text.strip()


def test_no_spoken_eval_utterance_occurs_in_the_heldout_set(heldout):
    items = [nlu_eval.Example(item["expect"], item["text"], "spoken") for item in _eval_items(SPOKEN)]
    assert not nlu_eval.find_overlap(items, heldout)


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
    # Emoji codes are made of punctuation: they are compared as written.
    forms = Counter(nlu_eval.normalise_for_overlap(example.text) or example.text.strip() for example in training)
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


def test_annotations_are_known_entities_on_simplified_text(lexicon):
    alias_to_code = {alias.lower(): code for code, aliases in lexicon["synonyms"].items() for alias in aliases}
    lookups = nlu_eval.load_nlu_file(LOOKUPS)["lookups"]
    annotated = Counter()
    for line in _raw_training_lines():
        for text, entity in _ANNOTATION.findall(line):
            annotated[entity] += 1
            assert entity in ANNOTATED_ENTITIES, line
            assert " " not in text and nlu_eval.normalise_for_overlap(text) == text.lower(), line
            if entity == "plan":
                assert text.lower() in alias_to_code, f"{text!r} maps to no plan code"
            else:
                assert text in lookups[entity], f"{text!r} is not in the {entity} lookup table"
        assert "{" not in line or "}" not in line, f"use [text](entity) annotations only: {line}"
    assert annotated["plan"] >= 60 and annotated["service"] >= 20 and annotated["relative"] >= 20


def test_entity_lookup_tables_list_longer_names_first():
    for name, elements in nlu_eval.load_nlu_file(LOOKUPS)["lookups"].items():
        for index, element in enumerate(elements):
            shadowed = [later for later in elements[index + 1 :] if element in later]
            assert not shadowed, f"{name}: {element!r} is listed before {shadowed}"


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
