"""Black-box checks of the Compose topology (deploy/compose.yml) on this machine.

Brings the topology up from the local images (deploy/build-local.sh) on free ports, with a
PostgreSQL database and a Redis database of its own (tests/run_isolation.py, as the tests take
them) and a RabbitMQ exchange and queue of its own, so it never meets another run; checks it from
outside, as WeChat would; prints the results; stops the topology and drops what it made:

1. URL verification: GET /wechat with signature/timestamp/nonce/echostr answers the echostr.
2. Safe mode: an AES-encrypted text push gets an encrypted passive reply with an answer.
3. Dedup: the same push (one MsgId) delivered twice is one Rasa turn and one answer.
4. Event stream: Rasa's events reached the analytics consumer's table through RabbitMQ.

    .venv/bin/python bench/compose_check.py [--keep-up] [--tag local]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import getpass
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import aio_pika
import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from run_isolation import (  # noqa: E402
    claim_redis_database,
    create_run_database,
    drop_run_database,
    release_redis_database,
)
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from core.db import sync_url  # noqa: E402
from wechat.protocol import sign  # noqa: E402
from wechat.simulator import PushClient  # noqa: E402

COMPOSE_FILE = ROOT / "deploy" / "compose.yml"
AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
READY_TIMEOUT_S = 600  # Rasa loads its model on a busy 2-core machine


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def compose(project: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    argv = ["docker-compose", "-p", project, "-f", str(COMPOSE_FILE), "--profile", "demo", *args]
    return subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True)


def wait_healthy(url: str, timeout_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        try:
            with urllib.request.urlopen(url, timeout=3) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(2)
    raise TimeoutError(f"{url} not healthy after {timeout_s:.0f} s")


class Results:
    def __init__(self) -> None:
        self.rows: list[tuple[str, bool, str]] = []

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.rows.append((name, ok, detail))
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}", flush=True)

    @property
    def ok(self) -> bool:
        return bool(self.rows) and all(ok for _, ok, _ in self.rows)


async def run_checks(env: dict[str, str], results: Results) -> None:
    gateway = f"http://127.0.0.1:{env['GATEWAY_PORT']}"
    standin = f"http://127.0.0.1:{env['WECHAT_STANDIN_PORT']}"
    rasa = f"http://127.0.0.1:{env['RASA_PORT']}"
    token = env["WECHAT_TOKEN"]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        # 1. WeChat's server check
        ts, nonce, echostr = str(int(time.time())), secrets.token_hex(8), secrets.token_hex(12)
        query = {"signature": sign(token, ts, nonce), "timestamp": ts, "nonce": nonce, "echostr": echostr}
        async with http.get(f"{gateway}/wechat", params=query) as response:
            body = await response.text()
        results.add("URL verification", response.status == 200 and body == echostr, f"HTTP {response.status}")
        bad = dict(query, signature="0" * 40)
        async with http.get(f"{gateway}/wechat", params=bad) as response:
            results.add("URL verification, bad signature refused", response.status == 403, f"HTTP {response.status}")

        # 2. safe mode: encrypted push, encrypted passive reply
        client = PushClient(http, gateway, token, env["WECHAT_APP_ID"], env["WECHAT_AES_KEY"])
        openid = f"o_compose_{secrets.token_hex(4)}"
        result = await client.text(openid, "你好")
        answer = result.reply or " / ".join(await _standin_texts(http, standin, openid, wait_s=30))
        results.add(
            "AES text message answered",
            result.status == 200 and bool(answer) and (result.reply is None or result.encrypted_reply),
            f"HTTP {result.status}, {'encrypted passive reply' if result.reply else 'customer-service message'}"
            f" in {result.elapsed_s:.2f} s: {answer[:40]!r}",
        )

        # 3. one MsgId twice: one turn, one answer
        openid = f"o_compose_{secrets.token_hex(4)}"
        fields = client.text_fields(openid, "查询话费余额")
        first = await client.push(fields)
        second = await client.push(fields)
        await asyncio.sleep(5)  # a duplicate turn, if any, would have reached Rasa and the stand-in by now
        turns = await _user_turns(http, rasa, env["RASA_AUTH_TOKEN"], openid)
        sent = await _standin_texts(http, standin, openid, wait_s=0)
        passive = [r.reply for r in (first, second) if r.reply]
        # WeChat shows one answer per MsgId: a retry that repeats the same passive reply is that answer
        answers = len(set(passive)) + len(sent)
        results.add(
            "duplicate MsgId answered once",
            first.status == second.status == 200 and turns == 1 and answers == 1,
            f"Rasa turns {turns}, passive replies {len(passive)} ({len(set(passive))} distinct),"
            f" customer-service messages {len(sent)}",
        )

    # 4. the event stream: Rasa -> RabbitMQ -> analytics consumer -> PostgreSQL
    engine = create_engine(sync_url(env["DATABASE_URL"]))
    deadline = time.monotonic() + 60
    facts = 0
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            facts = conn.execute(text("SELECT count(*) FROM analytics_facts")).scalar_one()
        if facts >= 4:  # two sessions, two user messages at least
            break
        time.sleep(1)
    engine.dispose()
    results.add("events through RabbitMQ into analytics_facts", facts >= 4, f"{facts} facts")


async def _standin_texts(http: aiohttp.ClientSession, standin: str, openid: str, wait_s: float) -> list[str]:
    deadline = time.monotonic() + wait_s
    while True:
        async with http.get(f"{standin}/standin/messages", params={"touser": openid}) as response:
            found = [m["text"]["content"] for m in await response.json() if m.get("msgtype") == "text"]
        if found or time.monotonic() >= deadline:
            return found
        await asyncio.sleep(0.5)


async def _user_turns(http: aiohttp.ClientSession, rasa: str, token: str, openid: str) -> int:
    async with http.get(f"{rasa}/conversations/{openid}/tracker", params={"token": token}) as response:
        events = (await response.json())["events"]
    return sum(1 for e in events if e["event"] == "user")


async def drop_broker_objects(name: str) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(name)
        await channel.exchange_delete(name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tag", default="local", help="image tag (deploy/build-local.sh builds :local)")
    parser.add_argument("--keep-up", action="store_true", help="leave the topology running (stop it yourself)")
    args = parser.parse_args()

    database_url = create_run_database()
    # the containers run as their own user: name the host's role, which the run database belongs to
    parsed = make_url(database_url)
    container_database_url = (parsed if parsed.username else parsed.set(username=getpass.getuser())).render_as_string(
        hide_password=False
    )
    redis_url = claim_redis_database()
    gateway, agent, internal, rasa, action, standin = free_ports(6)
    name = f"csbot-compose-{os.getpid()}"
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "DOCKER_HOST")},
        "CSBOT_TAG": args.tag,
        "DATABASE_URL": container_database_url,
        "REDIS_URL": redis_url,
        "EVENT_BROKER_URL": AMQP_URL,
        "EVENT_BROKER_EXCHANGE": name,
        "EVENT_BROKER_QUEUE": name,
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(gateway),
        "AGENT_PORT": str(agent),
        "INTERNAL_PORT": str(internal),
        "RASA_PORT": str(rasa),
        "ACTION_PORT": str(action),
        "WECHAT_STANDIN_PORT": str(standin),
        "WECHAT_API_BASE": f"http://127.0.0.1:{standin}",
        "WECHATPAY_API_BASE": f"http://127.0.0.1:{standin}",
        "WECHAT_TOKEN": secrets.token_hex(16),
        "WECHAT_APP_ID": "wx" + secrets.token_hex(8),
        "WECHAT_APP_SECRET": secrets.token_hex(16),
        "WECHAT_AES_KEY": base64.b64encode(secrets.token_bytes(32)).decode().rstrip("="),
        "RASA_AUTH_TOKEN": secrets.token_urlsafe(24),
        "ACTION_SERVER_TOKEN": secrets.token_urlsafe(24),
        "AGENT_SESSION_SECRET": secrets.token_urlsafe(32),
    }
    project = name
    results = Results()
    try:
        started = time.monotonic()
        up = compose(project, env, "up", "-d")
        if up.returncode != 0:
            print(up.stdout, up.stderr, sep="\n", file=sys.stderr)
            results.add("topology up", False, "docker-compose up failed")
            return 1
        ready = wait_healthy(f"http://127.0.0.1:{internal}/healthz", READY_TIMEOUT_S)
        ps = compose(project, env, "ps").stdout
        results.add(
            "topology up",
            True,
            f"internal /healthz 200 after {time.monotonic() - started:.0f} s ({ready:.0f} s of waiting)",
        )
        print(ps)
        asyncio.run(run_checks(env, results))
    except Exception as exc:  # report, then stop everything
        results.add("check run", False, f"{type(exc).__name__}: {exc}")
        logs = compose(project, env, "logs", "--tail", "40").stdout
        print(logs[-6000:], file=sys.stderr)
    finally:
        if not args.keep_up:
            down = compose(project, env, "down", "--remove-orphans")
            print(f"topology stopped ({'ok' if down.returncode == 0 else down.stderr.strip()})")
            drop_run_database(database_url)
            release_redis_database(redis_url)
            asyncio.run(drop_broker_objects(name))
    print(json.dumps({"ok": results.ok, "checks": [{"name": n, "ok": o, "detail": d} for n, o, d in results.rows]},
                     ensure_ascii=False))  # fmt: skip
    return 0 if results.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
