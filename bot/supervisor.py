"""Runs the assistant's processes together; Ctrl-C (or SIGTERM) stops all of them cleanly,
and if one dies the others are stopped too, so a half-running stack never lingers."""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class ProcessSpec:
    name: str
    argv: list[str]
    env: dict[str, str]


def run_all(specs: list[ProcessSpec], stop_timeout_s: float = 15.0) -> int:
    children: dict[str, subprocess.Popen] = {}
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for spec in specs:
            log.info("starting %s: %s", spec.name, " ".join(spec.argv))
            # Own process group: the terminal's Ctrl-C reaches us only, and we stop children in order.
            children[spec.name] = subprocess.Popen(spec.argv, env=spec.env, start_new_session=True)
        exit_code = 0
        while not stopping:
            for name, child in children.items():
                code = child.poll()
                if code is not None:
                    log.error("%s exited with code %s; stopping the others", name, code)
                    exit_code = code or 1
                    stopping = True
                    break
            time.sleep(0.3)
        _stop(children, stop_timeout_s)
        return exit_code
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop(children: dict[str, subprocess.Popen], timeout_s: float) -> None:
    for name, child in reversed(list(children.items())):
        if child.poll() is None:
            log.info("stopping %s", name)
            child.send_signal(signal.SIGINT)
    deadline = time.monotonic() + timeout_s
    for name, child in children.items():
        remaining = max(0.1, deadline - time.monotonic())
        try:
            child.wait(remaining)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in time; killing it", name)
            child.kill()
            child.wait()
