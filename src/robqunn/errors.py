"""Exceptions raised by robqunn for problems a user can fix.

Each message says what was expected and what was found ("X must be Y; got Z"), so that a bad
params key, file or array is named before any long computation starts.
"""


class RobqunnError(Exception):
    """Base class of every error robqunn raises on purpose."""


class ParamsError(RobqunnError, ValueError):
    """A key of params.yaml (or an argument derived from it) is missing or invalid."""


class DataError(RobqunnError, ValueError):
    """An input data file or folder is missing, malformed or too small for the request."""
