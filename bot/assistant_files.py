"""Where the assistant's Rasa inputs and model live, and the environment its processes need."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from analytics.config import BrokerSettings
from core.db import PROJECT_ROOT, database_url, sync_url, var_dir
from core.local_secrets import ACTION_SERVER_TOKEN, RASA_AUTH_TOKEN, local_secret

CONFIG = PROJECT_ROOT / "config.yml"
DOMAIN = PROJECT_ROOT / "domain.yml"
TRAINING_DATA = PROJECT_ROOT / "data"
ENDPOINTS = PROJECT_ROOT / "endpoints.yml"
EVENT_BROKER = PROJECT_ROOT / "event-broker.yml"  # appended to ENDPOINTS when EVENT_BROKER_URL is set
CREDENTIALS = PROJECT_ROOT / "credentials.yml"
MODEL_NAME = "csbot"


def rasa_python() -> str:
    """The interpreter of the Rasa environment (Python 3.10, Rasa 3.6): RASA_PYTHON, default .venv-rasa.

    The Rasa server and `rasa train|test|data validate` run there; everything else runs in .venv."""
    return os.environ.get("RASA_PYTHON", "").strip() or str(PROJECT_ROOT / ".venv-rasa" / "bin" / "python")


def model_dir() -> Path:
    return Path(os.environ.get("RASA_MODEL_DIR", PROJECT_ROOT / "models"))


def model_path(directory: Path | None = None) -> Path:
    return (directory or model_dir()) / f"{MODEL_NAME}.tar.gz"


def training_fingerprint() -> str:
    """Hash of everything a trained model depends on (config, domain, data, nlu code)."""
    digest = hashlib.sha256()
    inputs = [
        CONFIG,
        DOMAIN,
        *sorted(TRAINING_DATA.rglob("*.yml")),
        *sorted((PROJECT_ROOT / "nlu").rglob("*.py")),
        *sorted((PROJECT_ROOT / "nlu" / "dict").glob("*")),
    ]
    for path in inputs:
        digest.update(str(path.relative_to(PROJECT_ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def tracker_store_url() -> str:
    """Rasa's SQL tracker store: the application database, or its own SQLite file."""
    explicit = os.environ.get("TRACKER_STORE_URL", "").strip()
    if explicit:
        return explicit
    if os.environ.get("DATABASE_URL", "").strip():
        return sync_url(database_url())
    return f"sqlite:///{var_dir() / 'rasa-trackers.sqlite3'}"


def endpoints_path(env: dict[str, str]) -> Path:
    """endpoints.yml, or with an event broker configured (EVENT_BROKER_URL) endpoints.yml followed
    by event-broker.yml, written into var/endpoints-broker.yml (one source for the shared sections)."""
    if not env.get("EVENT_BROKER_URL", "").strip():
        return ENDPOINTS
    combined = var_dir() / "endpoints-broker.yml"
    partial = combined.with_name(f".{combined.name}.{os.getpid()}")
    partial.write_text(ENDPOINTS.read_text() + "\n" + EVENT_BROKER.read_text())
    partial.replace(combined)  # atomic: a Rasa starting meanwhile reads the old or the new file whole
    return combined


def rasa_cli_env() -> dict[str, str]:
    """Environment for any Rasa command: no telemetry or error reports leave the machine."""
    env = dict(os.environ)
    env["RASA_TELEMETRY_ENABLED"] = "false"
    # Rasa imports nlu.components from the repository root (the project is not installed in
    # .venv-rasa); `python -m rasa` run there has it on sys.path already, this makes it explicit.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def rasa_env(action_port: int) -> dict[str, str]:
    env = rasa_cli_env()
    env.setdefault("ACTION_ENDPOINT_URL", f"http://127.0.0.1:{action_port}/webhook")
    env["TRACKER_STORE_URL"] = tracker_store_url()
    env.setdefault("SANIC_HOST", "127.0.0.1")  # the action server listens on loopback only
    # Shared by every process `csbot run` starts: Rasa's --auth-token, which the gateway presents on
    # its HTTP API calls, and the action server's secret, which endpoints.yml has Rasa send.
    env["RASA_AUTH_TOKEN"] = local_secret(RASA_AUTH_TOKEN, env)
    env["ACTION_SERVER_TOKEN"] = local_secret(ACTION_SERVER_TOKEN, env)
    broker = BrokerSettings.from_env(env)
    if broker is not None:  # what event-broker.yml reads (user, password and port apart)
        env.update({k: v for k, v in broker.rasa_env().items() if not env.get(k, "").strip()})
    return env
