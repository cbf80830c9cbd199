"""Alembic environment. Each area owns its tables and its migration branch:
billing (actions/billing/models.py), gateway (bot/store.py), voice (voice/store.py),
handoff (handoff/models.py), analytics (analytics/store.py). `csbot db init` upgrades every branch to its head."""

from __future__ import annotations

import importlib

from alembic import context
from sqlalchemy import MetaData, engine_from_config, pool

from core.db import database_url, sync_url

AREA_MODELS = ["billing.models", "gateway.store", "voice.store", "handoff.models", "analytics.store"]


def _target_metadata() -> list[MetaData]:
    found = []
    for module_name in AREA_MODELS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        found.append(module.metadata)
    return found


config = context.config
url = config.get_main_option("sqlalchemy.url") or sync_url(database_url())
config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=_target_metadata(), literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = engine_from_config(
        config.get_section(config.config_ini_section) or {}, prefix="sqlalchemy.", poolclass=pool.NullPool, future=True
    )
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=_target_metadata(), render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
