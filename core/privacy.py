"""Masking of personal data in logs and in anything shown to someone who is not its owner."""

from __future__ import annotations


def mask_phone(phone: str) -> str:
    """13800000001 -> 138****0001. Short or odd inputs keep at most their last two characters."""
    digits = (phone or "").strip()
    if len(digits) >= 8:
        return f"{digits[:3]}****{digits[-4:]}"
    if len(digits) > 2:
        return "*" * (len(digits) - 2) + digits[-2:]
    return "*" * len(digits)
