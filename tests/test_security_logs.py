"""Issue 9, item 9: logs never show a subscriber's number (+86 and spaced forms too), openid or SMS
code, in the gateway, the action server and the Rasa process; metrics and health details only
on the internal listener."""

from __future__ import annotations

import io
import logging
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from gateway_fixtures import (
    clean_gateway_tables,
    eventually,
    fake_rasa,
    gateway,
    gateway_settings,
    http,
    no_gateway_process_left,
    spawn_gateway,
    standin,
)

from billing.binding import LogSmsSender
from core.redact import mask_text, redact_logs
from gateway.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "written",
    [
        "+86 138 0000 0001",
        "+8613800000001",
        "+86-138-0000-0001",
        "008613800000001",
        "8613800000001",
        "(+86)138 0000 0001",
        "138 0000 0001",
        "138-0000-0001",
    ],
)
def test_every_written_form_of_a_number_is_masked(written: str) -> None:
    masked = mask_text(f"binding {written} failed")
    assert masked == "binding 138****0001 failed"


def test_codes_are_masked_next_to_their_word_and_when_quoted_alone() -> None:
    assert "482913" not in mask_text("【营业厅】您的验证码是482913，5分钟内有效")
    assert "482913" not in mask_text("sms_code=482913")
    assert "482913" not in mask_text("Received user message '482913' with intent 'inform'")
    assert mask_text("listening on 127.0.0.1:5055, took 1234 ms") == "listening on 127.0.0.1:5055, took 1234 ms"


async def test_the_development_sms_sender_never_logs_the_code(seeded_engine, caplog) -> None:
    code = "739104"
    text = f"【营业厅】您的绑定验证码是{code}，5分钟内有效。{uuid.uuid4().hex}"
    with caplog.at_level(logging.DEBUG):
        await LogSmsSender(seeded_engine).send("13800000001", text)
    assert code not in caplog.text and "13800000001" not in caplog.text
    assert "138****0001" in caplog.text


@pytest.fixture
def restored_logging() -> Iterator[None]:
    factory = logging.getLogRecordFactory()
    root = logging.getLogger()
    filters = {handler: list(handler.filters) for handler in root.handlers}
    yield
    logging.setLogRecordFactory(factory)
    for handler, kept in filters.items():
        handler.filters = kept


def _own_handler_logger(name: str) -> tuple[logging.Logger, io.StringIO]:
    """A logger like Sanic's access log: its own handler, not propagating to the root."""
    stream = io.StringIO()
    logger = logging.getLogger(name)
    logger.handlers = [logging.StreamHandler(stream)]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def test_the_masking_reaches_loggers_with_their_own_handlers(restored_logging: None) -> None:
    logger, stream = _own_handler_logger(f"sanic.access.{uuid.uuid4().hex}")
    redact_logs()
    redact_logs()  # idempotent
    logger.info("POST /webhook from +86 138 0000 0001 sender oAbCdEfGhIjKlMnOpQrStUvWxYz1")
    assert stream.getvalue().strip() == "POST /webhook from 138****0001 sender oAbC…xYz1"


def test_the_action_server_masks_its_logs(restored_logging: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot import action_server

    logger, stream = _own_handler_logger(f"sanic.root.{uuid.uuid4().hex}")

    class App:
        def run(self, **kwargs: object) -> None:
            logger.info("request for 138-0000-0001 with 验证码 482913")

    monkeypatch.setenv("ACTION_SERVER_TOKEN", "test-secret")
    monkeypatch.setattr(action_server, "create_app", lambda executor, token: App())
    assert action_server.main(["--port", "0"]) == 0
    assert stream.getvalue().strip() == "request for 138****0001 with 验证码 ******"


def test_the_rasa_server_is_started_with_the_masking() -> None:
    from bot.assistant_cli import process_specs

    specs = process_specs(5005, 5055, Path("model.tar.gz"), with_gateway=False, env={"RASA_AUTH_TOKEN": "t"})
    rasa = next(spec for spec in specs if spec.name == "rasa")
    assert rasa.argv[1:4] == ["-m", "nlu.server", "run"]


def test_the_masking_runs_in_the_rasa_environment() -> None:
    from bot.assistant_files import rasa_cli_env, rasa_python

    if not Path(rasa_python()).exists():
        pytest.skip("no .venv-rasa")
    script = (
        "import logging, sys\n"
        "from nlu.log_masking import install\n"
        "install()\n"
        "log = logging.getLogger('rasa.core.processor')\n"
        "log.addHandler(logging.StreamHandler(sys.stdout)); log.setLevel(logging.DEBUG); log.propagate = False\n"
        "log.debug(\"Received user message '482913' from +86 138 0000 0001\")\n"
    )
    result = subprocess.run(
        [rasa_python(), "-c", script], cwd=PROJECT_ROOT, env=rasa_cli_env(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Received user message '******' from 138****0001"


# ---- the internal listener ---------------------------------------------------------------------


def test_the_internal_listener_defaults_to_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INTERNAL_HOST", raising=False)
    monkeypatch.delenv("INTERNAL_PORT", raising=False)
    settings = Settings.from_env()
    assert (settings.internal_host, settings.internal_port) == ("127.0.0.1", 9180)
    monkeypatch.setenv("INTERNAL_HOST", "10.0.0.5")
    monkeypatch.setenv("INTERNAL_PORT", "9999")
    assert (Settings.from_env().internal_host, Settings.from_env().internal_port) == ("10.0.0.5", 9999)


async def test_public_healthz_says_only_ok_and_metrics_are_internal(gateway, http) -> None:
    async with http.get(f"{gateway.url}/healthz") as response:
        assert (response.status, await response.text()) == (200, "ok")
    async with http.get(f"{gateway.url}/metrics") as response:
        assert response.status == 404
    async with http.get(f"{gateway.internal_url}/healthz") as response:
        assert response.status == 200 and (await response.json())["database"] == "ok"
    async with http.get(f"{gateway.internal_url}/metrics") as response:
        assert response.status == 200 and "csbot_gateway_messages_total" in await response.text()


async def test_the_gateway_process_serves_metrics_on_its_internal_listener_only(
    gateway_settings: Settings, http, no_gateway_process_left: None
) -> None:
    process = await spawn_gateway(gateway_settings)
    try:
        internal = await eventually(lambda: process.internal_url)
        assert internal is not None and internal.startswith("http://127.0.0.1:")
        async with http.get(f"{process.url}/metrics") as response:
            assert response.status == 404
        async with http.get(f"{process.url}/healthz") as response:
            assert await response.text() in ("ok", "not ok")
        async with http.get(f"{internal}/metrics") as response:
            assert response.status == 200
    finally:
        await process.stop()
