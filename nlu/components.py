"""Custom Rasa 3.6 graph components for Chinese telecom text.

- `TextNormalizer`: runs first; rewrites the message text (nlu.normalize, then the spoken
  front end nlu.spoken: fillers, greetings and repetitions removed) for training and prediction
  alike, carrying annotated entity offsets over, and stores the clauses (`spoken_clauses`).
- `RequestResolver`: after DIETClassifier; request-first intent resolution over the clauses
  (see its docstring).
- `TelecomEntityExtractor`: phone numbers, SMS codes, amounts and bare numbers (nlu.entities).
"""

from __future__ import annotations

import bisect
import hashlib
from pathlib import Path
from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu.entities import extract_entities
from nlu.resolve import dispute_first, relative_first, resolve
from nlu.spoken import analyse, is_emoji_only

_NLU_DIR = Path(__file__).resolve().parent


def _source_fingerprint(*names: str) -> str:
    """Rasa's training cache fingerprints a component by class and config, not by code: without
    this, a changed front end would reuse featurizers and DIET trained on the old rewriting."""
    digest = hashlib.sha256()
    for name in names:
        digest.update((_NLU_DIR / name).read_bytes())
    return digest.hexdigest()


CLAUSES = "spoken_clauses"  # message attribute: [(start, end, text)] per clause of the rewritten text


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER], is_trainable=False)
class TextNormalizer(GraphComponent):
    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "TextNormalizer":
        return cls()

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        return _source_fingerprint("normalize.py", "spoken.py", "components.py")

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for example in training_data.training_examples:
            self._normalize(example)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._normalize(message)
        return messages

    @staticmethod
    def _normalize(message: Message) -> None:
        text = message.get(TEXT)
        if not text:
            return
        spoken = analyse(text)
        message.set(CLAUSES, spoken.clause_items())
        normalized, origin = spoken.text, spoken.origin
        if normalized == text:
            return
        message.set(TEXT, normalized)
        entities = message.get(ENTITIES)
        if entities:
            remapped = [_remap(entity, origin, normalized) for entity in entities]
            message.set(ENTITIES, [entity for entity in remapped if entity["end"] > entity["start"]])


def _remap(entity: Dict[Text, Any], origin: List[int], text: str) -> Dict[Text, Any]:
    start = bisect.bisect_left(origin, entity["start"])
    end = bisect.bisect_left(origin, entity["end"])
    remapped = dict(entity, start=start, end=end)
    if entity.get("value") == entity.get("text", entity.get("value")):
        remapped["value"] = text[start:end]
    return remapped


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class TelecomEntityExtractor(GraphComponent, EntityExtractorMixin):
    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "TelecomEntityExtractor":
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            extracted = [
                {"entity": e.entity, "value": e.value, "start": e.start, "end": e.end, "confidence": 1.0}
                for e in extract_entities(text)
            ]
            if extracted:
                extracted = self.add_extractor_name(extracted)
                message.set(ENTITIES, message.get(ENTITIES, []) + extracted, add_to_output=True)
        return messages


# --- request-first resolution -----------------------------------------------------------------

SECOND_REQUEST = "second_request"
EMOJI_ONLY = "emoji_only"


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR],
    is_trainable=True,
)
class RequestResolver(GraphComponent, EntityExtractorMixin):
    """Request-first intent resolution over the clauses of a message (nlu.spoken, nlu.resolve).

    Trains a light clause classifier (character n-gram TF-IDF + logistic regression) on the
    same rewritten training examples as DIET. At prediction it blends the classifier's view of
    the whole message into DIET's ranking (`diet_weight`), classifies each clause and lets
    nlu.resolve.resolve combine that with the ranking: a
    request beats chit-chat; of two confident different requests the first said is the intent
    and the other is output as the entity `second_request` (value: the intent name). It must
    run after DIETClassifier and before FallbackClassifier. A message made only of emoji codes
    (nlu.spoken.is_emoji_only) is `emoji_only`, whatever DIET says, and an account question
    that names a relative's number (「帮我老伴查下话费」) is `ask_relative` (nlu.resolve.relative_first);
    a transaction with a disputed charge in sight (dispute_charge >= `dispute_guard`) is served as
    the dispute (nlu.resolve.dispute_first).
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            "clause_threshold": 0.5,
            "second_threshold": 0.6,
            "second_rank": 3,
            "diet_weight": 1.0,
            "dispute_guard": 0.2,
            "ngram_max": 3,
            "C": 20.0,
        }

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        classifier: Any = None,
    ) -> None:
        self.component_config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.classifier = classifier

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "RequestResolver":
        return cls(config, model_storage, resource)

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        return _source_fingerprint("resolve.py", "components.py")

    def train(self, training_data: TrainingData) -> Resource:
        texts, labels = [], []
        for example in training_data.intent_examples:
            text = example.get(TEXT)
            if text:
                texts.append(text)
                labels.append(example.get(INTENT))
        if len(set(labels)) >= 2:
            self.classifier = build_clause_classifier(
                texts, labels, ngram_max=self.component_config["ngram_max"], c=self.component_config["C"]
            )
            import joblib

            with self._model_storage.write_to(self._resource) as directory:
                joblib.dump(self.classifier, directory / "clause_classifier.joblib")
        return self._resource

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "RequestResolver":
        import joblib

        classifier = None
        try:
            with model_storage.read_from(resource) as directory:
                path = directory / "clause_classifier.joblib"
                if path.exists():
                    classifier = joblib.load(path)
        except ValueError:  # nothing was persisted (no intents to learn)
            pass
        return cls(config, model_storage, resource, classifier)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._resolve(message)
        return messages

    def _resolve(self, message: Message) -> None:
        ranking = message.get(INTENT_RANKING_KEY) or []
        if self.classifier is None or not ranking:
            return
        classes = list(self.classifier.classes_)
        if EMOJI_ONLY in classes and is_emoji_only(message.get(TEXT) or ""):
            self._set_ranking(
                message, [(EMOJI_ONLY, 1.0)] + [(i["name"], 0.0) for i in ranking if i["name"] != EMOJI_ONLY]
            )
            return
        clauses = message.get(CLAUSES) or []
        texts = [message.get(TEXT) or ""] + [text for _, _, text in clauses]
        probabilities = self.classifier.predict_proba(texts)
        message_probs = {name: float(p) for name, p in zip(classes, probabilities[0])}
        clause_predictions = []
        for (start, end, _), row in zip(clauses, probabilities[1:]):
            best = int(row.argmax())
            clause_predictions.append((start, end, classes[best], float(row[best])))
        decision = resolve(
            [(item["name"], float(item["confidence"])) for item in ranking],
            [(intent, p) for _, _, intent, p in clause_predictions],
            clause_threshold=self.component_config["clause_threshold"],
            second_threshold=self.component_config["second_threshold"],
            second_rank=self.component_config["second_rank"],
            message_probs=message_probs,
            diet_weight=self.component_config["diet_weight"],
            clause_texts=[text for _, _, text in clauses],
        )
        new_ranking = decision.ranking if decision is not None else None
        relative = relative_first(new_ranking or [(i["name"], float(i["confidence"])) for i in ranking], texts[0])
        new_ranking = relative or new_ranking
        dispute = dispute_first(
            new_ranking or [(i["name"], float(i["confidence"])) for i in ranking],
            self.component_config["dispute_guard"],
        )
        new_ranking = dispute or new_ranking
        if new_ranking is not None:
            self._set_ranking(message, new_ranking)
        if decision is not None and decision.second is not None and decision.second_clause is not None:
            start, end, _, p = clause_predictions[decision.second_clause]
            entity = {
                "entity": SECOND_REQUEST,
                "value": decision.second,
                "start": start,
                "end": end,
                "confidence": round(p, 4),
            }
            entities = self.add_extractor_name([entity])
            message.set(ENTITIES, message.get(ENTITIES, []) + entities, add_to_output=True)

    @staticmethod
    def _set_ranking(message: Message, ranking: List[Any]) -> None:
        new_ranking = [{"name": name, "confidence": float(confidence)} for name, confidence in ranking]
        message.set(INTENT, dict(new_ranking[0]), add_to_output=True)
        message.set(INTENT_RANKING_KEY, new_ranking, add_to_output=True)


def build_clause_classifier(texts: List[str], labels: List[str], ngram_max: int = 3, c: float = 20.0) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    classifier = make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(1, ngram_max), sublinear_tf=True, lowercase=True),
        LogisticRegression(C=c, max_iter=2000, class_weight="balanced"),
    )
    classifier.fit(texts, labels)
    return classifier
