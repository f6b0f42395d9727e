"""Argument checks shared by the package's public functions and configurations."""

from __future__ import annotations

import numbers

__all__ = ["check_positive_int"]


def check_positive_int(value, name: str) -> int:
    """Returns `value` as an `int`, or fails naming the argument.

    # Arguments
        value: the value given (a Python or NumPy integer; `bool` is refused).
        name: the argument's name, for the message.

    # Returns
        `int(value)`.

    # Raises
        ValueError: if `value` is not an integer of at least 1.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)
