"""The floor of any WeChat gateway on this stack, measured: a push opened, forwarded, answered.

`bench/gateway.py --compare 2:windowed:passthrough,2:windowed:minimal` puts this script in the
gateway's place, in one of two modes.

`passthrough` does what no gateway can skip, and nothing else:
- the same aiohttp server on uvloop;
- the push's signatures checked and its AES body decrypted (`wechat.protocol`, as the gateway does);
- one POST to the REST channel of the subscriber's Rasa replica (the gateway's pinning,
  `gateway.rasa_replicas`);
- the encrypted passive reply.

It keeps nothing: a crash loses what it holds, and a push WeChat retries is answered twice.

`minimal` (`--database`) adds the least that loses nothing and answers nothing twice, on asyncpg
directly (the cheapest way to PostgreSQL here):
- before the turn, one `INSERT ... ON CONFLICT DO NOTHING` of the push: a durable receipt, and the
  dedup (a retried push finds its row and is not sent to Rasa again; a failed turn deletes the row
  and answers 500, so that WeChat's retry is taken afresh);
- after the answer is sent, one `UPDATE` that records it: what a restart would still owe.

It still leaves out what the gateway does for the product: one subscriber's messages in order across
gateway processes, the customer-service API for a late answer, handoff routing, the window for
notices, the transcript, retries and the spool. So it is an optimistic bound on what any durable
gateway costs, not a design.

    .venv/bin/python bench/passthrough.py --port 8090 --rasa http://127.0.0.1:5005 [--database URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import uvloop
from aiohttp import web
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.rasa_replicas import RasaReplicas, replica_urls
from wechat.messages import InboundMessage
from wechat.protocol import PushRejected, WeChatProtocol

PROTOCOL = web.AppKey("protocol", WeChatProtocol)
REPLICAS = web.AppKey("replicas", RasaReplicas)
HTTP = web.AppKey("http", aiohttp.ClientSession)
RECEIPTS = web.AppKey("receipts", "Receipts")
SUCCESS = "success"

CREATE = """CREATE TABLE IF NOT EXISTS bench_floor_inbox (
    id bigserial PRIMARY KEY, msg_key text NOT NULL UNIQUE, openid text NOT NULL, content text,
    received_at timestamptz NOT NULL DEFAULT now(), answer text, answered_at timestamptz)"""
RECEIVE = """INSERT INTO bench_floor_inbox (msg_key, openid, content) VALUES ($1, $2, $3)
    ON CONFLICT (msg_key) DO NOTHING RETURNING id"""
ANSWERED = "UPDATE bench_floor_inbox SET answer = $2, answered_at = now() WHERE id = $1"
FORGET = "DELETE FROM bench_floor_inbox WHERE id = $1"


class Receipts:
    """`minimal`'s durable receipt and answer record, one statement each."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._pending: set[asyncio.Task[None]] = set()

    async def receive(self, message: InboundMessage) -> int | None:
        """The new row's id; None when the push was received before (a WeChat retry)."""
        row_id: int | None = await self._pool.fetchval(RECEIVE, message.msg_key, message.openid, message.content)
        return row_id

    def record_answer(self, row_id: int, text: str) -> None:
        """After the response: the answer is recorded while the subscriber already reads it."""
        task = asyncio.create_task(self._record(row_id, text))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _record(self, row_id: int, text: str) -> None:
        await self._pool.execute(ANSWERED, row_id, text)

    async def forget(self, row_id: int) -> None:
        """The turn failed: WeChat's retry of the push is taken afresh, not refused as seen."""
        await self._pool.execute(FORGET, row_id)


async def push(request: web.Request) -> web.Response:
    body = await request.read()
    try:
        opened = request.app[PROTOCOL].open_push(request.query, body)
    except PushRejected as exc:
        return web.Response(status=exc.status, text=exc.reason)
    message = opened.message
    receipts = request.app.get(RECEIPTS)  # minimal mode only
    row_id = None
    if receipts is not None:
        row_id = await receipts.receive(message)
        if row_id is None:
            return web.Response(text=SUCCESS)  # received before: not sent to Rasa twice
    try:
        text = await rasa_turn(request.app, message)
    except Exception:
        if receipts is not None and row_id is not None:
            await receipts.forget(row_id)
        raise  # a 500: WeChat pushes it again
    if receipts is not None and row_id is not None:
        receipts.record_answer(row_id, text)
    if not text:
        return web.Response(text=SUCCESS)
    return web.Response(text=request.app[PROTOCOL].render_text_reply(opened, text), content_type="application/xml")


async def rasa_turn(app: web.Application, message: InboundMessage) -> str:
    replica = app[REPLICAS].ranked(message.openid)[0]
    turn = {"sender": message.openid, "message": message.content or "", "metadata": {"msg_key": message.msg_key}}
    async with app[HTTP].post(f"{replica}/webhooks/rest/webhook", json=turn) as response:
        answer = await response.json(content_type=None)
    return "\n".join(item["text"] for item in answer if isinstance(item.get("text"), str))


async def healthz(_: web.Request) -> web.Response:
    return web.Response(text="ok")


def create_app(protocol: WeChatProtocol, replicas: RasaReplicas, database_url: str | None) -> web.Application:
    app = web.Application()
    app[PROTOCOL] = protocol
    app[REPLICAS] = replicas

    async def http_session(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as http:
            app[HTTP] = http
            yield

    async def receipts(app: web.Application) -> AsyncIterator[None]:
        assert database_url is not None
        dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        async with asyncpg.create_pool(dsn, min_size=4, max_size=30) as pool:
            await pool.execute(CREATE)
            app[RECEIPTS] = Receipts(pool)
            yield

    app.cleanup_ctx.append(http_session)
    if database_url:
        app.cleanup_ctx.append(receipts)
    app.router.add_post("/wechat", push)
    app.router.add_get("/healthz", healthz)
    return app


async def serve(app: web.Application, port: int) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await asyncio.Event().wait()  # until the benchmark terminates the process
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rasa", required=True, help="RASA_URL: one or more replicas, comma-separated")
    parser.add_argument("--database", default=None, help="minimal mode: the PostgreSQL URL of the receipts")
    args = parser.parse_args()
    protocol = WeChatProtocol(os.environ["WECHAT_TOKEN"], os.environ["WECHAT_APP_ID"], os.environ["WECHAT_AES_KEY"])
    app = create_app(protocol, RasaReplicas(replica_urls(args.rasa)), args.database)
    asyncio.run(serve(app, args.port), loop_factory=uvloop.new_event_loop)  # as the gateway runs


if __name__ == "__main__":
    main()
