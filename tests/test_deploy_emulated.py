"""The generated firmware, compiled for Cortex-M with arm-none-eabi-g++ against the real TFLM
(../shared/tflm) and run on QEMU's emulated boards: TFLM's C++ on a microcontroller core,
checked byte for byte against tflm_edu and the real TFLM's Python package.

The TFLM libraries are built once per run (and cached in TFLM_EDU_CACHE, ~/.cache/tflm_edu):
Cortex-M4 and Cortex-M7 with reference kernels, Cortex-M4 with CMSIS-NN. The fixtures that
build firmware (tflm_src, firmware) and on_board are in conftest.py."""
import os
import signal
import subprocess
import sys
import time
import wave

import numpy as np
import pytest

from conftest import SHARED_TFLM, on_board, reference_file, reference_model
from op_harness import random_input, run_oracle
from tflm_edu.arena_size import estimate_arena_size
from tflm_edu.compare import compare_layers
from tflm_edu.deploy import DeployError, ToolMissing
from tflm_edu.deploy.emulator import EmulatedBoard
from tflm_edu.deploy.tflm_build import fused_multiply_adds
from tflm_edu.runtime import Interpreter
from tflm_edu.schema import load_model

INT8_MODELS = ["hello_world_int8", "micro_speech_quantized", "person_detect"]
REFERENCE_MODELS = INT8_MODELS + ["hello_world_float", "magic_wand"]


def official_inputs(name):
    """TFLM's own test inputs for the examples, as the model takes them."""
    if name == "person_detect":
        from PIL import Image
        return [np.array(Image.open(reference_file(f))).view(np.int8).reshape(1, 96, 96, 1)
                for f in ("person.bmp", "no_person.bmp")]
    if name == "micro_speech_quantized":
        from tflm_edu.frontend import micro_speech_features
        inputs = []
        for wav in ("yes_1000ms.wav", "no_1000ms.wav"):
            with wave.open(str(reference_file(wav))) as f:
                samples = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2")
            inputs.append(micro_speech_features(samples).reshape(1, 1960))
        return inputs
    return []


def inputs_for(name, n_random=3):
    model = load_model(reference_model(f"{name}.tflite"))
    tensor = model.subgraphs[0].tensors[model.subgraphs[0].inputs[0]]
    rng = np.random.default_rng(7)
    return official_inputs(name) + [random_input(rng, tensor.shape, tensor.dtype)
                                    for _ in range(n_random)]


def host_output(data, x):
    interpreter = Interpreter.from_bytes(data)
    interpreter.set_input(np.asarray(x).reshape(interpreter.get_input_details(0)["shape"]), 0)
    interpreter.invoke()
    return interpreter.get_output(0)


# -- TFLM's C++ on a Cortex-M4: the same bytes as tflm_edu and as the real TFLM on the PC ---

@pytest.mark.parametrize("name", INT8_MODELS + ["hello_world_float"])
def test_reference_model_is_byte_equal_on_cortex_m4(firmware, name):
    compiled, data = firmware(name)
    with on_board(firmware(name)) as board:
        info = board.info()
        assert info.board == "qemu-cortex-m4" and info.counter == "instructions"
        for x in inputs_for(name):
            y, latency_us = board.invoke(x)
            assert y.tobytes() == host_output(data, x).tobytes()
            assert y.tobytes() == run_oracle(data, [x])[0].tobytes()
            assert board.last.counter > 0 and latency_us > 0


def test_person_detect_classifies_the_official_images_on_the_board(firmware):
    with on_board(firmware("person_detect")) as board:
        person, no_person = official_inputs("person_detect")
        assert board.invoke(person)[0].tolist() == [[-113, 113]]
        assert board.invoke(no_person)[0].tolist() == [[57, -57]]


def test_magic_wand_float_differs_only_in_softmax_exp(firmware):
    """Float on the M4: every layer is byte-equal (GCC's FMA contraction is off) except
    SOFTMAX, whose std::exp comes from newlib on the board and glibc on the PC: an exp one
    ulp apart moves the sum, so a probability may move by two."""
    compiled, data = firmware("magic_wand")
    with on_board(firmware("magic_wand")) as board:
        softmax_ulps = []
        for x in inputs_for("magic_wand", n_random=6):
            report = compare_layers(data, [x], oracle=board)
            for row in report.rows:
                if row.op_name != "SOFTMAX":
                    assert row.equal, report.table()
            y, _ = board.invoke(x)
            ulps = y.view(np.int32).astype(np.int64) - \
                host_output(data, x).reshape(y.shape).view(np.int32)
            softmax_ulps.append(int(np.abs(ulps).max()))
    assert max(softmax_ulps) <= 2


@pytest.mark.parametrize("name", ["person_detect", "micro_speech_quantized"])
def test_every_intermediate_tensor_read_from_the_board_equals_tflm_edu(firmware, name):
    compiled, data = firmware(name)
    with on_board(firmware(name)) as board:
        report = compare_layers(data, inputs_for(name, 1)[:1], oracle=board)
        assert report.matches, report.table()
        assert len(report.rows) == len(load_model(reference_model(f"{name}.tflite"))
                                       .subgraphs[0].operators)
        assert not board.info().preserves_all_tensors     # configured back afterwards


def test_profile_names_every_op_and_adds_up(firmware):
    compiled, data = firmware("person_detect")
    model = load_model(reference_model("person_detect.tflite"))
    with on_board(firmware("person_detect")) as board:
        board.invoke(official_inputs("person_detect")[0])
        profile = board.profile()
    assert [e.tag for e in profile.events] == [model.op_name(op)
                                               for op in model.subgraphs[0].operators]
    assert profile.unit == "instructions" and all(e.depth == 0 for e in profile.events)
    invoke = board.last.counter
    assert 0.99 * invoke <= profile.total <= invoke       # the ops are the invoke
    assert 400e6 < invoke < 700e6                         # about 526 M on the M4
    assert "CONV_2D" in profile.table()


@pytest.mark.parametrize("name", REFERENCE_MODELS)
def test_smallest_arena_measured_on_the_board_equals_the_estimate(firmware, name):
    compiled, data = firmware(name)
    estimate = estimate_arena_size(data, "cortex-m").arena_bytes
    with on_board(firmware(name)) as board:
        measured = board.smallest_arena()
        assert board.configure(measured).status == 0
        seen = len(board.log)
        assert board.configure(measured - 1).status != 0
        said = " ".join(board.log[seen:])                   # TFLM's own words, via LOG:
        assert "Failed to" in said or "Too many buffers" in said, said  # arena or planner
        assert board.configure().status == 0 and board.info().ready
    assert abs(measured - estimate) <= 16, (measured, estimate)


def example_models():
    """The int8 models the notebooks train, built from the same architectures (random
    weights: the arena does not depend on them)."""
    from tflm_edu.convert.converter import convert_sequential
    from tflm_edu.convert.quantize import quantize_model
    from tflm_edu.schema import write_model
    from tflm_edu.train import architectures as arch
    from tflm_edu.train.batchnorm import BatchNormalization
    rng = np.random.default_rng(0)
    for make, shape in ((arch.hello_world, (1,)), (arch.micro_speech_tiny_conv, (49, 40, 1)),
                        (arch.magic_wand, (128, 3, 1)),
                        (arch.person_detection_mobilenet_v1, (96, 96, 1))):
        network = make()
        calibration = rng.standard_normal((8, *shape)).astype(np.float32)
        # What training does to batch norm's statistics (untrained, MobileNet's activations
        # shrink to 1e-10 by the last layer): one pass with the moving averages taking the
        # batch's mean and variance outright.
        for layer in network.layers:
            if isinstance(layer, BatchNormalization):
                layer.momentum = 0.0
        network.forward(calibration, training=True)
        model = convert_sequential(network)
        yield make.__name__, write_model(quantize_model(model, calibration, progress=False))


@pytest.mark.parametrize("name,data", list(example_models()), ids=lambda v: v if
                         isinstance(v, str) else "")
def test_example_model_arena_and_bytes_on_the_board(firmware, name, data):
    estimate = estimate_arena_size(data, "cortex-m").arena_bytes
    with on_board(firmware(data)) as board:
        x = random_input(np.random.default_rng(1), board.info().input.shape, np.int8)
        assert board.invoke(x)[0].tobytes() == host_output(data, x).tobytes()
        measured = board.smallest_arena()
    assert abs(measured - estimate) <= 16, (name, measured, estimate)


# -- real models with streaming state, SVDF and int16 activations --------------------------

STATEFUL_MODELS = ["models/mww_alexa", "models/tflm_models_keyword_scrambled",
                   "models/seanet_seanet_conv13", "reference/models/audio_preprocessor_int8"]


def shared_model(name):
    path = SHARED_TFLM.parent / f"{name}.tflite"
    if not path.is_file():
        pytest.skip(f"{path} not found (needs ../shared/models)")
    return path.read_bytes()


@pytest.mark.parametrize("name", STATEFUL_MODELS)
def test_real_model_runs_invoke_after_invoke_on_the_board(firmware, name):
    """A microWakeWord model (resource variables, CALL_ONCE, two subgraphs), TFLM's keyword
    model (SVDF state), a SEANet int16 layer and the micro_speech audio preprocessor (TFLM's
    Signal ops, with noise estimates kept between frames): the board's outputs over consecutive
    invokes equal tflm_edu's, which carries its state the same way; the smallest arena the
    board accepts equals the Cortex-M estimate."""
    data = shared_model(name)
    host = Interpreter.from_bytes(data)
    rng = np.random.default_rng(5)
    detail = host.get_input_details(0)
    with on_board(firmware(data)) as board:
        for k in range(4):
            x = random_input(rng, tuple(detail["shape"]), detail["dtype"])
            y, _ = board.invoke(x)
            host.set_input(x, 0)
            host.invoke()
            assert y.tobytes() == host.get_output(0).tobytes(), f"invoke {k}"
        measured = board.smallest_arena()
    assert measured == estimate_arena_size(data, "cortex-m").arena_bytes


# -- the Cortex-M7, and Arm's CMSIS-NN kernels ---------------------------------------------

def test_person_detect_on_cortex_m7(firmware):
    compiled, data = firmware("person_detect", "qemu-cortex-m7")
    with on_board((compiled, data)) as board:
        assert board.info().board == "qemu-cortex-m7"
        for x in inputs_for("person_detect", 1):
            assert board.invoke(x)[0].tobytes() == host_output(data, x).tobytes()
        measured = board.smallest_arena()
    assert abs(measured - estimate_arena_size(data, "cortex-m").arena_bytes) <= 16


@pytest.mark.parametrize("name", INT8_MODELS)
def test_cmsis_nn_kernels_equal_tflm_edu(firmware, name):
    """CMSIS-NN computes the int8 ops with other loops (SIMD, other accumulation orders):
    its outputs still equal the reference kernels' byte for byte on these models, in far
    fewer instructions."""
    compiled, data = firmware(name, kernels="cmsis_nn")
    assert compiled.kernels == "cmsis_nn"
    with on_board((compiled, data)) as board:
        for x in inputs_for(name):
            assert board.invoke(x)[0].tobytes() == host_output(data, x).tobytes()
        cmsis = board.last.counter
    with on_board(firmware(name)) as board:
        board.invoke(inputs_for(name)[0])
        reference = board.last.counter
    assert cmsis < reference


# -- the three real boards' firmware compiles for their CPUs ---------------------------------

@pytest.mark.parametrize("board,cpu", [("stm32f746", "cortex-m7"), ("nano33ble", "cortex-m4"),
                                       ("sparkfun_edge", "cortex-m4")])
def test_real_boards_firmware_compiles_and_links(firmware, board, cpu):
    compiled, data = firmware("person_detect", board)
    facts = compiled.board.board
    assert compiled.board.cpu == cpu and compiled.elf.is_file()
    assert 300_000 < compiled.flash_bytes < facts.flash_bytes
    assert 82_296 < compiled.ram_bytes < facts.ram_bytes
    symbols = subprocess.run(["arm-none-eabi-nm", str(compiled.elf)], capture_output=True,
                             text=True, check=True).stdout
    assert " main" in symbols and "MicroInterpreter" in symbols
    if board == "stm32f746":               # the whole firmware, ST's HAL and startup included
        assert compiled.complete and compiled.bin.stat().st_size > 300_000
        assert "HAL_UART_Transmit" in symbols and "Reset_Handler" in symbols
    else:
        assert not compiled.complete and "stand-in" in compiled.size_report()


# -- float: the flag that makes the board agree, and the instruction it removes ----------------

def test_fp_contract_off_removes_the_fused_multiply_adds(tflm_src):
    """GCC fuses a * b + c into one vfma (one rounding instead of two) unless told not to:
    the reason float models differ on a Cortex-M built with TFLM's stock flags."""
    kernel = "tensorflow/lite/micro/kernels/fully_connected.cc"
    assert fused_multiply_adds(kernel, stock_float=True, tflm_src=tflm_src) > 0
    assert fused_multiply_adds(kernel, stock_float=False, tflm_src=tflm_src) == 0


# -- the command line, and what happens when tools are missing --------------------------------

def test_cli_deploys_to_the_emulated_board(tflm_src, tmp_path, capsys):
    import json

    from tflm_edu.cli import main
    model = reference_model("hello_world_int8.tflite")
    status = main(["deploy", str(model), "--board", "qemu-cortex-m4", "-o", str(tmp_path / "p"),
                   "-n", "3", "--profile", "--arena", "--json", "--tflm-src", str(tflm_src)])
    out = json.loads(capsys.readouterr().out)
    assert status == 0 and out["byte_equal"] and out["samples"] == 3
    assert [op["op"] for op in out["profile"]["ops"]] == ["FULLY_CONNECTED"] * 3
    assert abs(out["smallest_arena"] - out["estimated_arena"]) <= 16


def test_missing_toolchain_is_one_line_with_the_apt_get_line(tmp_path, monkeypatch, capsys):
    import shutil

    from tflm_edu.cli import main
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which",
                        lambda name, *a, **k: None if name.startswith(("arm-none-eabi", "qemu"))
                        else real_which(name, *a, **k))
    monkeypatch.setenv("TFLM_EDU_CACHE", str(tmp_path / "empty-cache"))
    status = main(["deploy", str(reference_model("hello_world_int8.tflite")), "--board",
                   "qemu-cortex-m4", "-o", str(tmp_path / "p")])
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1
    assert "arm-none-eabi-g++ is not installed" in err and "apt-get install gcc-arm-none-eabi" \
        in err
    with pytest.raises(ToolMissing, match="apt-get install qemu-system-arm"):
        EmulatedBoard(tmp_path / "p" / "README.md", machine="mps2-an386").start()


def test_qemu_does_not_outlive_the_python_that_started_it(firmware, tmp_path):
    compiled, data = firmware("hello_world_int8")
    script = tmp_path / "start.py"
    script.write_text("import sys, time\nfrom tflm_edu.deploy.emulator import EmulatedBoard\n"
                      f"board = EmulatedBoard({str(compiled.elf)!r}, machine='mps2-an386')\n"
                      "board.start()\nprint(board.process.pid, flush=True)\ntime.sleep(60)\n")
    child = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    qemu = int(child.stdout.readline())
    os.kill(child.pid, signal.SIGKILL)                   # no atexit, no finally: a hard death
    child.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(qemu):
        time.sleep(0.05)
    assert not _alive(qemu)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_a_firmware_that_is_not_there_is_a_clear_error(tmp_path):
    with pytest.raises(DeployError, match="does not exist: compile it first"):
        EmulatedBoard(tmp_path / "missing.elf", machine="mps2-an386").start()
