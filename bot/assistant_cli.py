"""`csbot train`, `csbot run` and `csbot shell`: build, start and talk to the assistant."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from bot import assistant_files as files
from bot.supervisor import ProcessSpec, run_all
from gateway.rasa_client import as_plain_text


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser("train", help="train the Rasa model")
    train.add_argument("--if-needed", action="store_true", help="skip when the model matches the training data")
    train.add_argument("--out", type=Path, default=None, help="model directory (default RASA_MODEL_DIR or ./models)")
    train.set_defaults(func=cmd_train)

    run = subparsers.add_parser("run", help="start Rasa, the action server and the gateway")
    run.set_defaults(func=cmd_run)

    shell = subparsers.add_parser("shell", help="talk to the running assistant as a demo subscriber")
    shell.add_argument("--phone", required=True, help="demo subscriber's number (bound automatically)")
    shell.add_argument("-m", "--message", action="append", help="send this message and exit (repeatable)")
    shell.add_argument("--rasa-url", default=os.environ.get("RASA_URL", "http://127.0.0.1:5005"))
    shell.set_defaults(func=cmd_shell)


# --- train ------------------------------------------------------------------------------


def train_model(out_dir: Path, if_needed: bool = False) -> Path:
    """Train into `out_dir`/csbot.tar.gz; with `if_needed`, reuse a model of the same inputs."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model = files.model_path(out_dir)
    stamp = out_dir / f"{files.MODEL_NAME}.fingerprint"
    fingerprint = files.training_fingerprint()
    if if_needed and model.exists() and stamp.exists() and stamp.read_text() == fingerprint:
        print(f"model is up to date: {model}")
        return model
    argv = [
        files.rasa_python(),
        "-m",
        "rasa",
        "train",
        "--config",
        str(files.CONFIG),
        "--domain",
        str(files.DOMAIN),
        "--data",
        str(files.TRAINING_DATA),
        "--out",
        str(out_dir),
        "--fixed-model-name",
        files.MODEL_NAME,
        "--force",
    ]
    subprocess.run(argv, check=True, cwd=files.PROJECT_ROOT, env=files.rasa_cli_env())
    stamp.write_text(fingerprint)
    return model


def rasa_env_missing() -> bool:
    """True (with a message) when the Rasa environment is not there: `make setup` builds it."""
    python = files.rasa_python()
    if Path(python).exists():
        return False
    print(f"error: no Rasa environment at {python}; run `make setup` (or set RASA_PYTHON)", file=sys.stderr)
    return True


def cmd_train(args: argparse.Namespace) -> int:
    if rasa_env_missing():
        return 2
    train_model(args.out or files.model_dir(), if_needed=args.if_needed)
    return 0


# --- run --------------------------------------------------------------------------------


def process_specs(
    rasa_port: int,
    action_port: int,
    model: Path,
    with_gateway: bool = True,
    env: dict[str, str] | None = None,
    replicas: int = 1,
) -> list[ProcessSpec]:
    """The processes of `csbot run`: per replica an action server and a Rasa server (ports counted
    up from `action_port` and `rasa_port`), then the stand-in WeChat API (demo) and the gateway."""
    env = env or files.rasa_env(action_port)
    if not env.get("RASA_AUTH_TOKEN") or not env.get("ACTION_SERVER_TOKEN"):
        env = {**env, **{k: v for k, v in files.rasa_env(action_port).items() if k.endswith("_TOKEN")}}
    python = sys.executable  # .venv (Python 3.12): the action server, the gateway, the stand-in
    specs: list[ProcessSpec] = []
    for index in range(replicas):
        suffix = f"-{index + 1}" if index else ""
        replica_env = (
            env if not index else {**env, "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{action_port + index}/webhook"}
        )
        specs += [
            # rasa-sdk behind the shared secret, on loopback (bot/action_server.py)
            ProcessSpec(
                f"actions{suffix}",
                [python, "-m", "bot.action_server", "--actions", "actions", "--port", str(action_port + index)],
                replica_env,
            ),
            ProcessSpec(f"rasa{suffix}", rasa_argv(rasa_port + index, model, env), replica_env),
        ]
    rasa_urls = ",".join(f"http://127.0.0.1:{rasa_port + index}" for index in range(replicas))
    if env.get("EVENT_BROKER_URL", "").strip():
        # Rasa publishes every event to RabbitMQ: the analytics consumer turns them into figures
        specs.append(ProcessSpec("analytics", [python, "-m", "bot", "analytics", "consume"], env))
    if with_gateway:
        gateway_env = dict(env, RASA_URL=os.environ.get("RASA_URL", rasa_urls))
        if demo_mode(gateway_env):
            # No WeChat account configured: talk to the stand-in WeChat API on loopback, so the
            # customer-service messages of a demo go somewhere visible (`csbot chat` shows them).
            port = gateway_env.get("WECHAT_STANDIN_PORT", "8081")
            gateway_env["WECHAT_API_BASE"] = f"http://127.0.0.1:{port}"
            if not gateway_env.get("WECHATPAY_MCHID"):  # no merchant either: the stand-in plays WeChat Pay
                gateway_env.setdefault("WECHATPAY_API_BASE", f"http://127.0.0.1:{port}")
            specs.append(ProcessSpec("wechat-standin", [python, "-m", "bot", "wechat-standin", "--port", port], env))
        specs.append(ProcessSpec("gateway", [python, "-m", "bot", "gateway"], console_env(gateway_env)))
    return specs


def rasa_argv(port: int, model: Path, env: dict[str, str]) -> list[str]:
    return [
        files.rasa_python(),  # .venv-rasa (Python 3.10, Rasa 3.6)
        "-m",
        "nlu.server",  # `rasa` with the log masking, the response check, --auth-token from the env
        "run",
        "--enable-api",
        "--interface",
        "127.0.0.1",
        "--port",
        str(port),
        "--model",
        str(model),
        "--endpoints",
        str(files.endpoints_path(env)),
        "--credentials",
        str(files.CREDENTIALS),
    ]


LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}


def console_env(env: dict[str, str]) -> dict[str, str]:
    """The gateway process also serves the agent console on AGENT_HOST:AGENT_PORT (default
    127.0.0.1:8090). A console on loopback is reached over plain HTTP on this machine, so unless
    AGENT_COOKIE_SECURE is set, the one-machine run explicitly turns `Secure` cookies off there;
    on any other address they stay on (serve it behind HTTPS)."""
    env = dict(env)
    host = env.get("AGENT_HOST", "").strip() or "127.0.0.1"
    if host in LOOPBACK_HOSTS and not env.get("AGENT_COOKIE_SECURE", "").strip():
        env["AGENT_COOKIE_SECURE"] = "0"
    return env


def demo_mode(env: dict[str, str]) -> bool:
    """Neither WeChat credentials nor an API base: a local demo without a WeChat account."""
    return not env.get("WECHAT_APP_SECRET") and not env.get("WECHAT_API_BASE")


def cmd_run(args: argparse.Namespace) -> int:
    model = files.model_path()
    if not model.exists():
        print(f"error: no trained model at {model}; run `csbot train` first", file=sys.stderr)
        return 2
    if rasa_env_missing():
        return 2
    rasa_port = int(os.environ.get("RASA_PORT", "5005"))
    action_port = int(os.environ.get("ACTION_PORT", "5055"))
    replicas = int(os.environ.get("RASA_REPLICAS", "1"))
    if replicas < 1:
        print("error: RASA_REPLICAS must be 1 or more", file=sys.stderr)
        return 2
    os.chdir(files.PROJECT_ROOT)  # Rasa resolves nlu/dict and the action package from here
    return run_all(process_specs(rasa_port, action_port, model, replicas=replicas))


# --- shell ------------------------------------------------------------------------------


def shell_openid(phone: str) -> str:
    return f"shell-{phone}"


async def _bind_shell_user(phone: str) -> str:
    from billing.binding import BindingService, load_sms_sender
    from core.db import create_engine

    engine = create_engine()
    try:
        service = BindingService(engine, load_sms_sender(engine))
        openid = shell_openid(phone)
        if phone not in await service.bound_phones(openid):
            await service.bind_directly(openid, phone, actor="csbot shell")
        return openid
    finally:
        await engine.dispose()


def send_to_rasa(rasa_url: str, openid: str, text: str) -> list[dict]:
    # Typed text is text: a leading "/" must not become an intent command (gateway/rasa_client.py).
    body = json.dumps({"sender": openid, "message": as_plain_text(text)}).encode()
    request = urllib.request.Request(
        f"{rasa_url.rstrip('/')}/webhooks/rest/webhook", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read().decode())


def render(messages: list[dict]) -> str:
    lines = []
    for message in messages:
        if "text" in message:
            lines.append(message["text"])
        if "custom" in message:
            lines.append(f"[payload] {json.dumps(message['custom'], ensure_ascii=False)}")
    return "\n".join(lines) or "(no reply)"


def cmd_shell(args: argparse.Namespace) -> int:
    try:
        openid = asyncio.run(_bind_shell_user(args.phone))
    except Exception as exc:  # unknown number, database not initialised, ...
        print(f"error: cannot bind {args.phone}: {exc}", file=sys.stderr)
        return 2
    messages = args.message or []
    interactive = not messages
    try:
        if interactive:
            print(f"talking as {args.phone} (openid {openid}); Ctrl-D to quit")
        while True:
            if interactive:
                try:
                    text = input("您> ").strip()
                except EOFError:
                    return 0
            elif messages:
                text = messages.pop(0)
                print(f"您> {text}")
            else:
                return 0
            if text:
                print(render(send_to_rasa(args.rasa_url, openid, text)))
    except urllib.error.URLError as exc:
        print(
            f"error: the assistant is not reachable at {args.rasa_url} ({exc.reason}); start it with `make run`",
            file=sys.stderr,
        )
        return 2
