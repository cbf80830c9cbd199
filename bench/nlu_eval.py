"""NLU evaluation: train an NLU-only model, predict the clean held-out set and the spoken set, print figures.

    .venv-rasa/bin/python bench/nlu_eval.py                      # train into a temp dir, then evaluate
    .venv-rasa/bin/python bench/nlu_eval.py --min-accuracy 0.95 --min-spoken-accuracy 0.90
    .venv-rasa/bin/python bench/nlu_eval.py --model models/x.tar.gz   # reuse a trained model
    .venv-rasa/bin/python bench/nlu_eval.py --keep-model var/nlu-eval # keep the trained model there

Before training it checks that no held-out, spoken-set or e2e utterance occurs in the training
data (nor a spoken/e2e one in the held-out set) once both are normalised (annotations dropped,
NFKC full-width -> half-width, traditional -> simplified, lower case, whitespace and punctuation
removed; WeChat emoji codes, which are punctuation, are compared as written), and fails if one
does: an evaluation set that leaks into training measures nothing.

Clean held-out set (bench/eval/heldout.yml): correct when the predicted intent is the label
(nlu_fallback is wrong).

Spoken set (bench/eval/spoken.yml, items with expect / accept / second / tags): the prediction
is turned into handlings, and the item is correct when one of them is `expect` or in `accept`:

    nlu_fallback                                   -> clarify   (the numbered 「您是想：…」 question)
    request_human, complaint, elder_self_described -> the intent name and handoff (all three go to a person)
    any other intent                               -> the intent name

For items with `second:`, the report counts how often the entity `second_request` carried that
intent (recall), and how many items without `second:` got one anyway (spurious). A
"transaction on dispute/low-confidence" error is an item tagged `dispute`, or expecting or
accepting `clarify`, that is predicted as top_up / change_plan / cancel_service although
neither `expect` nor `accept` names that intent: the one error that costs a subscriber money.

The data-loading helpers at the top import neither Rasa nor TensorFlow, so that
tests/test_nlu_data.py can use them cheaply.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import sys
import tempfile
import time
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "config.yml"
DEFAULT_TRAINING_DIR = PROJECT_ROOT / "data" / "nlu"
DEFAULT_HELDOUT = PROJECT_ROOT / "bench" / "eval" / "heldout.yml"
DEFAULT_LEXICON = DEFAULT_TRAINING_DIR / "plans_lexicon.yml"
DEFAULT_SPOKEN = PROJECT_ROOT / "bench" / "eval" / "spoken.yml"
DEFAULT_E2E = PROJECT_ROOT / "bench" / "eval" / "e2e_60.yml"

FALLBACK_INTENT = "nlu_fallback"
HANDOFF_INTENTS = frozenset({"request_human", "complaint", "elder_self_described"})
TRANSACTION_INTENTS = frozenset({"top_up", "change_plan", "cancel_service"})
SPOKEN_TAGS = (
    "greeting",
    "dispute",
    "off_menu",
    "two_requests",
    "voice",
    "elderly",
    "dialect",
    "traditional",
    "relative",
)
# The gateway sends a leading "/" as a full-width solidus so that Rasa does not read a WeChat
# emoji code (「/::)」) as an intent command; the NLU normaliser folds it back (gateway/rasa_client.py).
ESCAPED_SLASH = "\uff0f"

# [text](entity), [text]{"entity": ...}, [text][{...}] -> text
_ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\}|\[[^\]]*\])")
_IGNORED_FOR_OVERLAP = re.compile(r"[\s\W_]+", re.UNICODE)


@dataclass(frozen=True)
class Example:
    intent: str
    text: str  # annotations removed
    source: str  # file name, for messages


def strip_annotations(text: str) -> str:
    return _ANNOTATION.sub(r"\1", text)


@lru_cache(maxsize=1)
def _t2s():
    from opencc import OpenCC

    return OpenCC("t2s")


def normalise_for_overlap(text: str) -> str:
    """The form two utterances are compared in: 「查詢 話費！」 and 「查询话费」 are the same."""
    text = unicodedata.normalize("NFKC", strip_annotations(text)).strip()
    text = _t2s().convert(text).lower()
    return _IGNORED_FOR_OVERLAP.sub("", text)


def _block_items(block: str) -> list[str]:
    items = []
    for line in block.splitlines():
        line = line.strip()
        if line.startswith("- "):
            items.append(line[2:].strip())
        elif line == "-":
            raise ValueError("empty example line")
    return items


def load_nlu_file(path: Path) -> dict:
    """Parse one Rasa 3 NLU YAML file into intents, lookups and synonyms (text only)."""
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    parsed: dict = {"intents": defaultdict(list), "lookups": {}, "synonyms": {}}
    for entry in document.get("nlu") or []:
        examples = _block_items(entry.get("examples") or "")
        if "intent" in entry:
            parsed["intents"][entry["intent"]].extend(
                Example(entry["intent"], strip_annotations(raw), path.name) for raw in examples
            )
        elif "lookup" in entry:
            parsed["lookups"].setdefault(entry["lookup"], []).extend(examples)
        elif "synonym" in entry:
            parsed["synonyms"].setdefault(str(entry["synonym"]), []).extend(examples)
    return parsed


def load_examples(path: Path) -> list[Example]:
    """Every intent example in a file, or in every .yml file of a directory."""
    files = sorted(path.glob("*.yml")) if path.is_dir() else [path]
    examples: list[Example] = []
    for file in files:
        for intent_examples in load_nlu_file(file)["intents"].values():
            examples.extend(intent_examples)
    return examples


def _overlap_form(text: str) -> str:
    # WeChat emoji codes are punctuation: 「/:,@-D」 and 「/::D」 would both become "d".
    form = normalise_for_overlap(text)
    return form if len(form) > 1 else "as written: " + text.strip()


def find_overlap(heldout: list[Example], training: list[Example]) -> list[tuple[Example, Example]]:
    """(held-out, training) pairs that are the same utterance after normalisation."""
    by_form: dict[str, Example] = {}
    for example in training:
        form = _overlap_form(example.text)
        if form:
            by_form.setdefault(form, example)
    return [(example, by_form[form]) for example in heldout if (form := _overlap_form(example.text)) in by_form]


@dataclass(frozen=True)
class SpokenItem:
    text: str
    expect: str
    accept: tuple[str, ...] = ()
    second: str | None = None
    tags: tuple[str, ...] = ()

    @property
    def allowed(self) -> set[str]:
        return {self.expect, *self.accept}


def load_spoken(path: Path) -> list[SpokenItem]:
    """The items of a spoken-style eval file (bench/eval/spoken.yml, e2e_60.yml)."""
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return [
        SpokenItem(
            str(item["text"]),
            str(item["expect"]),
            tuple(item.get("accept") or ()),
            item.get("second"),
            tuple(item.get("tags") or ()),
        )
        for item in document.get("items") or []
    ]


def as_examples(items: list[SpokenItem], source: str) -> list[Example]:
    return [Example(item.expect, item.text, source) for item in items]


def alias_codes(lexicon_path: Path) -> dict[str, str]:
    """Normalised plan alias -> plan code, from the `synonym:` entries of the plan lexicon."""
    synonyms = load_nlu_file(lexicon_path)["synonyms"]
    return {normalise_for_overlap(alias): code for code, aliases in synonyms.items() for alias in aliases}


def expected_plans(text: str, aliases: dict[str, str]) -> list[str]:
    """Plan codes mentioned in an utterance: leftmost-longest alias matches."""
    form, found, index = normalise_for_overlap(text), [], 0
    longest_first = sorted(aliases, key=len, reverse=True)
    while index < len(form):
        match = next((alias for alias in longest_first if form.startswith(alias, index)), None)
        if match:
            found.append(aliases[match])
            index += len(match)
        else:
            index += 1
    return found


# --- training and prediction (imports Rasa) --------------------------------------------------


def quiet_rasa() -> None:
    """Warnings only: Rasa logs every parsed message at debug level otherwise."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["RASA_TELEMETRY_ENABLED"] = "false"  # no telemetry or crash reports leave the machine
    from rasa.utils.common import configure_logging_and_warnings
    from rasa.utils.log_utils import configure_structlog

    configure_logging_and_warnings(logging.WARNING)
    configure_structlog(logging.WARNING)


def train_model(config: Path, training_dir: Path, output_dir: Path) -> Path:
    from rasa.model_training import train_nlu

    model = train_nlu(
        config=str(config),
        nlu_data=str(training_dir),
        output=str(output_dir),
        fixed_model_name="nlu-eval",
    )
    if not model:
        raise RuntimeError("Rasa NLU training produced no model")
    return Path(model)


@dataclass(frozen=True)
class Prediction:
    intent: str
    confidence: float
    runner_up: str  # the best other intent: what DIET chose when the fallback fired
    plans: tuple[str, ...] = ()  # values of the extracted `plan` entities
    second: str | None = None  # value of the `second_request` entity
    text: str = ""  # the text after the NLU front end (normaliser + spoken rewrite)


async def predict_intents(model_path: Path, texts: list[str]) -> list[Prediction]:
    from rasa.core.agent import Agent

    agent = Agent.load(str(model_path))
    predictions = []
    for text in texts:
        stripped = text.lstrip()
        if stripped.startswith("/"):  # as the gateway sends it (gateway/rasa_client.py)
            text = ESCAPED_SLASH + stripped[1:]
        parsed = await agent.parse_message(text)
        intent = parsed.get("intent") or {}
        name = intent.get("name") or "<none>"
        others = [ranked for ranked in parsed.get("intent_ranking") or [] if ranked.get("name") != name]
        runner_up = f"{others[0]['name']} {others[0]['confidence']:.2f}" if others else "-"
        plans = tuple(
            str(entity.get("value")) for entity in parsed.get("entities") or [] if entity.get("entity") == "plan"
        )
        seconds = [
            str(entity.get("value"))
            for entity in parsed.get("entities") or []
            if entity.get("entity") == "second_request"
        ]
        predictions.append(
            Prediction(
                name,
                float(intent.get("confidence") or 0.0),
                runner_up,
                plans,
                seconds[0] if seconds else None,
                str(parsed.get("text") or ""),
            )
        )
    return predictions


# --- report -----------------------------------------------------------------------------------


@dataclass
class Result:
    example: Example
    prediction: Prediction

    @property
    def predicted(self) -> str:
        return self.prediction.intent

    @property
    def correct(self) -> bool:
        return self.predicted == self.example.intent


def print_report(results: list[Result], top_confusions: int) -> float:
    total = len(results)
    correct = sum(result.correct for result in results)
    accuracy = correct / total if total else 0.0
    print(f"held-out utterances: {total}")
    print(f"intent accuracy: {accuracy:.4f} ({correct}/{total})")

    print("\nper-intent recall:")
    by_intent: dict[str, list[Result]] = defaultdict(list)
    for result in results:
        by_intent[result.example.intent].append(result)
    for intent in sorted(by_intent):
        group = by_intent[intent]
        hits = sum(result.correct for result in group)
        print(f"  {intent:<16} {hits / len(group):6.1%}  ({hits}/{len(group)})")

    confusions = Counter((result.example.intent, result.predicted) for result in results if not result.correct)
    print("\ntop confusions (gold -> predicted):")
    if not confusions:
        print("  none")
    for (gold, predicted), count in confusions.most_common(top_confusions):
        print(f"  {gold} -> {predicted}: {count}")

    wrong = [result for result in results if not result.correct]
    print(f"\nwrong predictions ({len(wrong)}):")
    for result in wrong:
        print(
            f"  {result.example.text!r}: gold {result.example.intent}, predicted "
            f"{result.predicted} {result.prediction.confidence:.2f} (next: {result.prediction.runner_up})"
        )
    return accuracy


def handlings(intent: str) -> set[str]:
    """What the assistant does with a predicted intent (see the mapping at the top)."""
    if intent == FALLBACK_INTENT:
        return {"clarify"}
    return {intent, "handoff"} if intent in HANDOFF_INTENTS else {intent}


@dataclass
class SpokenResult:
    item: SpokenItem
    prediction: Prediction

    @property
    def predicted(self) -> str:
        return "clarify" if self.prediction.intent == FALLBACK_INTENT else self.prediction.intent

    @property
    def correct(self) -> bool:
        return bool(handlings(self.prediction.intent) & self.item.allowed)

    @property
    def transaction_error(self) -> bool:
        risky = "dispute" in self.item.tags or "clarify" in self.item.allowed
        intent = self.prediction.intent
        return risky and intent in TRANSACTION_INTENTS and intent not in self.item.allowed


def print_spoken_report(results: list[SpokenResult], top_confusions: int) -> tuple[float, int]:
    total = len(results)
    correct = sum(result.correct for result in results)
    accuracy = correct / total if total else 0.0
    print(f"spoken utterances: {total}")
    print(f"spoken accuracy (intent, or the right clarify/handoff): {accuracy:.4f} ({correct}/{total})")

    print("\nspoken per-tag accuracy:")
    for tag in SPOKEN_TAGS:
        group = [result for result in results if tag in result.item.tags]
        if group:
            hits = sum(result.correct for result in group)
            print(f"  {tag:<14} {hits / len(group):6.1%}  ({hits}/{len(group)})")

    print("\nspoken per-expect recall:")
    by_expect: dict[str, list[SpokenResult]] = defaultdict(list)
    for result in results:
        by_expect[result.item.expect].append(result)
    for expect in sorted(by_expect):
        group = by_expect[expect]
        hits = sum(result.correct for result in group)
        print(f"  {expect:<22} {hits / len(group):6.1%}  ({hits}/{len(group)})")

    confusions = Counter((result.item.expect, result.predicted) for result in results if not result.correct)
    print("\nspoken top confusions (expect -> predicted):")
    if not confusions:
        print("  none")
    for (gold, predicted), count in confusions.most_common(top_confusions):
        print(f"  {gold} -> {predicted}: {count}")

    with_second = [result for result in results if result.item.second]
    found = sum(result.prediction.second == result.item.second for result in with_second)
    spurious = [result for result in results if not result.item.second and result.prediction.second]
    print(
        f"\nsecond_request recall: {found}/{len(with_second)}"
        + (f" ({found / len(with_second):.1%})" if with_second else "")
        + f"; spurious second_request on single-request items: {len(spurious)}"
    )
    for result in spurious:
        print(f"  spurious: {result.item.text!r} -> {result.prediction.intent} + {result.prediction.second}")

    transaction_errors = [result for result in results if result.transaction_error]
    print(f"\ntransaction on dispute/low-confidence: {len(transaction_errors)}")
    for result in transaction_errors:
        print(f"  {result.item.text!r}: expect {result.item.expect}, predicted {result.prediction.intent}")

    wrong = [result for result in results if not result.correct]
    print(f"\nspoken wrong predictions ({len(wrong)}):")
    for result in wrong:
        accept = f" accept {list(result.item.accept)}" if result.item.accept else ""
        print(
            f"  {result.item.text!r} [{result.prediction.text}]: expect {result.item.expect}{accept}, predicted "
            f"{result.predicted} {result.prediction.confidence:.2f} (next: {result.prediction.runner_up})"
        )
    return accuracy, len(transaction_errors)


def print_plan_entities(results: list[Result], aliases: dict[str, str]) -> None:
    """Informational: do held-out utterances that name a plan get the right plan code?"""
    mentioning = [(result, expected_plans(result.example.text, aliases)) for result in results]
    mentioning = [(result, expected) for result, expected in mentioning if expected]
    wrong = [(result, expected) for result, expected in mentioning if list(result.prediction.plans) != expected]
    print(f"\nplan entity: {len(mentioning) - len(wrong)}/{len(mentioning)} plan mentions resolved to the right code")
    for result, expected in wrong:
        print(f"  {result.example.text!r}: expected {expected}, got {list(result.prediction.plans)}")


def print_overlap(overlap: list[tuple[Example, Example]], what: str = "held-out/training") -> None:
    if not overlap:
        print(f"{what} overlap after normalisation: none")
        return
    print(f"{what} overlap after normalisation: {len(overlap)} utterance(s)")
    for held, trained in overlap:
        print(f"  {held.source} {held.text!r} ({held.intent}) == {trained.source} {trained.text!r} ({trained.intent})")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="NLU pipeline config")
    parser.add_argument("--data", type=Path, default=DEFAULT_TRAINING_DIR, help="training data (dir or file)")
    parser.add_argument("--heldout", type=Path, default=DEFAULT_HELDOUT, help="held-out NLU YAML")
    parser.add_argument("--model", type=Path, help="evaluate this trained model instead of training")
    parser.add_argument("--keep-model", type=Path, help="train into this directory and keep the model")
    parser.add_argument("--spoken", type=Path, default=DEFAULT_SPOKEN, help="spoken-style eval set (items:)")
    parser.add_argument("--e2e", type=Path, default=DEFAULT_E2E, help="e2e set: only checked for leaks")
    parser.add_argument("--no-spoken", action="store_true", help="evaluate the held-out set only")
    parser.add_argument("--min-accuracy", type=float, help="exit 1 if held-out intent accuracy is below this (0-1)")
    parser.add_argument("--min-spoken-accuracy", type=float, help="exit 1 if spoken accuracy is below this (0-1)")
    parser.add_argument("--top-confusions", type=int, default=10)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))  # the pipeline's custom components live in nlu/
    os.chdir(PROJECT_ROOT)  # config.yml names its jieba dictionary relative to the repo root

    heldout = load_examples(args.heldout)
    training = load_examples(args.data)
    spoken = [] if args.no_spoken else load_spoken(args.spoken)
    e2e = load_spoken(args.e2e) if args.e2e.exists() else []
    print(f"training examples: {len(training)} ({args.data})")
    leaks = []
    for what, items, against in [
        ("held-out/training", heldout, training),
        ("spoken/training", as_examples(spoken, args.spoken.name), training),
        ("spoken/held-out", as_examples(spoken, args.spoken.name), heldout),
        ("e2e/training", as_examples(e2e, args.e2e.name), training),
        ("e2e/held-out", as_examples(e2e, args.e2e.name), heldout),
        ("e2e/spoken", as_examples(e2e, args.e2e.name), as_examples(spoken, args.spoken.name)),
    ]:
        if items:
            overlap = find_overlap(items, against)
            print_overlap(overlap, what)
            leaks.extend(overlap)
    if leaks:
        print("FAIL: an evaluation set must not occur in the training data (or in another eval set)", file=sys.stderr)
        return 2

    quiet_rasa()
    with tempfile.TemporaryDirectory(prefix="nlu-eval-") as scratch:
        model_path = args.model
        if model_path is None:
            output_dir = args.keep_model or Path(scratch)
            output_dir.mkdir(parents=True, exist_ok=True)
            started = time.monotonic()
            model_path = train_model(args.config, args.data, output_dir)
            print(f"trained {model_path} in {time.monotonic() - started:.0f} s")
        started = time.monotonic()
        texts = [example.text for example in heldout] + [item.text for item in spoken]
        predictions = asyncio.run(predict_intents(model_path, texts))
        print(f"loaded and predicted in {time.monotonic() - started:.0f} s\n")

    results = [Result(example, prediction) for example, prediction in zip(heldout, predictions)]
    accuracy = print_report(results, args.top_confusions)
    print_plan_entities(
        results, alias_codes(args.data / "plans_lexicon.yml" if args.data.is_dir() else DEFAULT_LEXICON)
    )
    spoken_accuracy, transaction_errors = None, 0
    if spoken:
        print("\n" + "=" * 100 + "\n")
        spoken_results = [
            SpokenResult(item, prediction) for item, prediction in zip(spoken, predictions[len(heldout) :])
        ]
        spoken_accuracy, transaction_errors = print_spoken_report(spoken_results, args.top_confusions)

    print("\n" + "=" * 100)
    print(f"held-out accuracy: {accuracy:.4f}")
    if spoken_accuracy is not None:
        print(f"spoken accuracy:   {spoken_accuracy:.4f}")
        print(f"transaction on dispute/low-confidence: {transaction_errors}")
    failed = False
    if transaction_errors:
        print(
            f"FAIL: {transaction_errors} dispute or low-confidence messages would open a transaction", file=sys.stderr
        )
        failed = True
    if args.min_accuracy is not None and accuracy < args.min_accuracy:
        print(f"FAIL: held-out intent accuracy {accuracy:.4f} < {args.min_accuracy}", file=sys.stderr)
        failed = True
    if args.min_spoken_accuracy is not None and (spoken_accuracy or 0.0) < args.min_spoken_accuracy:
        print(f"FAIL: spoken accuracy {spoken_accuracy or 0.0:.4f} < {args.min_spoken_accuracy}", file=sys.stderr)
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
