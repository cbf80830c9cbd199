"""Transcript normalisation: Vosk's spaces, digit strings, fillers."""

from __future__ import annotations

import pytest

from voice.normalize import normalize_transcript


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("查询 话费 余额", "查询话费余额"),
        ("嗯 查询 话费 余额 啊", "查询话费余额"),
        ("呃 我 想 充值 五十 元", "我想充值五十元"),  # counted numbers stay for the NLU
        ("充值 一百 元", "充值一百元"),
        ("我的 手机 号 是 幺 三 八 零 零 一 二 三 四 五 六", "我的手机号是13800123456"),
        ("打 一 零 零 八 六", "打10086"),
        ("验证码 五 六 七 八", "验证码5678"),
        ("二零二四 年 的 账单", "2024年的账单"),
        ("三三两两", "三三两两"),
        ("一 三 八", "一三八"),  # three plain digits may be a word: left alone
        ("额度 多少", "额度多少"),  # 额 is not a filler here
        ("我 要 干嘛", "我要干嘛"),
        ("啊，我想充值五十元啊。", "我想充值五十元。"),
        ("[unk] 话费 <unk>", "话费"),
        ("嗯", "嗯"),  # only a filler: kept for the dialogue model to read
        ("  ", ""),
        (None, ""),
        ("5G 套餐 多少 钱", "5G套餐多少钱"),
        ("call me back", "call me back"),
    ],
)
def test_normalize_transcript(raw: str | None, expected: str) -> None:
    assert normalize_transcript(raw) == expected
