"""Shared fixtures: where the reference models and TFLM's sources live, the model bytes the
deploy tests send to boards, and a guard against huge allocations. The models themselves are
built in models.py."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference"
MODELS = REFERENCE / "models"
TESTDATA = REFERENCE / "testdata"
SHARED_TFLM = ROOT.parent / "shared" / "tflm"  # TFLM's C++ sources, for building firmware


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


# ----------------------------------------------------------------------------- models for boards


@pytest.fixture(scope="session")
def conv_net_bytes() -> bytes:
    from models import small_conv_net_bytes
    return small_conv_net_bytes()


@pytest.fixture(scope="session")
def dense_net_bytes() -> bytes:
    from models import tiny_dense_net_bytes
    return tiny_dense_net_bytes()


# ----------------------------------------------------------------------------- memory guard

HUGE = 64 << 20  # bytes or elements a single allocation may ask for in guarded tests


class HugeAllocation(Exception):
    """Raised instead of letting a malformed model make tflm_edu allocate gigabytes."""


def refuse_huge_allocations(monkeypatch) -> None:
    """The arena's bytearray() and numpy's array constructors refuse more than HUGE bytes /
    elements: a model asking for gigabytes fails fast instead of eating the machine's
    memory (or being killed by it)."""
    import numpy as np

    from tflm_edu.memory import arena as arena_module

    def guarded_bytearray(size=0, *args):
        if isinstance(size, int) and size > HUGE:
            raise HugeAllocation(f"the interpreter asked for a {size:,}-byte arena")
        return bytearray(size, *args)
    monkeypatch.setattr(arena_module, "bytearray", guarded_bytearray, raising=False)
    for name in ("empty", "zeros", "ones", "full"):
        monkeypatch.setattr(np, name, _guarded_constructor(getattr(np, name)))


def _guarded_constructor(constructor):
    import numpy as np

    def guarded(shape, *args, **kwargs):
        count = int(np.prod(np.asarray(shape, dtype=object)))
        if count > HUGE:
            raise HugeAllocation(f"np.{constructor.__name__} of shape {shape}")
        return constructor(shape, *args, **kwargs)
    return guarded


@pytest.fixture
def no_huge_allocations(monkeypatch):
    refuse_huge_allocations(monkeypatch)
