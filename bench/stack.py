"""What the benchmarks share to start a real stack: free ports, waiting for a process to listen, a
throw-away migrated and seeded database, and endpoints.yml with Rasa's own tracker store."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.assistant_files import ENDPOINTS
from core.db import sync_url

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(count: int) -> int:
    """The first of `count` consecutive free loopback ports (Rasa replicas are counted up)."""
    for base in range(20000 + os.getpid() % 997, 60000, 101):
        try:
            with contextlib.ExitStack() as stack:
                for port in range(base, base + count):
                    stack.enter_context(socket.socket()).bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise RuntimeError("no free ports")


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


@contextlib.contextmanager
def throwaway_database(prefix: str) -> Iterator[str]:
    """A new database on the test server (TEST_DATABASE_URL), migrated and seeded; dropped after."""
    base = make_url(sync_url(os.environ.get("TEST_DATABASE_URL", "postgresql://127.0.0.1:5432/test")))
    name = f"{prefix}_{os.getpid()}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    database_url = base.set(database=name).render_as_string(hide_password=False)
    try:
        setup_env = {**os.environ, "DATABASE_URL": database_url}
        for command in (["db", "init"], ["db", "seed"]):
            subprocess.run([sys.executable, "-m", "bot", *command], env=setup_env, cwd=ROOT, check=True,
                           stdout=subprocess.DEVNULL)  # fmt: skip
        yield database_url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def endpoints_for(store: str, workdir: Path) -> Path:
    """endpoints.yml as it is ("windowed"), or with Rasa's own SQL tracker store ("sql")."""
    if store == "windowed":
        return ENDPOINTS
    original = ENDPOINTS.read_text(encoding="utf-8")
    patched = re.sub(r"(tracker_store:\s*\n\s*type:\s*)\S+", r"\1SQL", original)
    path = workdir / "endpoints-sql.yml"
    path.write_text(patched, encoding="utf-8")
    return path
