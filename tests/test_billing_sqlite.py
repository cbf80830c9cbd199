"""Smoke test of the default one-machine set-up: a fresh SQLite file, migrated and seeded."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from billing.binding import BindingService, StartOutcome, VerifyOutcome
from billing.demo import seed_demo_data
from billing.sql import SqlBillingBackend
from core.db import create_engine, upgrade_database


class RecordingSms:
    def __init__(self) -> None:
        self.texts: list[str] = []

    async def send(self, phone: str, text: str) -> None:
        self.texts.append(text)


async def test_fresh_sqlite_database_migrates_seeds_and_serves(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'csbot.sqlite3'}"
    await asyncio.to_thread(upgrade_database, url)
    engine = create_engine(url)
    try:
        await seed_demo_data(engine)
        await seed_demo_data(engine)  # idempotent
        backend = SqlBillingBackend(engine)
        assert (await backend.get_balance("13800000001")).balance_fen == 5830
        assert len(await backend.list_subscribers()) == 24
        assert (await backend.get_bill("13800000004")).total_fen == 3095

        order = await backend.create_top_up("13800000004", 3000)
        results = await asyncio.gather(*(backend.confirm_top_up(order.order_no) for _ in range(4)))
        assert {r.balance_after_fen for r in results} == {650}
        balance = await backend.get_balance("13800000004")
        assert (balance.balance_fen, balance.status.value, balance.suspend_reason) == (650, "active", None)
        assert (await backend.get_usage("13800000001")).data_used_mb == 14336

        # value-added services, this month's charges, points and invoices (billing_0002)
        assert [c.amount_fen for c in await backend.list_charges("13800000001")] == [3900, 500, 1500]
        assert [s.service.code for s in await backend.list_services("13800000001")] == ["VIDEO15", "CRBT5"]
        cancelled = await backend.cancel_service("13800000001", "CRBT5", actor="test")
        assert await backend.cancel_service("13800000001", "CRBT5", actor="test") == cancelled
        assert [s.service.code for s in await backend.list_services("13800000001")] == ["VIDEO15"]
        assert (await backend.get_points("13800000001")).balance == 3260
        assert len(await backend.list_point_rewards()) >= 3
        payments = await backend.list_payments("13800000001")
        assert len(payments) == 3 and any(p.invoice_no for p in payments)

        sms = RecordingSms()
        binding = BindingService(engine, sms)
        assert (await binding.start_binding("o-sqlite", "13800000002")).outcome == StartOutcome.SENT
        code = re.search(r"\d{6}", sms.texts[-1]).group()
        assert (await binding.verify_code("o-sqlite", code)).outcome == VerifyOutcome.OK
        assert await binding.bound_phones("o-sqlite") == ["13800000002"]
    finally:
        await engine.dispose()


def run_cli(*argv: str) -> int:
    import argparse

    from billing import cli

    parser = argparse.ArgumentParser(prog="csbot")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return int(args.func(args) or 0)


def test_cli_init_seed_list_bind_unbind(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    assert run_cli("db", "init") == 0
    assert run_cli("db", "seed") == 0
    capsys.readouterr()
    assert run_cli("subscriber", "list") == 0
    listing = capsys.readouterr().out
    assert "13800000004" in listing and "刘洋" in listing and "-23.50元" in listing and "suspended (arrears)" in listing

    assert run_cli("subscriber", "bind", "--openid", "o-cli", "--phone", "13800000003", "--actor", "agent:wu") == 0
    assert run_cli("subscriber", "bindings", "--openid", "o-cli") == 0
    assert "agent:wu" in capsys.readouterr().out
    assert run_cli("subscriber", "bind", "--openid", "o-cli", "--phone", "13899999999") == 2
    assert "unknown subscriber" in capsys.readouterr().err
    assert run_cli("subscriber", "unbind", "--openid", "o-cli", "--phone", "13800000003") == 0
    assert run_cli("subscriber", "unbind", "--openid", "o-cli", "--phone", "13800000003") == 2
