"""The generated firmware, built for this PC against the real TFLM (from source), over a pty:
TFLM's outputs must equal tflm_edu's byte for byte - the board check without a board.

Opt-in (marker tflm_build, deselected by default), because it needs TFLM compiled as a
static library (minutes of compiling, from a tflite-micro checkout):
    make -f tensorflow/lite/micro/tools/make/Makefile microlite      # in tflite-micro
    TFLM_EDU_TFLM_LIB=.../libtensorflow-microlite.a \\
    TFLM_EDU_TFLM_INCLUDES="-I<tflite-micro> -I<flatbuffers>/include -I<gemmlowp>" \\
    pytest -m tflm_build tests/test_deploy_host_tflm.py
"""
import os
import shutil
import subprocess

import pytest

from tflm_edu.arena_size.examples import small_conv_net, tiny_dense_net
from tflm_edu.deploy import Board
from tflm_edu.deploy.firmware import generate_project
from tflm_edu.deploy.verify import verify
from tflm_edu.schema import write_model

from conftest import MODELS

LIB = os.environ.get("TFLM_EDU_TFLM_LIB")
INCLUDES = os.environ.get("TFLM_EDU_TFLM_INCLUDES")
pytestmark = pytest.mark.tflm_build


@pytest.fixture(autouse=True)
def tflm_build_is_configured():
    if not (LIB and INCLUDES and shutil.which("make") and shutil.which("g++")):
        pytest.fail("set TFLM_EDU_TFLM_LIB and TFLM_EDU_TFLM_INCLUDES to a TFLM build "
                    "(see this file's docstring); make and g++ are needed too")


def models():
    yield "tiny_dense_net", write_model(tiny_dense_net())
    yield "small_conv_net", write_model(small_conv_net(32))
    for name in ("hello_world_int8.tflite", "person_detect.tflite"):
        if (MODELS / name).is_file():
            yield name, (MODELS / name).read_bytes()


@pytest.mark.parametrize("name,model", [(n, m) for n, m in models()], ids=[n for n, _ in models()])
def test_real_tflm_firmware_equals_tflm_edu(name, model, tmp_path):
    project = generate_project(model, "host", tmp_path / "host")
    build = subprocess.run(["make", "-C", str(project.path), f"TFLM_LIB={LIB}",
                            f"TFLM_INCLUDES={INCLUDES}"], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-3000:]
    process = subprocess.Popen([str(project.path / "board")], stdout=subprocess.PIPE, text=True)
    try:
        port = process.stdout.readline().strip()
        with Board.open(port, expected_model=model, timeout=5.0) as board:
            info = board.info()
            assert info.board == "host" and info.arena_size == project.arena_bytes
            assert 0 < info.arena_used <= info.arena_size
            report = verify(board, model, n=5, progress=False)
        print(name, info, report.summary())
        assert report.all_equal, report.table()
    finally:
        process.kill()
        process.wait()
