"""Money and data-volume formatting for replies. Money is an int number of fen; never a float."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

FEN_PER_YUAN = 100
MB_PER_GB = 1024


def format_yuan(fen: int) -> str:
    """5000 -> "50元", 1250 -> "12.50元", -3000 -> "-30元", 5 -> "0.05元"."""
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise TypeError(f"amount must be an int number of fen, got {type(fen).__name__}")
    sign = "-" if fen < 0 else ""
    yuan, rest = divmod(abs(fen), FEN_PER_YUAN)
    if rest == 0:
        return f"{sign}{yuan}元"
    return f"{sign}{yuan}.{rest:02d}元"


def yuan_to_fen(yuan: int | Decimal) -> int:
    """Whole or decimal yuan to fen; refuses floats and fractions of a fen."""
    if isinstance(yuan, bool) or not isinstance(yuan, (int, Decimal)):
        raise TypeError(f"amount must be an int or Decimal number of yuan, got {type(yuan).__name__}")
    fen = Decimal(yuan) * FEN_PER_YUAN
    if fen != fen.to_integral_value():
        raise ValueError(f"{yuan} yuan is not a whole number of fen")
    return int(fen)


def format_data(mb: int) -> str:
    """800 -> "800MB", 1536 -> "1.5GB", 30720 -> "30GB" (one decimal at most)."""
    if isinstance(mb, bool) or not isinstance(mb, int):
        raise TypeError(f"data volume must be an int number of MB, got {type(mb).__name__}")
    if abs(mb) < MB_PER_GB:
        return f"{mb}MB"
    gb = (Decimal(mb) / MB_PER_GB).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    text = f"{gb:f}"
    if text.endswith(".0"):
        text = text[:-2]
    return f"{text}GB"
