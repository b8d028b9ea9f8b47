"""The generated firmware built for this PC (board `host`): the same tree of TFLM compiled
with g++, the same protocol server, on a pty - TFLM's outputs must equal tflm_edu's byte for
byte before any microcontroller is involved."""
import pytest

from conftest import SHARED_TFLM, reference_model
from models import small_conv_net_bytes, tiny_dense_net_bytes
from tflm_edu.deploy.emulator import HostBoard
from tflm_edu.deploy.firmware import generate_project
from tflm_edu.deploy.toolchain import have
from tflm_edu.deploy.verify import verify


def models():
    yield "tiny_dense_net", tiny_dense_net_bytes
    yield "small_conv_net", small_conv_net_bytes
    for name in ("hello_world_int8", "person_detect"):
        yield name, lambda name=name: reference_model(f"{name}.tflite").read_bytes()


@pytest.mark.parametrize("name,make", list(models()), ids=[n for n, _ in models()])
def test_tflm_built_for_this_pc_equals_tflm_edu(name, make, tmp_path):
    if not (SHARED_TFLM / "tflm_tree.tar.gz").is_file():
        pytest.skip(f"TFLM's sources are not at {SHARED_TFLM} (needs ../shared/tflm)")
    if not have("g++", "make"):
        pytest.skip("g++ and make are needed: apt-get install g++ make")
    model = make()
    project = generate_project(model, "host", tmp_path / "host")
    firmware = project.compile(tflm_src=SHARED_TFLM, progress=False)
    with HostBoard(firmware) as running:
        with running.open(expected_model=model, timeout=10) as board:
            info = board.info()
            assert info.board == "host" and info.arena_size == project.arena_bytes
            assert 0 < info.arena_used <= info.arena_size
            report = verify(board, model, n=5, progress=False)
            assert [e.tag for e in board.profile().events] == \
                [op for op in _op_names(model)]
    assert report.all_equal, report.table()
    assert not running.running


def _op_names(model):
    from tflm_edu.schema import read_model
    parsed = read_model(model)
    return [parsed.op_name(op) for op in parsed.subgraphs[0].operators]
