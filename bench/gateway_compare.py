"""`bench/gateway.py --compare`: start each configuration of the stack and load it, in one run.

A configuration is REPLICAS:STORE[:FRONT]: how many Rasa servers (each with its own action server,
as `RASA_REPLICAS` starts them), which tracker store (`sql`: Rasa's own; `windowed`:
endpoints.yml's nlu.tracker_store), and what takes the pushes (`gateway`, the default; or
`passthrough` or `minimal`, the floors of bench/passthrough.py, in its place). Each runs on a
throw-away PostgreSQL database, the machine's Redis (BENCH_REDIS_URL, default
redis://127.0.0.1:6379/12; keys are per run) and free ports, behind the stand-in WeChat API, and
meets the same load shapes.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from cpu import ROLES
from sqlalchemy.engine import make_url
from stack import endpoints_for, free_ports, throwaway_database, wait_http

from bot.assistant_cli import process_specs
from bot.assistant_files import rasa_env
from bot.supervisor import ProcessSpec
from core.db import sync_url
from gateway.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SHAPES = [(1, 20), (4, 10), (20, 5), (50, 4)]  # subscribers x messages, as issue #13 names them
TOKEN = "benchgatewaytoken"
APP_ID = "wxbenchgateway0000"
APP_SECRET = "bench-gateway-secret"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


class Front(StrEnum):
    """What takes the pushes: the gateway, or one of bench/passthrough.py's floors in its place."""

    GATEWAY = "gateway"
    PASSTHROUGH = "passthrough"
    MINIMAL = "minimal"


@dataclass(frozen=True)
class Config:
    replicas: int
    store: str
    front: Front = Front.GATEWAY

    @property
    def label(self) -> str:
        return f"{self.replicas} Rasa, {self.store}" + ("" if self.front is Front.GATEWAY else f", {self.front}")


def parse_configs(spec: str) -> list[Config]:
    """REPLICAS:STORE[:FRONT] for each configuration, e.g. "1:sql,2:windowed:passthrough"."""
    configs = []
    for item in spec.split(","):
        replicas, store, front = [*item.split(":"), "", ""][:3]
        if front and front not in Front:
            raise SystemExit(f"unknown front {front!r} in {item!r}: one of {', '.join(Front)}")
        configs.append(Config(int(replicas), store or "windowed", Front(front or Front.GATEWAY)))
    return configs


def gateway_env(database_url: str, standin_url: str, gateway_port: int) -> dict[str, str]:
    """The gateway's settings in a benchmark: the throw-away database, the machine's Redis, the
    benchmark's WeChat account on the stand-in API, its port on loopback, and no other listeners."""
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12"),
        "WECHAT_TOKEN": TOKEN,
        "WECHAT_APP_ID": APP_ID,
        "WECHAT_APP_SECRET": APP_SECRET,
        "WECHAT_AES_KEY": AES_KEY,
        "WECHAT_API_BASE": standin_url,
        "GATEWAY_HOST": "127.0.0.1",
        "PORT": str(gateway_port),
        "AGENT_PORT": "0",
        "INTERNAL_PORT": "0",
        "LOG_LEVEL": "WARNING",
    }


@contextlib.contextmanager
def running_stack(config: Config, model: Path, database_url: str, workdir: Path) -> Iterator[tuple[str, str, str]]:
    """(gateway URL, RASA_URL, stand-in URL) of a started stack; everything stopped afterwards."""
    base = free_ports(2 * config.replicas + 2)
    rasa_port, action_port = base, base + config.replicas
    standin_port, gateway_port = base + 2 * config.replicas, base + 2 * config.replicas + 1
    standin_url = f"http://127.0.0.1:{standin_port}"
    env = {
        **rasa_env(action_port),
        **gateway_env(database_url, standin_url, gateway_port),
        "TRACKER_STORE_URL": sync_url(database_url),
    }
    env.pop("RASA_URL", None)
    specs = process_specs(rasa_port, action_port, model, env=env, replicas=config.replicas)
    rasa_urls = ",".join(f"http://127.0.0.1:{rasa_port + index}" for index in range(config.replicas))
    if config.front is not Front.GATEWAY:
        floor = [
            sys.executable,
            str(ROOT / "bench" / "passthrough.py"),
            "--port",
            str(gateway_port),
            "--rasa",
            rasa_urls,
        ]
        if config.front is Front.MINIMAL:
            floor += ["--database", database_url]
        specs = [spec for spec in specs if spec.name != "gateway"]
        specs.append(ProcessSpec(config.front, floor, env))
    endpoints = str(endpoints_for(config.store, workdir))
    python = sys.executable
    standin = [python, "-m", "bot", "wechat-standin", "--port", str(standin_port)]
    processes: list[subprocess.Popen[bytes]] = []
    log = (workdir / f"{config.replicas}-{config.store}.log").open("ab")

    def start(argv: list[str], process_env: dict[str, str]) -> None:
        processes.append(subprocess.Popen(argv, env=process_env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))

    try:
        start(standin, env)
        for spec in specs:
            argv = list(spec.argv)
            if "--endpoints" in argv:
                argv[argv.index("--endpoints") + 1] = endpoints
            start(argv, spec.env)
        wait_http(f"{standin_url}/standin/messages", 60)
        for index in range(config.replicas):
            wait_http(f"http://127.0.0.1:{action_port + index}/health", 120)
            wait_http(f"http://127.0.0.1:{rasa_port + index}/status?token={env['RASA_AUTH_TOKEN']}", 900)
        wait_http(f"http://127.0.0.1:{gateway_port}/healthz", 120)
        yield f"http://127.0.0.1:{gateway_port}", rasa_urls, standin_url
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


Measure = Callable[[str, str, Settings, int, int, str, str | None], Awaitable[tuple[Any, Any]]]


def parse_shapes(spec: str) -> list[tuple[int, int]]:
    """Shapes as `--shapes` gives them, "1x20,20x5": [(1, 20), (20, 5)] (subscribers x messages)."""
    shapes = []
    for item in spec.split(","):
        subscribers, _, messages = item.strip().partition("x")
        shapes.append((int(subscribers), int(messages)))
    return shapes


async def compare(
    spec: str, model: Path, measure: Measure, shapes: list[tuple[int, int]] = SHAPES, rounds: int = 1
) -> int:
    if not model.exists():
        print(f"no trained model at {model}: train one first (`csbot train --out var/test-model`)")
        return 2
    settings = Settings(wechat_token=TOKEN, app_id=APP_ID, app_secret=APP_SECRET, aes_key=AES_KEY)
    workdir = Path(tempfile.mkdtemp(prefix="csbot-gateway-bench-"))
    print(f"logs: {workdir}", flush=True)
    rows = []
    with throwaway_database("bench_gateway") as database_url:
        database = make_url(database_url).database
        for config in parse_configs(spec):
            with running_stack(config, model.resolve(), database_url, workdir) as (gateway_url, rasa_url, standin):
                totals: dict[tuple[int, int], tuple[Any, Any]] = {}
                for _ in range(rounds):  # in turn, so that a drift of the machine's speed meets every shape
                    for subscribers, messages in shapes:
                        gateway, rest = await measure(
                            gateway_url, rasa_url, settings, subscribers, messages, standin, database
                        )
                        print(row(config, subscribers, messages, gateway, rest), flush=True)
                        if (subscribers, messages) in totals:
                            totals[subscribers, messages][0].absorb(gateway)
                            totals[subscribers, messages][1].absorb(rest)
                        else:
                            totals[subscribers, messages] = (gateway, rest)
                for (subscribers, messages), (gateway, rest) in totals.items():
                    rows.append((config, subscribers, messages, gateway, rest))
    print(f"\n{header()}" + (f"  ({rounds} rounds of each load together)" if rounds > 1 else ""))
    for config, subscribers, messages, gateway, rest in rows:
        print(row(config, subscribers, messages, gateway, rest))
    if any(gateway.cpu_s for _, _, _, gateway, _ in rows):
        print(f"\nCPU ms per answered message (bench/cpu.py), gateway run / REST run\n{cpu_header()}")
        for config, subscribers, messages, gateway, rest in rows:
            print(cpu_row(config, subscribers, messages, gateway, rest))
    return 0


def cpu_header() -> str:
    return f"{'configuration':<18}{'load':>7}" + "".join(f"{role:>14}" for role in (*ROLES, "total"))


def cpu_row(config: Config, subscribers: int, messages: int, gateway: Any, rest: Any) -> str:
    cells = [
        f"{gateway.cpu_ms_per_message(role):>6.1f}/{rest.cpu_ms_per_message(role):<6.1f}" for role in (*ROLES, None)
    ]
    return f"{config.label:<18}{f'{subscribers}x{messages}':>7}" + "".join(f"{cell:>14}" for cell in cells)


def header() -> str:
    return (
        f"{'configuration':<18}{'load':>7}{'gw msg/s':>10}{'REST msg/s':>11}{'gw/REST':>8}"
        f"{'gw p50':>8}{'gw p99':>8}{'REST p99':>9}{'passive':>9}{'errors':>7}"
    )


def row(config: Config, subscribers: int, messages: int, gateway: Any, rest: Any) -> str:
    ratio = gateway.rate() / rest.rate() if rest.rate() else float("nan")
    passive = 100.0 * gateway.passive / gateway.count if gateway.count else 0.0
    return (
        f"{config.label:<18}{f'{subscribers}x{messages}':>7}{gateway.rate():>10.1f}{rest.rate():>11.1f}{ratio:>8.2f}"
        f"{gateway.percentile(50) * 1000:>8.0f}{gateway.percentile(99) * 1000:>8.0f}{rest.percentile(99) * 1000:>9.0f}"
        f"{passive:>8.0f}%{gateway.errors + rest.errors:>7}"
    )
