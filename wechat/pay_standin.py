"""The stand-in WeChat Pay (API v3), served by the stand-in WeChat API (wechat/standin.py).

It checks the merchant's request signature, creates JSAPI orders (answering a signed prepay_id),
and, when a test says "the user paid", posts a signed notification with an AES-GCM resource to the
order's notify_url, exactly as WeChat Pay does. It can also send forged (badly signed), stale or
altered notifications, and keeps what it sent so that a test can replay it.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from wechat.pay import (
    JSAPI_PATH,
    BadSignature,
    PayConfig,
    encrypt_resource,
    parse_authorization,
    request_message,
    signed_headers,
    verify,
)
from wechat.pay_keys import key_serial, new_private_key_pem, private_key, standin_platform_key


@dataclass
class StandinPayOrder:
    out_trade_no: str
    appid: str
    mchid: str
    total_fen: int
    payer_openid: str
    notify_url: str
    prepay_id: str
    description: str


@dataclass(frozen=True)
class SentNotification:
    url: str
    headers: dict[str, str]
    body: str
    status: int  # what our notify endpoint answered
    answer: str


@dataclass
class PayStandinState:
    mchid: str
    merchant_keys: dict[str, RSAPublicKey]  # merchant serial_no -> public key of the merchant's key
    platform_key: RSAPrivateKey
    platform_serial: str
    apiv3_key: bytes
    orders: dict[str, StandinPayOrder] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)  # why requests were refused
    sent: list[SentNotification] = field(default_factory=list)
    _sequence: Any = field(default_factory=lambda: itertools.count(1))

    async def pay(
        self,
        out_trade_no: str,
        *,
        forge: bool = False,
        total_fen: int | None = None,
        signed_at: float | None = None,
        transaction_id: str | None = None,
    ) -> SentNotification:
        """The user paid: post the TRANSACTION.SUCCESS notification to the order's notify_url.

        `forge`: signed with a key WeChat Pay does not own; `total_fen`: claim another amount;
        `signed_at`: sign with this (e.g. an old) timestamp.
        """
        order = self.orders[out_trade_no]
        number = next(self._sequence)
        transaction = {
            "mchid": order.mchid,
            "appid": order.appid,
            "out_trade_no": order.out_trade_no,
            "transaction_id": transaction_id or f"4200{int(time.time())}{number:08d}",
            "trade_type": "JSAPI",
            "trade_state": "SUCCESS",
            "trade_state_desc": "支付成功",
            "bank_type": "OTHERS",
            "success_time": time.strftime("%Y-%m-%dT%H:%M:%S+08:00", time.localtime()),
            "payer": {"openid": order.payer_openid},
            "amount": {
                "total": order.total_fen if total_fen is None else total_fen,
                "payer_total": order.total_fen if total_fen is None else total_fen,
                "currency": "CNY",
                "payer_currency": "CNY",
            },
        }
        body = json.dumps(
            {
                "id": f"EV-{number:012d}",
                "create_time": time.strftime("%Y-%m-%dT%H:%M:%S+08:00", time.localtime()),
                "event_type": "TRANSACTION.SUCCESS",
                "resource_type": "encrypt-resource",
                "summary": "支付成功",
                "resource": encrypt_resource(self.apiv3_key, json.dumps(transaction, ensure_ascii=False).encode()),
            },
            ensure_ascii=False,
        )
        key = private_key(new_private_key_pem()) if forge else self.platform_key
        timestamp = str(int(signed_at)) if signed_at is not None else None
        headers = signed_headers(key, self.platform_serial, body, timestamp=timestamp)
        return await self.deliver(order.notify_url, headers, body)

    async def deliver(self, url: str, headers: dict[str, str], body: str) -> SentNotification:
        """Post a notification (also a replay of one sent before)."""
        async with aiohttp.ClientSession() as http:
            async with http.post(
                url, data=body.encode(), headers={**headers, "Content-Type": "application/json"}
            ) as response:
                sent = SentNotification(url, headers, body, response.status, await response.text())
        self.sent.append(sent)
        return sent


def add_pay_routes(app: web.Application, state: PayStandinState) -> None:
    app[PAY_STATE] = state
    app.router.add_post(JSAPI_PATH, _jsapi)
    app.router.add_post("/standin/pay/paid", _control_paid)


async def _control_paid(request: web.Request) -> web.Response:
    """{"out_trade_no": ..., "forge": false}: the user paid (for `csbot chat` and manual trials)."""
    state = request.app[PAY_STATE]
    data = await request.json()
    if data.get("out_trade_no") not in state.orders:
        return web.json_response({"error": "no such order"}, status=404)
    sent = await state.pay(str(data["out_trade_no"]), forge=bool(data.get("forge")))
    return web.json_response({"status": sent.status, "answer": sent.answer})


PAY_STATE = web.AppKey("standin_pay", PayStandinState)


def _fail(state: PayStandinState, status: int, code: str, message: str) -> web.Response:
    state.refused.append(f"{code}: {message}")
    return web.json_response({"code": code, "message": message}, status=status)


async def _jsapi(request: web.Request) -> web.Response:
    state = request.app[PAY_STATE]
    body = await request.text()
    try:
        auth = parse_authorization(request.headers.get("Authorization", ""))
    except BadSignature:
        return _fail(state, 401, "SIGN_ERROR", "Authorization 缺失或格式错误")
    key = state.merchant_keys.get(auth.get("serial_no", ""))
    message = request_message("POST", request.path_qs, auth.get("timestamp", ""), auth.get("nonce_str", ""), body)
    if (
        key is None
        or auth.get("mchid") != state.mchid
        or not auth.get("timestamp", "").isdigit()
        or abs(time.time() - int(auth["timestamp"])) > 300
        or not verify(key, message, auth.get("signature", ""))
    ):
        return _fail(state, 401, "SIGN_ERROR", "签名错误")
    data = json.loads(body)
    if data.get("mchid") != state.mchid:
        return _fail(state, 400, "MCH_NOT_EXISTS", "商户号不存在")
    out_trade_no = str(data["out_trade_no"])
    existing = state.orders.get(out_trade_no)
    if existing is not None and existing.total_fen != int(data["amount"]["total"]):
        return _fail(state, 400, "OUT_TRADE_NO_USED", "商户订单号重复")
    order = existing or StandinPayOrder(
        out_trade_no=out_trade_no,
        appid=str(data["appid"]),
        mchid=state.mchid,
        total_fen=int(data["amount"]["total"]),
        payer_openid=str(data["payer"]["openid"]),
        notify_url=str(data["notify_url"]),
        prepay_id=f"wx{int(time.time())}{next(state._sequence):010d}",
        description=str(data.get("description", "")),
    )
    state.orders[out_trade_no] = order
    answer = json.dumps({"prepay_id": order.prepay_id})
    return web.Response(
        text=answer,
        content_type="application/json",
        headers=signed_headers(state.platform_key, state.platform_serial, answer),
    )


def local_pay_standin(config: PayConfig) -> PayStandinState:
    """The stand-in for a merchant configured by `load_pay_config` without real WeChat Pay keys:
    it knows the merchant's public key and signs with the platform key kept in var/."""
    platform = standin_platform_key()
    return PayStandinState(
        mchid=config.mchid,
        merchant_keys={config.merchant_serial: config.merchant_key.public_key()},
        platform_key=platform,
        platform_serial=key_serial(platform.public_key()),
        apiv3_key=config.apiv3_key,
    )
