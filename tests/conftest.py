"""Shared fixtures: deterministic seeds, small datasets, and GNU Radio availability."""

from __future__ import annotations

import importlib.util

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(1234)


@pytest.fixture(scope="session")
def digits_train():
    from phydnn.data import load_digits
    return load_digits("train")


@pytest.fixture(scope="session")
def digits_test():
    from phydnn.data import load_digits
    return load_digits("test")


def has_gnuradio() -> bool:
    return importlib.util.find_spec("gnuradio") is not None


requires_gnuradio = pytest.mark.skipif(not has_gnuradio(), reason="GNU Radio is not installed")
