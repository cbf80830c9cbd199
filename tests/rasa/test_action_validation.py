"""nlu.action_validation: the action server's responses are checked as Rasa checks them, with the
schema's validator built once instead of on every call."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.utils.endpoints import EndpointConfig

from nlu import action_validation

RESPONSES: List[Dict[str, Any]] = [
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "pending", "value": "bind_phone"}], "responses": [{"text": "您好"}]},
    {"events": [{"event": "followup", "name": "action_listen"}], "responses": [{"custom": {"handoff": "elder"}}]},
    {"events": [{"name": "pending"}], "responses": []},  # an event without its type
    {"events": "slot", "responses": []},  # events not a list
    {"events": [], "responses": "您好"},  # responses not a list
    {"events": [{"event": 3}]},  # the type is not a string
]


def _outcome(action: RemoteAction, response: Dict[str, Any]) -> Any:
    try:
        return action._validate_action_result(response)
    except ValidationError as error:
        return ("invalid", error.message, list(error.absolute_path))


@pytest.fixture
def action(monkeypatch: pytest.MonkeyPatch) -> RemoteAction:
    # undo install() after each test: other tests in this process see Rasa's own method
    monkeypatch.setattr(RemoteAction, "_validate_action_result", RemoteAction._validate_action_result)
    return RemoteAction("action_check_balance", EndpointConfig("http://127.0.0.1:1/webhook"))


def test_the_check_built_once_decides_as_rasas_own(action: RemoteAction) -> None:
    rasas = [_outcome(action, response) for response in RESPONSES]
    action_validation.install()
    ours = [_outcome(action, response) for response in RESPONSES]
    assert ours == rasas
    assert [outcome is True for outcome in ours] == [True, True, True, False, False, False, False]
    assert all("Failed to validate Action server response" in outcome[1] for outcome in ours[3:])


def test_the_schema_is_checked_once_not_on_every_response(action: RemoteAction, monkeypatch) -> None:
    checks = []
    validator_class = type(action_validation.response_validator())
    original = validator_class.check_schema
    monkeypatch.setattr(validator_class, "check_schema", classmethod(lambda cls, s: checks.append(s) or original(s)))
    action_validation.install()
    for _ in range(50):
        assert action._validate_action_result(RESPONSES[1]) is True
    assert len(checks) == 1
