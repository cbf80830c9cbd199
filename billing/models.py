"""Tables of the billing area (demo BSS data, bindings, SMS outbox, audit log).

Money columns are BigInteger fen. Status columns are plain strings holding the values of
the enums in `billing.backend` (no database enums, so SQLite and PostgreSQL agree).
Timestamps are stored and returned as timezone-aware UTC (`UtcDateTime`).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from core.db import UtcDateTime

metadata = MetaData()


plans = Table(
    "plans",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("monthly_fee_fen", BigInteger, nullable=False),
    Column("data_mb", Integer, nullable=False),
    Column("voice_minutes", Integer, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("elder_friendly", Boolean, nullable=False, default=False),
    Column("requires_in_person", Boolean, nullable=False, default=False),
    Column("available", Boolean, nullable=False, default=True),
)

# `plan_code` is the plan in force. A requested change waits in `pending_plan_code` until
# `pending_plan_effective` (the 1st of next month), when the backend applies it.
subscribers = Table(
    "subscribers",
    metadata,
    Column("phone", String(20), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("birth_date", Date, nullable=False),
    Column("plan_code", String(32), ForeignKey("plans.code"), nullable=False),
    Column("pending_plan_code", String(32), ForeignKey("plans.code"), nullable=True),
    Column("pending_plan_effective", Date, nullable=True),
    Column("balance_fen", BigInteger, nullable=False, default=0),
    Column("status", String(16), nullable=False),
    Column("suspend_reason", String(32), nullable=True),
    Column("tags", JSON, nullable=False, default=list),
    Column("dialect", String(32), nullable=True),
    Column("note", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# One row per phone and month ("2026-11", Asia/Shanghai calendar). `plan_code` is the plan of
# that month, so that history keeps its allowances after a plan change.
usage_records = Table(
    "usage_records",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("phone", String(20), ForeignKey("subscribers.phone"), nullable=False),
    Column("month", String(7), nullable=False),
    Column("plan_code", String(32), ForeignKey("plans.code"), nullable=True),
    Column("data_used_mb", Integer, nullable=False, default=0),
    Column("voice_used_minutes", Integer, nullable=False, default=0),
    UniqueConstraint("phone", "month", name="uq_usage_records_phone_month"),
)

bill_items = Table(
    "bill_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("phone", String(20), ForeignKey("subscribers.phone"), nullable=False),
    Column("month", String(7), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("name", String(64), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    UniqueConstraint("phone", "month", "line_no", name="uq_bill_items_phone_month_line"),
)

topup_orders = Table(
    "topup_orders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_no", String(32), nullable=False, unique=True),
    Column("phone", String(20), ForeignKey("subscribers.phone"), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("paid_at", UtcDateTime, nullable=True),
    Column("balance_after_fen", BigInteger, nullable=True),
    Index("ix_topup_orders_phone", "phone"),
)

# status: scheduled -> applied, or superseded when another change replaces it before it applies.
plan_changes = Table(
    "plan_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("phone", String(20), ForeignKey("subscribers.phone"), nullable=False),
    Column("from_plan", String(32), nullable=False),
    Column("to_plan", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("requested_at", UtcDateTime, nullable=False),
    Column("effective_date", Date, nullable=False),
    Index("ix_plan_changes_phone", "phone"),
)

# Fault reports are tickets now (core/tickets.py; migration handoff_0004_tickets moved them).

# No foreign key to subscribers: with a real billing system plugged in, the demo subscriber
# table is empty and the numbers live in the operator's BSS.
bindings = Table(
    "bindings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("openid", String(64), nullable=False),
    Column("phone", String(20), nullable=False),
    Column("bound_at", UtcDateTime, nullable=False),
    Column("bound_by", String(64), nullable=False),
    UniqueConstraint("openid", "phone", name="uq_bindings_openid_phone"),
    Index("ix_bindings_phone", "phone"),
)

# Per-openid binding state: the pending code (hashed), its expiry, wrong attempts and the lock.
# Kept in the database so that the lock holds across processes and restarts.
binding_states = Table(
    "binding_states",
    metadata,
    Column("openid", String(64), primary_key=True),
    Column("pending_phone", String(20), nullable=True),
    Column("code_hash", String(128), nullable=True),
    Column("code_expires_at", UtcDateTime, nullable=True),
    Column("failed_attempts", Integer, nullable=False, default=0),
    Column("locked_until", UtcDateTime, nullable=True),
    Column("last_sent_at", UtcDateTime, nullable=True),
)

# Per-number binding budgets (billing_0003): codes sent to the number and wrong codes typed for
# it, whichever openid asked, counted in a fixed window; too many wrong codes lock the number.
# Unknown numbers are counted exactly like ours, so the budgets reveal nothing about them.
binding_phone_limits = Table(
    "binding_phone_limits",
    metadata,
    Column("phone", String(20), primary_key=True),
    Column("window_started_at", UtcDateTime, nullable=True),
    Column("codes_sent", Integer, nullable=False, default=0),
    Column("wrong_codes", Integer, nullable=False, default=0),
    Column("locked_until", UtcDateTime, nullable=True),
)

sms_outbox = Table(
    "sms_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("phone", String(20), nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_sms_outbox_phone", "phone"),
)

# ---- value-added services, charges, points and invoices (billing_0002) --------------------

# The catalogue of value-added services. `aliases`: the words subscribers use for one
# (彩铃, 爱奇艺会员, 包月 ...), matched by `billing.value_added.match_services`.
vas_catalog = Table(
    "vas_catalog",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("monthly_fee_fen", BigInteger, nullable=False),
    Column("aliases", JSON, nullable=False, default=list),
    Column("available", Boolean, nullable=False, default=True),
)

# One row per number and service; cancelling keeps the row (status "cancelled").
vas_subscriptions = Table(
    "vas_subscriptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("phone", String(20), ForeignKey("subscribers.phone"), nullable=False),
    Column("service_code", String(32), ForeignKey("vas_catalog.code"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("since", Date, nullable=False),
    Column("renew_day", Integer, nullable=False),
    Column("cancelled_at", UtcDateTime, nullable=True),
    Column("cancelled_by", String(64), nullable=True),
    UniqueConstraint("phone", "service_code", name="uq_vas_subscriptions_phone_service"),
)

# Deductions as they happen (plan fee on the 1st, service fees on their renewal day, one-offs);
# `kind` holds a `billing.backend.ChargeKind` value. A completed month is summarised in bill_items.
charges = Table(
    "charges",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("phone", String(20), ForeignKey("subscribers.phone"), nullable=False),
    Column("month", String(7), nullable=False),
    Column("charged_on", Date, nullable=False),
    Column("name", String(64), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("service_code", String(32), nullable=True),
    Index("ix_charges_phone_month", "phone", "month"),
)

points_accounts = Table(
    "points_accounts",
    metadata,
    Column("phone", String(20), ForeignKey("subscribers.phone"), primary_key=True),
    Column("balance", Integer, nullable=False, default=0),
    Column("expiring", Integer, nullable=False, default=0),
    Column("expires_on", Date, nullable=True),
)

points_rewards = Table(
    "points_rewards",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("points", Integer, nullable=False),
    Column("available", Boolean, nullable=False, default=True),
)

# The e-invoice of a paid top-up; a paid order without a row here has none issued yet.
invoices = Table(
    "invoices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("invoice_no", String(32), nullable=False, unique=True),
    Column("order_no", String(32), ForeignKey("topup_orders.order_no"), nullable=False, unique=True),
    Column("issued_at", UtcDateTime, nullable=False),
)

# ---- payments of top-ups (billing_0004) ----------------------------------------------------

# One WeChat Pay payment per top-up order (`order_no` is also WeChat Pay's out_trade_no). The
# payer is the openid that asked; `phone` is the line credited (another's number for 亲情付).
# `state` holds a `billing.payments.PaymentState` value. No foreign key to topup_orders: with a
# real BSS the orders live there. `transaction_id` is unique: one payment credits once.
payment_orders = Table(
    "payment_orders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_no", String(32), nullable=False, unique=True),
    Column("payer_openid", String(64), nullable=False),
    Column("phone", String(20), nullable=False),
    Column("for_other", Boolean, nullable=False, default=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),
    Column("pay_token", String(64), nullable=False, unique=True),
    Column("prepay_id", String(64), nullable=True),
    Column("prepay_at", UtcDateTime, nullable=True),
    Column("transaction_id", String(64), nullable=True, unique=True),
    Column("paid_at", UtcDateTime, nullable=True),
    Column("balance_after_fen", BigInteger, nullable=True),
    Column("receipt_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_payment_orders_payer", "payer_openid"),
)

# Every payment notification that passed verification, with what it led to
# (`billing.payments.SettleOutcome`), so a replay or a conflicting payment is on record.
payment_notifications = Table(
    "payment_notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("transaction_id", String(64), nullable=False),
    Column("order_no", String(32), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("outcome", String(24), nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Index("ix_payment_notifications_transaction", "transaction_id"),
)
