"""Fault run: a steady load of text pushes while one part of the stack at a time fails.

The proof behind "nothing received or owed is lost" (issue #9). For each fault -- kill -9 of the
gateway, of the action server and of Rasa; a restart of Redis and of PostgreSQL -- subscribers push
text messages at a steady rate, as WeChat does (a push without a 200 within 5 s is sent again, three
attempts in all); the fault strikes a third of the way in and the failed part is started again as
a supervisor would. Every push WeChat was told was received (a 200) must then be answered exactly
once: one answer other than the holding apology, passively or through the customer-service API,
and one Rasa turn.

The run brings up its own PostgreSQL cluster and Redis server on free loopback ports, so restarting
them touches nothing else on the machine, and then the real stack as `csbot run` starts it: Rasa
with a trained model, the action server, the stand-in WeChat API and the gateway.

    .venv/bin/python bench/fault_run.py --model var/test-model/csbot.tar.gz
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import aiohttp
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.assistant_cli import process_specs
from bot.assistant_files import rasa_env
from core.wording import APOLOGY
from wechat.simulator import PushClient

ROOT = Path(__file__).resolve().parent.parent

TOKEN = "faultruntoken"
APP_ID = "wxfaultrun0000000"
APP_SECRET = "fault-run-secret"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
PHRASES = ["查余额", "我的套餐是什么", "流量还剩多少", "怎么充话费", "这个月账单多少"]
FAULTS = ["gateway", "actions", "rasa", "redis", "postgres"]
WECHAT_ATTEMPTS = 3
WECHAT_TIMEOUT_S = 5.0


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout_s: float, ok_statuses: tuple[int, ...] = (200,)) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status in ok_statuses:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code in ok_statuses:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} not up after {timeout_s}s")


# --- the private PostgreSQL cluster and Redis server ---------------------------------------------


class PrivatePostgres:
    """A throw-away cluster owned by the `postgres` user (PostgreSQL refuses to run as root)."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir / "pg"
        self.port = free_port()
        self.bin = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1])
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *argv: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *argv], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def init(self) -> None:
        self.dir.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            shutil.chown(self.dir.parent, "postgres", "postgres")
        self._as_postgres(str(self.bin / "initdb"), "-D", str(self.dir), "-A", "trust", "-U", "postgres")
        self.start()

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=200"
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.dir), "-o", options, "-l",
                          str(self.dir / "server.log"), "-w", "start")  # fmt: skip

    def crash(self) -> None:
        """Immediate stop: no checkpoint, connections cut, crash recovery on the next start."""
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.dir), "-m", "immediate", "stop")

    def stop(self) -> None:
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.dir), "-m", "fast", "stop")


class PrivateRedis:
    """A Redis that keeps nothing on disk, like the machine's: a restart loses every key."""

    def __init__(self, log: IO[bytes]) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._log = log
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self._process = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while (
            subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).stdout.strip() != b"PONG"
        ):
            if time.monotonic() > deadline:
                raise TimeoutError("redis-server did not start")
            time.sleep(0.1)

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()


# --- the stack ------------------------------------------------------------------------------------


@dataclass
class Role:
    name: str
    argv: list[str]
    env: dict[str, str]
    ready_url: str
    ready_timeout_s: float
    process: subprocess.Popen[bytes] | None = None


class Stack:
    def __init__(self, model: Path, database_url: str, redis_url: str, logs: Path) -> None:
        self.logs = logs
        self.rasa_port, self.action_port, self.gateway_port, self.standin_port = (free_port() for _ in range(4))
        self.gateway_url = f"http://127.0.0.1:{self.gateway_port}"
        self.standin_url = f"http://127.0.0.1:{self.standin_port}"
        os.environ["DATABASE_URL"] = database_url  # read by rasa_env() for Rasa's tracker store
        env = {
            **rasa_env(self.action_port),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "WECHAT_TOKEN": TOKEN,
            "WECHAT_APP_ID": APP_ID,
            "WECHAT_APP_SECRET": APP_SECRET,
            "WECHAT_AES_KEY": AES_KEY,
            "WECHAT_API_BASE": self.standin_url,
            "RASA_URL": f"http://127.0.0.1:{self.rasa_port}",
            "GATEWAY_HOST": "127.0.0.1",
            "PORT": str(self.gateway_port),
            "AGENT_PORT": "0",  # the console's and the internal listener: free ports, nothing to clash with
            "INTERNAL_PORT": "0",
            "LOG_LEVEL": "WARNING",
        }
        self.env = env
        token = env["RASA_AUTH_TOKEN"]
        actions, rasa = process_specs(self.rasa_port, self.action_port, model, with_gateway=False, env=env)
        python = sys.executable
        self.roles = {
            "standin": Role("standin", [python, "-m", "bot", "wechat-standin", "--port", str(self.standin_port)],
                            env, f"{self.standin_url}/standin/messages", 30),
            "actions": Role("actions", actions.argv, actions.env, f"http://127.0.0.1:{self.action_port}/health", 60),
            "rasa": Role("rasa", rasa.argv, rasa.env, f"http://127.0.0.1:{self.rasa_port}/status?token={token}", 300),
            "gateway": Role("gateway", [python, "-m", "bot", "gateway"], env, f"{self.gateway_url}/healthz", 60),
        }  # fmt: skip

    def start(self, name: str) -> None:
        role = self.roles[name]
        log = (self.logs / f"{name}.log").open("ab")
        role.process = subprocess.Popen(role.argv, env=role.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)  # fmt: skip
        # /healthz answers 503 while a dependency is still coming up; that is "listening".
        wait_http(role.ready_url, role.ready_timeout_s, ok_statuses=(200, 503))

    def kill(self, name: str) -> None:
        """kill -9 of the role's whole process group: no clean-up at all, as in a crash."""
        process = self.roles[name].process
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def stop_all(self) -> None:
        for role in reversed(list(self.roles.values())):
            if role.process is not None and role.process.poll() is None:
                os.killpg(role.process.pid, signal.SIGTERM)
        for role in self.roles.values():
            if role.process is not None:
                try:
                    role.process.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(role.process.pid, signal.SIGKILL)


# --- load and accounting --------------------------------------------------------------------------


@dataclass
class Push:
    openid: str
    text: str
    sent_at: float
    acknowledged: bool = False
    attempts: int = 0
    passive: list[str] = field(default_factory=list)


async def push_like_wechat(client: PushClient, push: Push) -> None:
    """Up to three attempts, each given 5 s, as WeChat's servers do; the same message each time."""
    fields = client.text_fields(push.openid, push.text)
    for _ in range(WECHAT_ATTEMPTS):
        push.attempts += 1
        started = time.monotonic()
        try:
            result = await asyncio.wait_for(client.push(fields), WECHAT_TIMEOUT_S)
        except (TimeoutError, aiohttp.ClientError, OSError):
            result = None
        if result is not None and result.status == 200:
            push.acknowledged = True
            if result.reply:
                push.passive.append(result.reply)
            return
        await asyncio.sleep(max(0.0, WECHAT_TIMEOUT_S - (time.monotonic() - started)))


async def steady_load(client: PushClient, tag: str, rate: float, duration_s: float) -> list[Push]:
    pushes: list[Push] = []
    tasks = []
    started = time.monotonic()
    index = 0
    while (elapsed := time.monotonic() - started) < duration_s:
        if index < elapsed * rate:
            push = Push(f"ofault{tag}{index:05d}".ljust(28, "0"), PHRASES[index % len(PHRASES)], time.monotonic())
            pushes.append(push)
            tasks.append(asyncio.create_task(push_like_wechat(client, push)))
            index += 1
        await asyncio.sleep(0.01)
    await asyncio.gather(*tasks)
    return pushes


async def delivered(http: aiohttp.ClientSession, standin_url: str) -> dict[str, list[str]]:
    async with http.get(f"{standin_url}/standin/messages", timeout=aiohttp.ClientTimeout(total=10)) as response:
        messages = await response.json()
    by_openid: dict[str, list[str]] = {}
    for message in messages:
        content = (message.get("text") or {}).get("content")
        by_openid.setdefault(message["touser"], []).append(content if content is not None else message["msgtype"])
    return by_openid


def answers_of(push: Push, api: dict[str, list[str]]) -> list[str]:
    return [reply for reply in [*push.passive, *api.get(push.openid, [])] if reply != APOLOGY]


def rasa_turns(database_url: str, openids: list[str]) -> Counter[str]:
    """User turns in each tracker, as far as the dialogue is concerned: a turn taken back (`rewind`,
    or everything before a `restart`) did not happen."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT sender_id, type_name FROM events WHERE type_name IN ('user', 'rewind', 'restart') "
                     "AND sender_id = ANY(:ids) ORDER BY id"),
                {"ids": openids},
            ).all()  # fmt: skip
    finally:
        engine.dispose()
    turns: Counter[str] = Counter()
    for sender, kind in rows:
        if kind == "restart":
            turns[sender] = 0
        else:
            turns[sender] += 1 if kind == "user" else -1
    return turns


@dataclass
class FaultResult:
    fault: str
    sent: int
    acknowledged: int
    answered_once: int
    lost: int
    answered_twice: int
    duplicated_turns: int
    slowest_answer_s: float
    outage_s: float


async def settle(http: aiohttp.ClientSession, stack: Stack, pushes: list[Push], deadline_s: float) -> dict[str, float]:
    """Wait until every acknowledged push has an answer (or the deadline); when each was first seen."""
    owed = [p for p in pushes if p.acknowledged]
    answered_at: dict[str, float] = {p.openid: time.monotonic() for p in owed if answers_of(p, {})}
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        api = await delivered(http, stack.standin_url)
        for push in owed:
            if push.openid not in answered_at and answers_of(push, api):
                answered_at[push.openid] = time.monotonic()
        if len(answered_at) == len(owed):
            await asyncio.sleep(3)  # a duplicate would arrive about now
            break
        if int(time.monotonic()) % 15 == 0:
            print(f"  waiting for {len(owed) - len(answered_at)} answers", file=sys.stderr, flush=True)
        await asyncio.sleep(0.5)
    return answered_at


async def inject(fault: str, stack: Stack, postgres: PrivatePostgres, redis: PrivateRedis, delay_s: float) -> float:
    """Strike `delay_s` into the load; bring the part back as a supervisor would; the outage's length."""
    await asyncio.sleep(delay_s)
    started = time.monotonic()
    if fault in stack.roles:
        await asyncio.to_thread(stack.kill, fault)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(stack.start, fault)
    elif fault == "redis":
        await asyncio.to_thread(redis.kill)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(redis.start)
    elif fault == "postgres":
        await asyncio.to_thread(postgres.crash)
        await asyncio.sleep(3.0)
        await asyncio.to_thread(postgres.start)
    return time.monotonic() - started


async def run_fault(fault: str, stack: Stack, postgres: PrivatePostgres, redis: PrivateRedis,
                    rate: float, duration_s: float) -> FaultResult:  # fmt: skip
    async with aiohttp.ClientSession() as http:
        client = PushClient(http, stack.gateway_url, TOKEN, APP_ID, AES_KEY)
        tag = fault[:4]
        outage = asyncio.create_task(inject(fault, stack, postgres, redis, duration_s / 3))
        pushes = await steady_load(client, tag, rate, duration_s)
        outage_s = await outage
        answered_at = await settle(http, stack, pushes, deadline_s=240)
        api = await delivered(http, stack.standin_url)
    owed = [p for p in pushes if p.acknowledged]
    turns = rasa_turns(postgres.url, [p.openid for p in owed])
    answer_counts = {p.openid: len(answers_of(p, api)) for p in owed}
    for push in owed:
        if answer_counts[push.openid] > expected_answers(push, api) or answer_counts[push.openid] == 0:
            print(f"  {fault}: {push.openid} {push.text!r} passive={push.passive} api={api.get(push.openid)}",
                  file=sys.stderr)  # fmt: skip
    slowest = max((answered_at[p.openid] - p.sent_at for p in owed if p.openid in answered_at), default=0.0)
    return FaultResult(
        fault=fault,
        sent=len(pushes),
        acknowledged=len(owed),
        answered_once=sum(1 for p in owed if answer_counts[p.openid] >= 1 and turns[p.openid] == 1),
        lost=sum(1 for p in owed if answer_counts[p.openid] == 0),
        answered_twice=sum(1 for p in owed if answer_counts[p.openid] > expected_answers(p, api)),
        duplicated_turns=sum(1 for p in owed if turns[p.openid] > 1),
        slowest_answer_s=slowest,
        outage_s=outage_s,
    )


def expected_answers(push: Push, api: dict[str, list[str]]) -> int:
    """One turn may answer in several messages; a repeat of the same text is a duplicate."""
    return len(set(answers_of(push, api)))


def report(results: list[FaultResult]) -> str:
    head = f"{'fault':<10}{'sent':>6}{'acked':>7}{'answered':>10}{'lost':>6}{'twice':>7}{'dup turns':>11}" \
           f"{'outage s':>10}{'slowest s':>11}"  # fmt: skip
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(
            f"{r.fault:<10}{r.sent:>6}{r.acknowledged:>7}{r.answered_once:>10}{r.lost:>6}{r.answered_twice:>7}"
            f"{r.duplicated_turns:>11}{r.outage_s:>10.1f}{r.slowest_answer_s:>11.1f}"
        )
    return "\n".join(lines)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "var" / "test-model" / "csbot.tar.gz")
    parser.add_argument("--rate", type=float, default=3.0, help="pushes per second (default 3)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load per fault (default 30)")
    parser.add_argument("--faults", default=",".join(FAULTS), help=f"comma-separated, of {FAULTS}")
    args = parser.parse_args()
    if not args.model.exists():
        print(f"no trained model at {args.model}: train one first (`csbot train --out var/test-model`)")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="csbot-fault-"))
    logs = workdir / "logs"
    logs.mkdir()
    print(f"logs: {logs}")
    postgres = PrivatePostgres(workdir)
    redis = PrivateRedis((logs / "redis.log").open("ab"))
    stack: Stack | None = None
    try:
        postgres.init()
        redis.start()
        stack = Stack(args.model.resolve(), postgres.url, redis.url, logs)
        for command in (["db", "init"], ["db", "seed"]):
            subprocess.run([sys.executable, "-m", "bot", *command], env=stack.env, cwd=ROOT, check=True,
                           stdout=subprocess.DEVNULL)  # fmt: skip
        for name in ("standin", "actions", "rasa", "gateway"):
            stack.start(name)
        results = []
        for fault in args.faults.split(","):
            result = await run_fault(fault, stack, postgres, redis, args.rate, args.duration)
            print(report([result]).splitlines()[-1], flush=True)
            results.append(result)
        print()
        print(f"{args.rate:g} pushes/s for {args.duration:g} s per fault; WeChat-style retries "
              f"({WECHAT_ATTEMPTS} attempts, {WECHAT_TIMEOUT_S:g} s each)")  # fmt: skip
        print(report(results))
        return 0 if all(r.lost == 0 and r.answered_twice == 0 and r.duplicated_turns == 0 for r in results) else 1
    finally:
        if stack is not None:
            stack.stop_all()
        redis.kill()
        try:
            postgres.stop()
        except subprocess.CalledProcessError:
            pass


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
