"""The spoken-language front end (nlu.spoken), the request-first resolution (nlu.resolve) and the
RequestResolver component, without a full Rasa training."""

from __future__ import annotations

import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu.components import CLAUSES, RequestResolver, TextNormalizer
from nlu.resolve import about_a_relative, dispute_first, relative_first, resolve
from nlu.spoken import analyse, clauses, is_emoji_only, rewrite

# --- greetings, fillers, politeness -----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("喂，你好你好，我就是想问下啊，我这个号还剩几多钱", "我这个号还剩几多钱"),
        ("喂 喂 你好 我想 我想问一下 我的 话费 余额 现在 还有 多少", "我的话费余额现在还有多少"),
        ("唉同志你好，我前天刚交的费", "我前天刚交的费"),
        ("嗯那个 我想查查流量", "我想查查流量"),
        ("请问一下我的余额是多少", "我的余额是多少"),
        ("麻烦你帮我查一下账单", "帮我查一下账单"),
        ("姑娘你帮我看一下嘛", "你帮我看一下嘛"),
        ("师傅 我家宽带又断了", "我家宽带又断了"),
        ("您好 麻烦查询一下本机话费余额 谢谢", "查询一下本机话费余额"),
        ("我花费还有几块，查一下，谢了", "我花费还有几块，查一下"),
    ],
)
def test_openers_are_stripped_when_a_request_follows(raw: str, expected: str) -> None:
    assert rewrite(raw) == rewrite(expected) == expected.replace("，", ",")


@pytest.mark.parametrize(
    "raw",
    ["你好", "您好", "喂", "客服你好", "你好 我想问个事", "麻烦你了", "好的谢谢", "谢谢你啊", "嗯", "hello"],
)
def test_a_bare_greeting_or_thanks_keeps_its_words(raw: str) -> None:
    assert rewrite(raw) == raw.replace(" ", "")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("客服电话多少", "客服电话多少"),  # an address word only goes before a pause, 你/您 or 好
        ("我姑娘在外地打工 她那个号欠费没有", "我姑娘在外地打工她那个号欠费没有"),
        ("老师的号码欠费了", "老师的号码欠费了"),
        ("额度还有多少", "额度还有多少"),
        ("好嘞 太感谢了", "好嘞太感谢了"),
    ],
)
def test_words_that_are_not_openers_stay(raw: str, expected: str) -> None:
    assert rewrite(raw) == expected


# --- repetitions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("我我想充充值", "我想充值"),
        ("那个那个，我这个号是不是欠着钱", "我这个号是不是欠着钱"),
        ("喂喂喂", "喂"),
        ("退订 退订", "退订"),
        ("退订，退订", "退订"),
        ("话费话费 还剩多少", "话费还剩多少"),
        ("我我我要退退订彩铃", "我要退订彩铃"),
    ],
)
def test_speech_repetitions_collapse(raw: str, expected: str) -> None:
    assert rewrite(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["帮我看看流量", "谢谢", "你试试", "我爸爸的号", "妈妈奶奶", "多多少少扣了点", "查查话费", "幺三八幺三八", "8888"],
)
def test_real_reduplications_stay(raw: str) -> None:
    assert rewrite(raw) == raw


def test_dialect_words_stay() -> None:
    assert rewrite("咋个扣了恁多钱嘛") == "咋个扣了恁多钱嘛"
    assert rewrite("俺这卡还剩啥子钱") == "俺这卡还剩啥子钱"


# --- clauses ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("查下话费，顺便把彩铃退了", ["查下话费", "把彩铃退了"]),
        ("查下话费顺便把彩铃退了", ["查下话费", "把彩铃退了"]),
        (
            "你好 先帮我查下还剩多少话费 再帮我看看这个月流量用了多少",
            ["先帮我查下还剩多少话费", "帮我看看这个月流量用了多少"],
        ),
        ("请问一下我的余额 还有 积分 分别是多少", ["我的余额", "积分分别是多少"]),
        ("开上个月的电子发票。另外我积分有多少?", ["开上个月的电子发票", "我积分有多少"]),
        ("我的话费 余额 现在 还有 多少", ["我的话费余额现在还有多少"]),  # 还有 = "still have"
        ("喂 你 好 我 想 看 一 下 我 上 个 月 的 消 费 明 细", ["我想看一下我上个月的消费明细"]),
        ("充值12.5元", ["充值12.5元"]),
    ],
)
def test_clauses(raw: str, expected: list[str]) -> None:
    assert clauses(raw) == expected


def test_clause_spans_point_into_the_text() -> None:
    spoken = analyse("喂你好，查下话费，顺便把彩铃退了！")
    for start, end, text in spoken.clause_items():
        assert spoken.text[start:end] == text


# --- emoji codes and offsets -----------------------------------------------------------------


@pytest.mark.parametrize("raw", ["/::D", "/::)", "/:rose", "/::) /::)", "/:ok", "\uff0f::D"])
def test_emoji_codes_keep_a_full_width_slash(raw: str) -> None:
    # Rasa's RegexMessageHandler would read 「/::D」 as the intent "::D"; the gateway sends
    # 「／::D」 and the front end keeps it so, for training data written with "/" too.
    assert rewrite(raw) == "\uff0f" + raw[1:]
    assert is_emoji_only(raw)


@pytest.mark.parametrize("raw", ["[微笑]", "👍", "🙏🙏", "❤️", "[抱拳] [抱拳]"])
def test_other_emoji_are_left_as_written(raw: str) -> None:
    assert rewrite(raw) == raw and is_emoji_only(raw)


@pytest.mark.parametrize("raw", ["ok", "好的", "/::) 好的", "1", "", "[微笑]谢谢"])
def test_text_is_not_emoji_only(raw: str) -> None:
    assert not is_emoji_only(raw)


@pytest.mark.parametrize(
    "raw",
    ["喂 喂 你好 我我想 退订 退订 那个 彩铃", "唉您好，麻烦你，帮我老伴查下话费，谢谢", "那个那个 換成 養老卡 吧"],
)
def test_origin_points_back_into_the_input(raw: str) -> None:
    from nlu.normalize import to_half_width, to_simplified

    spoken = analyse(raw)
    base = to_half_width(to_simplified(raw))
    assert len(spoken.origin) == len(spoken.text)
    assert [base[i] for i in spoken.origin] == list(spoken.text)
    assert spoken.origin == sorted(set(spoken.origin))


def test_text_normalizer_carries_entities_through_the_rewrite() -> None:
    raw = "喂 喂 你好 我我要退订 退订 那个彩铃 还有 視頻會員"
    service_1 = raw.index("彩铃")
    service_2 = raw.index("視頻會員")
    example = Message(
        data={
            TEXT: raw,
            INTENT: "cancel_service",
            ENTITIES: [
                {"entity": "service", "value": "彩铃", "start": service_1, "end": service_1 + 2},
                {"entity": "service", "value": "視頻會員", "start": service_2, "end": service_2 + 4},
            ],
        }
    )
    TextNormalizer().process_training_data(TrainingData([example]))
    text = example.get(TEXT)
    assert text == "我要退订那个彩铃还有视频会员"
    entities = example.get(ENTITIES)
    assert [text[e["start"] : e["end"]] for e in entities] == ["彩铃", "视频会员"]
    assert [e["value"] for e in entities] == ["彩铃", "视频会员"]
    assert [clause for _, _, clause in example.get(CLAUSES)] == ["我要退订那个彩铃", "视频会员"]


def test_text_normalizer_drops_an_entity_whose_words_were_removed() -> None:
    example = Message(
        data={TEXT: "客服 你好 查话费", ENTITIES: [{"entity": "x", "value": "客服", "start": 0, "end": 2}]}
    )
    TextNormalizer().process([example])
    assert example.get(TEXT) == "查话费"
    assert example.get(ENTITIES) == []


# --- resolution on a fake ranking --------------------------------------------------------------


def _ranking(*pairs: tuple[str, float]) -> list[tuple[str, float]]:
    return list(pairs)


def test_a_request_clause_beats_a_greeting() -> None:
    decision = resolve(
        _ranking(("greet", 0.7), ("check_balance", 0.2), ("help", 0.1)),
        [("greet", 0.9), ("check_balance", 0.8)],
    )
    assert decision is not None and decision.ranking[0] == ("check_balance", 0.8)
    assert decision.second is None
    names = [name for name, _ in decision.ranking]
    assert names.index("greet") > 0 and dict(decision.ranking)["greet"] < 0.2


def test_chit_chat_stays_without_a_confident_request() -> None:
    assert resolve(_ranking(("greet", 0.7), ("check_balance", 0.2)), [("greet", 0.9), ("check_balance", 0.3)]) is None
    assert resolve(_ranking(("thank", 0.9), ("affirm", 0.1)), [("affirm", 0.9), ("thank", 0.9)]) is None


def test_two_requests_the_first_said_wins_and_the_other_is_second() -> None:
    decision = resolve(
        _ranking(("cancel_service", 0.55), ("check_balance", 0.35), ("list_services", 0.1)),
        [("check_balance", 0.8), ("cancel_service", 0.9)],
    )
    assert decision is not None
    assert decision.ranking[0][0] == "check_balance" and decision.second == "cancel_service"
    assert decision.second_clause == 1
    confidences = dict(decision.ranking)
    assert confidences["check_balance"] - confidences["cancel_service"] > 0.3  # no ambiguity fallback


def test_a_less_sure_request_said_first_still_comes_first() -> None:
    # 「你好 先帮我看看余额 再看看流量」: DIET's choice comes from the last clause
    decision = resolve(
        _ranking(("check_usage", 0.46), ("check_balance", 0.14), ("ask_relative", 0.12)),
        [("greet", 0.95), ("check_balance", 0.62), ("check_usage", 0.91)],
        second_threshold=0.7,
        clause_texts=["你好", "先帮我看看余额", "再看看流量"],
    )
    assert decision is not None
    assert decision.ranking[0][0] == "check_balance" and decision.second == "check_usage"
    assert decision.second_clause == 2
    # the same when DIET chose the earlier one: the later, confident one is still offered
    decision = resolve(
        _ranking(("check_balance", 0.40), ("check_usage", 0.32), ("ask_relative", 0.10)),
        [("greet", 0.95), ("check_balance", 0.63), ("check_usage", 0.93)],
        second_threshold=0.7,
        clause_texts=["你好", "先帮我看看余额", "再看看流量"],
    )
    assert decision is not None
    assert decision.ranking[0][0] == "check_balance" and decision.second == "check_usage"
    # a clause that only says why is no request of its own: 「我流量不够用 有啥推荐的」
    assert (
        resolve(
            _ranking(("recommend_plan", 0.6), ("check_usage", 0.2), ("list_plans", 0.1)),
            [("check_usage", 0.55), ("recommend_plan", 0.9)],
            second_threshold=0.7,
            clause_texts=["我流量不够用", "有啥推荐的"],
        )
        is None
    )
    # not when DIET does not rank the earlier one
    assert (
        resolve(
            _ranking(("check_usage", 0.8), ("help", 0.1), ("greet", 0.05), ("check_balance", 0.01)),
            [("check_balance", 0.55), ("check_usage", 0.91)],
            second_threshold=0.7,
            clause_texts=["帮我查话费", "再看看流量"],
        )
        is None
    )
    # nor when the earlier clause is DIET's choice already
    assert (
        resolve(
            _ranking(("check_usage", 0.8), ("check_balance", 0.1)),
            [("check_usage", 0.9), ("check_balance", 0.6)],
            second_threshold=0.7,
        )
        is None
    )


def test_no_second_request_without_diet_support_or_confidence() -> None:
    # DIET does not rank the other request at all: a single long story, no second request.
    assert (
        resolve(
            _ranking(("dispute_charge", 0.9), ("complaint", 0.05), ("check_bill", 0.03), ("top_up", 0.01)),
            [("dispute_charge", 0.9), ("top_up", 0.7)],
        )
        is None
    )
    # A second clause that is not confident.
    assert (
        resolve(_ranking(("check_balance", 0.6), ("check_usage", 0.3)), [("check_balance", 0.9), ("check_usage", 0.5)])
        is None
    )
    # Replies are never requests.
    assert resolve(_ranking(("top_up", 0.6), ("affirm", 0.3)), [("affirm", 0.9), ("top_up", 0.9)]) is None


def test_a_single_clause_is_left_to_diet() -> None:
    assert resolve(_ranking(("greet", 0.9)), [("check_balance", 0.9)]) is None


@pytest.mark.parametrize(
    ("text", "relative"),
    [
        ("帮我老伴查查话费", True),
        ("我外公的号码上个月扣了多少", True),
        ("给我老头子的手机查一下是不是停机了", True),
        ("我妈的卡还有钱没", True),
        ("我儿子说我手机流量用超了", False),
        ("我的话费还剩多少", False),
    ],
)
def test_a_relatives_account(text: str, relative: bool) -> None:
    assert about_a_relative(text) is relative


def test_an_account_question_about_a_relative_is_ask_relative() -> None:
    ranking = [("check_balance", 0.9), ("ask_relative", 0.05), ("top_up", 0.05)]
    assert relative_first(ranking, "帮我老伴查查话费")[0] == ("ask_relative", 0.9)
    assert relative_first(ranking, "帮我查查话费") is None
    assert relative_first([("top_up", 0.9)], "给我妈的手机交话费") is None  # a top-up stays a top-up


def test_a_transaction_with_a_dispute_in_sight_is_the_dispute() -> None:
    ranking = [("top_up", 0.6), ("dispute_charge", 0.25), ("check_balance", 0.15)]
    assert dispute_first(ranking, 0.2)[0] == ("dispute_charge", 0.6)
    assert dispute_first(ranking, 0.3) is None
    assert dispute_first([("check_bill", 0.6), ("dispute_charge", 0.4)], 0.2) is None  # only transactions


def test_blending_lowers_confidence_where_the_models_disagree() -> None:
    decision = resolve(
        [("check_balance", 0.99), ("out_of_scope", 0.01)],
        [],
        message_probs={"out_of_scope": 0.7, "check_balance": 0.1, "list_plans": 0.2},
        diet_weight=0.4,
    )
    assert decision is not None
    (top, confidence), (runner_up, _) = decision.ranking[:2]
    assert top == "check_balance" and confidence < 0.5 and runner_up == "out_of_scope"  # the fallback asks


# --- the component on a tiny trained model -----------------------------------------------------

TINY = {
    "greet": ["你好", "您好", "喂", "在吗", "哈喽", "早上好"],
    "thank": ["谢谢", "多谢", "谢谢你", "感谢", "太感谢了"],
    "check_balance": ["查话费", "话费还剩多少", "余额多少", "我还有多少钱", "查一下余额", "话费余额"],
    "emoji_only": ["/::)", "/:rose", "[微笑]", "👍"],
    "cancel_service": ["退订彩铃", "把彩铃退了", "取消彩铃", "彩铃不要了", "关掉彩铃", "退掉彩铃业务"],
}


@pytest.fixture(scope="module")
def resolver(tmp_path_factory: pytest.TempPathFactory) -> RequestResolver:
    storage = LocalModelStorage(tmp_path_factory.mktemp("model"))
    resource = Resource("resolver")
    context = ExecutionContext(graph_schema=None, model_id="1")
    examples = [Message(data={TEXT: text, INTENT: intent}) for intent, texts in TINY.items() for text in texts]
    data = TrainingData(TextNormalizer().process_training_data(TrainingData(examples)).training_examples)
    trained = RequestResolver.create(
        {**RequestResolver.get_default_config(), "second_rank": 4}, storage, resource, context
    )
    trained.train(data)
    return RequestResolver.load({**RequestResolver.get_default_config(), "second_rank": 4}, storage, resource, context)


def _parse(resolver: RequestResolver, text: str, ranking: list[tuple[str, float]]) -> Message:
    message = Message(data={TEXT: text})
    TextNormalizer().process([message])
    message.set(INTENT, {"name": ranking[0][0], "confidence": ranking[0][1]})
    message.set(INTENT_RANKING_KEY, [{"name": name, "confidence": value} for name, value in ranking])
    resolver.process([message])
    return message


def test_component_prefers_the_request_over_diets_greeting(resolver: RequestResolver) -> None:
    message = _parse(resolver, "早上好，查话费余额", [("greet", 0.8), ("check_balance", 0.15), ("thank", 0.05)])
    assert message.get(INTENT)["name"] == "check_balance"
    assert message.get(INTENT_RANKING_KEY)[0]["name"] == "check_balance"


def test_component_outputs_the_second_request(resolver: RequestResolver) -> None:
    message = _parse(
        resolver,
        "查下话费余额，顺便把彩铃退了",
        [("cancel_service", 0.6), ("check_balance", 0.35), ("greet", 0.03), ("thank", 0.02)],
    )
    assert message.get(INTENT)["name"] == "check_balance"
    (entity,) = [e for e in message.get(ENTITIES) if e["entity"] == "second_request"]
    assert entity["value"] == "cancel_service" and entity["extractor"] == "RequestResolver"
    assert message.get(TEXT)[entity["start"] : entity["end"]] == "把彩铃退了"


def test_component_reads_emoji_codes_as_emoji_only(resolver: RequestResolver) -> None:
    message = _parse(resolver, "\uff0f::D", [("greet", 0.6), ("thank", 0.4)])
    assert message.get(TEXT) == "\uff0f::D"
    assert message.get(INTENT) == {"name": "emoji_only", "confidence": 1.0}


def test_component_leaves_a_single_request_alone(resolver: RequestResolver) -> None:
    ranking = [("check_balance", 0.9), ("cancel_service", 0.05), ("greet", 0.03), ("thank", 0.02)]
    message = _parse(resolver, "话费还剩多少", ranking)
    assert message.get(INTENT)["name"] == "check_balance"
    assert not message.get(ENTITIES)


def test_components_fingerprint_their_code() -> None:
    # A changed front end must retrain what comes after it (Rasa's cache does not see code).
    assert TextNormalizer.fingerprint_addon({}) and RequestResolver.fingerprint_addon({})
    assert TextNormalizer.fingerprint_addon({}) != RequestResolver.fingerprint_addon({})
