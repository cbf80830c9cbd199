"""Benchmark the WeChat gateway against Rasa's own REST channel, on the same model, in one run.

N simulated subscribers each send M messages one after another (as people do), all subscribers
at once, over the real push protocol in safe (AES) mode. Then the same messages go straight to
Rasa's REST channel (`/webhooks/rest/webhook`, each sender to the replica the gateway would pin
her to). Prints msgs/s, p50/p95/p99 latency, the share answered passively, and the gateway/REST
ratio of each figure.

Against a running stack (`csbot run` with WECHAT_AES_KEY set for the gateway):

    WECHAT_AES_KEY=... .venv/bin/python bench/gateway.py --subscribers 20 --messages 5

Or before/after in one run: `--compare` starts each configuration itself (REPLICAS:STORE, Rasa
replicas and tracker store, on a throw-away database and free ports) and runs the load shapes
1x20, 4x10, 20x5 and 50x4 (subscribers x messages) against each:

    .venv/bin/python bench/gateway.py --compare 1:sql,2:windowed --model var/test-model/csbot.tar.gz

`2:windowed:passthrough` or `2:windowed:minimal` puts bench/passthrough.py's floor in the gateway's
place: what a front that only forwards, or that only adds a durable receipt, reaches here.

`--rounds N` runs the shapes N times over, in turn, and reports each shape's N runs together.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cpu  # bench/ (the script's own directory, as for gateway_compare and stack)

from gateway.rasa_replicas import RasaReplicas, replica_urls
from gateway.settings import Settings
from wechat.simulator import PushClient, SentPush, carries_reply

ROOT = Path(__file__).resolve().parent.parent
PHRASES = ["你好", "查余额", "我的套餐是什么", "流量还剩多少", "怎么充话费", "谢谢"]


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    passive: int = 0
    errors: int = 0
    wall_s: float = 0.0
    cpu_s: dict[str, float] = field(default_factory=dict)  # CPU seconds per role (bench/cpu.py)

    @property
    def count(self) -> int:
        return len(self.latencies)

    def rate(self) -> float:
        return self.count / self.wall_s if self.wall_s else 0.0

    def cpu_ms_per_message(self, role: str | None = None) -> float:
        """CPU milliseconds one answered message cost `role` (all roles: None)."""
        if not self.count:
            return float("nan")
        used = sum(self.cpu_s.values()) if role is None else self.cpu_s.get(role, 0.0)
        return 1000 * used / self.count

    def absorb(self, other: Run) -> None:
        """Add another run of the same load to this one (`--rounds`)."""
        self.latencies.extend(other.latencies)
        self.passive += other.passive
        self.errors += other.errors
        self.wall_s += other.wall_s
        self.add_cpu(other.cpu_s)

    def add_cpu(self, used: dict[str, float]) -> None:
        for role, seconds in used.items():
            self.cpu_s[role] = self.cpu_s.get(role, 0.0) + seconds

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def bench_openid(tag: str, index: int) -> str:
    return f"obench{tag}{index:06d}".ljust(28, "0")


async def bench_gateway(client: PushClient, http: aiohttp.ClientSession, run: Run, tag: str, subscribers: int,
                        messages: int, offset: int, standin_url: str | None = None) -> None:  # fmt: skip
    """Each subscriber waits for her answer before she writes again. With `standin_url` (the stand-in
    WeChat API the gateway sends through), an answer that did not come passively is waited for on
    the customer-service API, and the latency is the time to that answer, not to the push's 200.

    WeChat's servers sign and encrypt each push and decrypt the passive reply on machines of their
    own: here the pushes are built before the clock starts and the replies read after it stops, so
    that the load generator's AES work does not take the CPU of the stack it measures."""
    pushes = [
        [client.prepare(client.text_fields(bench_openid(tag, index), PHRASES[(index + number) % len(PHRASES)]))
         for number in range(offset, offset + messages)]
        for index in range(subscribers)
    ]  # fmt: skip
    passive: list[SentPush] = []

    async def subscriber(index: int) -> None:
        openid = bench_openid(tag, index)
        seen = 0
        for push in pushes[index]:
            started = time.monotonic()
            sent = await client.post(push)
            if sent.status != 200:
                run.errors += 1
                continue
            if carries_reply(sent.status, sent.body):
                passive.append(sent)
                run.latencies.append(sent.elapsed_s)
                continue
            if standin_url is None:
                run.latencies.append(sent.elapsed_s)
                continue
            answered = await answer_through_api(http, standin_url, openid, seen, started + 60)
            if answered is None:
                run.errors += 1
                continue
            seen = answered
            run.latencies.append(time.monotonic() - started)

    started = time.monotonic()
    await asyncio.gather(*(subscriber(i) for i in range(subscribers)))
    run.wall_s += time.monotonic() - started
    for sent in passive:  # a passive answer counts once it decrypts to a text reply
        if client.result(sent).reply is None:
            run.errors += 1
        else:
            run.passive += 1


async def answer_through_api(http: aiohttp.ClientSession, standin_url: str, openid: str, after: int,
                             deadline: float) -> int | None:  # fmt: skip
    """The stand-in's sequence number of the next message to `openid` after `after`; None at the deadline."""
    while (remaining := deadline - time.monotonic()) > 0:
        # A long poll: the stand-in answers when the message arrives, and the load generator does
        # not take the CPU of the machine it measures by asking again and again.
        query = {"touser": openid, "after": str(after), "wait_s": f"{min(5.0, remaining):.2f}"}
        async with http.get(f"{standin_url}/standin/messages", params=query) as r:
            found = await r.json()
        if found:
            return max(int(message["seq"]) for message in found)
    return None


async def bench_rest(http: aiohttp.ClientSession, rasa_url: str, run: Run, tag: str, subscribers: int,
                     messages: int, offset: int) -> None:  # fmt: skip
    replicas = RasaReplicas(replica_urls(rasa_url))

    async def subscriber(index: int) -> None:
        sender = f"rest-bench-{tag}-{index}"
        # The replica the gateway pins the same subscriber to: with a few subscribers a hash splits
        # them unevenly, and both runs must get the same split for their figures to compare.
        replica = replicas.ranked(bench_openid(tag, index))[0]
        for number in range(offset, offset + messages):
            body = {"sender": sender, "message": PHRASES[(index + number) % len(PHRASES)]}
            started = time.monotonic()
            async with http.post(f"{replica}/webhooks/rest/webhook", json=body) as response:
                await response.read()
                ok = response.status == 200
            if not ok:
                run.errors += 1
                continue
            run.latencies.append(time.monotonic() - started)

    started = time.monotonic()
    await asyncio.gather(*(subscriber(i) for i in range(subscribers)))
    run.wall_s += time.monotonic() - started


def report(gateway: Run, rest: Run, subscribers: int, messages: int) -> str:
    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}" if b else "n/a"

    rows = [("msgs/s", gateway.rate(), rest.rate(), "{:.1f}")]
    for q in (50, 95, 99):
        rows.append((f"p{q} latency (ms)", gateway.percentile(q) * 1000, rest.percentile(q) * 1000, "{:.0f}"))
    lines = [
        f"{subscribers} subscribers x {messages} messages; gateway in AES mode; same Rasa model",
        f"{'':22}{'gateway':>12}{'Rasa REST':>12}{'ratio':>8}",
    ]
    for name, g, r, fmt in rows:
        lines.append(f"{name:22}{fmt.format(g):>12}{fmt.format(r):>12}{ratio(g, r):>8}")
    share = 100.0 * gateway.passive / gateway.count if gateway.count else 0.0
    lines.append(f"{'answered passively':22}{share:>11.1f}%{'n/a':>12}")
    lines.append(f"{'errors':22}{gateway.errors:>12}{rest.errors:>12}")
    if gateway.cpu_s:
        lines.append(f"{'CPU ms per message':22}{gateway.cpu_ms_per_message():>12.1f}{rest.cpu_ms_per_message():>12.1f}"
                     f"{ratio(gateway.cpu_ms_per_message(), rest.cpu_ms_per_message()):>8}")  # fmt: skip
        for role in cpu.ROLES:
            lines.append(
                f"{'  ' + role:22}{gateway.cpu_ms_per_message(role):>12.1f}{rest.cpu_ms_per_message(role):>12.1f}"
            )
    lines.append(f"{'mean latency (ms)':22}{statistics.fmean(gateway.latencies or [0]) * 1000:>12.0f}"
                 f"{statistics.fmean(rest.latencies or [0]) * 1000:>12.0f}")  # fmt: skip
    return "\n".join(lines)


async def main() -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gateway", default=f"http://127.0.0.1:{settings.port or 8080}")
    parser.add_argument("--rasa", default=settings.rasa_url)
    parser.add_argument("--subscribers", type=int, default=20)
    parser.add_argument("--messages", type=int, default=5)
    parser.add_argument(
        "--standin", default=None, help="the stand-in WeChat API's URL, to time answers sent through it"
    )
    parser.add_argument(
        "--compare", default=None, help="REPLICAS:STORE[:FRONT],... e.g. 1:sql,2:windowed (starts each)"
    )
    parser.add_argument("--model", type=Path, default=ROOT / "var" / "test-model" / "csbot.tar.gz")
    parser.add_argument(
        "--shapes", default="1x20,4x10,20x5,50x4", help="with --compare: the loads, SUBSCRIBERSxMESSAGES,..."
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="with --compare: run every load this many times, in turn, and report them together (a load of "
        "20 messages takes under a second, and a busy machine's speed drifts from one second to the next)",
    )
    args = parser.parse_args()
    if args.compare:
        from gateway_compare import compare, parse_shapes

        return await compare(args.compare, args.model, measure, parse_shapes(args.shapes), args.rounds)
    if not settings.aes_key:
        print("set WECHAT_AES_KEY (the gateway's) to benchmark safe mode", file=sys.stderr)
        return 2
    gateway, rest = await measure(args.gateway, args.rasa, settings, args.subscribers, args.messages, args.standin)
    print(report(gateway, rest, args.subscribers, args.messages))
    return 0


async def measure(gateway_url: str, rasa_url: str, settings: Settings, subscribers: int, messages: int,
                  standin_url: str | None = None, database: str | None = None) -> tuple[Run, Run]:  # fmt: skip
    """`database`: the name of the stack's database, whose PostgreSQL backends count as its CPU."""
    assert settings.aes_key
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=max(100, subscribers * 2))
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
        client = PushClient(http, gateway_url, settings.wechat_token, settings.app_id, settings.aes_key)
        for replica in replica_urls(rasa_url):  # the first turn of a fresh Rasa loads lazily
            async with http.post(f"{replica}/webhooks/rest/webhook", json={"sender": "warmup", "message": "你好"}):
                pass
        await client.text("obenchwarmup".ljust(28, "0"), "你好")
        gateway, rest, tag = Run(), Run(), uuid.uuid4().hex[:8]
        first_half = (messages + 1) // 2
        # gateway, REST, REST, gateway: a machine whose load drifts during the run favours neither side
        with counted(gateway, database):
            await bench_gateway(client, http, gateway, tag, subscribers, first_half, 0, standin_url)
        with counted(rest, database):
            await bench_rest(http, rasa_url, rest, tag, subscribers, first_half, 0)
            await bench_rest(http, rasa_url, rest, tag, subscribers, messages - first_half, first_half)
        with counted(gateway, database):
            await bench_gateway(client, http, gateway, tag, subscribers, messages - first_half, first_half, standin_url)
    return gateway, rest


@contextlib.contextmanager
def counted(run: Run, database: str | None) -> Iterator[None]:
    """Add the stack's CPU time during the block to `run` (on Linux; elsewhere nothing is counted)."""
    if not cpu.available():
        yield
        return
    before = cpu.snapshot(database)
    yield
    run.add_cpu(cpu.used(before, cpu.snapshot(database)))


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
