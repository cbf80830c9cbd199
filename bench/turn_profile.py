"""Where a dialogue turn's time goes (issue #13, "know where a turn's time goes").

Loads the trained model in-process (Rasa's own Agent, the endpoints.yml tracker store on a
throw-away PostgreSQL database, the real action server over HTTP) and times each part of every
turn by wrapping Rasa's own methods: NLU parse, slot extraction, tracker store load (query and
replay) and save, policy prediction, the action server call (and the size of the tracker it is
sent), and the rest (lock, events, output channel). One subscriber sends ~170 messages in one
session; the medians of turns 1-10 and of the 10 turns after 990 events are printed per store.

The gateway's share is not here: bench/gateway.py measures it (gateway vs Rasa REST, same run).

    .venv/bin/python bench/turn_profile.py --model var/test-model/csbot.tar.gz
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
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PARTS = ["nlu", "slots", "load", "policies", "action", "save", "other"]
PHRASES = ["查余额", "流量还剩多少", "我的套餐是什么", "谢谢", "这个月账单多少", "通话还剩多少分钟", "好的"]
TARGET_EVENTS = 1000


# --- inside the Rasa environment -----------------------------------------------------------------


def timed(owner: Any, name: str, part: str, current: dict[str, float]) -> None:
    original = getattr(owner, name)

    if asyncio_function(original):

        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                current[part] += time.perf_counter() - started
    else:

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                current[part] += time.perf_counter() - started

    setattr(owner, name, wrapper)


def asyncio_function(function: Any) -> bool:
    import inspect

    return inspect.iscoroutinefunction(function)


async def profile_inside(model: str, endpoints: str, sender: str) -> list[dict[str, float]]:
    from rasa.core.actions.action import ActionExtractSlots, RemoteAction
    from rasa.core.agent import load_agent
    from rasa.core.processor import MessageProcessor
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.core.utils import AvailableEndpoints

    from nlu.tracker_store import WindowedSQLTrackerStore

    current: dict[str, float] = defaultdict(float)
    timed(MessageProcessor, "parse_message", "nlu", current)
    timed(ActionExtractSlots, "run", "slots", current)
    timed(MessageProcessor, "predict_next_with_tracker_if_should", "policies", current)
    timed(RemoteAction, "run", "action", current)
    for store in (SQLTrackerStore, WindowedSQLTrackerStore):
        timed(store, "retrieve", "load", current)
        timed(store, "save", "save", current)
    call_format = RemoteAction._action_call_format

    def measured_call_format(self: Any, *args: Any, **kwargs: Any) -> Any:
        payload = call_format(self, *args, **kwargs)
        current["payload_kb"] += len(json.dumps(payload)) / 1024
        return payload

    RemoteAction._action_call_format = measured_call_format

    agent = await load_agent(model_path=model, endpoints=AvailableEndpoints.read_endpoints(endpoints))
    turns: list[dict[str, float]] = []
    events = 0
    number = 0
    while events < TARGET_EVENTS + 60:
        current.clear()
        started = time.perf_counter()
        await agent.handle_text(PHRASES[number % len(PHRASES)], sender_id=sender)
        total = time.perf_counter() - started
        turn = dict(current)
        turn["total"] = total
        turn["other"] = total - sum(turn.get(part, 0.0) for part in PARTS if part != "other")
        turn["events_before"] = events
        turns.append(turn)
        number += 1
        tracker = await agent.tracker_store.retrieve_full_tracker(sender)
        events = len(tracker.events) if tracker else 0
    return turns


# --- the launcher (.venv) -------------------------------------------------------------------------


def report(store: str, turns: list[dict[str, float]]) -> str:
    early = turns[:10]
    late = [turn for turn in turns if turn["events_before"] >= TARGET_EVENTS - 10][:10]
    lines = []
    for label, selected in (("turns 1-10", early), ("after 990 events", late)):
        cells = [f"{statistics.median(t.get(part, 0.0) for t in selected) * 1000:6.1f}" for part in PARTS]
        total = statistics.median(t["total"] for t in selected) * 1000
        payload = statistics.median(t.get("payload_kb", 0.0) for t in selected)
        lines.append(f"{store:<9}{label:<18}" + " ".join(cells) + f"  {total:6.1f}  {payload:7.1f}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "var" / "test-model" / "csbot.tar.gz")
    parser.add_argument("--stores", default="sql,windowed")
    parser.add_argument("--inside", nargs=3, metavar=("MODEL", "ENDPOINTS", "SENDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        import asyncio

        print(json.dumps(asyncio.run(profile_inside(*args.inside))))
        return 0
    return launch(args)


def launch(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    from stack import endpoints_for, free_port, throwaway_database, wait_http

    from bot.assistant_cli import process_specs
    from bot.assistant_files import rasa_env, rasa_python
    from core.db import sync_url

    if not args.model.exists():
        print(f"no trained model at {args.model}: train one first (`csbot train --out var/test-model`)")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="csbot-profile-"))
    print(f"logs: {workdir}")
    results = []
    with throwaway_database("bench_profile") as database_url:
        action_port = free_port()
        env = {**rasa_env(action_port), "DATABASE_URL": database_url, "TRACKER_STORE_URL": sync_url(database_url),
               "LOG_LEVEL": "WARNING"}  # fmt: skip
        actions = next(
            s for s in process_specs(0, action_port, args.model, with_gateway=False, env=env) if s.name == "actions"
        )
        log = (workdir / "actions.log").open("ab")
        server = subprocess.Popen(actions.argv, env=actions.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_http(f"http://127.0.0.1:{action_port}/health", 120)
            for store in args.stores.split(","):
                sender = f"oprofile{store}{os.getpid()}".ljust(28, "0")
                subprocess.run([sys.executable, "-m", "bot", "subscriber", "bind", "--openid", sender,
                                "--phone", "13800000001"], env=env, cwd=ROOT, check=True,
                               stdout=subprocess.DEVNULL)  # fmt: skip
                inner = subprocess.run(
                    [rasa_python(), __file__, "--inside", str(args.model.resolve()),
                     str(endpoints_for(store, workdir)), sender],
                    env=env, cwd=ROOT, check=True, capture_output=True, text=True,
                )  # fmt: skip
                results.append((store, json.loads(inner.stdout.strip().splitlines()[-1])))
        finally:
            server.terminate()
            server.wait(20)
    header = " ".join(f"{part:>6}" for part in PARTS)
    print(f"\nmedian ms per turn part{'':>5}{header}   total  payload KB")
    for store, turns in results:
        print(report(store, turns))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
