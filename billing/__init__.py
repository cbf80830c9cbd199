"""Billing: the backend interface (backend.py), its SQL implementation (sql.py), demo data,
money formatting and plan recommendation. `load_backend` picks the implementation."""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from billing.backend import BillingBackend

DEFAULT_BACKEND = "billing.sql:SqlBillingBackend"


def load_backend(engine: AsyncEngine) -> BillingBackend:
    """The backend named by BILLING_BACKEND ("module:Class", constructed with the engine)."""
    target = os.environ.get("BILLING_BACKEND", "").strip() or DEFAULT_BACKEND
    module_name, _, class_name = target.partition(":")
    if not module_name or not class_name:
        raise ValueError(f"BILLING_BACKEND must look like 'package.module:Class', got {target!r}")
    backend_class = getattr(importlib.import_module(module_name), class_name)
    return backend_class(engine)
