"""CPU of the two statements every message costs the gateway, run by SQLAlchemy or on the driver.

Every push is stored and leased in one statement (`Inbox.take_new`) and its answer recorded in
another (`Inbox.finish`). This script runs that pair for fresh messages on a throw-away database,
in turns: through SQLAlchemy's execution of the same statements (as the gateway did), and as
`core.driver_statements.DriverStatement`s (as it does now). It prints this process's CPU and the
wall time per message, medians over the rounds.

    .venv/bin/python bench/inbox_statements.py --messages 300 --rounds 6
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stack import throwaway_database  # bench/

from core.db import compiled_once, create_engine, single_statements
from gateway.inbox import _FINISH, _TAKEN, _VOICE_MODE, Inbox
from wechat.messages import InboundMessage
from wechat.window import CsWindow, renewal_from

Pair = Callable[[InboundMessage, int], Awaitable[None]]


def fresh_message() -> InboundMessage:
    openid = f"o{uuid.uuid4().hex[:20]}".ljust(28, "0")
    fields = {"ToUserName": "gh_bench", "FromUserName": openid, "CreateTime": str(int(time.time())),
              "MsgType": "text", "Content": "查余额", "MsgId": str(uuid.uuid4().int % 10**15)}  # fmt: skip
    return InboundMessage.from_fields(fields)


def through_sqlalchemy(engine: AsyncEngine, inbox: Inbox) -> Pair:
    """The same two statements, executed by SQLAlchemy (the gateway's way before the driver)."""
    single = single_statements(engine)
    store = compiled_once(
        select(_TAKEN.c.id, _TAKEN.c.status, _VOICE_MODE).add_cte(renewal_from(_TAKEN).cte("renewed")), "postgresql"
    )

    async def pair(message: InboundMessage, seq: int) -> None:
        row = inbox._row(message, seq)
        renewal = inbox._renewing_alone(message)
        assert renewal is not None
        now = row["received_at"]
        params = {**row, **renewal.params(), "lease_end": now + inbox._lease, "of_openid": message.openid}
        async with single.connect() as conn:
            stored = (await conn.execute(store, params)).one()
        async with single.connect() as conn:
            await conn.execute(_FINISH, {"row_id": stored.id, "channel": "passive", "at": now, "failure": None})

    return pair


def on_the_driver(inbox: Inbox) -> Pair:
    async def pair(message: InboundMessage, seq: int) -> None:
        stored = await inbox.take_new(message, seq)
        assert stored is not None and stored.taken is not None
        await inbox.finish(None, stored.id, "passive")

    return pair


async def measure(database_url: str, messages: int, rounds: int) -> dict[str, list[tuple[float, float]]]:
    engine = create_engine(database_url)
    inbox = Inbox(engine, CsWindow(engine), 60.0)
    ways = {"sqlalchemy": through_sqlalchemy(engine, inbox), "driver": on_the_driver(inbox)}
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
    try:
        for pair in ways.values():  # pools, prepared statements and plans warm
            for seq in range(50):
                await pair(fresh_message(), seq)
        for _ in range(rounds):
            for name, pair in ways.items():
                batch = [fresh_message() for _ in range(messages)]
                cpu, wall = time.process_time(), time.perf_counter()
                for seq, message in enumerate(batch):
                    await pair(message, seq)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                figures[name].append((1000 * cpu / messages, 1000 * wall / messages))
    finally:
        await engine.dispose()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    with throwaway_database("bench_inbox_statements") as database_url:
        figures = asyncio.run(measure(database_url, args.messages, args.rounds))
    print("\nstore+lease and finish, per message (medians over the rounds)")
    print(f"{'executed by':<12} {'CPU ms':>8} {'wall ms':>8}")
    for name, values in figures.items():
        cpu = statistics.median(value[0] for value in values)
        wall = statistics.median(value[1] for value in values)
        print(f"{name:<12} {cpu:8.3f} {wall:8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
