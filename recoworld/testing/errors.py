"""The error every conformance check raises."""

from __future__ import annotations

__all__ = ["ConformanceError"]


class ConformanceError(AssertionError):
    """An environment or agent breaks a contract that :mod:`recoworld.testing` checks.

    A subclass of ``AssertionError``, so a failed check fails a pytest test like a failed
    ``assert``; the message names the env (or agent), the check, and what was found.
    """
