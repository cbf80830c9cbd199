"""Payment of top-ups through WeChat Pay (API v3), against the stand-in WeChat Pay and a real gateway.

The subscriber's 「1」 only sends a payment link; the balance moves only when a notification that
WeChat Pay signed (stand-in platform key), with a resource encrypted under our APIv3 key, for our
merchant, app, amount and payer, reaches /wechatpay/notify; the same transaction credits once.
"""

from __future__ import annotations

import asyncio
import base64
import html
import json
import re
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import aiohttp
import pytest
from gateway_fixtures import (
    RunningGateway,
    clean_gateway_tables,
    eventually,
    fake_rasa,
    gateway_settings,
    http,
    serve,
    standin,
    start_gateway,
)
from test_actions import Conversation, services

from actions.guidance import ActionAskRelative
from actions.reply_router import ActionHandleReply
from actions.services import Services
from actions.transactions import ActionTopUp
from billing.backend import OrderStatus
from billing.money import format_yuan
from billing.payments import PaymentNotice, PaymentOrder, PaymentState, SettleOutcome
from gateway.settings import Settings
from wechat.pay import (
    BadSignature,
    PayConfig,
    PayProtocolError,
    StaleMessage,
    decrypt_resource,
    encrypt_resource,
    read_notification,
    signed_headers,
    verify,
)
from wechat.pay_keys import key_serial, new_private_key_pem, private_key
from wechat.pay_standin import PayStandinState, SentNotification
from wechat.standin import StandinState, create_standin_app

__all__ = ["clean_gateway_tables", "fake_rasa", "gateway_settings", "http", "services", "standin"]

MCHID = "1900009191"


@dataclass
class PayStack:
    gateway: RunningGateway
    standin: StandinState
    pay: PayStandinState
    config: PayConfig


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return new_private_key_pem(), new_private_key_pem()  # merchant, platform


def make_config(keys: tuple[str, str], app_id: str, api_base: str) -> PayConfig:
    merchant, platform = private_key(keys[0]), private_key(keys[1])
    return PayConfig(
        mchid=MCHID,
        appid=app_id,
        api_base=api_base,
        merchant_key=merchant,
        merchant_serial=key_serial(merchant.public_key()),
        apiv3_key=secrets.token_urlsafe(24).encode(),
        platform_keys={key_serial(platform.public_key()): platform.public_key()},
    )


@pytest.fixture
async def stack(
    gateway_settings: Settings, http: aiohttp.ClientSession, keys: tuple[str, str], services: Services
) -> AsyncIterator[PayStack]:
    standin = StandinState(app_id=gateway_settings.app_id, app_secret=gateway_settings.app_secret)
    config = make_config(keys, gateway_settings.app_id, "")
    platform = private_key(keys[1])
    pay = PayStandinState(
        mchid=MCHID,
        merchant_keys={config.merchant_serial: config.merchant_key.public_key()},
        platform_key=platform,
        platform_serial=key_serial(platform.public_key()),
        apiv3_key=config.apiv3_key,
    )
    runner, url, _ = await serve(create_standin_app(standin, pay))
    config = replace(config, api_base=url)
    gateway = await start_gateway(replace(gateway_settings, api_base=url, pay=config), http)
    yield PayStack(gateway, standin, pay, config)
    await gateway.stop()
    await runner.cleanup()


async def balance(services: Services, phone: str) -> int:
    return (await services.billing.get_balance(phone)).balance_fen


async def confirmed_top_up(chat: Conversation, text: str) -> PaymentOrder:
    """The subscriber asks, confirms with 「1」 and gets the payment link."""
    await chat.say(ActionTopUp(), text, "top_up")
    reply = await chat.say(ActionHandleReply(), "1", "affirm")
    assert "微信支付" in reply and "充值成功" not in reply
    match = re.search(r"/pay/(\S+)", reply)
    assert match, reply
    payment = await chat.services.payments.by_token(match.group(1))
    assert payment is not None and payment.state is PaymentState.AWAITING
    return payment


async def open_page(stack: PayStack, http: aiohttp.ClientSession, payment: PaymentOrder) -> str:
    async with http.get(f"{stack.gateway.url}/pay/{payment.pay_token}") as response:
        assert response.status == 200
        return await response.text()


async def open_window(stack: PayStack, openid: str) -> None:
    """The subscriber wrote to the account recently (customer-service messages allowed)."""
    assert (await stack.gateway.aes.text(openid, "你好")).status == 200


async def test_only_a_verified_notification_credits_and_only_once(
    stack: PayStack, http: aiohttp.ClientSession, services: Services
) -> None:
    phone = "13800000011"
    chat = Conversation(services)
    await chat.bind(phone)
    await open_window(stack, chat.openid)
    before = await balance(services, phone)
    payment = await confirmed_top_up(chat, "充50元")
    assert payment.payer_openid == chat.openid and payment.phone == phone and not payment.for_other
    assert await balance(services, phone) == before  # 「1」 moves no money
    # the same 「1」 again (a retried message): the same link, still nothing credited
    chat.slots["pending"] = f"topup_confirm:{payment.order_no}"
    assert payment.pay_token in await chat.say(ActionHandleReply(), "1", "affirm")

    page = await open_page(stack, http, payment)
    order = stack.pay.orders[payment.order_no]  # the stand-in verified our signed JSAPI request
    assert order.payer_openid == chat.openid and order.total_fen == 5000 and order.mchid == MCHID
    assert order.notify_url == f"{stack.gateway.url}/wechatpay/notify"
    params = json.loads(html.unescape(re.search(r"var params = (\{.*?\});", page).group(1)))
    assert params["package"] == f"prepay_id={order.prepay_id}" and params["signType"] == "RSA"
    signed = f"{params['appId']}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n"
    assert verify(stack.config.merchant_key.public_key(), signed, params["paySign"])
    assert "getBrandWCPayRequest" in page and "138****0011" in page
    assert await balance(services, phone) == before

    forged = await stack.pay.pay(payment.order_no, forge=True)
    stale = await stack.pay.pay(payment.order_no, signed_at=time.time() - 3600)
    more = await stack.pay.pay(payment.order_no, total_fen=500000)  # signed, but not this order's amount
    assert (forged.status, stale.status) == (401, 401) and more.status == 400
    assert await balance(services, phone) == before
    assert (await services.billing.get_top_up(payment.order_no)).status == OrderStatus.PENDING

    paid = await stack.pay.pay(payment.order_no)
    assert paid.status == 200 and json.loads(paid.answer)["code"] == "SUCCESS"
    assert await balance(services, phone) == before + 5000
    # WeChat Pay's retry of the same notification, and a later replay of it: nothing new
    again = await stack.pay.deliver(paid.url, paid.headers, paid.body)
    assert again.status == 200 and await balance(services, phone) == before + 5000
    replayed = await _replayed(stack.pay, paid)
    assert replayed.status == 401 and await balance(services, phone) == before + 5000
    # another transaction for the same, already paid order credits nothing either
    other = await stack.pay.pay(payment.order_no, transaction_id="4200000000000000000000000001")
    assert other.status == 200 and await balance(services, phone) == before + 5000

    metrics = stack.gateway.runtime.metrics.payment_notifications
    assert (metrics.value("credited"), metrics.value("duplicate"), metrics.value("refused")) == (1, 1, 1)
    assert (metrics.value("stale"), metrics.value("amount_mismatch"), metrics.value("conflict")) == (2, 1, 1)
    receipts = await eventually(lambda: [t for t in stack.standin.texts_to(chat.openid) if "充值成功" in t])
    assert len(receipts) == 1
    assert "138****0011" in receipts[0] and format_yuan(before + 5000) in receipts[0]
    assert payment.order_no in receipts[0]
    paid_payment = await services.payments.get(payment.order_no)
    assert (
        paid_payment is not None
        and paid_payment.transaction_id
        == json.loads(decrypt_resource(stack.config.apiv3_key, json.loads(paid.body)["resource"]))["transaction_id"]
    )
    async with http.get(f"{stack.gateway.url}/pay/{payment.pay_token}") as response:
        assert "已经支付" in await response.text()


async def test_the_same_notification_delivered_concurrently_credits_once(
    stack: PayStack, http: aiohttp.ClientSession, services: Services
) -> None:
    phone = "13800000012"
    chat = Conversation(services)
    await chat.bind(phone)
    before = await balance(services, phone)
    payment = await confirmed_top_up(chat, "充20元")
    await open_page(stack, http, payment)
    first = await stack.pay.pay(payment.order_no)
    await asyncio.gather(*(stack.pay.deliver(first.url, first.headers, first.body) for _ in range(5)))
    assert await balance(services, phone) == before + 2000


async def test_family_payment_credits_the_number_the_payer_named_and_confirmed(
    stack: PayStack, http: aiohttp.ClientSession, services: Services
) -> None:
    payer_phone, mother = "13800000013", "13800000016"
    chat = Conversation(services)
    await chat.bind(payer_phone)
    await open_window(stack, chat.openid)
    payer_before, mother_before = await balance(services, payer_phone), await balance(services, mother)

    ask = await chat.say(ActionTopUp(), f"给{mother}充30元", "top_up")
    assert mother in ask and "他人" in ask and "回复1确认" in ask  # her own typing, shown back in full
    reply = await chat.say(ActionHandleReply(), "1", "affirm")
    payment = await services.payments.by_token(re.search(r"/pay/(\S+)", reply).group(1))
    assert payment is not None and payment.phone == mother and payment.payer_openid == chat.openid
    assert payment.for_other and "138****0016" in reply

    await open_page(stack, http, payment)
    assert (await stack.pay.pay(payment.order_no)).status == 200
    assert await balance(services, mother) == mother_before + 3000
    assert await balance(services, payer_phone) == payer_before
    receipt = (await eventually(lambda: [t for t in stack.standin.texts_to(chat.openid) if "亲情付" in t]))[0]
    assert "138****0016" in receipt and "30元" in receipt and "余额" not in receipt  # not hers to see


async def test_a_family_payment_asks_the_amount_and_keeps_the_number(services: Services) -> None:
    chat = Conversation(services)
    assert "充值多少元" in await chat.say(ActionTopUp(), "帮13800000016交话费", "top_up")
    assert chat.slots["pending"] == "topup_amount:13800000016"
    ask = await chat.say(ActionHandleReply(), "50", "inform")
    assert "13800000016" in ask and "50元" in ask and "他人" in ask
    payment = await services.payments.get(chat.slots["pending"].partition(":")[2])
    assert payment is not None and payment.phone == "13800000016" and payment.for_other


async def test_a_top_up_for_a_relative_asks_her_number_and_never_tops_up_her_own(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000013")
    ask = await chat.say(ActionTopUp(), "帮我给我妈妈的号码充五十块钱", "top_up", relative="妈妈")
    assert "您妈妈的11位手机号" in ask and "1 138****0013" in ask and "确认" not in ask
    assert chat.slots["pending"] == "topup_number:50"  # the amount is kept while the number is asked
    confirm = await chat.say(ActionHandleReply(), "13800000016", "inform")
    assert "13800000016" in confirm and "50元" in confirm and "他人" in confirm
    payment = await services.payments.get(chat.slots["pending"].partition(":")[2])
    assert payment is not None and payment.phone == "13800000016" and payment.for_other
    # classified as a question about her mother's line, the money still goes to the mother's line
    asked = Conversation(services)
    await asked.bind("13800000013")
    ask = await asked.say(
        ActionAskRelative(), "我妈不会用手机 她的话费帮她充五十", "ask_relative", relative="妈", second_request="top_up"
    )
    assert "您妈妈的11位手机号" in ask and asked.slots["pending"] == "topup_number:50"
    assert "还提到" not in ask  # the top-up under way is not offered again as a second request
    looked_at = Conversation(services)
    await looked_at.say(ActionAskRelative(), "我妈的话费还剩五十吗", "ask_relative", relative="妈")
    assert looked_at.slots["pending"] == "bind_phone"  # looking at her line: bind it first, no top-up
    # she may pick one of her bound lines instead; the amount is then asked for that line
    other = Conversation(services)
    await other.bind("13800000014")
    await other.say(ActionTopUp(), "给我老伴充话费", "top_up", relative="老伴")
    assert "充值多少元" in await other.say(ActionHandleReply(), "1", "inform")
    assert other.slots["pending"] == "topup_amount:13800000014"
    ask = await other.say(ActionHandleReply(), "30", "inform")
    assert "138****0014" in ask and "30元" in ask and "他人" not in ask


async def test_a_family_payment_without_a_number_or_for_a_stranger_line_is_refused(services: Services) -> None:
    chat = Conversation(services)
    assert "不是本网" in await chat.say(ActionTopUp(), "给13899999999充30元", "top_up")
    # someone else's openid cannot confirm or cancel the payer's order (a forged `pending`)
    payer = Conversation(services)
    await payer.say(ActionTopUp(), "给13800000016充30元", "top_up")
    order_no = payer.slots["pending"].partition(":")[2]
    chat.slots["pending"] = f"topup_confirm:{order_no}"
    assert "/pay/" not in await chat.say(ActionHandleReply(), "1", "affirm")
    chat.slots["pending"] = f"topup_confirm:{order_no}"
    await chat.say(ActionHandleReply(), "2", "deny")
    payment = await services.payments.get(order_no)
    assert payment is not None and payment.state is PaymentState.CREATED
    assert "已取消" in await payer.say(ActionHandleReply(), "2", "deny")


async def _replayed(pay: PayStandinState, sent: SentNotification) -> SentNotification:
    """The same notification posted again later: its signed timestamp is older than the window."""
    old = str(int(time.time()) - 3600)
    headers = signed_headers(pay.platform_key, pay.platform_serial, sent.body, timestamp=old)
    return await pay.deliver(sent.url, headers, sent.body)


# ---- the protocol on its own -------------------------------------------------------------


def test_notifications_are_verified_before_anything_is_read(keys: tuple[str, str]) -> None:
    config = make_config(keys, "wxapp", "http://pay")
    platform = private_key(keys[1])
    serial = next(iter(config.platform_keys))
    transaction = {
        "mchid": MCHID, "appid": "wxapp", "out_trade_no": "TU1", "transaction_id": "42001",
        "trade_state": "SUCCESS", "amount": {"total": 100}, "payer": {"openid": "o1"},
    }  # fmt: skip
    body = json.dumps({"resource": encrypt_resource(config.apiv3_key, json.dumps(transaction).encode())})
    headers = signed_headers(platform, serial, body)
    assert read_notification(config, headers, body).out_trade_no == "TU1"
    with pytest.raises(BadSignature):
        read_notification(config, headers, body.replace("TU1", "TU2").replace("}", " }", 1))
    with pytest.raises(BadSignature):
        read_notification(config, {**headers, "Wechatpay-Serial": "OTHER"}, body)
    with pytest.raises(StaleMessage):
        read_notification(config, headers, body, now=time.time() + 600)
    tampered = json.loads(body)
    ciphertext = bytearray(base64.b64decode(tampered["resource"]["ciphertext"]))
    ciphertext[0] ^= 1
    tampered["resource"]["ciphertext"] = base64.b64encode(bytes(ciphertext)).decode()
    tampered_body = json.dumps(tampered)
    with pytest.raises(PayProtocolError):
        read_notification(config, signed_headers(platform, serial, tampered_body), tampered_body)
    other_app = replace(config, appid="wxother")
    with pytest.raises(PayProtocolError):
        read_notification(other_app, headers, body)


async def test_a_paid_top_up_cannot_be_cancelled_afterwards(services: Services) -> None:
    phone = "13800000017"
    chat = Conversation(services)
    await chat.bind(phone)
    before = await balance(services, phone)
    payment = await confirmed_top_up(chat, "充10元")
    notice = PaymentNotice(payment.order_no, "4200000000000000000000000777", 1000, chat.openid)
    assert (await services.payments.settle(notice)).outcome is SettleOutcome.CREDITED
    chat.slots["pending"] = f"topup_confirm:{payment.order_no}"  # an old context, replayed
    assert "已支付" in await chat.say(ActionHandleReply(), "2", "deny")
    assert (await services.billing.get_top_up(payment.order_no)).status == OrderStatus.PAID
    assert await balance(services, phone) == before + 1000
