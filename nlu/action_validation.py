"""Checking the action server's responses without re-checking their schema every time.

Rasa 3.6 checks every response of the action server against a fixed JSON schema with
`jsonschema.validate(response, schema)`, which first checks the schema itself, on every call. A
profile of the Rasa server under load (py-spy; per-process CPU in bench/gateway.py) put about 40 %
of its CPU per turn there. `install()` makes the same check with a validator built once for that
schema: a valid response passes, an invalid one raises the same `ValidationError` (jsonschema's
best match, as `validate` picks it) with Rasa's own hint appended.
"""

from __future__ import annotations

from typing import Any, Dict, Text

import jsonschema
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL

HINT = (
    ". Failed to validate Action server response from API, make sure your response from the Action "
    f"endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions"
)


def response_validator() -> Any:
    """A validator for Rasa's action response schema, the schema checked once."""
    schema = RemoteAction.action_response_format_spec()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def install() -> None:
    validator = response_validator()

    def validate_action_result(self: RemoteAction, result: Dict[Text, Any]) -> bool:
        error = jsonschema.exceptions.best_match(validator.iter_errors(result))
        if error is not None:
            error.message += HINT
            raise error
        return True

    RemoteAction._validate_action_result = validate_action_result
