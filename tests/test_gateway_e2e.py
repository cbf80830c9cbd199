"""Acceptance 1: the real assistant behind the real endpoint, in safe (AES) mode."""

from __future__ import annotations

from dataclasses import replace

import pytest
from gateway_fixtures import (
    clean_gateway_tables,
    fake_rasa,
    gateway_settings,
    http,
    openid,
    standin,
    start_gateway,
)

from billing.binding import BindingService, load_sms_sender

pytestmark = pytest.mark.rasa

DEMO_PHONE = "13800000001"  # billing/demo_data/subscribers.yml: balance 58.30 yuan


async def test_bound_subscriber_gets_an_encrypted_passive_reply_with_the_real_balance(
    rasa_stack, seeded_engine, gateway_settings, http, openid: str
) -> None:
    binding = BindingService(seeded_engine, load_sms_sender(seeded_engine))
    await binding.bind_directly(openid, DEMO_PHONE, actor="test")
    # The passive reply is what is under test here, not whether a loaded CI machine runs the real
    # Rasa + action server turn within WeChat's 4 s: give the turn time to answer passively.
    settings = replace(
        gateway_settings,
        rasa_url=rasa_stack.rasa_url,
        rasa_token=rasa_stack.rasa_token,
        actions_url=rasa_stack.action_url,
        passive_budget_s=20.0,
        rasa_timeout_s=25.0,
        inbox_lease_s=40.0,
    )
    gateway = await start_gateway(settings, http)
    try:
        # The first turn of a fresh Rasa process loads lazily; warm it up with another subscriber.
        await gateway.aes.text("o" + "warmup".ljust(27, "0"), "你好")

        result = await gateway.aes.text(openid, "查余额")
        assert result.status == 200
        assert result.encrypted_reply, result.body
        assert "58.30" not in result.body  # encrypted on the wire
        assert result.reply is not None and "58.30" in result.reply, result.reply

        refused = await gateway.aes.push(gateway.aes.text_fields(openid, "查余额"), tamper_signature=True)
        assert refused.status == 403
    finally:
        await gateway.stop()
