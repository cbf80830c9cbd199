"""`csbot db init|seed`, the support-staff commands `csbot subscriber list|bind|unbind|bindings`
and the supervisor's `csbot line reactivate-lost`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import unicodedata
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.backend import Balance, IdentityCheck
from billing.periods import local_date, utc_now
from core.db import create_engine, database_url, upgrade_database

T = TypeVar("T")
EXIT_USAGE = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    db = subparsers.add_parser("db", help="database schema and demo data")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    init = db_commands.add_parser("init", help="create or upgrade every table (alembic upgrade heads)")
    init.set_defaults(func=cmd_db_init)
    seed = db_commands.add_parser("seed", help="load the demo plans and subscribers (idempotent)")
    seed.add_argument(
        "--reset", action="store_true", help="also put balances, plans and line status back to the demo values"
    )
    seed.set_defaults(func=cmd_db_seed)

    sub = subparsers.add_parser("subscriber", help="support-staff commands on subscribers and bindings")
    sub_commands = sub.add_subparsers(dest="subscriber_command", required=True, metavar="ACTION")
    listing = sub_commands.add_parser("list", help="all subscribers: phone, name, age, plan, balance, status")
    listing.set_defaults(func=cmd_subscriber_list)
    for name, func, help_text in [
        ("bind", cmd_subscriber_bind, "bind a WeChat openid to a number (identity checked by staff; audited)"),
        ("unbind", cmd_subscriber_unbind, "remove a binding (audited)"),
    ]:
        command = sub_commands.add_parser(name, help=help_text)
        command.add_argument("--openid", required=True)
        command.add_argument("--phone", required=True)
        command.add_argument("--actor", default=None, help="who does this, for the audit log (default cli:$USER)")
        command.set_defaults(func=func)
    bindings = sub_commands.add_parser("bindings", help="list bindings (of one openid or phone, or all)")
    bindings.add_argument("--openid", default=None)
    bindings.add_argument("--phone", default=None)
    bindings.set_defaults(func=cmd_subscriber_bindings)
    sms = sub_commands.add_parser("sms", help="the latest texts in sms_outbox (LogSmsSender, demos) for a number")
    sms.add_argument("phone")
    sms.add_argument("--last", type=int, default=3)
    sms.set_defaults(func=cmd_subscriber_sms)

    line = subparsers.add_parser("line", help="supervisor commands on a line's status")
    line_commands = line.add_subparsers(dest="line_command", required=True, metavar="ACTION")
    lost = line_commands.add_parser(
        "reactivate-lost",
        help="lift a reported loss (挂失) after an identity check; audited with the supervisor and the check",
    )
    lost.add_argument("phone")
    lost.add_argument("--supervisor", required=True, help="the supervisor's name, for the audit log")
    lost.add_argument(
        "--check",
        required=True,
        choices=[check.value for check in IdentityCheck],
        help="how the owner's identity was checked: shop_id (ID card at a service hall), hotline (verified call)",
    )
    lost.add_argument("--reference", required=True, help="the check's reference (shop receipt, call record number)")
    lost.set_defaults(func=cmd_line_reactivate_lost)


# ---- db -------------------------------------------------------------------------------


def cmd_db_init(args: argparse.Namespace) -> int:
    upgrade_database()
    print(f"database ready: {_describe_url(database_url())}")
    return 0


def cmd_db_seed(args: argparse.Namespace) -> int:
    from billing.demo import seed_demo_data

    _run_with_engine(lambda engine: seed_demo_data(engine, reset=args.reset))
    print("demo data loaded" + (" (accounts reset)" if args.reset else ""))
    return 0


# ---- subscribers ----------------------------------------------------------------------


def cmd_subscriber_list(args: argparse.Namespace) -> int:
    from billing import load_backend
    from billing.money import format_yuan

    async def fetch(engine: AsyncEngine):
        return await load_backend(engine).list_subscribers()

    subscribers = _run_with_engine(fetch)
    if not subscribers:
        print("no subscribers (run `csbot db seed` for the demo data)")
        return 0
    today = local_date(utc_now())
    rows = [["phone", "name", "age", "plan", "balance", "status", "tags"]]
    for s in subscribers:
        status = s.status.value + (f" ({s.suspend_reason.value})" if s.suspend_reason else "")
        rows.append(
            [s.phone, s.name, str(s.age(today)), s.plan_code, format_yuan(s.balance_fen), status, ",".join(s.tags)]
        )
    _print_table(rows)
    return 0


def cmd_subscriber_bind(args: argparse.Namespace) -> int:
    from billing.binding import BindingError, BindingService, load_sms_sender

    async def bind(engine: AsyncEngine) -> bool:
        return await BindingService(engine, load_sms_sender(engine)).bind_directly(
            args.openid, args.phone, _actor(args)
        )

    try:
        created = _run_with_engine(bind)
    except BindingError as exc:
        return _fail(str(exc))
    print(("bound" if created else "already bound") + f": {args.openid} -> {args.phone}")
    return 0


def cmd_subscriber_unbind(args: argparse.Namespace) -> int:
    from billing.binding import BindingError, BindingService, load_sms_sender

    async def unbind(engine: AsyncEngine) -> bool:
        return await BindingService(engine, load_sms_sender(engine)).unbind(args.openid, args.phone, _actor(args))

    try:
        removed = _run_with_engine(unbind)
    except BindingError as exc:
        return _fail(str(exc))
    if not removed:
        return _fail(f"no binding {args.openid} -> {args.phone}")
    print(f"unbound: {args.openid} -> {args.phone}")
    return 0


def cmd_subscriber_bindings(args: argparse.Namespace) -> int:
    from billing.models import bindings

    async def fetch(engine: AsyncEngine):
        query = select(bindings).order_by(bindings.c.bound_at.desc())
        if args.openid:
            query = query.where(bindings.c.openid == args.openid)
        if args.phone:
            query = query.where(bindings.c.phone == args.phone)
        async with engine.connect() as conn:
            return (await conn.execute(query)).all()

    rows = [["openid", "phone", "bound_at (UTC)", "bound_by"]]
    rows += [[r.openid, r.phone, r.bound_at.strftime("%Y-%m-%d %H:%M"), r.bound_by] for r in _run_with_engine(fetch)]
    if len(rows) == 1:
        print("no bindings")
        return 0
    _print_table(rows)
    return 0


def cmd_subscriber_sms(args: argparse.Namespace) -> int:
    from billing.models import sms_outbox

    async def fetch(engine: AsyncEngine):
        query = select(sms_outbox).where(sms_outbox.c.phone == args.phone).order_by(sms_outbox.c.id.desc())
        async with engine.connect() as conn:
            return (await conn.execute(query.limit(max(1, args.last)))).all()

    rows = _run_with_engine(fetch)
    if not rows:
        print(f"no SMS to {args.phone} in sms_outbox")
    for row in reversed(rows):
        print(f"{row.created_at.strftime('%Y-%m-%d %H:%M:%S')}  {row.text}")
    return 0


# ---- lines ----------------------------------------------------------------------------


def cmd_line_reactivate_lost(args: argparse.Namespace) -> int:
    from billing import load_backend
    from billing.backend import BillingError

    async def reactivate(engine: AsyncEngine) -> Balance:
        backend = load_backend(engine)
        return await backend.reactivate_lost_line(
            args.phone, args.supervisor, IdentityCheck(args.check), args.reference
        )

    try:
        balance = _run_with_engine(reactivate)
    except BillingError as exc:
        return _fail(str(exc))
    status = balance.status.value + (f" ({balance.suspend_reason.value})" if balance.suspend_reason else "")
    print(f"reported loss lifted: {args.phone} is now {status}")
    return 0


# ---- helpers --------------------------------------------------------------------------


def _run_with_engine(work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    async def main() -> T:
        engine = create_engine()
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except (OperationalError, ProgrammingError) as exc:
        print(f"error: database not ready ({exc.orig}); run `csbot db init` first", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from exc


def _actor(args: argparse.Namespace) -> str:
    if args.actor:
        return args.actor
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in some containers
        return "cli"


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _describe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _print_table(rows: list[list[str]]) -> None:
    widths = [max(_width(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [cell + " " * (widths[i] - _width(cell)) for i, cell in enumerate(row)]
        print("  ".join(cells).rstrip())
