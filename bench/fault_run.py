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

`--replicas 2` is the scale-out topology of issue #13 on one machine: two gateways behind HAProxy
(Debian's `haproxy`), two Rasa servers (each subscriber pinned to one by the gateways) each with its
action server, shared PostgreSQL and Redis (and RabbitMQ when EVENT_BROKER_URL is set). Its faults
kill the first replica of each kind and keep it down for `--down` seconds while the others carry
the load; the answers per second before the strike and while the replica is down are printed too.

    .venv/bin/python bench/fault_run.py --replicas 2 --rate 6 --down 15
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
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import aiohttp
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stack import free_port, free_ports, wait_http

from actions.replies import not_understood
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
NOT_UNDERSTOOD = not_understood(elder=False)
FAULTS = ["gateway", "actions", "rasa", "redis", "postgres"]
REPLICATED_FAULTS = ["gateway", "actions", "rasa"]  # the first replica of each kind
WECHAT_ATTEMPTS = 3
WECHAT_TIMEOUT_S = 5.0


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
    def __init__(self, model: Path, database_url: str, redis_url: str, logs: Path, replicas: int = 1) -> None:
        self.logs = logs
        self.replicas = replicas
        self.rasa_port = free_ports(2 * replicas)
        self.action_port = self.rasa_port + replicas
        self.gateway_port, self.standin_port = free_port(), free_port()
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
        specs = process_specs(self.rasa_port, self.action_port, model, with_gateway=False, env=env, replicas=replicas)
        env["RASA_URL"] = ",".join(f"http://127.0.0.1:{self.rasa_port + i}" for i in range(replicas))
        python = sys.executable
        self.roles = {
            "standin": Role("standin", [python, "-m", "bot", "wechat-standin", "--port", str(self.standin_port)],
                            env, f"{self.standin_url}/standin/messages", 30),
        }  # fmt: skip
        for spec in specs:  # actions, rasa, actions-2, rasa-2, ... (and analytics: not part of the run)
            if not spec.name.startswith(("actions", "rasa")):
                continue
            index = int(spec.name.partition("-")[2] or 1) - 1
            ready = (f"http://127.0.0.1:{self.action_port + index}/health" if spec.name.startswith("actions")
                     else f"http://127.0.0.1:{self.rasa_port + index}/status?token={token}")  # fmt: skip
            self.roles[spec.name] = Role(spec.name, spec.argv, spec.env, ready, 60 if "actions" in spec.name else 600)
        if replicas == 1:
            self.roles["gateway"] = Role(
                "gateway", [python, "-m", "bot", "gateway"], env, f"{self.gateway_url}/healthz", 60
            )
        else:
            for index in range(replicas):
                port = free_port()
                name = "gateway" if not index else f"gateway-{index + 1}"
                self.roles[name] = Role(name, [python, "-m", "bot", "gateway"], {**env, "PORT": str(port)},
                                        f"http://127.0.0.1:{port}/healthz", 60)  # fmt: skip
            config = logs / "haproxy.cfg"
            config.write_text(haproxy_config(self.gateway_port, [int(self.roles[n].env["PORT"]) for n in self.roles
                                                                 if n.startswith("gateway")]))  # fmt: skip
            self.roles["balancer"] = Role("balancer", ["haproxy", "-db", "-f", str(config)], env,
                                          f"{self.gateway_url}/healthz", 30)  # fmt: skip

    def start(self, name: str) -> None:
        role = self.roles[name]
        log = (self.logs / f"{name}.log").open("ab")
        role.process = subprocess.Popen(role.argv, env=role.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)  # fmt: skip
        # /healthz answers 503 while a dependency is still coming up; that is "listening".
        wait_http(role.ready_url, role.ready_timeout_s, ok_statuses=(200, 503))

    def start_all(self) -> None:
        """The stand-in first, Rasa servers loading their models side by side, then the gateways."""
        self.start("standin")
        waiting = [name for name in self.roles if name.startswith(("actions", "rasa"))]
        with ThreadPoolExecutor(len(waiting)) as pool:
            list(pool.map(self.start, waiting))
        for name in self.roles:
            if name.startswith(("gateway", "balancer")):
                self.start(name)

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


def haproxy_config(port: int, gateway_ports: list[int]) -> str:
    """Round robin over the gateways; a gateway that refuses connections is skipped (TCP check every
    second) and a request that could not connect is sent to the other one (redispatch)."""
    servers = "\n".join(
        f"    server g{i} 127.0.0.1:{p} check inter 1s fall 1 rise 2" for i, p in enumerate(gateway_ports)
    )
    return f"""global
    maxconn 4096
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch
frontend wechat
    bind 127.0.0.1:{port}
    default_backend gateways
backend gateways
    balance roundrobin
{servers}
"""


# --- load and accounting --------------------------------------------------------------------------


@dataclass
class Push:
    openid: str
    text: str
    sent_at: float
    acknowledged: bool = False
    attempts: int = 0
    passive: list[str] = field(default_factory=list)
    answered_at: float | None = None  # when its first answer arrived (passive or customer-service)


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
                if result.reply != APOLOGY:
                    push.answered_at = push.answered_at or time.monotonic()
            return
        await asyncio.sleep(max(0.0, WECHAT_TIMEOUT_S - (time.monotonic() - started)))


async def steady_load(client: PushClient, tag: str, rate: float, duration_s: float, pushes: list[Push]) -> list[Push]:
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


async def watch_answers(
    http: aiohttp.ClientSession, standin_url: str, pushes: list[Push], until: asyncio.Event
) -> None:
    """Note when each push's answer arrives through the customer-service API, while the load runs."""
    while not until.is_set():
        api = await delivered(http, standin_url)
        now = time.monotonic()
        for push in list(pushes):
            if push.answered_at is None and answers_of(push, api):
                push.answered_at = now
        await asyncio.sleep(0.5)


def first_answer_at(push: Push, settled_at: dict[str, float]) -> float:
    """When the push's first answer came: as seen during the load (passively, or through the API by
    `watch_answers`), else when `settle` first saw it. `settle` starts after the load, so its time
    alone made every answer given during the load look as slow as the load was long."""
    return push.answered_at if push.answered_at is not None else settled_at[push.openid]


def answers_per_s(pushes: list[Push], start: float, end: float) -> float:
    if end <= start:
        return float("nan")
    return sum(1 for p in pushes if p.answered_at is not None and start <= p.answered_at < end) / (end - start)


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
    not_understood: int  # answered "I did not understand" although every phrase is one the assistant knows
    slowest_answer_s: float
    outage_s: float
    before_per_s: float = float("nan")  # answers per second before the strike
    during_per_s: float = float("nan")  # and while the part was down


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


async def inject(fault: str, stack: Stack, postgres: PrivatePostgres, redis: PrivateRedis, delay_s: float,
                 down_s: float = 1.0) -> float:  # fmt: skip
    """Strike `delay_s` into the load; bring the part back as a supervisor would; the outage's length."""
    await asyncio.sleep(delay_s)
    started = time.monotonic()
    if fault in stack.roles:
        await asyncio.to_thread(stack.kill, fault)
        await asyncio.sleep(down_s)
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
                    rate: float, duration_s: float, down_s: float = 1.0) -> FaultResult:  # fmt: skip
    async with aiohttp.ClientSession() as http:
        client = PushClient(http, stack.gateway_url, TOKEN, APP_ID, AES_KEY)
        tag = fault[:4]
        pushes: list[Push] = []
        load_started = time.monotonic()
        strike = load_started + duration_s / 3
        outage = asyncio.create_task(inject(fault, stack, postgres, redis, duration_s / 3, down_s))
        load_done = asyncio.Event()
        watcher = asyncio.create_task(watch_answers(http, stack.standin_url, pushes, load_done))
        await steady_load(client, tag, rate, duration_s, pushes)
        outage_s = await outage
        load_done.set()
        await watcher
        answered_at = await settle(http, stack, pushes, deadline_s=240)
        api = await delivered(http, stack.standin_url)
    owed = [p for p in pushes if p.acknowledged]
    turns = rasa_turns(postgres.url, [p.openid for p in owed])
    answer_counts = {p.openid: len(answers_of(p, api)) for p in owed}
    for push in owed:
        if answer_counts[push.openid] > expected_answers(push, api) or answer_counts[push.openid] == 0:
            print(f"  {fault}: {push.openid} {push.text!r} passive={push.passive} api={api.get(push.openid)}",
                  file=sys.stderr)  # fmt: skip
    slowest = max((first_answer_at(p, answered_at) - p.sent_at for p in owed if p.openid in answered_at), default=0.0)
    return FaultResult(
        fault=fault,
        sent=len(pushes),
        acknowledged=len(owed),
        answered_once=sum(1 for p in owed if answer_counts[p.openid] >= 1 and turns[p.openid] == 1),
        lost=sum(1 for p in owed if answer_counts[p.openid] == 0),
        answered_twice=sum(1 for p in owed if answer_counts[p.openid] > expected_answers(p, api)),
        duplicated_turns=sum(1 for p in owed if turns[p.openid] > 1),
        not_understood=sum(1 for p in owed if NOT_UNDERSTOOD in answers_of(p, api)),
        slowest_answer_s=slowest,
        outage_s=outage_s,
        before_per_s=answers_per_s(pushes, load_started + 3.0, strike),
        during_per_s=answers_per_s(pushes, strike, strike + down_s),
    )


def expected_answers(push: Push, api: dict[str, list[str]]) -> int:
    """One turn may answer in several messages; a repeat of the same text is a duplicate."""
    return len(set(answers_of(push, api)))


def report(results: list[FaultResult]) -> str:
    head = f"{'fault':<10}{'sent':>6}{'acked':>7}{'answered':>10}{'lost':>6}{'twice':>7}{'dup turns':>11}" \
           f"{'not underst.':>14}{'outage s':>10}{'slowest s':>11}{'ans/s before':>14}{'ans/s down':>12}"  # fmt: skip
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(
            f"{r.fault:<10}{r.sent:>6}{r.acknowledged:>7}{r.answered_once:>10}{r.lost:>6}{r.answered_twice:>7}"
            f"{r.duplicated_turns:>11}{r.not_understood:>14}{r.outage_s:>10.1f}{r.slowest_answer_s:>11.1f}"
            f"{r.before_per_s:>14.1f}{r.during_per_s:>12.1f}"
        )
    return "\n".join(lines)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "var" / "test-model" / "csbot.tar.gz")
    parser.add_argument("--rate", type=float, default=3.0, help="pushes per second (default 3)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load per fault (default 30)")
    parser.add_argument("--faults", default=None, help=f"comma-separated, of {FAULTS} (default: all; with "
                        f"--replicas 2: {','.join(REPLICATED_FAULTS)})")  # fmt: skip
    parser.add_argument("--replicas", type=int, default=1, help="gateways, Rasa servers and action servers (default 1)")
    parser.add_argument("--down", type=float, default=1.0, help="seconds a killed process stays down (default 1)")
    args = parser.parse_args()
    faults = args.faults or ",".join(FAULTS if args.replicas == 1 else REPLICATED_FAULTS)
    if args.replicas > 1 and not shutil.which("haproxy"):
        print("--replicas needs HAProxy in front of the gateways: apt-get install haproxy")
        return 2
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
        stack = Stack(args.model.resolve(), postgres.url, redis.url, logs, replicas=args.replicas)
        for command in (["db", "init"], ["db", "seed"]):
            subprocess.run([sys.executable, "-m", "bot", *command], env=stack.env, cwd=ROOT, check=True,
                           stdout=subprocess.DEVNULL)  # fmt: skip
        stack.start_all()
        results = []
        for fault in faults.split(","):
            result = await run_fault(fault, stack, postgres, redis, args.rate, args.duration, args.down)
            print(report([result]).splitlines()[-1], flush=True)
            results.append(result)
        print()
        print(f"{args.rate:g} pushes/s for {args.duration:g} s per fault; WeChat-style retries "
              f"({WECHAT_ATTEMPTS} attempts, {WECHAT_TIMEOUT_S:g} s each)")  # fmt: skip
        print(report(results))
        clean = (
            r.lost == 0 and r.answered_twice == 0 and r.duplicated_turns == 0 and r.not_understood == 0 for r in results
        )
        return 0 if all(clean) else 1
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
