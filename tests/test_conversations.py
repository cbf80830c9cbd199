"""The trained assistant end to end: Rasa's own checks, conversation tests, held-out NLU
accuracy, and real conversations through Rasa's REST channel with the action server."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from billing.binding import BindingService, LogSmsSender
from billing.sql import SqlBillingBackend
from bot.assistant_files import rasa_cli_env, rasa_python
from core.db import create_engine

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Rasa and bench/nlu_eval.py (which loads a Rasa model in-process) run in .venv-rasa.
RASA_PYTHON = rasa_python()
RASA = [RASA_PYTHON, "-m", "rasa"]
ENV = rasa_cli_env()


def test_rasa_data_validates() -> None:
    result = subprocess.run(
        RASA + ["data", "validate"],  # Rasa's default layout: config.yml, domain.yml, data/
        cwd=PROJECT_ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_conversation_stories_pass(trained_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = subprocess.run(
        RASA
        + [
            "test",
            "core",
            "--model",
            str(trained_model),
            "--stories",
            "tests/test_stories.yml",
            "--out",
            str(out),
            "--fail-on-prediction-errors",
        ],
        cwd=PROJECT_ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=900,
    )
    failed = out / "failed_test_stories.yml"
    details = failed.read_text() if failed.exists() else ""
    assert result.returncode == 0, details[-4000:] + result.stdout[-2000:] + result.stderr[-2000:]


def test_held_out_intent_accuracy(trained_model: Path) -> None:
    result = subprocess.run(
        # Held-out >= 95 %, the spoken set >= 90 % (issue 10, acceptance 1); and no dispute or
        # low-confidence message may open a transaction (nlu_eval fails on any).
        [
            RASA_PYTHON,
            "bench/nlu_eval.py",
            "--model",
            str(trained_model),
            "--min-accuracy",
            "0.95",
            "--min-spoken-accuracy",
            "0.90",
        ],
        cwd=PROJECT_ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def _send(rasa_url: str, sender: str, text: str) -> list[dict]:
    request = urllib.request.Request(
        f"{rasa_url}/webhooks/rest/webhook",
        data=json.dumps({"sender": sender, "message": text}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def _texts(messages: list[dict]) -> str:
    return "\n".join(m.get("text", "") for m in messages)


async def _bind(database_url: str, openid: str, phone: str) -> None:
    engine = create_engine(database_url)
    try:
        await BindingService(engine, LogSmsSender(engine)).bind_directly(openid, phone, actor="test")
    finally:
        await engine.dispose()


async def _balance_fen(database_url: str, phone: str) -> int:
    engine = create_engine(database_url)
    try:
        return (await SqlBillingBackend(engine).get_balance(phone)).balance_fen
    finally:
        await engine.dispose()


@pytest.fixture
def openid() -> str:
    return f"e2e-{uuid.uuid4().hex[:10]}"


def test_bound_subscriber_gets_exact_balance(rasa_stack, openid: str) -> None:
    asyncio.run(_bind(rasa_stack.database_url, openid, "13800000001"))
    assert "58.30元" in _texts(_send(rasa_stack.rasa_url, openid, "查询话费余额"))
    assert "58.30元" in _texts(_send(rasa_stack.rasa_url, openid, "話費餘額還有多少"))


def test_unbound_subscriber_is_asked_to_bind(rasa_stack, openid: str) -> None:
    reply = _texts(_send(rasa_stack.rasa_url, openid, "我的余额还有多少"))
    assert "绑定" in reply and "元" not in reply.replace("5000元", "")


def test_top_up_through_the_dialogue(rasa_stack, openid: str) -> None:
    phone = "13800000013"
    asyncio.run(_bind(rasa_stack.database_url, openid, phone))
    before = asyncio.run(_balance_fen(rasa_stack.database_url, phone))
    assert "回复1确认" in _texts(_send(rasa_stack.rasa_url, openid, "帮我充值５０元"))
    link = _texts(_send(rasa_stack.rasa_url, openid, "1"))
    assert "微信支付50元" in link and "/pay/" in link and "充值成功" not in link
    _send(rasa_stack.rasa_url, openid, "1")  # a second "1" must not pay either
    # only WeChat Pay's verified notification credits (tests/test_payments.py)
    assert asyncio.run(_balance_fen(rasa_stack.database_url, phone)) == before


def test_usage_and_plan_questions(rasa_stack, openid: str) -> None:
    asyncio.run(_bind(rasa_stack.database_url, openid, "13800000001"))
    usage = _texts(_send(rasa_stack.rasa_url, openid, "流量还剩多少"))
    assert "流量已用" in usage and "剩余" in usage
    plan = _texts(_send(rasa_stack.rasa_url, openid, "我现在是什么套餐"))
    assert "乐享39元套餐" in plan


def test_request_human_emits_handoff_payload(rasa_stack, openid: str) -> None:
    messages = _send(rasa_stack.rasa_url, openid, "我不会用这个，帮我转人工")
    payloads = [m["custom"] for m in messages if "custom" in m]
    assert payloads and payloads[0]["handoff"]["queue"] in ("elder", "general")
    # the bot promises nothing about the person: the handoff service says the one true thing
    assert "转接" not in _texts(messages) and "马上为您转人工" not in _texts(messages)


# --- issue 10: what subscribers actually say, through the real model and action server --------


def test_a_greeting_before_a_request_is_answered_with_the_request(rasa_stack, openid: str) -> None:
    asyncio.run(_bind(rasa_stack.database_url, openid, "13800000001"))
    reply = _texts(_send(rasa_stack.rasa_url, openid, "喂，你好你好，我想问一下我这个手机话费还剩下多少钱"))
    assert "58.30元" in reply and "请回复数字，或直接说您的问题" not in reply


def test_a_disputed_charge_gets_no_transaction_prompt(rasa_stack, openid: str) -> None:
    asyncio.run(_bind(rasa_stack.database_url, openid, "13800000001"))
    for text in ["我上礼拜充了一百块，怎么现在就剩五十多了，钱跑哪去了", "你们凭什么扣我套餐外的钱，我要个说法"]:
        reply = _texts(_send(rasa_stack.rasa_url, openid, text))
        assert reply and "回复1确认" not in reply, (text, reply)


def test_a_wechat_emoji_is_text_not_an_intent_command(rasa_stack, openid: str) -> None:
    from gateway.rasa_client import as_plain_text

    messages = _send(rasa_stack.rasa_url, openid, as_plain_text("/::)"))
    assert "表情" in _texts(messages) and not [m for m in messages if "custom" in m]


def test_every_reply_fits_a_phone_screen(rasa_stack, openid: str) -> None:
    asyncio.run(_bind(rasa_stack.database_url, openid, "13800000001"))
    for text in ["你们都有哪些套餐", "更多", "更多", "我的账单", "流量用了多少"]:
        for message in _send(rasa_stack.rasa_url, openid, text):
            assert len(message.get("text", "").split("\n")) <= 8, (text, message)


def _handoffs(messages: list[dict]) -> list[dict]:
    return [m["custom"]["handoff"] for m in messages if "handoff" in (m.get("custom") or {})]


def test_two_requests_in_one_message_answer_the_first_and_offer_the_second(rasa_stack, openid: str) -> None:
    asyncio.run(_bind(rasa_stack.database_url, openid, "13800000001"))
    first = _texts(_send(rasa_stack.rasa_url, openid, "喂你好，我想查一下话费余额，顺便把这个月流量还剩多少也告诉我"))
    assert "58.30元" in first and "「查流量和通话」" in first and "回复1" in first
    second = _texts(_send(rasa_stack.rasa_url, openid, "1"))
    assert "流量已用" in second and "剩余" in second


def test_a_less_sure_request_said_first_is_answered_first_and_the_other_offered(rasa_stack, openid: str) -> None:
    asyncio.run(_bind(rasa_stack.database_url, openid, "13800000001"))
    first = _texts(_send(rasa_stack.rasa_url, openid, "你好 先帮我看看余额 再看看流量"))
    assert "58.30元" in first and "「查流量和通话」" in first and "流量已用" not in first


def test_a_stolen_phone_reaches_a_person_whatever_the_words(rasa_stack, openid: str) -> None:
    asyncio.run(_bind(rasa_stack.database_url, openid, "13800000001"))
    messages = _send(rasa_stack.rasa_url, openid, "手机被偷了 赶紧帮我停掉")
    handoff = _handoffs(messages)
    assert "尽快挂失" in _texts(messages) and handoff and handoff[0]["reason"] == "lost_phone"


def test_the_bill_of_the_month_asked(rasa_stack, openid: str) -> None:
    from billing.periods import local_date, month_of, shift_month, utc_now

    asyncio.run(_bind(rasa_stack.database_url, openid, "13800000001"))
    two_ago = shift_month(month_of(local_date(utc_now())), -2)
    reply = _texts(_send(rasa_stack.rasa_url, openid, "你好，麻烦查一下我上上个月的账单一共多少钱"))
    assert f"您{int(two_ago[5:7])}月账单" in reply and "回复1确认" not in reply


@pytest.mark.parametrize(
    "text,expected,absent",
    [
        ("喂，我这个号现在开着哪些收费的业务啊", "彩铃", "回复1确认"),
        ("帮我把那个视频会员包月给取消掉", "回复1确认", "充值"),
        ("我的积分现在有多少了，能换啥东西不", "3260积分", "回复1确认"),
        ("上个月交的五十块话费，发票在哪里能找到", "发票", "回复1确认"),
        ("家里的宽带从早上开始就上不了网了，路由器灯一直闪", "位置", "余额"),  # the fault report asks where
        ("你帮我查查我爸那个手机还有多少钱", "绑定", "58.30"),
        ("钱不够了咋办", "58.30元", "套餐"),
        ("说我没有实名认证，号码被停了，那我该怎么弄", "身份证", "工单"),
    ],
    ids=["list_services", "cancel_service", "points", "invoice", "broadband", "relative", "low_balance", "real_name"],
)
def test_the_new_requests_are_served(rasa_stack, openid: str, text: str, expected: str, absent: str) -> None:
    asyncio.run(_bind(rasa_stack.database_url, openid, "13800000001"))
    messages = _send(rasa_stack.rasa_url, openid, text)
    reply = _texts(messages)
    assert expected in reply and absent not in reply, (text, reply)
    assert not _handoffs(messages), (text, reply)
    if expected != "回复1确认":  # only the unsubscribe is a transaction, and it asks to confirm
        assert "回复1确认" not in reply, (text, reply)


def test_a_dispute_lists_the_charges_and_offers_a_complaint(rasa_stack, openid: str) -> None:
    asyncio.run(_bind(rasa_stack.database_url, openid, "13800000001"))
    reply = _texts(_send(rasa_stack.rasa_url, openid, "你好，我这个月话费怎么扣了这么多，我也没干啥啊"))
    assert "扣费" in reply and "登记投诉" in reply and "回复1确认" not in reply and "充值" not in reply
    reply = _texts(_send(rasa_stack.rasa_url, openid, "1"))
    assert "已登记投诉" in reply and "单号" in reply


def test_an_operator_topic_gets_an_honest_sentence_and_a_person(rasa_stack, openid: str) -> None:
    asyncio.run(_bind(rasa_stack.database_url, openid, "13800000001"))
    text = "你好，我想把我这个号码转到别的运营商去，就是携号转网，要怎么办"
    messages = _send(rasa_stack.rasa_url, openid, text)
    handoff = _handoffs(messages)
    assert "办不了" in _texts(messages) and handoff and handoff[0]["reason"] == "operator_topic"
    assert "携号转网" in handoff[0]["summary"]


# What a turn leaves in the tracker when the action server is down: the user message, then failed
# fallbacks up to Rasa's prediction limit, and no closing action_listen (bench/fault_run.py's
# action-server fault showed such subscribers never answered again before the gateway took the
# turn back).
FAILED_TURN = [
    {"event": "user", "text": "查余额", "parse_data": {"intent": {"name": "check_balance", "confidence": 1.0}}},
    *[{"event": "action", "name": "action_default_fallback"}] * 10,
]


def _tracker_api(stack, sender: str, path: str, body: object | None = None) -> dict:
    url = f"{stack.rasa_url}/conversations/{sender}/tracker{path}?token={stack.rasa_token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


async def _take_back(stack, sender: str) -> None:
    import aiohttp

    from gateway.rasa_client import RasaClient

    async with aiohttp.ClientSession() as session:
        await RasaClient(session, stack.rasa_url, token=stack.rasa_token).take_back_failed_turn(sender)


@pytest.mark.parametrize("earlier", [[], ["你好"]], ids=["first-turn", "mid-conversation"])
def test_a_failed_turn_taken_back_is_retried_as_the_only_turn(rasa_stack, openid: str, earlier: list[str]) -> None:
    for text in earlier:
        assert _send(rasa_stack.rasa_url, openid, text)
    _tracker_api(rasa_stack, openid, "/events", FAILED_TURN)
    asyncio.run(_take_back(rasa_stack, openid))

    assert "绑定" in _texts(_send(rasa_stack.rasa_url, openid, "查余额"))  # answered: unbound, asked to bind
    events = _tracker_api(rasa_stack, openid, "")["events"]
    turns = sum(1 for e in events if e["event"] == "user") - sum(1 for e in events if e["event"] == "rewind")
    assert turns == len(earlier) + 1
    assert _send(rasa_stack.rasa_url, openid, "你好")  # and the next turn too


async def _send_twice(stack, sender: str) -> tuple[list[dict], list[dict]]:
    import aiohttp

    from gateway.rasa_client import RasaClient

    async with aiohttp.ClientSession() as session:
        rasa = RasaClient(session, stack.rasa_url, token=stack.rasa_token)
        first = await rasa.send(sender, "查余额", {"channel": "wechat", "msg_key": f"{sender}:1"})
        again = await rasa.send(sender, "查余额", {"channel": "wechat", "msg_key": f"{sender}:1"}, retry=True)
    return first, again


def test_a_retried_message_gets_the_answer_rasa_already_gave_without_a_second_turn(rasa_stack, openid: str) -> None:
    """A worker died (or the database went away) after Rasa's turn and before the answer was stored."""
    first, again = asyncio.run(_send_twice(rasa_stack, openid))
    assert "绑定" in _texts(first)
    assert _texts(again) == _texts(first)
    events = _tracker_api(rasa_stack, openid, "")["events"]
    assert sum(1 for e in events if e["event"] == "user") == 1


def test_rasa_http_api_refuses_a_caller_without_its_token(rasa_stack, openid: str) -> None:
    """The token reaches Rasa from the environment (nlu/server.py), not the command line."""
    url = f"{rasa_stack.rasa_url}/conversations/{openid}/tracker"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=30)
    assert refused.value.code == 401
    assert _tracker_api(rasa_stack, openid, "")["sender_id"] == openid


async def _send_once(stack, sender: str, text: str) -> list[dict]:
    import aiohttp

    from gateway.rasa_client import RasaClient

    async with aiohttp.ClientSession() as session:
        return await RasaClient(session, stack.rasa_url, token=stack.rasa_token).send(sender, text, {"msg_key": "k1"})


def test_a_conversation_left_paused_by_the_first_version_is_resumed_and_answered(rasa_stack, openid: str) -> None:
    """The first version paused Rasa during a handoff; the conversation record alone says who answers
    now, so the gateway asks Rasa only when the assistant answers, and a leftover pause is lifted."""
    assert _send(rasa_stack.rasa_url, openid, "你好")  # a session, then the first version's pause in it
    _tracker_api(rasa_stack, openid, "/events", [{"event": "pause"}])
    assert _send(rasa_stack.rasa_url, openid, "查余额") == []  # paused: Rasa logs the message, says nothing

    assert "绑定" in _texts(asyncio.run(_send_once(rasa_stack, openid, "查余额")))
    tracker = _tracker_api(rasa_stack, openid, "")
    assert tracker["paused"] is False
    users = [e["text"] for e in tracker["events"] if e["event"] == "user"]
    rewinds = sum(1 for e in tracker["events"] if e["event"] == "rewind")
    # the message logged while paused stays; the gateway's, unanswered, was taken back and asked again
    assert (users, rewinds) == (["你好", "查余额", "查余额", "查余额"], 1)


# --- issue 12: tickets through the trained model (the resolution side: tests/test_tickets_chat.py) --


def _send_with(rasa_url: str, sender: str, text: str, metadata: dict) -> list[dict]:
    request = urllib.request.Request(
        f"{rasa_url}/webhooks/rest/webhook",
        data=json.dumps({"sender": sender, "message": text, "metadata": metadata}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def test_complaint_is_opened_and_its_progress_answered(rasa_stack, openid: str) -> None:
    url = rasa_stack.rasa_url
    assert "1 乱扣费" in _texts(_send(url, openid, "我要投诉"))
    assert "发生了什么" in _texts(_send(url, openid, "1"))
    asked = _texts(_send(url, openid, "上个月莫名其妙多扣了我二十块钱"))
    assert "手机号" in asked and "单号" not in asked  # unbound: a number before any promise
    opened = _texts(_send(url, openid, "13912345678"))
    number = re.search(r"单号(T\d{8}-\d{4,})", opened)
    assert number and "139****5678" in opened, opened
    progress = _texts(_send(url, openid, "我的投诉怎么样了"))
    assert number.group(1) in progress and "待处理" in progress


def test_fault_report_takes_a_wechat_location_and_a_slot(rasa_stack, openid: str) -> None:
    asyncio.run(_bind(rasa_stack.database_url, openid, "13800000001"))
    url = rasa_stack.rasa_url
    assert "位置" in _texts(_send(url, openid, "家里手机没信号，打不了电话"))
    location = {"msg_type": "location", "label": "北京市朝阳区建国路88号", "latitude": "39.9", "longitude": "116.4"}
    assert "2 明天上午" in _texts(_send_with(url, openid, "/shared_location", location))
    opened = _texts(_send(url, openid, "2"))
    assert "已为您报修，单号T" in opened and "明天上午" in opened and "138****0001" in opened


def test_unbound_fault_report_asks_for_a_number_before_any_promise(rasa_stack, openid: str) -> None:
    url = rasa_stack.rasa_url
    said = [_texts(_send(url, openid, text)) for text in ("宽带断了，上不了网", "朝阳区建国路88号3单元")]
    assert "手机号" in said[-1] and not any("单号" in text or "联系您" in text for text in said), said
    assert "1 今天下午" in _texts(_send(url, openid, "13912345678"))
    assert "已为您报修，单号T" in _texts(_send(url, openid, "1"))
