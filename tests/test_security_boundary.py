"""Issue 9.2: the Rasa and action-server boundary.

Rasa's HTTP API takes `--auth-token` and every client presents it; the action server wants a
shared secret on every call and listens on loopback; secrets are generated once into var/ (mode
0600); confirming a top-up checks the order against the sender's bound numbers; nothing a
subscriber writes or says reaches Rasa as an intent command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from gateway_fixtures import (
    WAIT_S,
    clean_gateway_tables,
    eventually,
    fake_rasa,
    free_port,
    gateway,
    gateway_settings,
    http,
    openid,
    serve,
    standin,
)
from test_actions import Conversation, services

from actions.reply_router import ActionHandleReply
from actions.services import Services
from actions.transactions import ActionTopUp
from billing.backend import OrderStatus
from billing.payments import PaymentState
from core.local_secrets import RASA_AUTH_TOKEN, local_secret
from gateway.rasa_client import ESCAPED_PREFIX, RasaClient

__all__ = ["clean_gateway_tables", "fake_rasa", "gateway", "gateway_settings", "http", "services", "standin"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
HEADER = "X-Csbot-Action-Token"


# ---- ownership: a forged `pending` cannot touch another number's order -------------------------


async def test_a_forged_pending_cannot_confirm_or_cancel_someone_elses_top_up(services: Services) -> None:
    billing = services.billing
    victim_phone, attacker_phone = "13800000014", "13800000015"
    owner = Conversation(services)
    await owner.bind(victim_phone)
    await owner.say(ActionTopUp(), "充500元", "top_up")
    order_no = owner.slots["pending"].partition(":")[2]
    before = (await billing.get_balance(victim_phone)).balance_fen

    attacker = Conversation(services)
    await attacker.bind(attacker_phone)
    attacker.slots["pending"] = f"topup_confirm:{order_no}"  # injected through Rasa's API
    reply = await attacker.say(ActionHandleReply(), "1", "affirm")
    assert "/pay/" not in reply and order_no not in reply
    attacker.slots["pending"] = f"topup_confirm:{order_no}"
    await attacker.say(ActionHandleReply(), "2", "deny")
    victim_line = Conversation(services)  # even bound to the victim's number: not the openid that asked
    await victim_line.bind(victim_phone)
    victim_line.slots["pending"] = f"topup_confirm:{order_no}"
    assert "/pay/" not in await victim_line.say(ActionHandleReply(), "1", "affirm")
    stranger = Conversation(services)  # bound to nothing at all
    stranger.slots["pending"] = f"topup_confirm:{order_no}"
    await stranger.say(ActionHandleReply(), "1", "affirm")

    assert (await billing.get_top_up(order_no)).status == OrderStatus.PENDING
    payment = await services.payments.get(order_no)
    assert payment is not None and payment.state is PaymentState.CREATED
    assert (await billing.get_balance(victim_phone)).balance_fen == before

    # The owner's 「1」 starts the payment, and still credits nothing: only WeChat Pay's verified
    # notification does (tests/test_payments.py).
    assert "/pay/" in await owner.say(ActionHandleReply(), "1", "affirm")
    assert (await billing.get_balance(victim_phone)).balance_fen == before


async def test_a_forged_plan_confirmation_names_only_plans_we_offer(services: Services) -> None:
    chat = Conversation(services)
    await chat.bind("13800000016")
    for code in ("NOPE", "CAMPUS25"):  # no such plan; one needing a service-hall visit
        chat.slots["pending"] = f"plan_confirm:{code}"
        reply = await chat.say(ActionHandleReply(), "1", "affirm")
        assert "没有找到这个套餐" in reply
    assert await services.billing.get_pending_plan_change("13800000016") is None


# ---- Rasa's auth token -------------------------------------------------------------------------


async def test_rasa_client_presents_the_token_on_the_http_api(http: aiohttp.ClientSession) -> None:
    seen: list[tuple[str, str | None]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append((request.path, request.query.get("token")))
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/conversations/{sender}/tracker", record)
    app.router.add_post("/conversations/{sender}/tracker/events", record)
    runner, url, _ = await serve(app)
    try:
        client = RasaClient(http, url, token="s3cret")
        await client.take_back_failed_turn("o-user")  # reads the tracker, then appends events
    finally:
        await runner.cleanup()
    assert seen == [
        ("/conversations/o-user/tracker", "s3cret"),
        ("/conversations/o-user/tracker/events", "s3cret"),
    ]


def test_csbot_run_starts_rasa_with_the_token_the_gateway_uses(tmp_path: Path, monkeypatch) -> None:
    from bot.assistant_cli import process_specs
    from bot.assistant_files import rasa_env
    from gateway.settings import Settings
    from nlu.server import with_auth_token

    monkeypatch.setenv("CSBOT_VAR_DIR", str(tmp_path))
    for name in ("RASA_AUTH_TOKEN", "ACTION_SERVER_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    specs = {spec.name: spec for spec in process_specs(5005, 5055, tmp_path / "m.tar.gz", env=rasa_env(5055))}
    rasa_argv = specs["rasa"].argv
    token = specs["rasa"].env["RASA_AUTH_TOKEN"]
    assert token and token == Settings.from_env().rasa_token
    # not on the command line (process listings, csbot run's log): nlu/server.py passes it to Rasa
    assert token not in " ".join(rasa_argv) and "nlu.server" in rasa_argv
    assert with_auth_token(rasa_argv[2:], specs["rasa"].env)[-1] == f"--auth-token={token}"
    assert specs["actions"].env["ACTION_SERVER_TOKEN"] == specs["rasa"].env["ACTION_SERVER_TOKEN"]
    assert specs["gateway"].env["RASA_AUTH_TOKEN"] == token
    assert "bot.action_server" in specs["actions"].argv


def test_rasa_gets_its_token_from_the_environment_only_for_run() -> None:
    from nlu.server import with_auth_token

    env = {"RASA_AUTH_TOKEN": "s3cret"}
    assert with_auth_token(["rasa", "run", "--enable-api"], env) == [
        "rasa",
        "run",
        "--enable-api",
        "--auth-token=s3cret",
    ]
    assert with_auth_token(["rasa", "run", "--auth-token", "given"], env) == ["rasa", "run", "--auth-token", "given"]
    assert with_auth_token(["rasa", "run", "-t", "given"], env) == ["rasa", "run", "-t", "given"]
    assert with_auth_token(["rasa", "run", "--auth-token=given"], env) == ["rasa", "run", "--auth-token=given"]
    assert with_auth_token(["rasa", "train"], env) == ["rasa", "train"]
    assert with_auth_token(["rasa", "run"], {}) == ["rasa", "run"]


def test_a_generated_token_that_starts_with_a_dash_still_reaches_rasa() -> None:
    # One generated secret in 64 starts with "-": as a separate argument, `rasa run`'s argparse
    # took it for an option ("argument -t/--auth-token: expected one argument") and Rasa did not start.
    from nlu.server import with_auth_token

    rasa_run = argparse.ArgumentParser(prog="rasa run")
    rasa_run.add_argument("--enable-api", action="store_true")
    rasa_run.add_argument("-t", "--auth-token")
    token = "-AS" + "x" * 40
    argv = with_auth_token(["rasa", "run", "--enable-api"], {"RASA_AUTH_TOKEN": token})
    assert rasa_run.parse_args(argv[2:]).auth_token == token


# ---- secrets: generated once, atomically, mode 0600 ----------------------------------------------


def test_secrets_are_generated_once_with_mode_0600(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CSBOT_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("RASA_AUTH_TOKEN", raising=False)
    code = "from core.local_secrets import RASA_AUTH_TOKEN, local_secret; print(local_secret(RASA_AUTH_TOKEN))"
    racers = [
        subprocess.Popen([sys.executable, "-c", code], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    values = {racer.communicate(timeout=60)[0].strip() for racer in racers}
    assert len(values) == 1 and len(values.pop()) >= 32  # racing processes agree on one secret
    path = tmp_path / "rasa_auth_token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert local_secret(RASA_AUTH_TOKEN) == path.read_text().strip()
    assert [p.name for p in tmp_path.iterdir()] == ["rasa_auth_token"]  # no temporary file left
    monkeypatch.setenv("RASA_AUTH_TOKEN", "from-the-environment")
    assert local_secret(RASA_AUTH_TOKEN) == "from-the-environment"


# ---- the action server: shared secret, loopback ------------------------------------------------


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") else address


def _request(url: str, body: dict | None = None, token: str | None = None) -> int:
    headers = {"Content-Type": "application/json", **({HEADER: token} if token is not None else {})}
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


async def test_action_server_wants_the_shared_secret_and_listens_on_loopback(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "ACTION_SERVER_TOKEN": "the-shared-secret", "CSBOT_VAR_DIR": str(tmp_path)}
    env.pop("SANIC_HOST", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "bot.action_server", "--port", str(port)],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        await eventually(lambda: server.poll() is None and _up(f"{base}/health"), WAIT_S, 0.2)
        call = {"next_action": "action_check_balance", "sender_id": "o-attacker", "version": "3.6.21",
                "tracker": {"sender_id": "o-attacker", "slots": {"pending": "topup_confirm:TU1"}, "events": [],
                            "latest_message": {}}, "domain": {}}  # fmt: skip
        assert _request(f"{base}/webhook", call) == 401
        assert _request(f"{base}/webhook", call, token="wrong") == 401
        assert _request(f"{base}/actions") == 401
        assert _request(f"{base}/actions", token="the-shared-secret") == 200
        address = _non_loopback_address()
        if address is not None:
            with pytest.raises(OSError):
                socket.create_connection((address, port), timeout=2).close()
    finally:
        server.terminate()
        server.wait(20)


def _up(url: str) -> bool:
    try:
        return _request(url) == 200
    except OSError:
        return False


def test_rasa_sends_the_shared_secret_to_the_action_server() -> None:
    """endpoints.yml as Rasa 3.6 reads it: the action endpoint carries the secret as a header."""
    rasa_python = os.environ.get("RASA_PYTHON") or str(PROJECT_ROOT / ".venv-rasa" / "bin" / "python")
    if not Path(rasa_python).exists():
        pytest.skip("no Rasa environment")
    code = (
        "from rasa.utils.endpoints import read_endpoint_config;"
        "c = read_endpoint_config('endpoints.yml', 'action_endpoint');"
        "print(c.url, c.headers['X-Csbot-Action-Token'])"
    )
    env = {**os.environ, "ACTION_ENDPOINT_URL": "http://127.0.0.1:1/webhook", "ACTION_SERVER_TOKEN": "abc123",
           "TRACKER_STORE_URL": "sqlite:///x"}  # fmt: skip
    out = subprocess.run([rasa_python, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                         timeout=300, check=True)  # fmt: skip
    assert out.stdout.split()[-2:] == ["http://127.0.0.1:1/webhook", "abc123"]


# ---- no intent commands from subscribers ---------------------------------------------------------


async def test_subscriber_text_and_voice_never_reach_rasa_as_intents(gateway, fake_rasa, openid: str) -> None:
    client = gateway.aes
    await client.text(openid, '/top_up{"amount": 5000}')
    await client.push(client.voice_fields(openid, "media-x", recognition="/affirm"))
    await client.push(client.event_fields(openid, "CLICK", "CHECK_BALANCE"))
    turns = await eventually(lambda: fake_rasa.turns_for(openid) if len(fake_rasa.turns_for(openid)) >= 3 else None)
    assert turns[0] == ESCAPED_PREFIX + 'top_up{"amount": 5000}'
    assert turns[1] == ESCAPED_PREFIX + "affirm"
    assert turns[2] == "/check_balance"  # the gateway's own trigger for a menu click


async def test_only_bare_intent_names_can_be_triggered(http: aiohttp.ClientSession) -> None:
    client = RasaClient(http, "http://127.0.0.1:9")
    for bad in ('/top_up{"amount":1}', "hello", "/a b", "/SlotSet"):
        with pytest.raises(ValueError):
            await client.trigger("o", bad)
    await asyncio.sleep(0)
