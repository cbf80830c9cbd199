from decimal import Decimal

import pytest

from billing.money import format_data, format_yuan, yuan_to_fen
from core.privacy import mask_phone


@pytest.mark.parametrize(
    ("fen", "text"),
    [
        (5000, "50元"),
        (1250, "12.50元"),
        (1205, "12.05元"),
        (5830, "58.30元"),
        (-3000, "-30元"),
        (-2350, "-23.50元"),
        (5, "0.05元"),
        (-5, "-0.05元"),
        (0, "0元"),
        (500_000, "5000元"),
        (10**15 + 1, "10000000000000.01元"),  # no float rounding on huge amounts
    ],
)
def test_format_yuan(fen: int, text: str) -> None:
    assert format_yuan(fen) == text


def test_format_yuan_refuses_floats() -> None:
    with pytest.raises(TypeError):
        format_yuan(12.5)


@pytest.mark.parametrize(
    ("yuan", "fen"),
    [
        (50, 5000),
        (0, 0),
        (Decimal("12.5"), 1250),
        (Decimal("58.30"), 5830),
        (Decimal("-23.50"), -2350),
        (5000, 500_000),
    ],
)
def test_yuan_to_fen(yuan: int | Decimal, fen: int) -> None:
    assert yuan_to_fen(yuan) == fen
    assert isinstance(yuan_to_fen(yuan), int)


def test_yuan_to_fen_refuses_floats_and_fractions_of_a_fen() -> None:
    with pytest.raises(TypeError):
        yuan_to_fen(0.1)
    with pytest.raises(ValueError):
        yuan_to_fen(Decimal("1.005"))


@pytest.mark.parametrize(
    ("mb", "text"),
    [
        (800, "800MB"),
        (0, "0MB"),
        (1023, "1023MB"),
        (1024, "1GB"),
        (1536, "1.5GB"),
        (1100, "1.1GB"),
        (30720, "30GB"),
        (14336, "14GB"),
        (15105, "14.8GB"),
        (204800, "200GB"),
    ],
)
def test_format_data(mb: int, text: str) -> None:
    assert format_data(mb) == text


@pytest.mark.parametrize(
    ("phone", "masked"),
    [("13800000001", "138****0001"), ("+8613912345678", "+86****5678"), ("12345", "***45"), ("", "")],
)
def test_mask_phone(phone: str, masked: str) -> None:
    assert mask_phone(phone) == masked
