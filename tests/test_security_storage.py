"""Issue 9.3: no message lost when the database fails.

The database is a real PostgreSQL behind a loopback TCP proxy that the tests close (connections
refused, as asyncpg sees a database that is down: plain OSErrors), stall, and open again. The
shared PostgreSQL server itself is never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from gateway_fixtures import (
    clean_gateway_tables,
    eventually,
    fake_rasa,
    gateway_settings,
    http,
    no_gateway_process_left,
    openid,
    spawn_gateway,
    standin,
    start_gateway,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import select
from sqlalchemy.engine import make_url

from core.db import create_engine
from gateway.store import inbox
from wechat.simulator import PushClient

__all__ = ["clean_gateway_tables", "fake_rasa", "gateway_settings", "http", "no_gateway_process_left", "standin"]


class DatabaseProxy:
    """127.0.0.1:<port> → the test PostgreSQL. `down()` closes the port and cuts every connection;
    `stall()` keeps connections open but forwards nothing (a hung database); `up()` restores."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.AbstractServer | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self.port = 0

    async def up(self) -> None:
        self._flowing.set()
        if self._server is None:
            self._server = await asyncio.start_server(self._link, "127.0.0.1", self.port, reuse_address=True)
            self.port = self._server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()  # no new connections: a client now gets "connection refused"
        self._cut()
        self._flowing.set()
        await asyncio.sleep(0.1)  # let the aborted links wind down

    def stall(self) -> None:
        self._flowing.clear()

    def _cut(self) -> None:
        for writer in list(self._links):
            writer.transport.abort()
        self._links.clear()

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        if self._server is None:  # went down while this link was being made
            writer.transport.abort()
            up_writer.transport.abort()
            return
        self._links.update((writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        finally:
            writer.transport.abort()
            self._links.discard(writer)


async def all_done(engine, openid: str) -> bool:
    async with engine.connect() as conn:
        statuses = (await conn.execute(select(inbox.c.status).where(inbox.c.openid == openid))).scalars().all()
    return bool(statuses) and set(statuses) == {"done"}


@pytest.fixture
async def db_proxy(database_url: str) -> AsyncIterator[DatabaseProxy]:
    url = make_url(database_url)
    proxy = DatabaseProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.up()
    yield proxy
    await proxy.down()


@pytest.fixture
def proxied_settings(gateway_settings, db_proxy: DatabaseProxy):
    url = make_url(gateway_settings.database_url).set(host="127.0.0.1", port=db_proxy.port)
    return replace(gateway_settings, database_url=url.render_as_string(hide_password=False))


async def test_pushes_during_a_database_outage_are_kept_and_processed_in_order(
    proxied_settings, db_proxy: DatabaseProxy, http, fake_rasa, standin, openid: str
) -> None:
    gateway = await start_gateway(proxied_settings, http)
    try:
        client = gateway.aes
        assert (await client.text(openid, "第一条")).reply == "收到：第一条"
        await eventually(lambda: all_done(gateway.runtime.context.engine, openid))  # that turn is over

        await db_proxy.down()
        second = client.text_fields(openid, "第二条")
        results = [await client.push(second), await client.text(openid, "第三条")]
        assert [r.status for r in results] == [200, 200], [r.body for r in results]  # kept: acknowledged
        retry = await client.push(second)  # WeChat's retry of a kept push is a duplicate
        assert retry.status == 200
        assert fake_rasa.turns_for(openid) == ["第一条"]

        await db_proxy.up()
        await eventually(lambda: len(fake_rasa.turns_for(openid)) >= 3)
        assert fake_rasa.turns_for(openid) == ["第一条", "第二条", "第三条"]
        texts = await eventually(lambda: standin[0].texts_to(openid) if len(standin[0].texts_to(openid)) >= 2 else None)
        assert texts == ["收到：第二条", "收到：第三条"]
        assert await gateway.runtime.context.redis.xlen("gw:spool") == 0
    finally:
        await gateway.stop()


async def test_push_kept_nowhere_gets_503_and_its_retry_is_processed(
    proxied_settings, db_proxy: DatabaseProxy, http, fake_rasa, openid: str, monkeypatch
) -> None:
    gateway = await start_gateway(proxied_settings, http)
    try:
        spool = gateway.runtime.intake._spool

        async def redis_down(*args, **kwargs):
            raise RedisConnectionError("spool unavailable")

        await db_proxy.down()
        monkeypatch.setattr(spool, "add", redis_down)
        fields = gateway.aes.text_fields(openid, "在吗")
        first = await gateway.aes.push(fields)
        assert first.status == 503  # not acknowledged: WeChat pushes it again

        monkeypatch.undo()
        await db_proxy.up()
        retry = await gateway.aes.push(fields)
        assert retry.status == 200 and retry.reply == "收到：在吗"
        assert fake_rasa.turns_for(openid) == ["在吗"]
    finally:
        await gateway.stop()


async def test_a_worker_killed_before_the_commit_loses_nothing(
    proxied_settings, db_proxy: DatabaseProxy, http, fake_rasa, openid: str, no_gateway_process_left
) -> None:
    process = await spawn_gateway(proxied_settings)
    client = PushClient(http, process.url, proxied_settings.wechat_token, proxied_settings.app_id,
                        proxied_settings.aes_key)  # fmt: skip
    assert (await client.text(openid, "先说一句")).reply == "收到：先说一句"  # its database connections are open
    checker = create_engine(proxied_settings.database_url)
    try:
        await eventually(lambda: all_done(checker, openid))  # and that turn is over
    finally:
        await checker.dispose()

    db_proxy.stall()  # the insert hangs: the worker is between arrival and commit
    fields = client.text_fields(openid, "查余额")
    stuck = asyncio.create_task(client.push(fields))
    await asyncio.sleep(1.5)
    await process.kill()  # SIGKILL: no clean-up at all
    with contextlib.suppress(Exception):
        await stuck
    await db_proxy.down()  # the dead worker's transaction goes with its connection
    await db_proxy.up()

    gateway = await start_gateway(proxied_settings, http)
    try:
        retry = await gateway.aes.push(fields)  # WeChat retries what got no answer
        assert retry.status == 200
        await eventually(lambda: "查余额" in fake_rasa.turns_for(openid))
        assert fake_rasa.turns_for(openid).count("查余额") == 1
    finally:
        await gateway.stop()
