"""Masking of personal data in logs and in anything shown to someone who is not its owner."""

from __future__ import annotations

import re

# a mainland mobile number as typed: "13800000001", "138 0000 0001", "+86-138-0000-0001"
_TYPED_PHONE = re.compile(r"(?<!\d)(?:(?:\+|00)?86[\s-]?)?1[3-9]\d(?:[\s-]?\d){8}(?!\d)")
# a 6-digit SMS code as typed, full-width digits and single spaces included ("123 456")
_TYPED_CODE = re.compile(r"(?<!\d)\d(?:\s?\d){5}(?!\d)")


def mask_phone(phone: str) -> str:
    """13800000001 -> 138****0001. Short or odd inputs keep at most their last two characters."""
    digits = (phone or "").strip()
    if len(digits) >= 8:
        return f"{digits[:3]}****{digits[-4:]}"
    if len(digits) > 2:
        return "*" * (len(digits) - 2) + digits[-2:]
    return "*" * len(digits)


def mask_binding_input(text: str) -> str:
    """What a subscriber typed while binding, with every mobile number masked (138****0001) and
    every 6-digit code blanked (******): kept out of transcripts as the task numbers are."""
    masked = _TYPED_PHONE.sub(lambda match: mask_phone(re.sub(r"\D", "", match.group(0))[-11:]), text or "")
    return _TYPED_CODE.sub("******", masked)
