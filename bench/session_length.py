"""Does a dialogue turn get slower as the conversation grows? (issue #13, "a flat turn")

Starts the action server and Rasa (the trained model, a throw-away PostgreSQL database for the
tracker store and the billing data), binds one subscriber, and has her send ~170 messages one
after another in one session, past 1,000 tracker events. Prints the median turn time (Rasa's REST
channel, which is what the gateway calls) for turns 1-10 and for the 10 turns after the session
passed 990 events, once per tracker store:

  sql       Rasa's own SQLTrackerStore: every turn loads, replays and ships the whole session
  windowed  nlu.tracker_store.WindowedSQLTrackerStore (endpoints.yml): the same table, but a turn
            loads only the live window (recent turns plus the state before them)

    .venv/bin/python bench/session_length.py --model var/test-model/csbot.tar.gz
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stack import endpoints_for, free_port, throwaway_database, wait_http

from bot.assistant_cli import process_specs
from bot.assistant_files import rasa_env
from core.db import sync_url

ROOT = Path(__file__).resolve().parent.parent
PHRASES = ["查余额", "流量还剩多少", "我的套餐是什么", "谢谢", "这个月账单多少", "通话还剩多少分钟", "好的"]
STORES = ("sql", "windowed")
TARGET_EVENTS = 1000


@dataclass
class SessionRun:
    store: str
    turns: list[tuple[int, float]] = field(default_factory=list)  # (events before the turn, seconds)

    def median_ms(self, selected: list[float]) -> float:
        return statistics.median(selected) * 1000 if selected else float("nan")

    def early(self) -> list[float]:
        return [seconds for _, seconds in self.turns[:10]]

    def late(self) -> list[float]:
        return [seconds for events, seconds in self.turns if events >= TARGET_EVENTS - 10][:10]


def post_json(url: str, body: object) -> object:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.loads(response.read())


def run_session(store: str, model: Path, database_url: str, workdir: Path) -> SessionRun:
    rasa_port, action_port = free_port(), free_port()
    env = {**rasa_env(action_port), "DATABASE_URL": database_url, "TRACKER_STORE_URL": sync_url(database_url),
           "LOG_LEVEL": "WARNING"}  # fmt: skip
    specs = {spec.name: spec for spec in process_specs(rasa_port, action_port, model, with_gateway=False, env=env)}
    actions, rasa = specs["actions"], specs["rasa"]
    rasa_argv = list(rasa.argv)
    rasa_argv[rasa_argv.index("--endpoints") + 1] = str(endpoints_for(store, workdir))
    openid = f"osession{store}{os.getpid()}".ljust(28, "0")
    subprocess.run([sys.executable, "-m", "bot", "subscriber", "bind", "--openid", openid, "--phone", "13800000001"],
                   env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    logs = (workdir / f"{store}.log").open("ab")
    processes = [
        subprocess.Popen(argv, env=spec_env, cwd=ROOT, stdout=logs, stderr=subprocess.STDOUT)
        for argv, spec_env in ((actions.argv, actions.env), (rasa_argv, rasa.env))
    ]
    token = env["RASA_AUTH_TOKEN"]
    rasa_url = f"http://127.0.0.1:{rasa_port}"
    try:
        wait_http(f"http://127.0.0.1:{action_port}/health", 120)
        wait_http(f"{rasa_url}/status?token={token}", 600)
        run = SessionRun(store)
        events = 0
        number = 0
        while events < TARGET_EVENTS + 60:
            started = time.perf_counter()
            post_json(
                f"{rasa_url}/webhooks/rest/webhook", {"sender": openid, "message": PHRASES[number % len(PHRASES)]}
            )
            run.turns.append((events, time.perf_counter() - started))
            number += 1
            tracker = get_json(f"{rasa_url}/conversations/{openid}/tracker?token={token}&include_events=AFTER_RESTART")
            events = len(tracker.get("events") or [])
        return run
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "var" / "test-model" / "csbot.tar.gz")
    parser.add_argument("--stores", default=",".join(STORES), help=f"comma-separated, of {STORES}")
    args = parser.parse_args()
    if not args.model.exists():
        print(f"no trained model at {args.model}: train one first (`csbot train --out var/test-model`)")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="csbot-session-"))
    print(f"logs: {workdir}")
    with throwaway_database("bench_session") as database_url:
        runs = [run_session(store, args.model.resolve(), database_url, workdir) for store in args.stores.split(",")]
    print(f"\n{'tracker store':<14}{'turns':>7}{'turns 1-10 p50':>16}{'after 990 events p50':>22}{'ratio':>8}")
    for run in runs:
        early, late = run.median_ms(run.early()), run.median_ms(run.late())
        print(f"{run.store:<14}{len(run.turns):>7}{early:>13.1f} ms{late:>19.1f} ms{late / early:>8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
