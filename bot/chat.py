"""`csbot chat`: talk to a running gateway as a WeChat subscriber, over the real push protocol.

Each line typed becomes a signed (optionally encrypted) text push. The passive reply is printed
at once; customer-service messages the gateway sends later are read back from the stand-in
WeChat API and printed too. Commands: /subscribe [SCENE], /unsubscribe, /click KEY,
/voice FILE [RECOGNITION], /consent KIND (accept the subscription-notice popup of a notice kind,
e.g. low_balance: the stand-in learns it and the gateway gets WeChat's event), /quit.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from core.vocabulary import NoticeKind
from gateway.settings import Settings
from wechat.notice_templates import load_notice_templates
from wechat.simulator import PushClient, PushResult

HELP = (
    "输入文字发送；/subscribe [场景] 关注；/unsubscribe 取关；/click 菜单KEY；/voice 文件 [识别文字]；"
    "/consent 通知类型 同意接收订阅通知（如 low_balance）；/quit 退出"
)
FOLLOW_UP_S = 20.0  # how long to wait for customer-service messages after `success`
QUIET_S = 1.5


async def chat(settings: Settings, openid: str, gateway: str, standin: str | None, aes: bool) -> int:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        client = PushClient(http, gateway, settings.wechat_token, settings.app_id, settings.aes_key if aes else None)
        follower = StandinFollower(http, standin, openid) if standin else None
        if follower:
            await follower.skip_old()
        print(f"模拟微信用户 {openid} → {gateway}{'（安全模式）' if aes else ''}")
        print(HELP)
        while True:
            line = await asyncio.to_thread(_read_line)
            if line is None or line.strip() == "/quit":
                return 0
            line = line.strip()
            if not line:
                continue
            try:
                if line.startswith("/consent"):
                    result = await _consent(client, http, standin, openid, line.partition(" ")[2].strip(), settings)
                else:
                    result = await _send(client, http, standin, openid, line)
            except (aiohttp.ClientError, OSError, ValueError) as exc:
                print(f"  ! {exc}")
                continue
            if result is None:
                continue
            _show(result)
            if follower:
                await follower.show_new(wait_s=FOLLOW_UP_S if result.reply is None and result.status == 200 else 2.0)


async def _send(
    client: PushClient, http: aiohttp.ClientSession, standin: str | None, openid: str, line: str
) -> PushResult | None:
    command, _, rest = line.partition(" ")
    rest = rest.strip()
    if command == "/subscribe":
        return await client.push(client.event_fields(openid, "subscribe", f"qrscene_{rest}" if rest else None))
    if command == "/unsubscribe":
        return await client.push(client.event_fields(openid, "unsubscribe"))
    if command == "/click":
        if not rest:
            print("  用法：/click CHECK_BALANCE")
            return None
        return await client.push(client.event_fields(openid, "CLICK", rest))
    if command == "/voice":
        path_text, _, recognition = rest.partition(" ")
        return await _voice(client, http, standin, openid, Path(path_text), recognition.strip() or None)
    if command.startswith("/") and command not in ("/greet",):
        print(f"  未知命令。{HELP}")
        return None
    return await client.text(openid, line)


async def _consent(
    client: PushClient, http: aiohttp.ClientSession, standin: str | None, openid: str, kind: str, settings: Settings
) -> PushResult | None:
    kinds = [k.value for k in NoticeKind]
    if kind not in kinds:
        print(f"  用法：/consent {'|'.join(kinds)}")
        return None
    template_id = load_notice_templates(settings.notices_path)[NoticeKind(kind)].template_id
    if not template_id:
        print(f"  {kind} 没有配置订阅通知模板")
        return None
    if standin is not None:
        body = {"openid": openid, "template_id": template_id}
        async with http.post(f"{standin.rstrip('/')}/standin/consent", json=body) as response:
            response.raise_for_status()
    return await client.push(client.consent_fields(openid, {template_id: True}))


async def _voice(
    client: PushClient, http: aiohttp.ClientSession, standin: str | None, openid: str, path: Path,
    recognition: str | None,
) -> PushResult | None:  # fmt: skip
    if standin is None:
        print("  /voice 需要替身 API（--standin）来存放语音文件")
        return None
    if not path.is_file():
        print(f"  找不到文件 {path}")
        return None
    audio_format = path.suffix.lstrip(".").lower() or "amr"
    params = {"content_type": f"audio/{audio_format}", "filename": path.name}
    async with http.post(f"{standin.rstrip('/')}/standin/media", params=params, data=path.read_bytes()) as response:
        response.raise_for_status()
        media_id = (await response.json())["media_id"]
    return await client.push(client.voice_fields(openid, media_id, audio_format, recognition))


def _show(result: PushResult) -> None:
    if result.status != 200:
        print(f"  ! HTTP {result.status}: {result.body[:200]}")
    elif result.reply is not None:
        print(f"  [被动回复 {result.elapsed_s:.2f}s] {result.reply}")
    else:
        print(f"  [success {result.elapsed_s:.2f}s]（回复将通过客服消息送达）")


def _read_line() -> str | None:
    try:
        return input("> ")
    except EOFError:
        return None


class StandinFollower:
    """Reads the customer-service messages the stand-in received for one subscriber."""

    def __init__(self, http: aiohttp.ClientSession, standin: str, openid: str) -> None:
        self._http = http
        self._url = f"{standin.rstrip('/')}/standin/messages"
        self._openid = openid
        self._after = 0

    async def skip_old(self) -> None:
        for message in await self._fetch():
            self._after = max(self._after, int(message["seq"]))

    async def show_new(self, wait_s: float) -> None:
        """Print new messages; wait up to `wait_s` for the first, then until it is quiet."""
        deadline = time.monotonic() + wait_s
        quiet_until = None
        while time.monotonic() < (quiet_until or deadline):
            messages = await self._fetch()
            for message in messages:
                self._after = max(self._after, int(message["seq"]))
                print(f"  [客服消息] {_describe(message)}")
            if messages:
                quiet_until = time.monotonic() + QUIET_S
            await asyncio.sleep(0.3)

    async def _fetch(self) -> list[dict[str, Any]]:
        try:
            async with self._http.get(
                self._url, params={"touser": self._openid, "after": str(self._after)}
            ) as response:
                return list(await response.json())
        except aiohttp.ClientError:
            print("  ! 替身 API 无法访问", file=sys.stderr)
            return []


def _describe(message: dict[str, Any]) -> str:
    if message.get("msgtype") == "text":
        return str(message["text"]["content"])
    return f"[{message.get('msgtype')}]"
