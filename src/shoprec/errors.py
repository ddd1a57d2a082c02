"""Errors a user can cause (bad data, bad params, a wrong path).

The CLI and the pipeline scripts turn a ``ShoprecError`` into one readable line and a
non-zero exit instead of a traceback; anything else is a bug and keeps its traceback.
"""


class ShoprecError(Exception):
    """A problem the user can fix; its message is shown as it is."""


class ConfigError(ShoprecError):
    """params.yaml (or a command-line option) is missing, malformed or out of range."""


class DataError(ShoprecError):
    """An input file is missing, unreadable, or does not match its data contract."""


class StageFailed(ShoprecError):
    """A pipeline stage (run through DVC) exited with an error."""
