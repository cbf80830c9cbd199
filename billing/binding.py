"""Account binding: a WeChat openid sees account data only for numbers it proved it owns.

Proof is a 6-digit code sent by SMS to the number (valid 5 minutes, one code per 60 s per
openid). Five wrong codes lock binding for that openid for 15 minutes. Each number has its own
budgets too, whichever openids ask: at most 5 codes sent and 10 wrong codes per hour, the 10th
wrong code locking the number for an hour, so many openids cannot share out a guessing attack.
A number that is not one of ours is answered exactly like one of ours (a code "is sent", its
budgets are counted, every guess is wrong; the answer waits the same `reply_floor_s`), so the
answers do not tell anyone whether a number is a subscriber's. The number is told by SMS
whenever a binding to it succeeds. All state lives in the database (`binding_states`,
`binding_phone_limits`, `bindings`), so limits and locks hold across processes.
Every bind, unbind and lock is written to `audit_log`.
"""

from __future__ import annotations

import asyncio
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
from billing.models import binding_phone_limits, binding_states, bindings, sms_outbox
from billing.periods import Clock, utc_now
from core import audit
from core.privacy import mask_phone

log = logging.getLogger(__name__)

CODE_TTL = dt.timedelta(minutes=5)
RESEND_INTERVAL = dt.timedelta(seconds=60)
MAX_WRONG_CODES = 5
LOCK_DURATION = dt.timedelta(minutes=15)
PHONE_WINDOW = dt.timedelta(hours=1)  # the per-number budgets below count within this window
MAX_CODES_PER_PHONE = 5
MAX_WRONG_CODES_PER_PHONE = 10
PHONE_LOCK_DURATION = dt.timedelta(hours=1)
REPLY_FLOOR_S = 0.3  # a "code sent" answer never comes sooner, whether an SMS went out or not
CODE_SMS = "【营业厅】您的微信绑定验证码是{code}，5分钟内有效。如非本人操作请忽略。"
BOUND_SMS = "【营业厅】您的号码{phone}已绑定微信公众号。如非本人操作，请致电10000或到营业厅解除绑定。"
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
    # SENT is also the answer for a number that is not ours, and when the SMS gateway failed
    # (the code is then withdrawn; asking again after 60 s sends a new one): an answer must not
    # tell whether a number belongs to a subscriber.
    SENT = "sent"
    INVALID_PHONE = "invalid_phone"  # not a mainland mobile number (the form alone says so)
    ALREADY_BOUND = "already_bound"  # nothing sent: this openid already has the number
    TOO_SOON = "too_soon"  # a code was sent less than 60 s ago: see retry_after_seconds
    LOCKED = "locked"  # too many wrong codes (this openid's or the number's): see locked_until
    PHONE_LIMITED = "phone_limited"  # the number had its codes for this hour: see retry_after_seconds


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
        reply_floor_s: float = REPLY_FLOOR_S,
    ) -> None:
        self._engine = engine
        self._sms = sms
        self._clock = clock
        self._reply_floor_s = reply_floor_s
        self._deliveries: set[asyncio.Task[None]] = set()  # codes still being sent after the answer
        # Whether a number is ours is the billing system's call (the demo table or a real BSS).
        self._billing = billing if billing is not None else load_backend(engine)

    # ---- reading --------------------------------------------------------------------------

    async def bound_phones(self, openid: str) -> list[str]:
        """Numbers bound to this openid, first bound first: her own line, then family numbers she
        proved later (a relative's number must not take the place of hers in 「查余额」)."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(bindings.c.phone).where(bindings.c.openid == openid).order_by(bindings.c.bound_at, bindings.c.id)
            )
            return [row.phone for row in rows]

    async def bound_openids(self, phone: str) -> list[str]:
        """The openids this number is bound to (who is told about the line, e.g. a low balance)."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(bindings.c.openid).where(bindings.c.phone == phone).order_by(bindings.c.id)
            )
            return [row.openid for row in rows]

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
        loop = asyncio.get_running_loop()
        answer_at = loop.time() + self._reply_floor_s
        ours = await self._billing.get_subscriber(number) is not None
        if await self.is_bound(openid, number):  # asked for every number, ours or not: same work
            return StartResult(StartOutcome.ALREADY_BOUND, phone=number)

        now = self._clock()
        code = f"{secrets.randbelow(10**6):06d}"
        # A number that is not ours gets a pending "code" no typed code can match.
        code_hash = _hash_code(openid, number, code) if ours else _unmatchable_hash()
        expires_at = now + CODE_TTL
        try:
            async with self._engine.begin() as conn:
                await _claim_code_slot(conn, openid, number, code_hash, expires_at, now)
                await _spend_phone_send(conn, number, now)  # after the openid's row: one lock order
        except _Refused as refused:
            return refused.result
        delivery = None
        if ours:
            delivery = asyncio.create_task(self._deliver_code(openid, number, code, now))
            self._deliveries.add(delivery)
            delivery.add_done_callback(self._deliveries.discard)
        await _answer_at(loop, answer_at, delivery)
        return StartResult(StartOutcome.SENT, phone=number, expires_at=expires_at)

    async def settle(self) -> None:
        """Wait for codes still being sent (shutdown, tests)."""
        while self._deliveries:
            await asyncio.gather(*self._deliveries, return_exceptions=True)

    async def _deliver_code(self, openid: str, number: str, code: str, sent_at: dt.datetime) -> None:
        try:
            await self._sms.send(number, CODE_SMS.format(code=code))
        except Exception:
            log.exception("sending the binding code to %s failed", mask_phone(number))
            await self._withdraw_code(openid, sent_at)

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
            phone_locked_until = await _phone_locked_until(conn, phone, now)
            if phone_locked_until is not None:
                await _clear_code(conn, openid)
                return VerifyResult(VerifyOutcome.LOCKED, phone=phone, locked_until=phone_locked_until)
            if hmac.compare_digest(_hash_code(openid, phone, code, salt_of=state.code_hash), state.code_hash):
                # Use the code once even if two verifications race.
                used = await conn.execute(
                    update(binding_states)
                    .where(binding_states.c.openid == openid, binding_states.c.code_hash == state.code_hash)
                    .values(code_hash=None, code_expires_at=None, pending_phone=None, failed_attempts=0)
                )
                if used.rowcount != 1:
                    return VerifyResult(VerifyOutcome.NOTHING_PENDING)
                added = await _add_binding(conn, openid, phone, SUBSCRIBER_ACTOR, now)
            else:
                phone_lock = await _count_wrong_phone_code(conn, openid, phone, now)
                if phone_lock is not None:
                    return phone_lock
                return await _count_wrong_code(conn, openid, phone, now)
        if added:
            await self._notify_bound(phone)
        return VerifyResult(VerifyOutcome.OK, phone=phone)

    async def _notify_bound(self, phone: str) -> None:
        """Tell the number it was bound: if it was not its owner, the owner learns at once."""
        try:
            await self._sms.send(phone, BOUND_SMS.format(phone=mask_phone(phone)))
        except Exception:
            log.exception("telling %s about its new binding failed", mask_phone(phone))

    async def _withdraw_code(self, openid: str, sent_at: dt.datetime) -> None:
        # last_sent_at stays: a new code is sent after the usual 60 s, as after an SMS lost on the way
        async with self._engine.begin() as conn:
            await conn.execute(
                update(binding_states)
                .where(binding_states.c.openid == openid, binding_states.c.last_sent_at == sent_at)
                .values(code_hash=None, code_expires_at=None, pending_phone=None)
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
            added = await _add_binding(conn, openid, number, actor.strip(), self._clock())
        if added:
            await self._notify_bound(number)
        return added

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


class _Refused(Exception):
    """Raised inside a transaction to roll it back and answer `result`."""

    def __init__(self, result: StartResult) -> None:
        super().__init__(result.outcome.value)
        self.result = result


async def _answer_at(loop: asyncio.AbstractEventLoop, answer_at: float, delivery: asyncio.Task[None] | None) -> None:
    """Return at `answer_at`, whether a code is being sent or not (a slow send goes on afterwards)."""
    if delivery is not None:
        await asyncio.wait({delivery}, timeout=max(0.0, answer_at - loop.time()))
    await asyncio.sleep(max(0.0, answer_at - loop.time()))


async def _claim_code_slot(
    conn: AsyncConnection, openid: str, number: str, code_hash: str, expires_at: dt.datetime, now: dt.datetime
) -> None:
    """One conditional UPDATE decides for the openid: not locked and no code sent in the last 60 s."""
    await _ensure_state_row(conn, openid)
    claimed = await conn.execute(
        update(binding_states)
        .where(
            binding_states.c.openid == openid,
            (binding_states.c.locked_until.is_(None)) | (binding_states.c.locked_until <= now),
            (binding_states.c.last_sent_at.is_(None)) | (binding_states.c.last_sent_at <= now - RESEND_INTERVAL),
        )
        .values(pending_phone=number, code_hash=code_hash, code_expires_at=expires_at, last_sent_at=now)
    )
    if claimed.rowcount == 1:
        return
    state = await _state(conn, openid)
    if state.locked_until is not None and state.locked_until > now:
        raise _Refused(StartResult(StartOutcome.LOCKED, phone=number, locked_until=state.locked_until))
    if state.last_sent_at is None:
        raise _Refused(StartResult(StartOutcome.TOO_SOON, phone=number, retry_after_seconds=1))
    raise _Refused(
        StartResult(
            StartOutcome.TOO_SOON,
            phone=number,
            retry_after_seconds=_seconds(state.last_sent_at + RESEND_INTERVAL - now),
        )
    )


@dataclass(frozen=True)
class _PhoneBudget:
    window_started_at: dt.datetime
    codes_sent: int
    wrong_codes: int
    locked_until: dt.datetime | None


async def _phone_budget(conn: AsyncConnection, phone: str, now: dt.datetime) -> _PhoneBudget:
    """The number's row, locked for this transaction; a window that ended starts afresh."""
    await _insert_unless_exists(
        conn, binding_phone_limits, {"phone": phone, "codes_sent": 0, "wrong_codes": 0}, ["phone"]
    )
    row = (
        await conn.execute(select(binding_phone_limits).where(binding_phone_limits.c.phone == phone).with_for_update())
    ).one()
    if row.window_started_at is not None and row.window_started_at > now - PHONE_WINDOW:
        return _PhoneBudget(row.window_started_at, row.codes_sent, row.wrong_codes, row.locked_until)
    await conn.execute(
        update(binding_phone_limits)
        .where(binding_phone_limits.c.phone == phone)
        .values(window_started_at=now, codes_sent=0, wrong_codes=0)
    )
    return _PhoneBudget(now, 0, 0, row.locked_until)


async def _spend_phone_send(conn: AsyncConnection, phone: str, now: dt.datetime) -> None:
    budget = await _phone_budget(conn, phone, now)
    if budget.locked_until is not None and budget.locked_until > now:
        raise _Refused(StartResult(StartOutcome.LOCKED, phone=phone, locked_until=budget.locked_until))
    if budget.codes_sent >= MAX_CODES_PER_PHONE:
        wait = _seconds(budget.window_started_at + PHONE_WINDOW - now)
        raise _Refused(StartResult(StartOutcome.PHONE_LIMITED, phone=phone, retry_after_seconds=wait))
    await conn.execute(
        update(binding_phone_limits)
        .where(binding_phone_limits.c.phone == phone)
        .values(codes_sent=binding_phone_limits.c.codes_sent + 1)
    )


async def _phone_locked_until(conn: AsyncConnection, phone: str, now: dt.datetime) -> dt.datetime | None:
    row = (
        await conn.execute(select(binding_phone_limits.c.locked_until).where(binding_phone_limits.c.phone == phone))
    ).first()
    if row is None or row.locked_until is None or row.locked_until <= now:
        return None
    return row.locked_until


async def _count_wrong_phone_code(
    conn: AsyncConnection, openid: str, phone: str, now: dt.datetime
) -> VerifyResult | None:
    """Count a wrong code against the number; the answer when that locks the number, else None."""
    budget = await _phone_budget(conn, phone, now)
    wrong = budget.wrong_codes + 1
    if wrong < MAX_WRONG_CODES_PER_PHONE:
        await conn.execute(
            update(binding_phone_limits).where(binding_phone_limits.c.phone == phone).values(wrong_codes=wrong)
        )
        return None
    locked_until = now + PHONE_LOCK_DURATION
    await conn.execute(
        update(binding_phone_limits)
        .where(binding_phone_limits.c.phone == phone)
        .values(wrong_codes=0, locked_until=locked_until)
    )
    await _clear_code(conn, openid)
    await audit.record(
        conn,
        now,
        "system",
        "binding_locked",
        openid=openid,
        phone=phone,
        detail=f"{wrong} wrong codes for the number within an hour; number locked until {locked_until.isoformat()}",
    )
    log.warning("binding locked for number %s after %d wrong codes", mask_phone(phone), wrong)
    return VerifyResult(VerifyOutcome.LOCKED, phone=phone, attempts_left=0, locked_until=locked_until)


def _seconds(wait: dt.timedelta) -> int:
    return max(1, math.ceil(wait.total_seconds()))


def _unmatchable_hash() -> str:
    """Looks like a code hash; no code matches it (a random digest, not a digest of a code)."""
    return f"{secrets.token_hex(8)}${secrets.token_hex(32)}"


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
