"""Errors that carry one clear message for the user.

Every check on user input goes through :func:`check_choice`, :func:`check_positive` and
friends so that the message always names the setting and what is allowed, and the CLI can
turn any :class:`PhyDNNError` into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "PhyDNNError",
    "ConfigError",
    "DatasetNotFoundError",
    "CheckpointError",
    "check_choice",
    "check_positive",
    "check_non_negative",
    "check_power_of_two",
]


class PhyDNNError(Exception):
    """Base class of the errors gr-phydnn raises on bad input."""


class ConfigError(PhyDNNError, ValueError):
    """A setting has a value that is not allowed."""


class DatasetNotFoundError(PhyDNNError, FileNotFoundError):
    """A dataset is not installed where gr-phydnn looks for it."""


class CheckpointError(PhyDNNError, ValueError):
    """A model file is missing, malformed or does not fit the model asked for."""


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``allowed``; raise :class:`ConfigError` otherwise."""
    allowed = list(allowed)
    if value not in allowed:
        shown = ", ".join(repr(a) for a in allowed)
        raise ConfigError(f"{name}={value!r} is not allowed; choose one of: {shown}")
    return value


def check_positive(name: str, value: float, integer: bool = False) -> float:
    """Return ``value`` if it is > 0 (and an integer when asked); raise otherwise."""
    _check_number(name, value, integer)
    if value <= 0:
        kind = "a positive integer" if integer else "a positive number"
        raise ConfigError(f"{name}={value!r} is not allowed; it must be {kind}")
    return value


def check_non_negative(name: str, value: float, integer: bool = False) -> float:
    """Return ``value`` if it is >= 0 (and an integer when asked); raise otherwise."""
    _check_number(name, value, integer)
    if value < 0:
        kind = "a non-negative integer" if integer else "a non-negative number"
        raise ConfigError(f"{name}={value!r} is not allowed; it must be {kind}")
    return value


def check_power_of_two(name: str, value: int, minimum: int = 2) -> int:
    """Return ``value`` if it is a power of two >= ``minimum``; raise otherwise."""
    _check_number(name, value, integer=True)
    if value < minimum or value & (value - 1):
        raise ConfigError(
            f"{name}={value!r} is not allowed; it must be a power of two >= {minimum} "
            f"(e.g. 2, 4, 8, 16)"
        )
    return value


def _check_number(name: str, value: Any, integer: bool) -> None:
    ok_types: tuple[type, ...] = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, ok_types):
        kind = "an integer" if integer else "a number"
        raise ConfigError(f"{name}={value!r} is not allowed; it must be {kind}")
    if not integer and value != value:  # NaN
        raise ConfigError(f"{name}={value!r} is not allowed; it must be a number, not NaN")
