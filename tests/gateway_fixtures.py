"""Fixtures for the gateway tests: a fake Rasa (for fault injection), the stand-in WeChat API, a gateway.

The fake Rasa is a loopback HTTP server answering the REST channel with canned replies; tests
make it slow or take it down. The end-to-end test uses the real Rasa stack instead.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import delete

from core.db import create_engine
from gateway.app import Hooks, create_app
from gateway.internal import create_internal_app
from gateway.runtime import RUNTIME, Runtime
from gateway.settings import Settings
from gateway.store import metadata as gateway_metadata
from wechat.simulator import PushClient
from wechat.standin import StandinState, create_standin_app
from wechat.store import metadata as wechat_metadata

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
TOKEN = "test-token"
APP_ID = "wxtestapp000000001"
APP_SECRET = "test-secret"
AES_KEY = base64.b64encode(b"0123456789abcdef0123456789abcdef").decode().rstrip("=")
# The one bound on waits for something that is expected to happen (a reply sent, a row written, a
# process listening). Generous: a loaded 2-core CI machine runs Rasa, gateways and Chromium at once;
# a wait ends as soon as its condition holds, so a large bound costs nothing when things work.
WAIT_S = float(os.environ.get("TEST_WAIT_S", "60"))


async def serve(app: web.Application, port: int = 0) -> tuple[web.AppRunner, str, int]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, reuse_address=True)
    await site.start()
    bound = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{bound}", bound


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def default_answer(sender: str, message: str, metadata: dict[str, Any]) -> list[dict[str, Any]]:
    if message == "/greet":
        return [{"recipient_id": sender, "text": "您好！请回复数字：\n1. 查余额\n2. 充话费\n3. 人工服务"}]
    if message in ("人工", "/request_human"):
        return [
            {"recipient_id": sender, "text": "好的，正在为您转接人工客服。"},
            {"recipient_id": sender, "custom": {"handoff": {"reason": "request_human", "queue": "general",
                                                             "summary": "用户要求人工"}}},
        ]  # fmt: skip
    if message.startswith("多条"):
        return [{"recipient_id": sender, "text": f"第{n}条"} for n in range(1, 4)]
    return [{"recipient_id": sender, "text": f"收到：{message}"}]


@dataclass
class FakeRasa:
    """Rasa's REST channel and tracker API, scripted; `delay_s` and `stop()` inject faults."""

    answer: Callable[[str, str, dict[str, Any]], list[dict[str, Any]]] = default_answer
    delay_s: float = 0.0
    actions_up: bool = True
    session_started: bool = True  # what the tracker API shows: a session that began, or one whose start failed
    turns: list[dict[str, Any]] = field(default_factory=list)  # every completed dialogue turn
    tracker_events: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)
    url: str = ""
    port: int = 0
    _runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self._hello)
        app.router.add_get("/health", self._actions_health)
        app.router.add_post("/webhooks/rest/webhook", self._webhook)
        app.router.add_post("/conversations/{sender}/tracker/events", self._events)
        app.router.add_get("/conversations/{sender}/tracker", self._tracker)
        return app

    async def start(self) -> None:
        self._runner, self.url, self.port = await serve(self.app(), self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def turns_for(self, sender: str) -> list[str]:
        return [turn["message"] for turn in self.turns if turn["sender"] == sender]

    async def _hello(self, request: web.Request) -> web.Response:
        return web.Response(text="Hello from Rasa: fake")

    async def _actions_health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"}, status=200 if self.actions_up else 503)

    async def _webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if not self.actions_up:
            return web.json_response([])  # what Rasa answers when a custom action failed
        self.turns.append(body)
        return web.json_response(self.answer(body["sender"], body["message"], body.get("metadata") or {}))

    async def _tracker(self, request: web.Request) -> web.Response:
        """The session start, then each completed turn as Rasa records it (user, bot, action_listen)."""
        sender = request.match_info["sender"]
        events: list[dict[str, Any]] = [{"event": "action", "name": "action_session_start"}]
        if self.session_started:
            events += [{"event": "session_started"}, {"event": "action", "name": "action_listen"}]
        for turn in self.turns:
            if turn["sender"] != sender:
                continue
            events.append({"event": "user", "text": turn["message"], "metadata": turn.get("metadata") or {}})
            for item in self.answer(sender, turn["message"], turn.get("metadata") or {}):
                events.append({"event": "bot", "text": item.get("text"), "data": {"custom": item.get("custom")}})
            events.append({"event": "action", "name": "action_listen"})
        return web.json_response({"sender_id": sender, "events": events})

    async def _events(self, request: web.Request) -> web.Response:
        self.tracker_events.append((request.match_info["sender"], await request.json()))
        return web.json_response({})


@pytest.fixture
async def fake_rasa() -> AsyncIterator[FakeRasa]:
    rasa = FakeRasa()
    await rasa.start()
    yield rasa
    await rasa.stop()


@pytest.fixture
async def standin() -> AsyncIterator[tuple[StandinState, str]]:
    state = StandinState(app_id=APP_ID, app_secret=APP_SECRET)
    runner, url, _ = await serve(create_standin_app(state))
    yield state, url
    await runner.cleanup()


@pytest.fixture
async def clean_gateway_tables(database_url: str) -> AsyncIterator[None]:
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        for table in [*reversed(gateway_metadata.sorted_tables), *wechat_metadata.sorted_tables]:
            await conn.execute(delete(table))
    await engine.dispose()
    yield


@pytest.fixture
def gateway_settings(database_url: str, fake_rasa: FakeRasa, standin: tuple[StandinState, str], redis: Any,
                     clean_gateway_tables: None) -> Settings:  # fmt: skip
    """Settings for a gateway on the test database/Redis, the fake Rasa and the stand-in API (AES on)."""
    return Settings(
        wechat_token=TOKEN,
        app_id=APP_ID,
        app_secret=APP_SECRET,
        aes_key=AES_KEY,
        api_base=standin[1],
        database_url=database_url,
        redis_url=TEST_REDIS_URL,
        rasa_url=fake_rasa.url,
        actions_url=f"{fake_rasa.url}/webhook",
        host="127.0.0.1",
        port=0,
        rasa_timeout_s=10.0,
        inbox_lease_s=15.0,
        outbox_lease_s=5.0,
        outbox_poll_s=0.2,
        retry_poll_s=0.5,
        hooks="builtin",
    )


@dataclass
class RunningGateway:
    url: str
    app: web.Application
    runner: web.AppRunner
    aes: PushClient  # pushes in safe mode
    plain: PushClient  # pushes in plain mode
    internal_url: str  # the internal listener: /metrics, /healthz with details
    internal_runner: web.AppRunner

    @property
    def runtime(self) -> Runtime:
        return self.app[RUNTIME]

    async def stop(self) -> None:
        await self.internal_runner.cleanup()
        await self.runner.cleanup()


async def start_gateway(
    settings: Settings,
    session: aiohttp.ClientSession,
    hooks: Hooks | None = None,
    build: Callable[[Settings], web.Application] | None = None,
) -> RunningGateway:
    """The gateway alone (with `hooks`), or the app `build` makes (e.g. bot.compose.create_app)."""
    app = build(settings) if build is not None else create_app(settings, hooks)
    runner, url, _ = await serve(app)
    internal_runner, internal_url, _ = await serve(create_internal_app(app))
    return RunningGateway(
        url=url,
        app=app,
        runner=runner,
        aes=PushClient(session, url, settings.wechat_token, settings.app_id, settings.aes_key),
        plain=PushClient(session, url, settings.wechat_token, settings.app_id, None),
        internal_url=internal_url,
        internal_runner=internal_runner,
    )


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


@pytest.fixture
async def gateway(gateway_settings: Settings, http: aiohttp.ClientSession) -> AsyncIterator[RunningGateway]:
    running = await start_gateway(gateway_settings, http)
    yield running
    await running.stop()


@pytest.fixture
async def plain_gateway(gateway_settings: Settings, http: aiohttp.ClientSession) -> AsyncIterator[RunningGateway]:
    """A gateway of an account in plain mode (no EncodingAESKey): `plain` is its client."""
    running = await start_gateway(replace(gateway_settings, aes_key=None), http)
    yield running
    await running.stop()


@pytest.fixture
def openid() -> str:
    """A fresh subscriber per test (WeChat openids are 28 characters)."""
    return "o" + uuid.uuid4().hex[:27]


async def eventually(check: Callable[[], Any], timeout_s: float = WAIT_S, interval_s: float = 0.05) -> Any:
    """Poll `check` (sync or async) until it returns something truthy; fail after `timeout_s`."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s")
        await asyncio.sleep(interval_s)


def with_settings(settings: Settings, **changes: Any) -> Settings:
    return replace(settings, **changes)


# ---- gateways as real processes ----------------------------------------------------------------


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes `csbot gateway` run with these settings."""
    return {
        "WECHAT_TOKEN": settings.wechat_token,
        "WECHAT_APP_ID": settings.app_id,
        "WECHAT_APP_SECRET": settings.app_secret,
        "WECHAT_AES_KEY": settings.aes_key or "",
        "WECHAT_REQUIRE_AES": "1" if settings.require_aes else "0",
        "WECHAT_API_BASE": settings.api_base,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url or "",
        "RASA_URL": settings.rasa_url,
        **({"RASA_AUTH_TOKEN": settings.rasa_token} if settings.rasa_token else {}),
        "ACTION_ENDPOINT_URL": settings.actions_url or "",
        "GATEWAY_HOST": "127.0.0.1",
        "PORT": "0",
        "AGENT_HOST": "127.0.0.1",  # the console's and the internal listener: free ports, so processes never clash
        "AGENT_PORT": "0",
        "INTERNAL_HOST": "127.0.0.1",
        "INTERNAL_PORT": "0",
        "GATEWAY_HOOKS": settings.hooks,
        "RASA_TIMEOUT_S": str(settings.rasa_timeout_s),
        "INBOX_LEASE_S": str(settings.inbox_lease_s),
        "OUTBOX_LEASE_S": str(settings.outbox_lease_s),
        "LOG_LEVEL": "INFO",
    }


@dataclass
class GatewayProcess:
    process: asyncio.subprocess.Process
    url: str
    output: list[str]
    _reader: asyncio.Task[None]

    @property
    def internal_url(self) -> str | None:
        """The internal listener (/metrics, /healthz details), from the gateway's start-up line."""
        for line in self.output:
            if "internal listener" in line and " on http://" in line:
                return line.rsplit(" ", 1)[-1]
        return None

    async def kill(self) -> None:
        """SIGKILL: no clean-up at all, as in a crash."""
        self.process.kill()
        await self.process.wait()
        await self._reader

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except asyncio.TimeoutError:
                self.process.kill()
                await self.process.wait()
        await self._reader


async def spawn_gateway(settings: Settings, timeout_s: float = WAIT_S) -> GatewayProcess:
    """`python -m bot.gateway_cli gateway` on a free port; returns once it listens."""
    import sys

    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.gateway_cli", "gateway",
        env={**os.environ, **settings_env(settings)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output: list[str] = []
    listening: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def read() -> None:
        assert process.stdout is not None
        async for raw in process.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            output.append(line)
            if "listening on http://" in line and not listening.done():
                listening.set_result(line.rsplit(" ", 1)[-1])
        if not listening.done():
            listening.set_exception(RuntimeError("gateway exited:\n" + "\n".join(output[-30:])))

    reader = asyncio.create_task(read())
    try:
        url = await asyncio.wait_for(listening, timeout_s)
    except BaseException:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await asyncio.gather(reader, return_exceptions=True)
        raise
    spawned = GatewayProcess(process, url, output, reader)
    SPAWNED.append(spawned)
    return spawned


SPAWNED: list[GatewayProcess] = []  # every gateway process started, so that none outlives its test


@pytest.fixture
async def no_gateway_process_left() -> AsyncIterator[None]:
    """Stops, after the test, every gateway process it spawned and did not stop (say, it failed
    half-way): a process left running would keep draining the shared test database's inbox and
    outbox during the tests that follow, and outlive the run."""
    yield
    while SPAWNED:
        await SPAWNED.pop().stop()
