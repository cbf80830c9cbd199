"""Masking of openids, phone numbers and SMS codes before they reach a log line.

Standard library only: the Rasa process (Python 3.10, .venv-rasa) installs this same masking
through nlu/log_masking.py, and the action server and the gateway through `redact_logs`.
"""

from __future__ import annotations

import logging
import re

from core.privacy import mask_phone

# A mainland mobile number as people write it: 13800000001, 138 0000 0001, 138-0000-0001, with
# or without +86 / 0086 / 86 / (+86) in front.
_PHONE = re.compile(r"(?<![\d+])(?:(?:\+|00)?86[ -]?|\(\+?86\)[ -]?)?1\d(?:[ -]?\d){9}(?!\d)")
_OPENID = re.compile(r"(?<![A-Za-z0-9_-])o[A-Za-z0-9_-]{27}(?![A-Za-z0-9_-])")  # WeChat openids: 28 chars
# A code next to the word for it (「验证码：482913」, "code=482913"), and a message that is a code
# alone as Rasa's debug lines quote it ('482913').
_CODE_AFTER_WORD = re.compile(r"(验证码|校验码|动态码|(?i:sms[_ ]?code|code))([^\d\n]{0,12}?)\d{4,8}(?!\d)")
_QUOTED_CODE = re.compile(r"(['\"])\d{4,8}\1")
MASKED_CODE = "******"


def mask_openid(openid: str) -> str:
    """oAbCdEfGhIjKlMnOpQrStUvWxYz -> oAbC…WxYz"""
    if len(openid) <= 8:
        return "*" * len(openid)
    return f"{openid[:4]}…{openid[-4:]}"


def _mask_phone_match(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return mask_phone(digits[-11:])


def mask_text(text: str) -> str:
    """Free text with every mainland mobile number, every openid and every SMS code masked."""
    text = _PHONE.sub(_mask_phone_match, text)
    text = _OPENID.sub(lambda match: mask_openid(match.group(0)), text)
    text = _CODE_AFTER_WORD.sub(lambda match: match.group(1) + match.group(2) + MASKED_CODE, text)
    return _QUOTED_CODE.sub(lambda match: match.group(1) + MASKED_CODE + match.group(1), text)


def mask_msg_key(msg_key: str) -> str:
    openid, _, rest = msg_key.partition(":")
    return f"{mask_openid(openid)}:{rest}"


def redact_record(record: logging.LogRecord) -> None:
    """Mask a record's message, arguments and traceback in place (never raises)."""
    try:
        record.msg = mask_text(record.getMessage())
        record.args = ()
    except Exception:  # a malformed format string: logging reports it itself; mask what is there
        record.msg = mask_text(str(record.msg))
        record.args = ()
    if record.exc_info:
        record.exc_text = mask_text(logging.Formatter().formatException(record.exc_info))
        record.exc_info = None
    if record.stack_info:
        record.stack_info = mask_text(record.stack_info)


class RedactingFilter(logging.Filter):
    """Masks phone numbers, openids and SMS codes in every log record (tracebacks included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def redact_logs() -> None:
    """Mask every record of this process, whichever logger or handler it goes to.

    The filter goes on the root logger's handlers (after logging is configured), and the record
    factory masks each record as it is made, so that handlers added later (Sanic's, Rasa's)
    and loggers that do not propagate are covered too. Idempotent."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    factory = logging.getLogRecordFactory()
    if getattr(factory, "csbot_redacting", False):
        return

    def redacting_factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        redact_record(record)
        return record

    redacting_factory.csbot_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(redacting_factory)
