"""The custom NLU pieces without training: normalisation, Chinese numbers, entity extraction,
and the two Rasa components run on real Rasa `Message`s."""

from __future__ import annotations

import pytest
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu.components import TelecomEntityExtractor, TextNormalizer
from nlu.entities import extract_entities
from nlu.normalize import normalize, normalize_with_offsets
from nlu.numbers import parse_chinese_number, parse_number


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("查询 话费 余额", "查询话费余额"),  # Vosk transcript style
        ("話費餘額還剩多少", "话费余额还剩多少"),  # traditional
        ("充值 ５０元", "充值50元"),  # full-width digits, space next to CJK
        ("  我的 5G 套餐  ", "我的5G套餐"),
        ("hello   world", "hello world"),
        ("１３８　０００００　００１", "138 00000 001"),  # ideographic spaces between digits are kept as one
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_normalize_offsets_point_back_into_the_input() -> None:
    raw = "换成 养老卡 吧"
    text, origin = normalize_with_offsets(raw)
    assert text == "换成养老卡吧"
    assert [raw[i] for i in origin] == list(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("五十", 50),
        ("两百", 200),
        ("一百五", 150),
        ("一千二", 1200),
        ("一百零五", 105),
        ("十", 10),
        ("十五", 15),
        ("三十", 30),
        ("两万五", 25000),
        ("一万", 10000),
        ("幺三八", 138),
        ("零", 0),
    ],
)
def test_chinese_numbers(text: str, value: int) -> None:
    assert parse_chinese_number(text) == value


def test_parse_number_refuses_non_numbers() -> None:
    assert parse_number("50") == 50 and parse_number("12.5") == 12
    assert parse_number("五十块") is None and parse_number("") is None


def _found(text: str) -> dict[str, object]:
    return {e.entity: e.value for e in extract_entities(normalize(text))}


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("充一百块", 100),
        ("给我充值50", 50),
        ("充50元", 50),
        ("帮我充个三十", 30),
        ("我想充值五十元", 50),
        ("充值 ５０元", 50),
        ("交两百块钱话费", 200),
        ("冲100", 100),
    ],
)
def test_amounts(text: str, amount: int) -> None:
    assert _found(text)["amount"] == amount


def test_amount_is_not_taken_from_a_phone_number() -> None:
    found = _found("给13800000001充值")
    assert found == {"phone": "13800000001"}


@pytest.mark.parametrize("text", ["13800000001", "绑定13800000001", "138 0000 0001", "我的号码是138-0000-0001"])
def test_phone_numbers(text: str) -> None:
    assert _found(text)["phone"] == "13800000001"


def test_not_a_phone_number() -> None:
    assert "phone" not in _found("12345678901")  # no mobile prefix
    assert "phone" not in _found("138000000011")  # too long


@pytest.mark.parametrize(
    "text", ["幺三八零零零零零零零幺", "我爸那个号码 一三八零零零零零零零一 他还有多少话费", "一三八 零零零零 零零零一"]
)
def test_phone_numbers_written_as_read(text: str) -> None:
    # Before: no phone, and 「请回复您爸爸的11位手机号」 to someone who had just written it.
    found = _found(text)
    assert found["phone"] == "13800000001" and "amount" not in found and "amount_invalid" not in found


def test_not_a_phone_number_written_as_read() -> None:
    assert "phone" not in _found("一三八零零零零零零零一二")  # twelve digits
    assert "phone" not in _found("二三八零零零零零零零一")  # no mobile prefix
    assert _found("充一万")["amount"] == 10000


def test_sms_code_and_bare_numbers() -> None:
    assert _found("验证码482913")["sms_code"] == "482913"
    assert _found("两百") == {"number": 200}
    for choice, value in [("1", 1), ("我选1", 1), ("选2", 2), ("按0", 0), ("1号", 1)]:
        assert _found(choice)["number"] == value
    assert "number" not in _found("我要1个套餐")


def test_text_normalizer_component_rewrites_text_and_carries_entities() -> None:
    example = Message(
        data={TEXT: "換成 養老卡", ENTITIES: [{"entity": "plan", "value": "養老卡", "start": 3, "end": 6}]}
    )
    TextNormalizer().process_training_data(TrainingData([example]))
    assert example.get(TEXT) == "换成养老卡"
    assert example.get(ENTITIES) == [{"entity": "plan", "value": "养老卡", "start": 2, "end": 5}]


def test_entity_extractor_component_adds_entities() -> None:
    message = Message(data={TEXT: "充一百块"})
    TelecomEntityExtractor().process([message])
    (entity,) = message.get(ENTITIES)
    assert entity["entity"] == "amount" and entity["value"] == 100
    assert entity["extractor"] == "TelecomEntityExtractor"


@pytest.mark.parametrize(
    "text",
    ["充" + "9" * 400 + ".5元", "充" + "九" * 5000 + "元", "九" * 5000, "充值-50", "1e3", "充99999999999999999999元"],
)
def test_the_pipeline_components_never_raise_on_absurd_amounts(text: str) -> None:
    message = Message(data={TEXT: text})
    TextNormalizer().process([message])
    TelecomEntityExtractor().process([message])
    entities = {e["entity"]: e["value"] for e in message.get(ENTITIES, [])}
    assert "amount" not in entities and "amount_invalid" in entities
