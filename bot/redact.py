"""Masking of openids and phone numbers before they reach a log line."""

from __future__ import annotations

import re

from actions.privacy import mask_phone

_PHONE = re.compile(r"(?<!\d)1\d{10}(?!\d)")


def mask_openid(openid: str) -> str:
    """oAbCdEfGhIjKlMnOpQrStUvWxYz -> oAbC…WxYz"""
    if len(openid) <= 8:
        return "*" * len(openid)
    return f"{openid[:4]}…{openid[-4:]}"


def mask_text(text: str) -> str:
    """Free text with every mainland mobile number masked."""
    return _PHONE.sub(lambda match: mask_phone(match.group(0)), text)


def mask_msg_key(msg_key: str) -> str:
    openid, _, rest = msg_key.partition(":")
    return f"{mask_openid(openid)}:{rest}"
