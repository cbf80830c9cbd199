"""Where WeChat Pay's settings and keys come from: environment variables, else local files in var/.

Production sets WECHATPAY_MCHID, WECHATPAY_MERCHANT_KEY (apiclient_key.pem), WECHATPAY_MERCHANT_SERIAL,
WECHATPAY_APIV3_KEY, WECHATPAY_PLATFORM_PUBLIC_KEY (WeChat Pay's public key, pub_key.pem) and
WECHATPAY_PLATFORM_SERIAL (its PUB_KEY_ID_…). A fresh machine needs none of them: the merchant key,
the APIv3 key and the stand-in's platform key are generated once into var/ (mode 0600), so the
gateway and the stand-in WeChat Pay (`wechat/pay_standin.py`) agree without configuration.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from core.db import var_dir
from core.local_secrets import local_secret, stored_secret
from wechat.pay import PAY_API, PayConfig

DEV_MCHID = "1900000001"
MERCHANT_KEY_FILE = "wechatpay_merchant_key.pem"
STANDIN_PLATFORM_KEY_FILE = "wechatpay_standin_platform_key.pem"
APIV3_KEY = ("WECHATPAY_APIV3_KEY", "wechatpay_apiv3_key")


def new_private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def private_key(pem: str) -> RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, RSAPrivateKey):
        raise ValueError("WeChat Pay keys are RSA keys")
    return key


def public_key(pem: str) -> RSAPublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, RSAPublicKey):
        raise ValueError("WeChat Pay keys are RSA keys")
    return key


def key_serial(key: RSAPublicKey) -> str:
    """A stable serial for a generated key (40 upper-case hex digits, like a certificate serial)."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:40].upper()


def standin_platform_key() -> RSAPrivateKey:
    """The private key the stand-in WeChat Pay signs with (generated once into var/)."""
    return private_key(stored_secret(var_dir() / STANDIN_PLATFORM_KEY_FILE, new_private_key_pem))


def load_pay_config(env: Mapping[str, str] | None = None, *, appid: str) -> PayConfig:
    """The merchant's configuration (blocking: file reads, maybe a key generation; call it off the loop)."""
    env = env if env is not None else os.environ
    merchant_path = _text(env, "WECHATPAY_MERCHANT_KEY")
    merchant = private_key(
        Path(merchant_path).read_text()
        if merchant_path
        else stored_secret(var_dir() / MERCHANT_KEY_FILE, new_private_key_pem)
    )
    platform_path = _text(env, "WECHATPAY_PLATFORM_PUBLIC_KEY")
    platform = public_key(Path(platform_path).read_text()) if platform_path else standin_platform_key().public_key()
    apiv3 = local_secret((APIV3_KEY[0], APIV3_KEY[1]), dict(env), lambda: secrets.token_urlsafe(24))
    if len(apiv3.encode()) != 32:
        raise ValueError("WECHATPAY_APIV3_KEY must be the 32-character APIv3 key")
    return PayConfig(
        mchid=_text(env, "WECHATPAY_MCHID") or DEV_MCHID,
        appid=_text(env, "WECHATPAY_APPID") or appid,
        api_base=(_text(env, "WECHATPAY_API_BASE") or PAY_API).rstrip("/"),
        merchant_key=merchant,
        merchant_serial=_text(env, "WECHATPAY_MERCHANT_SERIAL") or key_serial(merchant.public_key()),
        apiv3_key=apiv3.encode(),
        platform_keys={_text(env, "WECHATPAY_PLATFORM_SERIAL") or key_serial(platform): platform},
        notify_url=_text(env, "WECHATPAY_NOTIFY_URL") or None,
    )


def _text(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()
