"""The one error of the handoff area's verbs."""


class ConsoleError(Exception):
    """An agent action that cannot be done; the message is shown to the agent as is."""
