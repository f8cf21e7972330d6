"""The exit codes of the tools and the examples (README, "Use it"), and the one line an error gets."""

from __future__ import annotations

from typing import TextIO

from endpoint.auth import AuthError, Refused
from endpoint.outputs import OutputsError

EXIT_OK, EXIT_FAILED, EXIT_SETUP, EXIT_REFUSED = 0, 1, 2, 3


def failed(error: Exception, err: TextIO) -> int:
    """Print `error: ...` and return its code: 3 refused (401/403), 2 no endpoint or no credentials,
    1 anything else (not serving, a failed request)."""
    err.write(f"error: {error}\n")
    if isinstance(error, Refused):
        return EXIT_REFUSED
    if isinstance(error, AuthError | OutputsError):
        return EXIT_SETUP
    return EXIT_FAILED
