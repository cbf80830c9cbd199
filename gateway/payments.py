"""Payment of top-ups over HTTP: the payment page (GET /pay/{token}) and WeChat Pay's notification
(POST /wechatpay/notify). Orders and credits are billing's (billing.payments); signing, verifying
and decrypting are wechat.pay's; this module connects them and tells the payer.

The page makes the WeChat Pay JSAPI order the first time it is opened (a prepay_id lives two hours,
then a new one is made) and hands WeixinJSBridge the signed parameters. A notification credits only
after its signature, timestamp, resource, merchant, app, amount and payer all check out; WeChat
Pay's retries and replays of it are recognised by transaction_id and credit nothing new.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import os
import secrets
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from billing import load_backend
from billing.money import format_yuan
from billing.payments import PaymentNotice, PaymentOrder, Payments, PaymentState, Settlement, SettleOutcome
from core import wording
from core.metrics import Metrics
from core.privacy import mask_phone
from core.redact import mask_openid
from gateway.outbox import Outbox
from gateway.settings import Settings
from wechat.pay import (
    JsapiOrder,
    PayApiError,
    PayConfig,
    PayProtocolError,
    StaleMessage,
    WeChatPayClient,
    jsapi_pay_params,
    read_notification,
)
from wechat.pay_keys import load_pay_config
from wechat.window import QuotaExhausted, WindowClosed

log = logging.getLogger(__name__)

NOTIFY_PATH = "/wechatpay/notify"
MAX_NOTIFY_BYTES = 64 * 1024


@dataclass(frozen=True)
class PaymentDesk:
    config: PayConfig
    payments: Payments
    client: WeChatPayClient
    outbox: Outbox
    metrics: Metrics

    async def page(self, request: web.Request) -> web.Response:
        payment = await self.payments.by_token(request.match_info["token"])
        if payment is None:
            return _page(wording.PAY_PAGE_UNKNOWN, status=404)
        if payment.state is PaymentState.PAID:
            return _page(wording.PAY_PAGE_PAID)
        if payment.state in (PaymentState.CLOSED, PaymentState.CREATED):
            return _page(wording.PAY_PAGE_CLOSED, status=410)
        if not self.payments.prepay_valid(payment):
            try:
                prepay_id = await self.client.create_jsapi_order(
                    JsapiOrder(
                        out_trade_no=payment.order_no,
                        description=f"话费充值-{mask_phone(payment.phone)}",
                        total_fen=payment.amount_fen,
                        payer_openid=payment.payer_openid,
                        notify_url=self.config.notify_url or f"{request.url.origin()}{NOTIFY_PATH}",
                    )
                )
            except (PayApiError, PayProtocolError, aiohttp.ClientError, asyncio.TimeoutError) as error:
                log.error("WeChat Pay order for %s failed: %s", payment.order_no, error)
                return _page(wording.PAY_PAGE_UNAVAILABLE, status=503)
            recorded = await self.payments.record_prepay(payment.order_no, prepay_id)
            if recorded is None:
                return _page(wording.PAY_PAGE_CLOSED, status=410)
            payment = recorded
        assert payment.prepay_id is not None
        params = await asyncio.to_thread(jsapi_pay_params, self.config, payment.prepay_id)
        return _pay_page(payment, params)

    async def notify(self, request: web.Request) -> web.Response:
        if (request.content_length or 0) > MAX_NOTIFY_BYTES:
            return _answer(413, "FAIL", "too large")
        body = (await request.read())[: MAX_NOTIFY_BYTES + 1]
        if len(body) > MAX_NOTIFY_BYTES:
            return _answer(413, "FAIL", "too large")
        try:
            transaction = read_notification(self.config, request.headers, body.decode("utf-8"))
        except StaleMessage as error:
            log.warning("payment notification refused: %s", error)
            self.metrics.payment_notifications.inc("stale")
            return _answer(401, "FAIL", "stale")
        except (PayProtocolError, UnicodeDecodeError) as error:
            log.warning("payment notification refused: %s", error)
            self.metrics.payment_notifications.inc("refused")
            return _answer(401, "FAIL", "verification failed")
        if transaction.trade_state != "SUCCESS":
            log.info(
                "payment notification for %s: %s, nothing to credit", transaction.out_trade_no, transaction.trade_state
            )
            return _answer(200, "SUCCESS", "成功")
        settlement = await self.payments.settle(
            PaymentNotice(
                order_no=transaction.out_trade_no,
                transaction_id=transaction.transaction_id,
                amount_fen=transaction.total_fen,
                payer_openid=transaction.payer_openid,
            )
        )
        self.metrics.payment_notifications.inc(settlement.outcome.value)
        if not settlement.accepted:
            # Money moved but nothing was credited (closed order, another amount ...): on record in
            # payment_notifications and logged as an error for a refund; WeChat Pay need not retry.
            return _answer(
                200 if settlement.outcome is SettleOutcome.CONFLICT else 400, "FAIL", settlement.outcome.value
            )
        await self._tell_payer(settlement)
        return _answer(200, "SUCCESS", "成功")

    async def _tell_payer(self, settlement: Settlement) -> None:
        payment = settlement.payment
        if payment is None or settlement.top_up is None or not await self.payments.claim_receipt(payment.order_no):
            return
        text = receipt_text(payment, settlement.top_up.balance_after_fen)
        try:
            await self.outbox.enqueue(
                payment.payer_openid, {"msgtype": "text", "text": {"content": text}}, origin="system"
            )
        except (WindowClosed, QuotaExhausted) as error:
            log.warning("top-up receipt for %s not sent: %s", mask_openid(payment.payer_openid), error)


def receipt_text(payment: PaymentOrder, balance_after_fen: int | None) -> str:
    """Whose line was credited; the new balance only for the payer's own line (亲情付: not hers to see)."""
    if payment.for_other or balance_after_fen is None:
        return wording.PAY_RECEIPT_OTHER.format(
            phone=mask_phone(payment.phone), amount=format_yuan(payment.amount_fen), order_no=payment.order_no
        )
    return wording.PAY_RECEIPT_OWN.format(
        phone=mask_phone(payment.phone),
        amount=format_yuan(payment.amount_fen),
        balance=format_yuan(balance_after_fen),
        order_no=payment.order_no,
    )


PAY_DESK = web.AppKey("payment_desk", PaymentDesk)


def add_payment_routes(app: web.Application) -> None:
    async def page(request: web.Request) -> web.Response:
        return await request.app[PAY_DESK].page(request)

    async def notify(request: web.Request) -> web.Response:
        return await request.app[PAY_DESK].notify(request)

    app.router.add_get("/pay/{token}", page)
    app.router.add_post(NOTIFY_PATH, notify)


async def create_payment_desk(
    settings: Settings, engine: AsyncEngine, http: aiohttp.ClientSession, outbox: Outbox, metrics: Metrics
) -> PaymentDesk:
    # Reading (maybe generating) keys blocks: off the loop.
    config = settings.pay
    if config is None:
        config = await asyncio.to_thread(load_pay_config, os.environ, appid=settings.app_id)
    return PaymentDesk(config, Payments(engine, load_backend(engine)), WeChatPayClient(http, config), outbox, metrics)


def _answer(status: int, code: str, message: str) -> web.Response:
    """WeChat Pay's expected answer: 200 with SUCCESS; else an error status with code FAIL."""
    return web.json_response({"code": code, "message": message}, status=status)


def _page(text: str, status: int = 200) -> web.Response:
    return web.Response(
        text=_HTML.format(title="话费充值", body=f"<p>{html.escape(text)}</p>", nonce="", script=""),
        content_type="text/html",
        status=status,
        headers={
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
            "Cache-Control": "no-store",
        },
    )


def _pay_page(payment: PaymentOrder, params: dict[str, str]) -> web.Response:
    nonce = secrets.token_urlsafe(16)
    body = (
        f"<p>为{html.escape(mask_phone(payment.phone))}充值</p>"
        f"<p class=amount>{html.escape(format_yuan(payment.amount_fen))}</p>"
        f"<p>订单号：{html.escape(payment.order_no)}</p>"
        f"<button id=pay>{html.escape(wording.PAY_PAGE_BUTTON)}</button><p id=msg></p>"
    )
    # JSON in a script: "<" escaped so that no value can close the element.
    data = json.dumps(params).replace("<", "\\u003c")
    script = (
        _SCRIPT.replace("__PARAMS__", data)
        .replace("__PAID__", json.dumps(wording.PAY_PAGE_DONE))
        .replace("__FAILED__", json.dumps(wording.PAY_PAGE_FAILED))
        .replace("__NO_WECHAT__", json.dumps(wording.PAY_PAGE_NO_WECHAT))
    )
    return web.Response(
        text=_HTML.format(title="话费充值", body=body, nonce=nonce, script=script),
        content_type="text/html",
        headers={
            "Content-Security-Policy": f"default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-{nonce}'",
            "Cache-Control": "no-store",
        },
    )


_HTML = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{title}</title>
<style>body{{font-family:sans-serif;text-align:center;padding:2em 1em;font-size:18px}}
.amount{{font-size:2em;margin:.3em}}button{{font-size:1.1em;padding:.6em 3em;background:#07c160;color:#fff;border:0;border-radius:6px}}</style>
</head><body>{body}<script nonce="{nonce}">{script}</script></body></html>
"""

_SCRIPT = """
(function () {
  var params = __PARAMS__;
  var msg = document.getElementById("msg");
  function pay() {
    if (typeof WeixinJSBridge === "undefined") { msg.textContent = __NO_WECHAT__; return; }
    WeixinJSBridge.invoke("getBrandWCPayRequest", params, function (res) {
      msg.textContent = res.err_msg === "get_brand_wcpay_request:ok" ? __PAID__ : __FAILED__;
    });
  }
  document.getElementById("pay").addEventListener("click", pay);
  if (typeof WeixinJSBridge === "undefined") {
    document.addEventListener("WeixinJSBridgeReady", pay, false);
  } else { pay(); }
})();
"""
