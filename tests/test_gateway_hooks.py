"""GATEWAY_HOOKS=auto: the composition root wires voice/ and handoff/ into the gateway, and builds the
console as an app of its own (its own listener, apart from the public /wechat)."""

from __future__ import annotations

from pathlib import Path

import pytest
from gateway_fixtures import (
    clean_gateway_tables,
    eventually,
    fake_rasa,
    gateway_settings,
    http,
    openid,
    serve,
    standin,
    start_gateway,
    with_settings,
)

from bot import compose
from gateway.ports import HANDOFF_RECORDED, CallbackRequests, RecognitionTranscriber


async def test_auto_hooks_use_the_voice_and_handoff_services_and_serve_the_console_apart(
    gateway_settings, standin, http, openid: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CSBOT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("VOSK_MODEL_PATH", str(tmp_path / "no-model-here"))
    monkeypatch.setenv("ASR_WORKERS", "1")
    apps = compose.create_apps(with_settings(gateway_settings, hooks="auto"))
    assert apps.console is not None
    gateway = await start_gateway(gateway_settings, http, build=lambda _settings: apps.gateway)
    console_runner, console_url, _ = await serve(apps.console)  # after the gateway: it builds the service
    try:
        runtime = gateway.runtime
        assert not isinstance(runtime.handoff, CallbackRequests)
        assert type(runtime.handoff).__module__ == "handoff.service"
        assert not isinstance(runtime.transcriber, RecognitionTranscriber)
        assert runtime.asr_configured
        async with http.get(f"{gateway.internal_url}/healthz") as response:
            report = await response.json()
        assert report["asr"] in ("no_model", "starting")
        async with http.get(f"{gateway.url}/agent/login") as response:
            assert response.status == 404  # not on the public listener
        async with http.get(f"{console_url}/agent/login") as response:
            assert response.status == 200  # the console's own listener
        result = await gateway.aes.text(openid, "人工")
        assert result.status == 200
        assert result.reply == "好的，正在为您转接人工客服。"
        # what follows comes from handoff/ (queue position or a call-back promise), not the built-in
        texts = await eventually(lambda: standin[0].texts_to(openid))
        assert texts and HANDOFF_RECORDED not in texts
    finally:
        await console_runner.cleanup()
        await gateway.stop()
