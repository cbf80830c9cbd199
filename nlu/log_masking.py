"""The Rasa server's log masking: phone numbers (+86 and spaced ones too), openids and SMS codes
never reach a log line of the Rasa process (its debug lines quote whole messages, the Sanic
access log has sender ids in paths).

It is the project's own masking (core/redact.py, standard library only, so it runs here on
Python 3.10 in .venv-rasa), installed by nlu/server.py before Rasa starts.
"""

from __future__ import annotations

from core.redact import mask_text, redact_logs

__all__ = ["install", "mask_text"]


def install() -> None:
    """Mask every log record of this process, whichever logger or handler it goes to."""
    redact_logs()
