"""Shared fixtures: where the reference models live, and whether the oracles are installed."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference"
MODELS = REFERENCE / "models"
TESTDATA = REFERENCE / "testdata"


def reference_model(name: str) -> Path:
    """Path of a reference model, skipping the test (with the reason) when it is absent."""
    path = MODELS / name
    if not path.is_file():
        pytest.skip(f"reference model {name} not found at {MODELS} (needs ../shared/reference)")
    return path


def reference_file(name: str) -> Path:
    path = TESTDATA / name
    if not path.is_file():
        pytest.skip(f"reference test data {name} not found at {TESTDATA}")
    return path
