"""What the gateway sends to Rasa: subscriber text is always text."""

from __future__ import annotations

import pytest

from gateway.rasa_client import as_plain_text
from nlu.normalize import normalize


@pytest.mark.parametrize("text", ["/::)", "/:rose", " /top_up", '/top_up{"amount": 5000}', "/restart"])
def test_text_starting_with_a_slash_is_not_an_intent_command(text: str) -> None:
    sent = as_plain_text(text)
    assert not sent.lstrip().startswith("/")
    # The NLU still sees the emoji code as the subscriber wrote it.
    assert normalize(sent) == normalize(text.lstrip())


@pytest.mark.parametrize("text", ["查话费", "充50元/月的那个", "1", ""])
def test_other_text_is_sent_unchanged(text: str) -> None:
    assert as_plain_text(text) == text
