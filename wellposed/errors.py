"""The one exception type for bad input; the CLI turns it into exit status 2."""

from __future__ import annotations

__all__ = ["WellposedInputError"]


class WellposedInputError(ValueError):
    """Bad user input (data, shapes, parameters, claim ids); the message names the fix."""
