"""Custom Rasa 3.6 graph components for Chinese telecom text.

- `TextNormalizer`: runs first; rewrites the message text (see nlu.normalize) for training
  and prediction alike, carrying annotated entity offsets over.
- `TelecomEntityExtractor`: phone numbers, SMS codes, amounts and bare numbers (nlu.entities).
"""

from __future__ import annotations

import bisect
from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu.entities import extract_entities
from nlu.normalize import normalize_with_offsets


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
        normalized, origin = normalize_with_offsets(text)
        if normalized == text:
            return
        message.set(TEXT, normalized)
        entities = message.get(ENTITIES)
        if entities:
            message.set(ENTITIES, [_remap(entity, origin, normalized) for entity in entities])


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
