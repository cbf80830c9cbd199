"""The subscriber's profile as the handoff sees it: bound number, age, dialect, plan, balance,
line status and tags, read from the binding service and the billing backend.

A profile lookup never blocks a handoff: when the backend fails, the profile says so and
routing goes on with what it has.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Callable, Protocol
from zoneinfo import ZoneInfo

from billing.backend import BillingBackend, LineStatus, Payment, SuspendReason, Usage
from core.privacy import mask_phone

log = logging.getLogger(__name__)

# Suspensions an agent may clear through the green channel (the backend enforces it too). Not a
# 挂失: whoever found the phone is still logged in to WeChat, so the chat proves nothing.
GREEN_CHANNEL_REASONS = frozenset({SuspendReason.VOLUNTARY})

STATUS_LABELS = {LineStatus.ACTIVE: "正常", LineStatus.SUSPENDED: "停机", LineStatus.CLOSED: "已销户"}
SUSPEND_LABELS = {
    SuspendReason.ARREARS: "欠费停机",
    SuspendReason.REPORTED_LOST: "挂失停机",
    SuspendReason.REAL_NAME: "实名未核验",
    SuspendReason.VOLUNTARY: "停机保号",
}


class PhoneDirectory(Protocol):
    async def bound_phones(self, openid: str) -> list[str]: ...


@dataclass(frozen=True)
class Profile:
    openid: str
    phone: str | None
    name: str | None = None
    age: int | None = None
    dialect: str | None = None
    plan_name: str | None = None
    balance_fen: int | None = None
    status: LineStatus | None = None
    suspend_reason: SuspendReason | None = None
    tags: tuple[str, ...] = ()
    usage: Usage | None = None  # this month's data and voice
    payments: tuple[Payment, ...] = ()  # the latest top-ups
    error: str | None = None

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone) if self.phone else "未绑定"

    @property
    def masked_name(self) -> str:
        if not self.name:
            return "—"
        return self.name[0] + "*" * (len(self.name) - 1)

    @property
    def arrears_fen(self) -> int:
        return max(0, -(self.balance_fen or 0))

    @property
    def status_label(self) -> str:
        if self.status is None:
            return "—"
        label = STATUS_LABELS.get(self.status, self.status.value)
        if self.suspend_reason is not None:
            label += f"（{SUSPEND_LABELS.get(self.suspend_reason, self.suspend_reason.value)}）"
        return label

    @property
    def reported_lost(self) -> bool:
        return self.status == LineStatus.SUSPENDED and self.suspend_reason == SuspendReason.REPORTED_LOST

    def green_channel_allowed(self, elder_age: int) -> bool:
        return (
            self.phone is not None
            and self.age is not None
            and self.age >= elder_age
            and self.status == LineStatus.SUSPENDED
            and self.suspend_reason in GREEN_CHANNEL_REASONS
        )


class ProfileSource:
    def __init__(
        self,
        billing: BillingBackend | None,
        directory: PhoneDirectory | None,
        timezone: ZoneInfo,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.billing = billing
        self.directory = directory
        self.timezone = timezone
        self.clock = clock

    async def phone_of(self, openid: str) -> str | None:
        if self.directory is None:
            return None
        phones = await self.directory.bound_phones(openid)
        return phones[0] if phones else None

    async def lookup(self, openid: str, phone: str | None = None) -> Profile:
        try:
            phone = phone or await self.phone_of(openid)
        except Exception as exc:  # the handoff must go on without a profile
            log.warning("binding lookup failed during a handoff: %s", exc)
            return Profile(openid=openid, phone=None, error="绑定信息暂时查不到")
        if phone is None or self.billing is None:
            return Profile(openid=openid, phone=phone)
        return await self._from_billing(self.billing, openid, phone)

    async def _from_billing(self, billing: BillingBackend, openid: str, phone: str) -> Profile:
        try:
            subscriber = await billing.get_subscriber(phone)
            if subscriber is None:
                return Profile(openid=openid, phone=phone, error="计费系统里没有这个号码")
            plan = await billing.get_plan(subscriber.plan_code)
            usage = await billing.get_usage(phone)
            payments = await billing.list_payments(phone)
        except Exception as exc:
            log.warning("billing lookup failed during a handoff: %s", exc)
            return Profile(openid=openid, phone=phone, error="计费系统暂时查不到")
        today = self.clock().astimezone(self.timezone).date()
        return Profile(
            openid=openid,
            phone=phone,
            name=subscriber.name,
            age=subscriber.age(today),
            dialect=subscriber.dialect,
            plan_name=plan.name if plan else subscriber.plan_code,
            balance_fen=subscriber.balance_fen,
            status=subscriber.status,
            suspend_reason=subscriber.suspend_reason,
            tags=tuple(subscriber.tags),
            usage=usage,
            payments=tuple(payments),
        )
