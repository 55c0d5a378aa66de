"""Helpers for the one-line error messages of the models package."""

from __future__ import annotations

__all__ = ["first_line"]


def first_line(err: BaseException) -> str:
    """Return the first line of an exception's message (its type name if empty)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
