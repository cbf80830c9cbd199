"""Masking of openids and phone numbers before they reach a log line."""

from __future__ import annotations

import logging
import re

from core.privacy import mask_phone

_PHONE = re.compile(r"(?<!\d)1\d{10}(?!\d)")
_OPENID = re.compile(r"(?<![A-Za-z0-9_-])o[A-Za-z0-9_-]{27}(?![A-Za-z0-9_-])")  # WeChat openids: 28 chars


def mask_openid(openid: str) -> str:
    """oAbCdEfGhIjKlMnOpQrStUvWxYz -> oAbC…WxYz"""
    if len(openid) <= 8:
        return "*" * len(openid)
    return f"{openid[:4]}…{openid[-4:]}"


def mask_text(text: str) -> str:
    """Free text with every mainland mobile number and every openid masked."""
    text = _PHONE.sub(lambda match: mask_phone(match.group(0)), text)
    return _OPENID.sub(lambda match: mask_openid(match.group(0)), text)


def mask_msg_key(msg_key: str) -> str:
    openid, _, rest = msg_key.partition(":")
    return f"{mask_openid(openid)}:{rest}"


class RedactingFilter(logging.Filter):
    """Masks phone numbers and openids in every log record (tracebacks included) of a process."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_text(record.getMessage())
        record.args = ()
        if record.exc_info:
            record.exc_text = mask_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def redact_logs() -> None:
    """Install the filter on the root logger's handlers (after logging is configured)."""
    redacting = RedactingFilter()
    for handler in logging.getLogger().handlers:
        handler.addFilter(redacting)
