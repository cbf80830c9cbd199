"""Account binding: a WeChat openid sees account data only for numbers it proved it owns.

Proof is a 6-digit code sent by SMS to the number (valid 5 minutes, one code per 60 s per
openid). Five wrong codes lock binding for that openid for 15 minutes. All state lives in
the database (`binding_states`, `bindings`), so limits and locks hold across processes.
Every bind, unbind and lock is written to `audit_log`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import importlib
import logging
import math
import os
import re
import secrets
import unicodedata
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from billing import load_backend
from billing.backend import BillingBackend
from billing.models import binding_states, bindings, sms_outbox
from billing.periods import Clock, utc_now
from core import audit
from core.privacy import mask_phone

log = logging.getLogger(__name__)

CODE_TTL = dt.timedelta(minutes=5)
RESEND_INTERVAL = dt.timedelta(seconds=60)
MAX_WRONG_CODES = 5
LOCK_DURATION = dt.timedelta(minutes=15)
DEFAULT_SMS_SENDER = "billing.binding:LogSmsSender"
SUBSCRIBER_ACTOR = "subscriber"  # audit actor when the subscriber binds with a code

_PHONE = re.compile(r"^1[3-9]\d{9}$")
_CODE = re.compile(r"^\d{6}$")


class SmsSender(Protocol):
    async def send(self, phone: str, text: str) -> None: ...


class LogSmsSender:
    """Development sender: stores the message in `sms_outbox` (`csbot subscriber sms PHONE`
    shows it) and logs that it did, never the text: it carries the binding code."""

    def __init__(self, engine: AsyncEngine, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    async def send(self, phone: str, text: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(insert(sms_outbox).values(phone=phone, text=text, created_at=self._clock()))
        log.info("SMS to %s stored in sms_outbox (`csbot subscriber sms` shows it)", mask_phone(phone))


def load_sms_sender(engine: AsyncEngine) -> SmsSender:
    """The sender named by SMS_SENDER ("module:Class", constructed with the engine)."""
    target = os.environ.get("SMS_SENDER", "").strip() or DEFAULT_SMS_SENDER
    module_name, _, class_name = target.partition(":")
    if not class_name:
        raise ValueError(f"SMS_SENDER must look like 'package.module:Class', got {target!r}")
    sender_class = getattr(importlib.import_module(module_name), class_name)
    return sender_class(engine)


def normalise_phone(text: str) -> str | None:
    """A mainland mobile number from user input ("138 0000 0001", "+86-13800000001"), or None."""
    digits = re.sub(r"[\s\-]", "", text or "")
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix):
            digits = digits[len(prefix) :]
    return digits if _PHONE.match(digits) else None


class StartOutcome(str, Enum):
    SENT = "sent"
    INVALID_PHONE = "invalid_phone"  # not a mainland mobile number
    UNKNOWN_PHONE = "unknown_phone"  # not one of our subscribers
    ALREADY_BOUND = "already_bound"  # nothing sent: this openid already has the number
    TOO_SOON = "too_soon"  # a code was sent less than 60 s ago: see retry_after_seconds
    LOCKED = "locked"  # too many wrong codes: see locked_until
    SEND_FAILED = "send_failed"  # the SMS gateway failed; nothing is pending, the user may retry


@dataclass(frozen=True)
class StartResult:
    outcome: StartOutcome
    phone: str | None = None
    expires_at: dt.datetime | None = None
    retry_after_seconds: int | None = None
    locked_until: dt.datetime | None = None


class VerifyOutcome(str, Enum):
    OK = "ok"
    WRONG = "wrong"  # see attempts_left
    LOCKED = "locked"  # see locked_until (also the answer to the 5th wrong code)
    EXPIRED = "expired"  # the code is older than 5 minutes: start again
    NOTHING_PENDING = "nothing_pending"  # no code was requested (or it was used)


@dataclass(frozen=True)
class VerifyResult:
    outcome: VerifyOutcome
    phone: str | None = None
    attempts_left: int | None = None
    locked_until: dt.datetime | None = None


class BindingError(Exception):
    """Raised by the staff operations (bind_directly, unbind) on bad input."""


class BindingService:
    def __init__(
        self,
        engine: AsyncEngine,
        sms: SmsSender,
        clock: Clock = utc_now,
        billing: BillingBackend | None = None,
    ) -> None:
        self._engine = engine
        self._sms = sms
        self._clock = clock
        # Whether a number is ours is the billing system's call (the demo table or a real BSS).
        self._billing = billing if billing is not None else load_backend(engine)

    # ---- reading --------------------------------------------------------------------------

    async def bound_phones(self, openid: str) -> list[str]:
        """Numbers bound to this openid, most recently bound first."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(bindings.c.phone)
                .where(bindings.c.openid == openid)
                .order_by(bindings.c.bound_at.desc(), bindings.c.id.desc())
            )
            return [row.phone for row in rows]

    async def is_bound(self, openid: str, phone: str) -> bool:
        async with self._engine.connect() as conn:
            row = await conn.execute(
                select(bindings.c.id).where(bindings.c.openid == openid, bindings.c.phone == phone)
            )
            return row.first() is not None

    # ---- binding with an SMS code ---------------------------------------------------------

    async def start_binding(self, openid: str, phone: str) -> StartResult:
        number = normalise_phone(phone)
        if number is None:
            return StartResult(StartOutcome.INVALID_PHONE)
        if await self._billing.get_subscriber(number) is None:
            return StartResult(StartOutcome.UNKNOWN_PHONE, phone=number)
        if await self.is_bound(openid, number):
            return StartResult(StartOutcome.ALREADY_BOUND, phone=number)

        now = self._clock()
        code = f"{secrets.randbelow(10**6):06d}"
        expires_at = now + CODE_TTL
        async with self._engine.begin() as conn:
            await _ensure_state_row(conn, openid)
            # One conditional UPDATE decides: not locked and no code sent in the last 60 s.
            claimed = await conn.execute(
                update(binding_states)
                .where(
                    binding_states.c.openid == openid,
                    (binding_states.c.locked_until.is_(None)) | (binding_states.c.locked_until <= now),
                    (binding_states.c.last_sent_at.is_(None))
                    | (binding_states.c.last_sent_at <= now - RESEND_INTERVAL),
                )
                .values(
                    pending_phone=number,
                    code_hash=_hash_code(openid, number, code),
                    code_expires_at=expires_at,
                    last_sent_at=now,
                )
            )
            if claimed.rowcount != 1:
                state = await _state(conn, openid)
                if state.locked_until is not None and state.locked_until > now:
                    return StartResult(StartOutcome.LOCKED, phone=number, locked_until=state.locked_until)
                if state.last_sent_at is None:  # a failed send was withdrawn meanwhile
                    return StartResult(StartOutcome.TOO_SOON, phone=number, retry_after_seconds=1)
                wait = state.last_sent_at + RESEND_INTERVAL - now
                return StartResult(
                    StartOutcome.TOO_SOON, phone=number, retry_after_seconds=max(1, math.ceil(wait.total_seconds()))
                )
        try:
            await self._sms.send(number, f"【营业厅】您的微信绑定验证码是{code}，5分钟内有效。如非本人操作请忽略。")
        except Exception:
            log.exception("sending the binding code to %s failed", mask_phone(number))
            await self._withdraw_code(openid, now)
            return StartResult(StartOutcome.SEND_FAILED, phone=number)
        return StartResult(StartOutcome.SENT, phone=number, expires_at=expires_at)

    async def verify_code(self, openid: str, code: str) -> VerifyResult:
        """Check a code. Only well-formed codes (6 digits; full-width and spaces are
        tolerated) count as wrong attempts: anything else cannot match anyway."""
        code = re.sub(r"\s", "", unicodedata.normalize("NFKC", code or ""))
        now = self._clock()
        async with self._engine.begin() as conn:
            state = (
                await conn.execute(select(binding_states).where(binding_states.c.openid == openid).with_for_update())
            ).first()
            if state is None:
                return VerifyResult(VerifyOutcome.NOTHING_PENDING)
            if state.locked_until is not None and state.locked_until > now:
                return VerifyResult(VerifyOutcome.LOCKED, locked_until=state.locked_until)
            if state.code_hash is None:
                return VerifyResult(VerifyOutcome.NOTHING_PENDING)
            phone = state.pending_phone
            if state.code_expires_at <= now:
                await _clear_code(conn, openid)
                return VerifyResult(VerifyOutcome.EXPIRED, phone=phone)
            if not _CODE.match(code):
                left = MAX_WRONG_CODES - state.failed_attempts
                return VerifyResult(VerifyOutcome.WRONG, phone=phone, attempts_left=left)
            if hmac.compare_digest(_hash_code(openid, phone, code, salt_of=state.code_hash), state.code_hash):
                # Use the code once even if two verifications race.
                used = await conn.execute(
                    update(binding_states)
                    .where(binding_states.c.openid == openid, binding_states.c.code_hash == state.code_hash)
                    .values(code_hash=None, code_expires_at=None, pending_phone=None, failed_attempts=0)
                )
                if used.rowcount != 1:
                    return VerifyResult(VerifyOutcome.NOTHING_PENDING)
                await _add_binding(conn, openid, phone, SUBSCRIBER_ACTOR, now)
                return VerifyResult(VerifyOutcome.OK, phone=phone)
            return await _count_wrong_code(conn, openid, phone, now)

    async def _withdraw_code(self, openid: str, sent_at: dt.datetime) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(binding_states)
                .where(binding_states.c.openid == openid, binding_states.c.last_sent_at == sent_at)
                .values(code_hash=None, code_expires_at=None, pending_phone=None, last_sent_at=None)
            )

    # ---- staff operations -----------------------------------------------------------------

    async def bind_directly(self, openid: str, phone: str, actor: str) -> bool:
        """Support staff bind a number after checking identity another way. True if new."""
        number = normalise_phone(phone)
        if number is None:
            raise BindingError(f"not a mobile number: {phone!r}")
        if not openid or not openid.strip():
            raise BindingError("openid is empty")
        if not actor or not actor.strip():
            raise BindingError("actor is empty")
        if await self._billing.get_subscriber(number) is None:
            raise BindingError(f"unknown subscriber: {number}")
        async with self._engine.begin() as conn:
            return await _add_binding(conn, openid, number, actor.strip(), self._clock())

    async def unbind(self, openid: str, phone: str, actor: str) -> bool:
        """Remove a binding (by the subscriber or staff). True if there was one."""
        number = normalise_phone(phone) or phone
        if not actor or not actor.strip():
            raise BindingError("actor is empty")
        async with self._engine.begin() as conn:
            removed = await conn.execute(
                delete(bindings).where(bindings.c.openid == openid, bindings.c.phone == number)
            )
            if removed.rowcount:
                await audit.record(conn, self._clock(), actor.strip(), "unbind", openid=openid, phone=number)
            return bool(removed.rowcount)


async def _insert_unless_exists(conn: AsyncConnection, table: Table, values: dict, keys: list[str]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING (PostgreSQL and SQLite). True if a row was inserted."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values).on_conflict_do_nothing(index_elements=keys)
    return (await conn.execute(statement)).rowcount == 1


async def _ensure_state_row(conn: AsyncConnection, openid: str) -> None:
    await _insert_unless_exists(conn, binding_states, {"openid": openid, "failed_attempts": 0}, ["openid"])


async def _state(conn: AsyncConnection, openid: str):
    return (await conn.execute(select(binding_states).where(binding_states.c.openid == openid))).one()


async def _clear_code(conn: AsyncConnection, openid: str) -> None:
    await conn.execute(
        update(binding_states)
        .where(binding_states.c.openid == openid)
        .values(code_hash=None, code_expires_at=None, pending_phone=None)
    )


async def _count_wrong_code(conn: AsyncConnection, openid: str, phone: str, now: dt.datetime) -> VerifyResult:
    await conn.execute(
        update(binding_states)
        .where(binding_states.c.openid == openid)
        .values(failed_attempts=binding_states.c.failed_attempts + 1)
    )
    failed = (await _state(conn, openid)).failed_attempts
    if failed < MAX_WRONG_CODES:
        return VerifyResult(VerifyOutcome.WRONG, phone=phone, attempts_left=MAX_WRONG_CODES - failed)
    locked_until = now + LOCK_DURATION
    await conn.execute(
        update(binding_states)
        .where(binding_states.c.openid == openid)
        .values(locked_until=locked_until, failed_attempts=0, code_hash=None, code_expires_at=None, pending_phone=None)
    )
    await audit.record(
        conn,
        now,
        "system",
        "binding_locked",
        openid=openid,
        phone=phone,
        detail=f"{failed} wrong codes; locked until {locked_until.isoformat()}",
    )
    log.warning("binding locked for openid %s after %d wrong codes (number %s)", openid, failed, mask_phone(phone))
    return VerifyResult(VerifyOutcome.LOCKED, phone=phone, attempts_left=0, locked_until=locked_until)


async def _add_binding(conn: AsyncConnection, openid: str, phone: str, actor: str, now: dt.datetime) -> bool:
    values = {"openid": openid, "phone": phone, "bound_at": now, "bound_by": actor}
    if not await _insert_unless_exists(conn, bindings, values, ["openid", "phone"]):
        return False  # already bound
    await audit.record(conn, now, actor, "bind", openid=openid, phone=phone)
    return True


def _hash_code(openid: str, phone: str, code: str, salt_of: str | None = None) -> str:
    """ "salt$sha256(salt|openid|phone|code)": the code itself is never stored."""
    salt = salt_of.split("$", 1)[0] if salt_of else secrets.token_hex(8)
    digest = hashlib.sha256(f"{salt}|{openid}|{phone}|{code}".encode()).hexdigest()
    return f"{salt}${digest}"
