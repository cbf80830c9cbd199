"""The inbox: the retry scan (who is retried first when more subscribers wait than one scan takes),
the claim of a subscriber's oldest message, and storing a push with its window renewal."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from gateway_fixtures import clean_gateway_tables
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import create_engine
from gateway.inbox import Inbox
from gateway.store import inbox
from gateway.store import metadata as gateway_metadata
from gateway.voice_replies import VoiceMode, VoicePreferences
from wechat.messages import InboundMessage
from wechat.store import metadata as wechat_metadata
from wechat.window import MESSAGE_QUOTA, CsWindow, utcnow


async def test_the_retry_scan_takes_the_longest_waiting_subscribers_first(
    engine: AsyncEngine, clean_gateway_tables: None
) -> None:
    now = utcnow()
    waiting = 80
    rows = [
        {
            "msg_key": f"scan-{n}",
            # Insertion order is the reverse of age, so a scan that ignores age returns the youngest.
            "openid": f"scan-openid-{n:03d}",
            "msg_type": "text",
            "message": {},
            "status": "pending",
            "attempts": 1,
            "next_attempt_at": now - dt.timedelta(seconds=1),
            "apologised": True,
            "received_at": now - dt.timedelta(minutes=n),
        }
        for n in range(waiting)
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(inbox), rows)

    scanned = await Inbox(engine, CsWindow(engine), lease_s=15).due_openids(settle_s=0, limit=10)

    assert scanned == [f"scan-openid-{n:03d}" for n in range(waiting - 1, waiting - 11, -1)]


def _row(msg_key: str, openid: str, arrival_seq: int, **values: object) -> dict[str, object]:
    now = utcnow()
    row: dict[str, object] = {
        "msg_key": msg_key,
        "openid": openid,
        "msg_type": "text",
        "message": {"n": arrival_seq},
        "arrival_seq": arrival_seq,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "apologised": False,
        "received_at": now,
    }
    row.update(values)
    return row


async def test_a_claim_leases_the_oldest_arrival_and_tells_whether_more_wait(
    engine: AsyncEngine, clean_gateway_tables: None
) -> None:
    # Inserted against arrival order: the claim follows arrival_seq, not the row id.
    async with engine.begin() as conn:
        await conn.execute(insert(inbox), [_row("claim-b", "claim-openid", 2), _row("claim-a", "claim-openid", 1)])
        await conn.execute(insert(inbox), [_row("claim-other", "claim-someone-else", 3)])
    box = Inbox(engine, CsWindow(engine), lease_s=15)

    first = await box.claim_next("claim-openid")
    assert first is not None and first.row.msg_key == "claim-a" and first.more
    assert first.row.status == "processing" and first.row.attempts == 1 and first.row.lease_until is not None
    assert first.row.message == {"n": 1}
    # The head is leased by a live worker: nothing newer is taken past it.
    assert await box.claim_next("claim-openid") is None

    await box.finish(None, first.row.id, "passive")
    second = await box.claim_next("claim-openid")
    assert second is not None and second.row.msg_key == "claim-b" and not second.more
    await box.finish(None, second.row.id, "none")
    assert await box.claim_next("claim-openid") is None
    assert await box.status("claim-a") == "done" and await box.status("claim-b") == "done"


async def test_a_claim_brings_her_voice_reply_choice_with_the_message(
    engine: AsyncEngine, clean_gateway_tables: None
) -> None:
    # Answering the message needs it (gateway/voice_replies.py): no read of its own per message.
    async with engine.begin() as conn:
        await conn.execute(insert(inbox), [_row("voice-a", "voice-openid", 1), _row("voice-b", "voice-openid", 2)])
    box = Inbox(engine, CsWindow(engine), lease_s=15)
    first = await box.claim_next("voice-openid")
    assert first is not None and first.voice_mode is None

    await VoicePreferences(engine).set("voice-openid", VoiceMode.VOICE)
    await box.finish(None, first.row.id, "passive")
    second = await box.claim_next("voice-openid")
    assert second is not None and second.row.msg_key == "voice-b" and second.voice_mode == "voice"


async def test_a_row_whose_lease_ran_out_is_claimed_again(engine: AsyncEngine, clean_gateway_tables: None) -> None:
    expired = utcnow() - dt.timedelta(seconds=1)
    async with engine.begin() as conn:
        await conn.execute(
            insert(inbox), [_row("lease-a", "lease-openid", 1, status="processing", attempts=1, lease_until=expired)]
        )

    claimed = await Inbox(engine, CsWindow(engine), lease_s=15).claim_next("lease-openid")

    assert claimed is not None and claimed.row.msg_key == "lease-a" and claimed.row.attempts == 2
    assert not claimed.more


def _text(openid: str, msg_id: int) -> InboundMessage:
    return InboundMessage(openid=openid, msg_key=f"{openid}:{msg_id}", msg_type="text", create_time=1, content="查话费")


@pytest.mark.parametrize("database", ["postgresql", "sqlite"])
async def test_storing_a_push_renews_the_window_once_and_a_second_delivery_renews_nothing(
    database: str, engine: AsyncEngine, clean_gateway_tables: None, tmp_path: Path
) -> None:
    # PostgreSQL stores the row and renews the window in one statement, SQLite in a transaction.
    if database == "sqlite":
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'inbox.sqlite3'}")
        async with engine.begin() as conn:
            await conn.run_sync(gateway_metadata.create_all)
            await conn.run_sync(wechat_metadata.create_all)
    window = CsWindow(engine)
    box = Inbox(engine, window, lease_s=15)

    first = await box.record(_text("renew-openid", 1), arrival_seq=1)
    assert first is not None and await box.status("renew-openid:1") == "pending"
    assert (await window.state("renew-openid")).remaining == MESSAGE_QUOTA
    async with engine.begin() as conn:
        await window.take(conn, "renew-openid")
        await window.take(conn, "renew-openid")

    assert await box.record(_text("renew-openid", 1), arrival_seq=2) is None  # WeChat's retry
    assert (await window.state("renew-openid")).remaining == MESSAGE_QUOTA - 2

    second = await box.record(_text("renew-openid", 2), arrival_seq=3)
    assert second is not None and second != first
    assert (await window.state("renew-openid")).remaining == MESSAGE_QUOTA
    if database == "sqlite":
        await engine.dispose()


async def test_a_push_stored_with_nothing_of_hers_unfinished_is_leased_in_the_same_statement(
    engine: AsyncEngine, clean_gateway_tables: None
) -> None:
    window = CsWindow(engine)
    box = Inbox(engine, window, lease_s=15)
    await VoicePreferences(engine).set("take-openid", VoiceMode.VOICE)

    stored = await box.take_new(_text("take-openid", 1), arrival_seq=1)
    assert stored is not None and stored.taken is not None
    taken = stored.taken
    assert taken.row.id == stored.id and taken.row.msg_key == "take-openid:1" and taken.row.attempts == 1
    assert taken.row.message == _text("take-openid", 1).to_dict() and not taken.more
    assert taken.voice_mode == "voice"  # read with it, as a claim reads it
    assert await box.status("take-openid:1") == "processing"
    assert await box.claim_next("take-openid") is None  # leased: no claim takes it past this worker
    assert (await window.state("take-openid")).remaining == MESSAGE_QUOTA  # the window renewed too

    # Her first message is unfinished: the next is her head no more, and is stored pending.
    behind = await box.take_new(_text("take-openid", 2), arrival_seq=2)
    assert behind is not None and behind.taken is None
    assert await box.status("take-openid:2") == "pending"
    assert await box.take_new(_text("take-openid", 2), arrival_seq=3) is None  # WeChat's retry

    await box.finish(None, taken.row.id, "passive")
    claimed = await box.claim_next("take-openid")
    assert claimed is not None and claimed.row.id == behind.id


async def test_a_push_is_not_leased_past_a_deferred_message_of_hers(
    engine: AsyncEngine, clean_gateway_tables: None
) -> None:
    later = utcnow() + dt.timedelta(minutes=1)
    async with engine.begin() as conn:
        await conn.execute(insert(inbox), [_row("deferred-a", "deferred-openid", 1, next_attempt_at=later)])
    box = Inbox(engine, CsWindow(engine), lease_s=15)

    stored = await box.take_new(_text("deferred-openid", 2), arrival_seq=2)

    assert stored is not None and stored.taken is None
    claimed = await box.claim_next("deferred-openid")
    assert claimed is not None and claimed.row.msg_key == "deferred-a"  # retried first, in order


async def test_a_row_is_given_back_with_its_lease_only_while_that_lease_holds_it(
    engine: AsyncEngine, clean_gateway_tables: None
) -> None:
    """A give-back that waited for the database names the lease it gives back: by then the lease may
    have run out and the row be another worker's, under a lease of its own."""
    box = Inbox(engine, CsWindow(engine), lease_s=15)
    stored = await box.take_new(_text("lease-openid", 1), arrival_seq=1)
    assert stored is not None and stored.taken is not None
    mine = stored.taken.row.lease_until
    await box.release(stored.id, mine - dt.timedelta(seconds=30))  # an earlier lease: not this one
    assert await box.status("lease-openid:1") == "processing"
    await box.release(stored.id, mine)
    assert await box.status("lease-openid:1") == "pending"

    claimed = await box.claim_next("lease-openid")  # as the retry scan's drain leases it
    assert claimed is not None
    await box.release(claimed.row.id, mine)  # the lease given back before: not this one
    assert await box.status("lease-openid:1") == "processing"
    await box.release(claimed.row.id, claimed.row.lease_until)
    assert await box.status("lease-openid:1") == "pending"
