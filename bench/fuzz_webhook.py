"""Fuzz a real gateway process with generated hostile POST /wechat requests (issue 9).

Starts, on a database and a Redis database of its own (as the tests do: tests/run_isolation.py),
the stand-in WeChat API and a fake Rasa in this process and a real gateway process
(`python -m bot.gateway_cli gateway`, compatible mode: plain and AES pushes are both parsed),
then sends N generated bodies (tests/webhook_fuzz.py: random and truncated XML, wrong
encodings, entity tricks, deflate/gzip bombs with Content-Encoding, oversize bodies, unicode
edge cases, wrong signatures, well-formed pushes among them). Prints the counts by status and by
kind, the 5xx (only a deliberate 503 is allowed), crashes, and the gateway's RSS before and after.
Exit status 1 when a 5xx other than 503 was answered or the gateway died.

    nice -n 19 .venv/bin/python bench/fuzz_webhook.py --bodies 10000 [--concurrency 8] [--seed 9]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from gateway_fixtures import (  # noqa: E402  (tests/ on the path first)
    AES_KEY,
    APP_ID,
    APP_SECRET,
    TOKEN,
    FakeRasa,
    serve,
    spawn_gateway,
)
from run_isolation import (  # noqa: E402
    claim_redis_database,
    create_run_database,
    drop_run_database,
    release_redis_database,
)
from webhook_fuzz import STATUSES_ALLOWED, Case, Fuzzer  # noqa: E402

from core.db import upgrade_database  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from wechat.standin import StandinState, create_standin_app  # noqa: E402


def traceback_summary(output: list[str]) -> Counter[str]:
    """The exception line ending each traceback in a process's output (aiohttp logs one for every
    request line it refuses as malformed HTTP, with its 400)."""
    found: Counter[str] = Counter()
    inside = False
    for line in output:
        if line.startswith("Traceback"):
            inside = True
        elif inside and line and not line[0].isspace():
            found[line.split(":", 1)[0]] += 1
            inside = False
    return found


def rss_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in kB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


async def send(session: aiohttp.ClientSession, url: str, case: Case) -> int | str:
    """The status, or the client-side error's name (the server closed early, say)."""
    try:
        async with session.post(url, params=case.query, data=case.body, headers=case.headers) as response:
            await response.read()
            return response.status
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        return type(exc).__name__


async def fuzz(bodies: int, concurrency: int, seed: int, warmup: int) -> int:
    database_url = create_run_database()
    redis_url = claim_redis_database()
    upgrade_database(database_url)
    rasa = FakeRasa()
    await rasa.start()
    standin_runner, standin_url, _ = await serve(create_standin_app(StandinState(app_id=APP_ID, app_secret=APP_SECRET)))
    settings = Settings(
        wechat_token=TOKEN, app_id=APP_ID, app_secret=APP_SECRET, aes_key=AES_KEY, require_aes=False,
        api_base=standin_url, database_url=database_url, redis_url=redis_url, rasa_url=rasa.url,
        actions_url=f"{rasa.url}/webhook", host="127.0.0.1", port=0, hooks="builtin",
    )  # fmt: skip
    gateway = await spawn_gateway(settings)
    pid = gateway.process.pid
    url = f"{gateway.url}/wechat"
    fuzzer = Fuzzer(TOKEN, APP_ID, AES_KEY, settings.max_body_bytes, random.Random(seed))
    statuses: Counter[int | str] = Counter()
    by_kind: Counter[tuple[str, int | str]] = Counter()
    try:
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as session:
            # warm-up: well-formed pushes, so that the baseline RSS has the caches and pools filled
            warm = [replace(fuzzer.valid_text(), kind="warmup") for _ in range(warmup)]
            await asyncio.gather(*(send(session, url, case) for case in warm))
            rss_before, _ = rss_kb(pid)
            started = time.monotonic()
            limit = asyncio.Semaphore(concurrency)
            sent = 0

            async def one(case: Case) -> None:
                nonlocal sent
                async with limit:
                    result = await send(session, url, case)
                statuses[result] += 1
                by_kind[(case.kind, result)] += 1
                sent += 1
                if sent % 1000 == 0:
                    print(f"  {sent} sent, RSS {rss_kb(pid)[0] / 1024:.1f} MB", flush=True)

            batch = 500  # generated in batches: a bomb case holds its compressed body only until sent
            for offset in range(0, bodies, batch):
                await asyncio.gather(*(one(case) for case in fuzzer.cases(min(batch, bodies - offset))))
            wall = time.monotonic() - started
            alive = gateway.process.returncode is None
            rss_after, rss_peak = rss_kb(pid) if alive else (0, 0)
            async with session.get(f"{gateway.url}/healthz") as response:
                health = f"{response.status} {await response.text()}"
    finally:
        await gateway.stop()
        await standin_runner.cleanup()
        await rasa.stop()
        drop_run_database(database_url)
        release_redis_database(redis_url)

    five_xx = {status: n for status, n in statuses.items() if isinstance(status, int) and status >= 500}
    unexpected_5xx = sum(n for status, n in five_xx.items() if status != 503)
    unexpected = {s: n for s, n in statuses.items() if isinstance(s, int) and s not in STATUSES_ALLOWED}
    client_errors = {s: n for s, n in statuses.items() if isinstance(s, str)}
    crashes = 0 if alive else 1
    tracebacks = traceback_summary(gateway.output)
    print(f"bodies sent: {sum(statuses.values())} in {wall:.1f}s ({sum(statuses.values()) / wall:.0f}/s), "
          f"concurrency {concurrency}, seed {seed}, after {warmup} warm-up pushes")  # fmt: skip
    print("by status: " + ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items(), key=str)))
    print("by kind:")
    for kind in sorted({k for k, _ in by_kind}):
        counts = ", ".join(f"{s}: {n}" for (k, s), n in sorted(by_kind.items(), key=str) if k == kind)
        print(f"  {kind:15s} {counts}")
    print(f"5xx: {sum(five_xx.values())} ({five_xx or 'none'}); other than 503: {unexpected_5xx}")
    print(f"statuses outside {sorted(STATUSES_ALLOWED)}: {unexpected or 'none'}")
    print(f"client-side errors (connection closed early etc.): {client_errors or 'none'}")
    print(f"gateway crashes: {crashes}; public /healthz after: {health}")
    print(f"tracebacks in the gateway's log, by exception: {dict(tracebacks) or 'none'}")
    print(f"gateway RSS: before {rss_before / 1024:.1f} MB, after {rss_after / 1024:.1f} MB "
          f"(+{(rss_after - rss_before) / 1024:.1f} MB), peak {rss_peak / 1024:.1f} MB")  # fmt: skip
    failed = unexpected_5xx + crashes + sum(unexpected.values())
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bodies", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()
    return asyncio.run(fuzz(args.bodies, args.concurrency, args.seed, args.warmup))


if __name__ == "__main__":
    raise SystemExit(main())
