"""`csbot chat` (the simulator a newcomer uses) and `csbot menu publish`, as real commands."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from gateway_fixtures import (
    clean_gateway_tables,
    fake_rasa,
    gateway,
    gateway_settings,
    http,
    openid,
    settings_env,
    standin,
)

from gateway.settings import Settings
from wechat.menu import load_menu


async def run_command(args: list[str], env: dict[str, str], stdin: str = "", timeout_s: float = 60) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.gateway_cli", *args,
        env={**os.environ, **env},
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(stdin.encode()), timeout_s)
    return process.returncode or 0, output.decode()


async def test_chat_shows_passive_replies_and_customer_service_messages(
    gateway, gateway_settings, standin, fake_rasa, openid: str, tmp_path: Path
) -> None:
    voice = tmp_path / "note.amr"
    voice.write_bytes(b"#!AMR\n" + bytes(200))
    lines = ["你好", "多条消息", "/click CHECK_BALANCE", f"/voice {voice} 查一下话费", "/quit"]
    code, output = await run_command(
        ["chat", "--openid", openid, "--aes", "--gateway", gateway.url, "--standin", standin[1]],
        settings_env(gateway_settings),
        stdin="\n".join(lines) + "\n",
    )
    assert code == 0, output
    assert "[被动回复" in output and "收到：你好" in output
    assert "第1条" in output
    assert "[客服消息] 第2条" in output and "[客服消息] 第3条" in output
    assert "收到：/check_balance" in output
    assert "收到：查一下话费" in output
    assert fake_rasa.turns_for(openid) == ["你好", "多条消息", "/check_balance", "查一下话费"]
    assert len(standin[0].media) == 1  # the voice file went to the stand-in's media store


async def test_menu_publish_sends_the_menu_without_our_intent_fields(gateway_settings, standin) -> None:
    code, output = await run_command(["menu", "publish"], settings_env(gateway_settings))
    assert code == 0, output
    [published] = standin[0].menus
    assert published == load_menu(gateway_settings.menu_path).wechat_body
    assert "intent" not in str(published)
    names = [button["name"] for button in published["button"]]
    assert names == ["查询", "充话费", "人工服务"]


def test_menu_file_maps_the_four_menu_items_to_intents() -> None:
    assert load_menu(Settings().menu_path).intents == {
        "CHECK_BALANCE": "/check_balance",
        "CHECK_PLAN": "/check_plan",
        "TOP_UP": "/top_up",
        "HUMAN": "/request_human",
    }


def test_csbot_run_with_two_replicas_starts_two_rasa_servers_each_with_its_action_server(tmp_path: Path) -> None:
    from bot.assistant_cli import process_specs
    from bot.assistant_files import rasa_env

    specs = {
        spec.name: spec for spec in process_specs(5005, 5055, tmp_path / "m.tar.gz", env=rasa_env(5055), replicas=2)
    }
    assert {"actions", "rasa", "actions-2", "rasa-2", "gateway"} <= set(specs)
    assert specs["rasa"].argv[specs["rasa"].argv.index("--port") + 1] == "5005"
    assert specs["rasa-2"].argv[specs["rasa-2"].argv.index("--port") + 1] == "5006"
    assert specs["actions-2"].argv[-1] == "5056"
    assert specs["rasa-2"].env["ACTION_ENDPOINT_URL"] == "http://127.0.0.1:5056/webhook"
    assert specs["gateway"].env["RASA_URL"] == "http://127.0.0.1:5005,http://127.0.0.1:5006"
