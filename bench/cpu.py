"""CPU time of the benchmarked stack, per role, read from /proc (Linux).

On a machine with few cores throughput is bounded by the CPU that one message costs in all the
processes together, so the benchmarks print it: CPU milliseconds per message for Rasa, the action
server, the gateway, PostgreSQL (only the backends connected to the benchmark's own database),
Redis and the load generator itself. Processes are recognised by their command line; processes
of other work on the machine are not counted.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")
ROLES = ("rasa", "actions", "gateway", "postgres", "redis", "client", "standin")
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def available() -> bool:
    return (PROC / "self" / "stat").exists()


def role_of(argv: list[str], database: str | None, client_pid: int, pid: int) -> str | None:
    """The role of a process with command line `argv`; None when it is not part of the stack."""
    if pid == client_pid:
        return "client"
    if not argv:
        return None
    joined = " ".join(argv)
    if "nlu.server" in argv:
        return "rasa"
    if "bot.action_server" in argv:
        return "actions"
    if argv[1:4] == ["-m", "bot", "gateway"] or (len(argv) > 1 and argv[1].endswith("bench/passthrough.py")):
        return "gateway"  # bench/passthrough.py stands in the gateway's place
    if argv[1:4] == ["-m", "bot", "wechat-standin"]:  # WeChat's servers: not ours, but on the same cores
        return "standin"
    if joined.startswith("postgres:"):  # a backend's title: "postgres: user database host(port) state"
        return "postgres" if database and f" {database} " in joined else None
    if os.path.basename(argv[0]).startswith("redis-server"):
        return "redis"
    return None


def snapshot(database: str | None = None) -> dict[str, float]:
    """CPU seconds used so far (user + system) by each role's processes alive now."""
    totals = dict.fromkeys(ROLES, 0.0)
    client = os.getpid()
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().rstrip(b"\0").decode(errors="replace").split("\0")
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile, or not ours to read
        role = role_of(argv, database, client, int(entry.name))
        if role is None:
            continue
        totals[role] += _seconds(stat)
    return totals


def process_seconds(pid: int) -> float:
    """CPU seconds used so far (user + system) by one process."""
    return _seconds((PROC / str(pid) / "stat").read_text())


def _seconds(stat: str) -> float:
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _TICKS


def used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds per role between two snapshots (a process that ended in between is lost)."""
    return {role: max(0.0, after.get(role, 0.0) - before.get(role, 0.0)) for role in ROLES}
