"""What the actions need from the outside world, built once per action-server process.

rasa-sdk instantiates action classes itself (no constructor arguments), so the services
live in one lazily built holder keyed by the running event loop: the action server has a
single loop; tests that run several loops get one holder each.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from billing import load_backend
from billing.backend import BillingBackend
from billing.binding import BindingService, load_sms_sender
from billing.payments import Payments
from billing.periods import BILLING_TZ as LOCAL_TZ
from core.db import PoolSize, create_engine
from core.env import env_number

DEFAULT_PUBLIC_BASE_URL = "http://127.0.0.1:8080"


@dataclass
class Services:
    engine: AsyncEngine
    billing: BillingBackend
    binding: BindingService
    payments: Payments
    # Where subscribers reach the gateway's payment page (the same variable as the gateway's).
    public_base_url: str = field(
        default_factory=lambda: (os.environ.get("PUBLIC_BASE_URL", "").strip() or DEFAULT_PUBLIC_BASE_URL).rstrip("/")
    )
    # Same variable as the handoff area's, so the offer of a person and the elder queue agree.
    elder_age: int = field(default_factory=lambda: env_number(os.environ, "ELDER_AGE", 65, int))
    today: Callable[[], dt.date] = field(default=lambda: dt.datetime.now(LOCAL_TZ).date())

    def pay_link(self, pay_token: str) -> str:
        return f"{self.public_base_url}/pay/{pay_token}"


def build_services(engine: AsyncEngine) -> Services:
    billing = load_backend(engine)
    return Services(
        engine=engine,
        billing=billing,
        binding=BindingService(engine, load_sms_sender(engine)),
        payments=Payments(engine, billing),
    )


_by_loop: dict[asyncio.AbstractEventLoop, Services] = {}


def get_services() -> Services:
    loop = asyncio.get_running_loop()
    if loop not in _by_loop:
        # A few connections: an action's queries are short, and requests beyond them wait their
        # turn. With the gateway's pool, two action servers under a burst took 49 connections
        # between them, and the gateway met PostgreSQL's max_connections.
        pool = PoolSize.from_env("ACTIONS_", size=8, overflow=8)
        _by_loop[loop] = build_services(create_engine(pool=pool))
    return _by_loop[loop]


def use_services(loop: asyncio.AbstractEventLoop, services: Services) -> None:
    """Install prepared services for a loop (tests, or an embedding process)."""
    _by_loop[loop] = services


async def phone_is_elder(services: Services, phone: str) -> bool:
    """The subscriber behind `phone` is 65 or older (elder-care treatment)."""
    subscriber = await services.billing.get_subscriber(phone)
    return bool(subscriber and subscriber.age(services.today()) >= services.elder_age)
