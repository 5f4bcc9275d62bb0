"""Errors a user can act on: shown as one readable message, never as a traceback."""


class PipelineError(Exception):
    """A problem with the user's input or setup; the message says what and what to do."""

    exit_code = 1


class ConfigError(PipelineError):
    """`params.yaml` is missing, malformed, has an unknown key or a value of the wrong type."""

    exit_code = 2
