"""Pre-deploy checks: hybrid models, missing ops, models too big for a board."""
import numpy as np
import pytest

from conftest import reference_model
from tflm_edu.boards import BOARDS, Board, get_board
from tflm_edu.cli import main
from tflm_edu.convert.checks import check_model, format_findings
from tflm_edu.convert.converter import convert_sequential
from tflm_edu.convert.quantize import symmetric_weights
from tflm_edu.errors import InputError
from tflm_edu.op_resolver import SPECS
from tflm_edu.schema import BuiltinOperator as Op, TensorType, load_model, tensor_data, write_model
from tflm_edu.schema.builder import ModelBuilder, quantization
from tflm_edu.schema.options import GatherOptions
from tflm_edu.train import architectures


def errors(findings, check=None):
    return [f for f in findings if f.severity == "error" and (check is None or f.check == check)]


def hybrid_hello_world():
    """hello_world_float with int8 weights but float activations: dynamic-range quantized."""
    model = load_model(reference_model("hello_world_float.tflite"))
    graph = model.subgraphs[0]
    for op in graph.operators:
        w = graph.tensors[op.inputs[1]]
        q, scales = symmetric_weights(tensor_data(model, w), None)
        model.buffers[w.buffer].data = q.tobytes()
        w.type, w.quantization = TensorType.INT8, quantization(scales[0], 0)
    return model


def test_boards_table():
    assert get_board("Arduino Nano 33 BLE Sense").ram_bytes == 256 * 1024
    assert get_board("sparkfun-edge").ram_bytes == 384 * 1024
    assert get_board("stm32f746").ram_bytes == 320 * 1024
    real = [b for b in BOARDS.values() if not b.emulator and b.id != "host"]
    assert len(real) == 3 and all(b.flash_bytes == 1024 * 1024 and b.source for b in real)
    assert get_board("qemu-cortex-m7").emulator == "mps2-an500"
    with pytest.raises(InputError, match="known boards"):
        get_board("esp32")


def test_hybrid_model_is_an_error_and_tflm_agrees():
    model = hybrid_hello_world()
    found = errors(check_model(model), "hybrid")
    assert len(found) == 1 and "dynamic-range" in found[0].message
    tflm = pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
    with pytest.raises(RuntimeError):      # the real TFLM fails in FULLY_CONNECTED's Prepare
        tflm.Interpreter.from_bytes(write_model(model), arena_size=100_000)


def test_good_models_pass():
    for name in ("hello_world_int8.tflite", "person_detect.tflite"):
        findings = check_model(reference_model(name), board="nano33ble")
        assert not [f for f in findings if f.severity != "info"], format_findings(findings)
    float_findings = check_model(reference_model("magic_wand.tflite"))
    assert [f.check for f in float_findings if f.severity == "warning"] == ["float"]


def test_missing_ops(monkeypatch):
    # an op TFLM has and tflm_edu does not: tflm_edu as it would be without its DIV kernel
    import tflm_edu.convert.checks as checks
    not_here = Op.DIV
    monkeypatch.setattr(checks, "SPECS", {op: s for op, s in SPECS.items() if op != not_here})
    b = ModelBuilder()
    x = b.add_input((1, 4), np.float32)
    y = b.add_tensor((1, 4), np.float32)
    z = b.add_tensor((1, 4), np.float32)
    b.add_operator(not_here, [x, x], [y])
    b.add_operator(Op.LSH_PROJECTION, [y], [z])    # TFLM does not
    b.mark_output(z)
    findings = check_model(b.build())
    missing = [f.message.split(":")[0] for f in errors(findings, "unsupported-op")]
    assert missing == ["LSH_PROJECTION"]
    assert any(f.check == "tflm_edu-op" and f.message.startswith(not_here.name) for f in findings)


def test_too_big_for_the_board():
    float_person = convert_sequential(architectures.person_detection_mobilenet_v1())
    findings = check_model(float_person, board="nano33ble")
    # float32 MobileNet 0.25: 852,000 bytes fit 1 MB of flash, but its ~242 KB arena
    # leaves less than 32 KB of the 256 KB RAM for the firmware
    assert [(f.check, f.severity) for f in findings if f.check in ("flash", "ram")] == \
        [("flash", "info"), ("ram", "warning")]
    wider = convert_sequential(architectures.person_detection_mobilenet_v1(alpha=0.5))
    assert {f.check for f in errors(check_model(wider, board="nano33ble"))} == {"flash", "ram"}
    tiny = Board("tiny", "Tiny board", "MCU", "Cortex-M0+", 64 * 1024, 8 * 1024, 48_000_000, "test")
    findings = check_model(reference_model("person_detect.tflite"), board=tiny)
    assert {f.check for f in errors(findings)} == {"flash", "ram"}
    assert "NOT deployable" in format_findings(findings)


def test_cli_check(capsys):
    assert main(["check", str(reference_model("hello_world_int8.tflite")), "--board",
                 "sparkfun_edge"]) == 0
    assert "ready to deploy" in capsys.readouterr().out
    assert main(["check", str(reference_model("person_detect.tflite")), "--board", "pico"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown board 'pico'" in err[0]
    assert main(["check", "--list-boards"]) == 0
    assert "STM32F746 Discovery" in capsys.readouterr().out


def test_an_input_type_the_kernel_does_not_compute_is_reported():
    b = ModelBuilder()
    x = b.add_input((4, 3), np.int16, quant=quantization(1 / 4096, 0))
    indices = b.add_tensor((2,), np.int32, data=np.array([0, 2]))
    y = b.add_tensor((2, 3), np.int16, quant=quantization(1 / 4096, 0))
    b.add_operator(Op.GATHER, [x, indices], [y], GatherOptions())  # GATHER: float32, int8
    b.mark_output(y)
    found = [f for f in check_model(b.build()) if f.check == "tflm_edu-type"]
    assert len(found) == 1 and "GATHER on INT16 input" in found[0].message
    assert "FLOAT32, INT8" in found[0].message


def int16_transpose_conv(bias: bool) -> bytes:
    """An int16x8 TRANSPOSE_CONV, with or without its (optional) int64 bias."""
    from tflm_edu.schema.options import TransposeConvOptions
    b = ModelBuilder()
    x = b.add_input((1, 4, 4, 8), np.int16, quant=quantization(0.001, 0))
    shape = b.add_tensor((4,), np.int32, data=np.array([1, 8, 8, 4], np.int32))
    w = b.add_tensor((4, 3, 3, 8), np.int8, data=np.ones((4, 3, 3, 8), np.int8),
                     quant=quantization(0.01, 0))
    inputs = [shape, w, x]
    if bias:
        inputs.append(b.add_tensor((4,), np.int64, data=np.zeros(4, np.int64),
                                   quant=quantization(1e-5, 0)))
    y = b.mark_output(b.add_tensor((1, 8, 8, 4), np.int16, quant=quantization(0.002, 0)))
    b.add_operator(Op.TRANSPOSE_CONV, inputs, [y],
                   TransposeConvOptions(padding=0, stride_h=2, stride_w=2))
    return write_model(b.build())


@pytest.mark.parametrize("bias", [True, False])
def test_an_int16_transpose_conv_without_bias_is_flagged_for_cmsis_nn(bias):
    flagged = [f for f in check_model(int16_transpose_conv(bias)) if f.check == "cmsis-nn-crash"]
    assert bool(flagged) == (not bias)
    assert not flagged or ("zero int64 bias" in flagged[0].message
                           and flagged[0].severity == "warning")


def test_the_flagged_transpose_conv_runs_on_reference_kernels_and_not_on_cmsis_nn(tmp_path):
    """The evidence behind the warning: the real TFLM on the emulated Cortex-M4."""
    from pathlib import Path
    from tflm_edu.deploy.toolchain import have
    from tflm_edu.profile.measure import (CorpusFailed, build_corpus_firmware,
                                          run_corpus_firmware)
    tflm = Path(__file__).resolve().parents[2] / "shared" / "tflm"
    if not have("arm-none-eabi-g++", "qemu-system-arm") or not tflm.is_dir():
        pytest.skip("needs ../shared/tflm, arm-none-eabi-g++ and qemu-system-arm")

    def run(models, kernels):
        firmware = build_corpus_firmware(models, "qemu-cortex-m4", kernels,
                                         tmp_path / f"{kernels}{len(models)}", tflm_src=tflm)
        return run_corpus_firmware(firmware, len(models), stall=20)
    with_bias, without = int16_transpose_conv(True), int16_transpose_conv(False)
    assert all(ops for ops in run([with_bias, without], "reference").values())
    assert run([with_bias], "cmsis_nn")[0]
    with pytest.raises(CorpusFailed):        # the board hangs: nothing more is printed
        run([without], "cmsis_nn")
