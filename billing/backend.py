"""The billing backend interface: everything the assistant may ask of the operator's BSS.

The SQL implementation (`billing.sql.SqlBillingBackend`) serves the demo data; an
operator plugs in their real BSS by implementing this protocol and pointing
`BILLING_BACKEND` at it (see README). Money is always an integer number of fen.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol


class LineStatus(str, Enum):
    ACTIVE = "active"
    SUSPENDED = "suspended"  # 停机
    CLOSED = "closed"  # 销户


class SuspendReason(str, Enum):
    ARREARS = "arrears"  # 欠费停机: cleared by a top-up that brings the balance to >= 0
    # 挂失停机: the phone may be in a finder's hands, still logged in to WeChat, so no chat or
    # console can clear it; only a supervisor after an identity check (reactivate_lost_line).
    REPORTED_LOST = "reported_lost"
    REAL_NAME = "real_name"  # 实名未核验: needs an in-person check at a service hall
    VOLUNTARY = "voluntary"  # 用户申请停机保号: an agent may clear it (green channel)


class IdentityCheck(str, Enum):
    """How a supervisor checked that the person asking to lift a 挂失 is the line's owner."""

    SHOP_ID = "shop_id"  # the owner's ID card, in person at a service hall
    HOTLINE = "hotline"  # a call from another phone, identity verified by the hotline


@dataclass(frozen=True)
class Plan:
    code: str
    name: str
    monthly_fee_fen: int
    data_mb: int
    voice_minutes: int
    description: str
    elder_friendly: bool = False
    requires_in_person: bool = False  # switching to it needs a real-name check in a service hall
    available: bool = True


@dataclass(frozen=True)
class Subscriber:
    phone: str
    name: str
    birth_date: dt.date
    plan_code: str
    balance_fen: int  # negative means arrears
    status: LineStatus
    suspend_reason: SuspendReason | None = None
    tags: tuple[str, ...] = ()
    dialect: str | None = None  # e.g. "sichuanese", "cantonese": routing hint for agents

    def age(self, today: dt.date) -> int:
        years = today.year - self.birth_date.year
        if (today.month, today.day) < (self.birth_date.month, self.birth_date.day):
            years -= 1
        return years


@dataclass(frozen=True)
class Balance:
    phone: str
    balance_fen: int
    status: LineStatus
    suspend_reason: SuspendReason | None

    @property
    def arrears_fen(self) -> int:
        return max(0, -self.balance_fen)


@dataclass(frozen=True)
class BillItem:
    name: str
    amount_fen: int


@dataclass(frozen=True)
class Bill:
    phone: str
    month: str  # "2026-11"
    items: tuple[BillItem, ...]
    total_fen: int


@dataclass(frozen=True)
class Usage:
    phone: str
    month: str
    data_used_mb: int
    data_total_mb: int
    voice_used_minutes: int
    voice_total_minutes: int

    @property
    def data_left_mb(self) -> int:
        return max(0, self.data_total_mb - self.data_used_mb)

    @property
    def voice_left_minutes(self) -> int:
        return max(0, self.voice_total_minutes - self.voice_used_minutes)


class OrderStatus(str, Enum):
    PENDING = "pending"
    PAID = "paid"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class TopUpOrder:
    order_no: str
    phone: str
    amount_fen: int
    status: OrderStatus
    created_at: dt.datetime
    paid_at: dt.datetime | None = None
    balance_after_fen: int | None = None  # set once paid


class PlanChangeOutcome(str, Enum):
    CHANGED = "changed"  # takes effect on the first day of next month
    SAME_PLAN = "same_plan"
    NEEDS_IN_PERSON = "needs_in_person"  # real-name check at a service hall: offer a human
    UNKNOWN_PLAN = "unknown_plan"
    LINE_NOT_ACTIVE = "line_not_active"


@dataclass(frozen=True)
class PlanChange:
    outcome: PlanChangeOutcome
    phone: str
    from_plan: str
    to_plan: str
    effective_date: dt.date | None = None


class ChargeKind(str, Enum):
    PLAN = "plan"  # 套餐月费
    SERVICE = "service"  # 增值业务 (value-added service) fee
    ONE_OFF = "one_off"  # a one-off charge: long distance, roaming, a paid call ...
    USAGE = "usage"  # usage beyond the plan


@dataclass(frozen=True)
class Charge:
    """One deduction from the balance as it happened (this month's, before the bill is out)."""

    date: dt.date | None
    name: str
    amount_fen: int
    kind: ChargeKind
    service_code: str | None = None


@dataclass(frozen=True)
class ValueAddedService:
    """A catalogue entry. `aliases` are the words subscribers use for it (彩铃, 爱奇艺会员, 包月 ...)."""

    code: str
    name: str
    monthly_fee_fen: int
    aliases: tuple[str, ...] = ()


class SubscriptionStatus(str, Enum):
    ACTIVE = "active"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Subscription:
    """A value-added service on one number."""

    phone: str
    service: ValueAddedService
    status: SubscriptionStatus
    since: dt.date
    renew_day: int  # day of the month the fee is charged
    cancelled_at: dt.datetime | None = None


@dataclass(frozen=True)
class Points:
    phone: str
    balance: int
    expiring: int = 0  # part of `balance` that lapses on `expires_on`
    expires_on: dt.date | None = None


@dataclass(frozen=True)
class PointsReward:
    code: str
    name: str
    points: int


class InvoiceStatus(str, Enum):
    ISSUED = "issued"  # 电子发票已开具 (downloadable in the app / 发票 menu)
    NOT_ISSUED = "not_issued"  # may be requested in the app / at a service hall


@dataclass(frozen=True)
class Payment:
    """A paid top-up and its e-invoice."""

    order_no: str
    phone: str
    amount_fen: int
    paid_at: dt.datetime
    invoice_status: InvoiceStatus
    invoice_no: str | None = None


class BillingError(Exception):
    """Base of every error the backend raises on purpose (with a message fit for logs)."""


class UnknownSubscriber(BillingError):
    pass


class InvalidAmount(BillingError):
    pass


class OrderNotFound(BillingError):
    pass


class BillingBackend(Protocol):
    async def get_subscriber(self, phone: str) -> Subscriber | None: ...

    async def list_subscribers(self) -> list[Subscriber]: ...

    async def get_balance(self, phone: str) -> Balance: ...

    async def get_bill(self, phone: str, month: str | None = None) -> Bill: ...

    async def get_usage(self, phone: str) -> Usage: ...

    async def get_usage_history(self, phone: str, months: int = 3) -> list[Usage]: ...

    async def get_plan(self, code: str) -> Plan | None: ...

    async def list_plans(self) -> list[Plan]: ...

    async def create_top_up(self, phone: str, amount_fen: int) -> TopUpOrder: ...

    async def confirm_top_up(self, order_no: str, owners: Collection[str] | None = None) -> TopUpOrder:
        """Pay a pending order. Idempotent: confirming a paid order returns it unchanged. With
        `owners` (the numbers bound to the subscriber asking), an order of any other number is
        OrderNotFound and stays untouched."""
        ...

    async def cancel_top_up(self, order_no: str, owners: Collection[str] | None = None) -> TopUpOrder: ...

    async def change_plan(self, phone: str, plan_code: str) -> PlanChange: ...

    async def reactivate_line(self, phone: str, actor: str) -> Balance:
        """Green channel: clear a VOLUNTARY suspension (audited with the actor). Any other
        suspension, REPORTED_LOST included, is a BillingError and stays untouched."""
        ...

    async def reactivate_lost_line(self, phone: str, supervisor: str, check: IdentityCheck, reference: str) -> Balance:
        """Lift a REPORTED_LOST suspension after a supervisor's identity check, recorded with
        its method and reference in the audit log. Anything else is a BillingError."""
        ...

    async def list_charges(self, phone: str, month: str | None = None) -> list[Charge]:
        """Deductions of `month` ("2026-12"; default: this month so far), oldest first.

        A completed month is summarised by its bill (`get_bill`); this lists what was taken
        from the balance as it happened.
        """
        ...

    async def list_service_catalog(self) -> list[ValueAddedService]: ...

    async def list_services(self, phone: str) -> list[Subscription]:
        """The value-added services `phone` pays for now (active only)."""
        ...

    async def cancel_service(self, phone: str, code: str, actor: str) -> Subscription:
        """Cancel a service on `phone` (audited with the actor). Idempotent: cancelling a
        cancelled one returns it unchanged. A service not on this number: BillingError."""
        ...

    async def get_points(self, phone: str) -> Points: ...

    async def list_point_rewards(self) -> list[PointsReward]:
        """What points can be exchanged for, cheapest first."""
        ...

    async def list_payments(self, phone: str, limit: int = 3) -> list[Payment]:
        """The most recent paid top-ups with their e-invoice status, newest first."""
        ...


@dataclass(frozen=True)
class Recommendation:
    plan: Plan
    reason: str  # short Chinese sentence, e.g. 「您近3个月平均用流量18GB，这个套餐够用且每月省20元」
    monthly_saving_fen: int = 0
    alternatives: tuple[Plan, ...] = field(default_factory=tuple)
