"""Shared fixtures: where the reference models and TFLM's sources live, the model bytes the
deploy tests send to boards, the firmware compiled against TFLM for QEMU's emulated boards
(tflm_src, firmware, on_board), and a guard against huge allocations. The models themselves
are built in models.py."""
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


# ----------------------------------------------------------------------------- emulated boards


@pytest.fixture(scope="session")
def tflm_src():
    """TFLM's sources for building firmware; skips without them or without the Arm toolchain
    and QEMU (never in CI, which installs both)."""
    from tflm_edu.deploy.toolchain import have
    if not (SHARED_TFLM / "tflm_tree.tar.gz").is_file():
        pytest.skip(f"TFLM's sources are not at {SHARED_TFLM} (needs ../shared/tflm)")
    if not have("arm-none-eabi-g++", "qemu-system-arm", "make"):
        pytest.skip("the ARM toolchain or QEMU is missing: apt-get install gcc-arm-none-eabi "
                    "libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm")
    return SHARED_TFLM


@pytest.fixture(scope="session")
def firmware(tflm_src, tmp_path_factory):
    """firmware(model name or bytes, board, kernels) -> (compiled Firmware, model bytes),
    memoized for the session (the TFLM library itself is cached across sessions)."""
    from tflm_edu.deploy.firmware import generate_project
    built = {}

    def make(model, board="qemu-cortex-m4", kernels="reference"):
        name = model if isinstance(model, str) else f"bytes{hash(model)}"
        key = (name, board, kernels)
        if key not in built:
            data = reference_model(f"{model}.tflite").read_bytes() if isinstance(model, str) \
                else model
            folder = tmp_path_factory.mktemp(f"{board}-{kernels}")
            project = generate_project(data, board, folder, kernels=kernels)
            built[key] = (project.compile(tflm_src=tflm_src, progress=False), data)
        return built[key]
    return make


def on_board(firmware_and_model):
    """A started EmulatedBoard and the Board talking to it (a context manager)."""
    import contextlib

    from tflm_edu.deploy.emulator import EmulatedBoard

    @contextlib.contextmanager
    def running():
        compiled, data = firmware_and_model
        with EmulatedBoard(compiled) as emulated:
            with emulated.open(expected_model=data, timeout=60) as board:
                yield board
    return running()


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
