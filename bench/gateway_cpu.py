"""The gateway's own CPU per message, measured apart from Rasa: in seconds, not minutes.

`bench/gateway.py` measures the gateway against Rasa's REST channel on the same two cores, where
Rasa's 20-25 ms of CPU per turn dominates and runs of the same code differ by up to 0.3 in
gw/REST. This script answers the narrower question a change to the gateway's hot path asks: how
much CPU does the gateway process itself spend per answered message? It starts the real gateway
(and the stand-in WeChat API) on a throw-away database, with PostgreSQL and Redis as configured,
puts an instant Rasa in Rasa's place (an aiohttp app in this process that answers every turn at
once with one text), and sends signed, encrypted pushes: one subscriber writing N messages one
after another, and S subscribers at once. It reads the gateway's CPU time from /proc before and
after each load.

    .venv/bin/python bench/gateway_cpu.py --shapes 1x300,20x15 --rounds 4

Each load's figure is the median over the rounds. Compare two versions by running this in each
(a worktree of the other), in turn, a few times: the machine's speed drifts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cpu import process_seconds  # bench/
from gateway_compare import AES_KEY, APP_ID, TOKEN, gateway_env, parse_shapes  # bench/
from stack import ROOT, free_ports, throwaway_database, wait_http  # bench/

from wechat.simulator import PushClient

ANSWER = "您的话费余额为 50.00 元。"


async def instant_rasa(port: int) -> web.AppRunner:
    """Rasa's REST channel and status, answering at once: the gateway's cost is all that is left."""

    async def turn(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response([{"recipient_id": body["sender"], "text": ANSWER}])

    async def hello(_request: web.Request) -> web.Response:
        return web.Response(text="Hello from Rasa: instant")

    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", turn)
    app.router.add_get("/", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def load(client: PushClient, subscribers: int, messages: int) -> None:
    """Each subscriber writes her messages one after another; every answer must come passively."""
    tag = uuid.uuid4().hex[:8]

    async def subscriber(index: int) -> None:
        openid = f"o{tag}{index:04d}".ljust(28, "0")
        for _ in range(messages):
            result = client.result(await client.post(client.prepare(client.text_fields(openid, "查余额"))))
            if result.reply != ANSWER:
                raise RuntimeError(f"no passive answer: HTTP {result.status} {result.body[:120]!r}")

    await asyncio.gather(*(subscriber(index) for index in range(subscribers)))


async def measure(shapes: list[tuple[int, int]], rounds: int) -> dict[tuple[int, int], list[float]]:
    """CPU ms per message of the gateway process, per load, one figure per round."""
    base = free_ports(3)
    rasa_port, standin_port, gateway_port = base, base + 1, base + 2
    figures: dict[tuple[int, int], list[float]] = defaultdict(list)
    with throwaway_database("bench_gateway_cpu") as database_url:
        rasa = await instant_rasa(rasa_port)
        env = {
            **os.environ,
            **gateway_env(database_url, f"http://127.0.0.1:{standin_port}", gateway_port),
            "RASA_URL": f"http://127.0.0.1:{rasa_port}",
        }
        python = sys.executable
        standin = [python, "-m", "bot", "wechat-standin", "--port", str(standin_port)]
        # Their banners go; warnings and errors still reach stderr.
        processes = [
            subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
            for argv in (standin, [python, "-m", "bot", "gateway"])
        ]
        try:
            # 503 too: its health report counts the action server, which is not started here.
            await asyncio.to_thread(wait_http, f"http://127.0.0.1:{gateway_port}/healthz", 120, (200, 503))
            gateway_pid = processes[1].pid
            connector = aiohttp.TCPConnector(limit=200)
            async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as http:
                client = PushClient(http, f"http://127.0.0.1:{gateway_port}", TOKEN, APP_ID, AES_KEY)
                await load(client, 5, 10)  # pools and caches warm
                for _ in range(rounds):
                    for subscribers, messages in shapes:
                        before, started = process_seconds(gateway_pid), time.monotonic()
                        await load(client, subscribers, messages)
                        used, wall = process_seconds(gateway_pid) - before, time.monotonic() - started
                        count = subscribers * messages
                        figures[subscribers, messages].append(1000 * used / count)
                        print(
                            f"{subscribers}x{messages:<6} gateway CPU {1000 * used / count:5.2f} ms/msg"
                            f"   wall {1000 * wall / count:5.2f} ms/msg",
                            flush=True,
                        )
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait()
            await rasa.cleanup()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="1x300,20x15", help="SUBSCRIBERSxMESSAGES,...")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    figures = asyncio.run(measure(parse_shapes(args.shapes), args.rounds))
    print("\nload      gateway CPU ms/msg, median (range)")
    for (subscribers, messages), values in figures.items():
        shape = f"{subscribers}x{messages}"
        print(f"{shape:<9} {statistics.median(values):5.2f} ({min(values):.2f}-{max(values):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
