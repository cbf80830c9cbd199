"""WeChat Pay API v3: request signing, notification verification, AES-GCM resources, JSAPI orders.

Pure protocol (no storage): the merchant signs each request with its RSA key
(`Authorization: WECHATPAY2-SHA256-RSA2048 mchid=…,nonce_str=…,timestamp=…,serial_no=…,signature=…`
over "METHOD\\nURL\\nTIMESTAMP\\nNONCE\\nBODY\\n"); WeChat Pay signs its answers and notifications
with the platform key named by `Wechatpay-Serial` (over "TIMESTAMP\\nNONCE\\nBODY\\n"); a
notification's `resource` is AEAD_AES_256_GCM under the APIv3 key.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

AUTH_SCHEMA = "WECHATPAY2-SHA256-RSA2048"
PAY_API = "https://api.mch.weixin.qq.com"
JSAPI_PATH = "/v3/pay/transactions/jsapi"
NOTIFY_WINDOW_S = 300  # a notification (or answer) signed longer ago than this is refused as stale


@dataclass(frozen=True)
class PayConfig:
    """One merchant's WeChat Pay identity and keys (see wechat/pay_keys.py for where they come from)."""

    mchid: str
    appid: str
    api_base: str
    merchant_key: RSAPrivateKey
    merchant_serial: str
    apiv3_key: bytes  # 32 bytes
    platform_keys: Mapping[str, RSAPublicKey]  # Wechatpay-Serial (certificate serial or PUB_KEY_ID_…) -> key
    notify_url: str | None = None  # None: the gateway's own /wechatpay/notify as the payer reached it


class PayProtocolError(Exception):
    """Something WeChat Pay (or whoever posed as it) sent that we do not accept."""


class BadSignature(PayProtocolError):
    pass


class StaleMessage(PayProtocolError):
    pass


class PayApiError(Exception):
    """WeChat Pay refused a request (HTTP status and its code/message)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code = status, code


@dataclass(frozen=True)
class PaidTransaction:
    """The decrypted `resource` of a TRANSACTION.SUCCESS notification (the fields we check)."""

    mchid: str
    appid: str
    out_trade_no: str
    transaction_id: str
    trade_state: str
    total_fen: int
    payer_openid: str


# ---- signatures --------------------------------------------------------------------------


def sign(key: RSAPrivateKey, message: str) -> str:
    """SHA256withRSA (PKCS#1 v1.5), base64."""
    return base64.b64encode(key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def verify(key: RSAPublicKey, message: str, signature: str) -> bool:
    try:
        key.verify(base64.b64decode(signature, validate=True), message.encode(), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def request_message(method: str, url: str, timestamp: str, nonce: str, body: str) -> str:
    """What the merchant signs: `url` is the path with its query string."""
    return f"{method.upper()}\n{url}\n{timestamp}\n{nonce}\n{body}\n"


def response_message(timestamp: str, nonce: str, body: str) -> str:
    """What WeChat Pay signs (answers and notifications)."""
    return f"{timestamp}\n{nonce}\n{body}\n"


def authorization(
    config: PayConfig, method: str, url: str, body: str, *, timestamp: str | None = None, nonce: str | None = None
) -> str:
    timestamp = timestamp or str(int(time.time()))
    nonce = nonce or secrets.token_hex(16)
    signature = sign(config.merchant_key, request_message(method, url, timestamp, nonce, body))
    return (
        f'{AUTH_SCHEMA} mchid="{config.mchid}",nonce_str="{nonce}",timestamp="{timestamp}",'
        f'serial_no="{config.merchant_serial}",signature="{signature}"'
    )


def parse_authorization(header: str) -> dict[str, str]:
    """The fields of an Authorization header (the stand-in checks ours with it)."""
    schema, _, rest = header.partition(" ")
    if schema != AUTH_SCHEMA:
        raise BadSignature("not a WECHATPAY2-SHA256-RSA2048 authorization")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, _, value = part.strip().partition("=")
        fields[name] = value.strip('"')
    return fields


def verify_signed(
    platform_keys: Mapping[str, RSAPublicKey], headers: Mapping[str, str], body: str, *, now: float | None = None
) -> None:
    """Check a WeChat Pay answer or notification: known serial, fresh timestamp, valid signature."""
    serial = headers.get("Wechatpay-Serial", "")
    timestamp = headers.get("Wechatpay-Timestamp", "")
    nonce = headers.get("Wechatpay-Nonce", "")
    signature = headers.get("Wechatpay-Signature", "")
    key = platform_keys.get(serial)
    if key is None:
        raise BadSignature(f"unknown Wechatpay-Serial {serial[:40]!r}")
    if not timestamp.isdigit() or not nonce or not signature:
        raise BadSignature("missing Wechatpay-Timestamp, -Nonce or -Signature")
    if abs((now if now is not None else time.time()) - int(timestamp)) > NOTIFY_WINDOW_S:
        raise StaleMessage(f"Wechatpay-Timestamp {timestamp} outside the {NOTIFY_WINDOW_S}-s window")
    if not verify(key, response_message(timestamp, nonce, body), signature):
        raise BadSignature("Wechatpay-Signature does not match")


def signed_headers(key: RSAPrivateKey, serial: str, body: str, *, timestamp: str | None = None) -> dict[str, str]:
    """Headers WeChat Pay puts on what it signs (used by the stand-in)."""
    timestamp = timestamp or str(int(time.time()))
    nonce = secrets.token_hex(16)
    return {
        "Wechatpay-Serial": serial,
        "Wechatpay-Timestamp": timestamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": sign(key, response_message(timestamp, nonce, body)),
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
    }


# ---- AEAD_AES_256_GCM resources --------------------------------------------------------


def decrypt_resource(apiv3_key: bytes, resource: Mapping[str, Any]) -> bytes:
    if resource.get("algorithm") != "AEAD_AES_256_GCM":
        raise PayProtocolError(f"unsupported resource algorithm {resource.get('algorithm')!r}")
    try:
        return AESGCM(apiv3_key).decrypt(
            str(resource["nonce"]).encode(),
            base64.b64decode(str(resource["ciphertext"])),
            str(resource.get("associated_data") or "").encode(),
        )
    except (InvalidTag, KeyError, ValueError) as error:
        raise PayProtocolError("resource does not decrypt under the APIv3 key") from error


def encrypt_resource(apiv3_key: bytes, plaintext: bytes, associated_data: str = "transaction") -> dict[str, str]:
    nonce = secrets.token_hex(6)  # 12 characters, as WeChat Pay sends
    ciphertext = AESGCM(apiv3_key).encrypt(nonce.encode(), plaintext, associated_data.encode())
    return {
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": base64.b64encode(ciphertext).decode(),
        "nonce": nonce,
        "associated_data": associated_data,
        "original_type": "transaction",
    }


def read_notification(
    config: PayConfig, headers: Mapping[str, str], body: str, *, now: float | None = None
) -> PaidTransaction:
    """Verify a payment notification and return its transaction; PayProtocolError when not acceptable.

    Checks: signature by a known platform key over the exact body, a fresh timestamp, the resource
    decrypting under our APIv3 key, and that it is for our merchant and app.
    """
    verify_signed(config.platform_keys, headers, body, now=now)
    try:
        envelope = json.loads(body)
        resource = envelope["resource"]
    except (ValueError, KeyError, TypeError) as error:
        raise PayProtocolError("notification body is not a WeChat Pay notification") from error
    try:
        data = json.loads(decrypt_resource(config.apiv3_key, resource))
        transaction = PaidTransaction(
            mchid=str(data["mchid"]),
            appid=str(data["appid"]),
            out_trade_no=str(data["out_trade_no"]),
            transaction_id=str(data["transaction_id"]),
            trade_state=str(data["trade_state"]),
            total_fen=int(data["amount"]["total"]),
            payer_openid=str(data["payer"]["openid"]),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise PayProtocolError("notification resource lacks transaction fields") from error
    if transaction.mchid != config.mchid or transaction.appid != config.appid:
        raise PayProtocolError("notification is for another merchant or app")
    return transaction


# ---- JSAPI ------------------------------------------------------------------------------


def jsapi_pay_params(config: PayConfig, prepay_id: str, *, timestamp: str | None = None) -> dict[str, str]:
    """What the payment page passes to WeixinJSBridge.invoke('getBrandWCPayRequest', …)."""
    timestamp = timestamp or str(int(time.time()))
    nonce = secrets.token_hex(16)
    package = f"prepay_id={prepay_id}"
    pay_sign = sign(config.merchant_key, f"{config.appid}\n{timestamp}\n{nonce}\n{package}\n")
    return {
        "appId": config.appid,
        "timeStamp": timestamp,
        "nonceStr": nonce,
        "package": package,
        "signType": "RSA",
        "paySign": pay_sign,
    }


@dataclass(frozen=True)
class JsapiOrder:
    out_trade_no: str
    description: str
    total_fen: int
    payer_openid: str
    notify_url: str


class WeChatPayClient:
    """The transactions area of WeChat Pay API v3 (JSAPI orders), signed requests, verified answers."""

    def __init__(self, http: aiohttp.ClientSession, config: PayConfig) -> None:
        self._http = http
        self._config = config

    async def create_jsapi_order(self, order: JsapiOrder) -> str:
        """POST /v3/pay/transactions/jsapi; returns the prepay_id (valid two hours)."""
        body = json.dumps(
            {
                "appid": self._config.appid,
                "mchid": self._config.mchid,
                "description": order.description,
                "out_trade_no": order.out_trade_no,
                "notify_url": order.notify_url,
                "amount": {"total": order.total_fen, "currency": "CNY"},
                "payer": {"openid": order.payer_openid},
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )
        answer = await self._post(JSAPI_PATH, body)
        prepay_id = answer.get("prepay_id")
        if not isinstance(prepay_id, str) or not prepay_id:
            raise PayApiError(200, "NO_PREPAY_ID", "answer without prepay_id")
        return prepay_id

    async def _post(self, path: str, body: str) -> dict[str, Any]:
        headers = {
            "Authorization": authorization(self._config, "POST", path, body),
            "Accept": "application/json",
            "Content-Type": "application/json",
        }
        async with self._http.post(f"{self._config.api_base}{path}", data=body.encode(), headers=headers) as response:
            text = await response.text()
            if response.status >= 300:
                try:
                    error = json.loads(text)
                except ValueError:
                    error = {}
                raise PayApiError(response.status, str(error.get("code", "")), str(error.get("message", text[:200])))
            verify_signed(self._config.platform_keys, response.headers, text)
        answer = json.loads(text)
        if not isinstance(answer, dict):
            raise PayApiError(response.status, "BAD_ANSWER", "answer is not a JSON object")
        return answer
