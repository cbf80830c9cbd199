"""Issue 9, item 6: agent log-in and the console's listener (aiohttp test server, real PostgreSQL
and Redis): failures counted atomically per source address and per name from that address,
X-Forwarded-For believed only from configured proxies, the console apart from the public /wechat,
`Secure` cookies by default, sessions ended by a password change, the session secret written
atomically with mode 0600."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import bcrypt
import pytest
from aiohttp import web
from gateway_fixtures import (
    clean_gateway_tables,
    fake_rasa,
    gateway_settings,
    http,
    no_gateway_process_left,
    spawn_gateway,
    standin,
    with_settings,
)
from handoff_support import MORNING, PASSWORD, Clock, add_agent, build_service, clean_handoff_tables

from bot import compose
from bot.assistant_cli import console_env
from handoff.config import ConsoleListener, HandoffSettings
from handoff.console import setup_console
from handoff.live import MAX_LOGIN_FAILURES, MAX_LOGIN_FAILURES_PER_ADDRESS


async def _console(seeded_engine, redis, aiohttp_client, **env: str):
    await clean_handoff_tables(seeded_engine)
    service = build_service(seeded_engine, redis, Clock(MORNING), **env)
    app = web.Application()
    setup_console(app, lambda _parent: service, background=False)
    return await aiohttp_client(app), service


@pytest.fixture
async def console(seeded_engine, redis, aiohttp_client):
    return await _console(seeded_engine, redis, aiohttp_client)


@pytest.fixture
async def proxied_console(seeded_engine, redis, aiohttp_client):
    """Behind a proxy on loopback (the test client), whose X-Forwarded-For is believed."""
    return await _console(seeded_engine, redis, aiohttp_client, AGENT_FORWARDED_FOR="127.0.0.1")


async def nonce_of(client) -> str:
    page = await client.get("/agent/login")
    return re.search(r'name="csrf" value="([^"]+)"', await page.text()).group(1)


async def attempt(client, name: str, password: str, forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    response = await client.post(
        "/agent/login",
        data={"csrf": await nonce_of(client), "name": name, "password": password},
        headers=headers,
        allow_redirects=False,
    )
    return response.status


# ---- failure counting ------------------------------------------------------------------------------


async def test_guessing_from_one_address_does_not_lock_the_agent_out_elsewhere(proxied_console):
    client, service = proxied_console
    await add_agent(service.store, "张强")
    for _ in range(MAX_LOGIN_FAILURES):
        assert await attempt(client, "张强", "wrong-wrong", forwarded_for="203.0.113.9") == 401
    assert await attempt(client, "张强", PASSWORD, forwarded_for="203.0.113.9") == 429  # that address is locked
    client.session.cookie_jar.clear()
    assert await attempt(client, "张强", PASSWORD, forwarded_for="198.51.100.7") == 303  # she still gets in


async def test_one_address_has_a_limit_across_names_and_cannot_forge_new_addresses(console):
    """Without AGENT_FORWARDED_FOR the header is ignored: a fresh X-Forwarded-For per guess buys nothing.
    Right passwords do not add up (an office behind one address logs in every day)."""
    client, service = console
    await add_agent(service.store, "张强")
    for _ in range(MAX_LOGIN_FAILURES_PER_ADDRESS + 5):
        client.session.cookie_jar.clear()
        assert await attempt(client, "张强", PASSWORD) == 303
    client.session.cookie_jar.clear()
    for n in range(MAX_LOGIN_FAILURES_PER_ADDRESS):
        status = await attempt(client, f"不存在{n}", "wrong-wrong", forwarded_for=f"192.0.2.{n + 1}")
        assert status == 401
    assert await attempt(client, "张强", PASSWORD, forwarded_for="192.0.2.250") == 429


async def test_parallel_guesses_are_counted_before_any_password_is_checked(console):
    client, service = console
    await add_agent(service.store, "张强")
    nonce = await nonce_of(client)

    async def guess() -> int:
        response = await client.post(
            "/agent/login", data={"csrf": nonce, "name": "张强", "password": "wrong-wrong"}, allow_redirects=False
        )
        return response.status

    statuses = await asyncio.gather(*(guess() for _ in range(3 * MAX_LOGIN_FAILURES)))
    assert statuses.count(401) == MAX_LOGIN_FAILURES and statuses.count(429) == 2 * MAX_LOGIN_FAILURES


# ---- the console's own listener --------------------------------------------------------------------


def test_the_console_listens_on_loopback_port_8090_by_default():
    assert ConsoleListener.from_env({}) == ConsoleListener("127.0.0.1", 8090)
    assert ConsoleListener.from_env({"AGENT_HOST": "10.0.0.5", "AGENT_PORT": "9000"}) == ConsoleListener(
        "10.0.0.5", 9000
    )


def test_the_console_is_not_on_the_public_app(gateway_settings, tmp_path, monkeypatch):
    monkeypatch.setenv("CSBOT_VAR_DIR", str(tmp_path / "var"))
    apps = compose.create_apps(with_settings(gateway_settings, hooks="auto"))
    public = {route.resource.canonical for route in apps.gateway.router.routes()}
    assert "/wechat" in public and not any(path.startswith("/agent") for path in public)
    assert apps.console is not None
    console = {route.resource.canonical for route in apps.console.router.routes()}
    assert "/agent/login" in console and "/wechat" not in console


async def test_csbot_gateway_serves_the_console_on_its_own_listener(
    gateway_settings,
    http,
    no_gateway_process_left,
    tmp_path,
    monkeypatch,
):
    monkeypatch.setenv("CSBOT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("VOSK_MODEL_PATH", str(tmp_path / "no-model-here"))
    monkeypatch.setenv("ASR_WORKERS", "1")
    process = await spawn_gateway(with_settings(gateway_settings, hooks="auto"))
    try:
        banner = "agent console (/agent) listening on "

        async def console_line() -> str | None:
            return next((line for line in process.output if banner in line), None)

        deadline = asyncio.get_running_loop().time() + 30
        while (line := await console_line()) is None:
            assert asyncio.get_running_loop().time() < deadline, process.output
            await asyncio.sleep(0.1)
        console_url = line.split(banner, 1)[1].strip()
        assert console_url.startswith("http://127.0.0.1:") and console_url != process.url
        async with http.get(f"{process.url}/agent/login") as response:
            assert response.status == 404
        async with http.get(f"{console_url}/agent/login") as response:
            assert response.status == 200
    finally:
        await process.stop()


# ---- cookies, sessions, the secret -------------------------------------------------------------------


def test_cookies_are_secure_unless_explicitly_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv("CSBOT_VAR_DIR", str(tmp_path))
    assert HandoffSettings.from_env({}).cookie_secure
    assert not HandoffSettings.from_env({"AGENT_COOKIE_SECURE": "0"}).cookie_secure
    # `csbot run` turns them off only for a console on loopback, and only when not set
    assert console_env({})["AGENT_COOKIE_SECURE"] == "0"
    assert "AGENT_COOKIE_SECURE" not in console_env({"AGENT_HOST": "0.0.0.0"})
    assert console_env({"AGENT_COOKIE_SECURE": "1"})["AGENT_COOKIE_SECURE"] == "1"


async def test_the_session_cookie_is_secure_by_default(seeded_engine, redis, aiohttp_client):
    client, _ = await _console(seeded_engine, redis, aiohttp_client, AGENT_COOKIE_SECURE="")
    page = await client.get("/agent/login")  # the log-in form's nonce already rides in the cookie
    cookie = next(h for h in page.headers.getall("Set-Cookie") if h.startswith("ho_session="))
    assert "Secure" in cookie and "HttpOnly" in cookie


async def test_a_new_password_ends_every_session_of_the_agent(console):
    client, service = console
    agent = await add_agent(service.store, "张强")
    assert await attempt(client, "张强", PASSWORD) == 303
    assert (await client.get("/agent/", allow_redirects=False)).status == 200
    new_hash = bcrypt.hashpw(b"another-password-1", bcrypt.gensalt(rounds=4)).decode()
    await service.store.agents.update_agent(
        agent.id, password_hash=new_hash, role=agent.role, skills=agent.skills, capacity=agent.capacity
    )
    after = await client.get("/agent/", allow_redirects=False)
    assert after.status == 302 and after.headers["Location"] == "/agent/login"


def test_the_generated_session_secret_is_never_seen_half_written_or_readable_by_others(tmp_path, monkeypatch):
    """Every file-system step of the generation is watched (audit hooks): the secret file, once it
    exists, always has mode 0600 and its whole content."""
    monkeypatch.setenv("CSBOT_VAR_DIR", str(tmp_path))
    secret_file = tmp_path / "agent_session_secret"
    seen: list[tuple[str, int, int]] = []
    watching = [True]

    def hook(event: str, args: tuple) -> None:
        if watching[0] and event in {"open", "os.chmod", "os.link", "os.rename", "os.replace", "os.remove"}:
            try:
                stat = os.stat(secret_file)
            except OSError:
                return
            seen.append((event, stat.st_mode & 0o777, stat.st_size))

    sys.addaudithook(hook)  # cannot be removed: `watching` switches it off
    old_umask = os.umask(0o022)
    try:
        secret = HandoffSettings.from_env({}).session_secret
    finally:
        os.umask(old_umask)
        watching[0] = False
    assert secret and Path(secret_file).read_bytes().strip() == secret
    assert os.stat(secret_file).st_mode & 0o777 == 0o600
    assert seen, "the secret file was never looked at after it appeared"
    assert all(mode == 0o600 and size > 0 for _, mode, size in seen), seen
