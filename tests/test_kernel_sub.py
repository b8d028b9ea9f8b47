"""SUB against the real TFLM, byte for byte: float32, int8, int16 and int32, broadcasting,
fused activations, every int8 pair; both kernel families; its arena and its quantization."""
import numpy as np
import pytest

from models import BROADCAST_SHAPES, binary_model
from op_harness import check_families, check_model, run_oracle, run_tflm_edu
from tflm_edu.arena_size import estimate_arena_size
from tflm_edu.arena_size.oracle import smallest_arena_tflm
from tflm_edu.convert.quantize import quantize_model
from tflm_edu.schema import write_model
from tflm_edu.schema.builder import ModelBuilder, quantization
from tflm_edu.schema.enums import ActivationFunctionType as Act, BuiltinOperator as Op
from tflm_edu.schema.options import FullyConnectedOptions, SubOptions

SUB = Op.SUB
DTYPES = [np.int8, np.float32, np.int32, np.int16]
ALL_INT8 = np.arange(-128, 128, dtype=np.int8)
EVERY_PAIR = [ALL_INT8.reshape(256, 1), ALL_INT8.reshape(1, 256)]


@pytest.mark.parametrize("case", range(len(BROADCAST_SHAPES)))
@pytest.mark.parametrize("dtype", DTYPES)
def test_broadcasting(case, dtype):
    shape1, shape2 = BROADCAST_SHAPES[case]
    check_model(binary_model(SUB, shape1, shape2, dtype, seed=case), case)


@pytest.mark.parametrize("act", [Act.NONE, Act.RELU, Act.RELU6, Act.RELU_N1_TO_1])
@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_activations(act, dtype):
    """Unlike ADD, int32 SUB applies its fused activation: RELU clamps at 0."""
    check_model(binary_model(SUB, (2, 4, 5), (4, 1), dtype, act, seed=int(act)), int(act))


@pytest.mark.parametrize("seed", range(8))
def test_int8_random_scales(seed):
    rng = np.random.default_rng(200 + seed)
    quants = [quantization(s, z) for s, z in zip(10.0 ** rng.uniform(-4, 0, 3),
                                                 rng.integers(-128, 128, 3))]
    act = [Act.NONE, Act.RELU, Act.RELU6][seed % 3]
    check_model(binary_model(SUB, (3, 1, 6), (1, 5, 6), np.int8, act, seed=seed,
                             const2=bool(seed % 2), quants=quants), seed)


# (scale1, zp1, scale2, zp2, scale_out, zp_out), found by search, where computing the three
# multipliers in float32 (as TFLM's source did until at least 2026-08-20) instead of in double
# (as the TFLM in the tflite-micro package does) changes one of the 65,536 results.
PRECISION_SCALES = [
    (0.14992767572402954, 98, 0.09153728932142258, 94, 0.019664378836750984, -48),
    (0.002134046982973814, -83, 0.004071220755577087, -48, 0.0071026342920959, 54),
    (0.05371544137597084, -48, 0.8223750591278076, -88, 0.21085911989212036, 74),
]


def every_pair_model(s1, z1, s2, z2, so, zo):
    quants = [quantization(s1, z1), quantization(s2, z2), quantization(so, zo)]
    return binary_model(SUB, (256, 1), (1, 256), np.int8, quants=quants)


@pytest.mark.parametrize("case", PRECISION_SCALES)
def test_int8_every_pair_at_scales_where_the_multipliers_precision_shows(case):
    check_model(every_pair_model(*case), inputs=EVERY_PAIR)


def sub_with_float32_multipliers(case):
    """Every int8 pair through SUB as TFLM's source computed it until at least 2026-08-20:
    `const float twice_max_input_scale` and float32 divisions."""
    from tflm_edu.kernels.add import quantize_smaller_than_one
    from tflm_edu.kernels.sub import OpDataSub, sub_quantized
    s1, z1, s2, z2, so, zo = case
    s1, s2, so = np.float32(s1), np.float32(s2), np.float32(so)
    twice_max_input_scale = np.float32(2) * max(s1, s2)               # const float
    data = OpDataSub(input1_offset=-z1, input2_offset=-z2, output_offset=zo, left_shift=20,
                     output_activation_min=-128, output_activation_max=127)
    data.input1_multiplier, data.input1_shift = quantize_smaller_than_one(
        float(s1 / twice_max_input_scale), "input 1")
    data.input2_multiplier, data.input2_shift = quantize_smaller_than_one(
        float(s2 / twice_max_input_scale), "input 2")
    data.output_multiplier, data.output_shift = quantize_smaller_than_one(
        float(twice_max_input_scale / (np.float32(1 << 20) * so)), "output")
    return sub_quantized(*EVERY_PAIR, data, np.int8)


@pytest.mark.parametrize("case", PRECISION_SCALES)
def test_in_float32_those_scales_give_another_answer(case):
    """The multipliers computed in float32 answer differently from the real TFLM at those
    scales: the test above can tell the two computations apart."""
    expected = run_oracle(write_model(every_pair_model(*case)), EVERY_PAIR)[0]
    in_float32 = sub_with_float32_multipliers(case)
    assert (in_float32 != expected.reshape(in_float32.shape)).sum() >= 1


def test_on_the_emulated_board_sub_is_the_tflm_of_the_source_tree(tmp_path):
    """The firmware links TFLM built from ../shared/tflm (commit 90b983c): its SUB still
    computes the multipliers in float32, so at those scales the board answers one step away
    from tflm_edu (and from the tflite-micro package) on exactly the pairs the float32
    computation predicts."""
    from conftest import SHARED_TFLM
    from tflm_edu.deploy.emulator import emulate
    from tflm_edu.deploy.toolchain import have
    if not (SHARED_TFLM / "tflm_tree.tar.gz").is_file() or not have("arm-none-eabi-g++",
                                                                     "qemu-system-arm"):
        pytest.skip("needs ../shared/tflm, arm-none-eabi-g++ and qemu-system-arm")
    case = PRECISION_SCALES[0]
    data = write_model(every_pair_model(*case))
    with emulate(data, "qemu-cortex-m4", out_dir=tmp_path, tflm_src=SHARED_TFLM,
                 progress=False) as emulated:
        with emulated.open(expected_model=data, timeout=60) as board:
            on_board, _ = board.invoke(*EVERY_PAIR)
    ours = run_tflm_edu(data, EVERY_PAIR)[0]
    on_board = np.asarray(on_board).reshape(ours.shape)
    assert on_board.tobytes() == sub_with_float32_multipliers(case).tobytes()
    differ = on_board != ours
    assert differ.sum() >= 1 and np.abs(on_board[differ].astype(int) - ours[differ]).max() == 1


def test_int16_with_zero_points():
    quants = [quantization(3e-4, 17), quantization(5e-4, -200), quantization(7e-4, 9)]
    check_model(binary_model(SUB, (3, 40), (40,), np.int16, quants=quants), 4)


def test_int32_wraps_and_clamps():
    big = np.array([2**31 - 1, -(2**31), 2**30, -5, 7, 0], dtype=np.int32)
    other = np.array([-1, 1, -(2**31), 5, 7, -6], dtype=np.int32)
    for act in (Act.NONE, Act.RELU, Act.RELU6, Act.RELU_N1_TO_1):
        check_model(binary_model(SUB, (6,), (6,), np.int32, act), inputs=[big, other])


def test_float_special_values():
    """inf - inf is NaN; overflow clamps to +-FLT_MAX; -0.0 - 0.0 keeps its sign."""
    special = np.array([np.inf, -np.inf, np.nan, -0.0, 0.0, 3e38, -3e38, 1.5], np.float32)
    check_model(binary_model(SUB, (8,), (8,), np.float32),
                inputs=[special, special[::-1].copy()])
    check_model(binary_model(SUB, (8,), (8,), np.float32, Act.RELU),
                inputs=[special, np.zeros(8, np.float32)])


# ----------------------------------------------------------------------------- both families


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", [0, 1, 3, 6, 9, 11])
def test_reference_loop_equals_the_fast_path_and_tflm(dtype, case):
    shape1, shape2 = BROADCAST_SHAPES[case]
    act = [Act.NONE, Act.RELU, Act.RELU6, Act.RELU_N1_TO_1][case % 4]
    check_families(binary_model(SUB, shape1, shape2, dtype, act, seed=case), case,
                   oracle=True)


def test_reference_loop_on_every_int8_pair():
    check_families(every_pair_model(*PRECISION_SCALES[0]), inputs=EVERY_PAIR, oracle=True)


# ----------------------------------------------------------------------------- arena, quantizer


@pytest.mark.parametrize("dtype", [np.int8, np.float32])
def test_arena_estimate_is_the_real_tflms(dtype):
    model = binary_model(SUB, (1, 8, 8, 3), (3,), dtype, const2=True)
    assert estimate_arena_size(model, "host").arena_bytes == smallest_arena_tflm(model)


def test_the_quantizer_writes_int8_sub_that_tflm_runs():
    """A float model x -> FC -> (FC - x): quantized by tflm_edu, run by both runtimes."""
    rng = np.random.default_rng(3)
    b = ModelBuilder()
    x = b.add_input((1, 6), np.float32, "x")
    w = b.add_tensor((6, 6), np.float32, "w", rng.standard_normal((6, 6)))
    fc = b.add_tensor((1, 6), np.float32, "fc")
    b.add_operator(Op.FULLY_CONNECTED, [x, w, -1], [fc], FullyConnectedOptions())
    y = b.add_tensor((1, 6), np.float32, "y")
    b.add_operator(SUB, [fc, x], [y], SubOptions(fused_activation_function=Act.RELU))
    b.mark_output(y)
    calibration = rng.standard_normal((16, 6)).astype(np.float32)
    quantized = quantize_model(b.build(), calibration, io_type="int8", progress=False)
    ops = quantized.subgraphs[0].operators
    assert [quantized.op_name(op) for op in ops] == ["FULLY_CONNECTED", "SUB"]
    data = write_model(quantized)
    x = rng.integers(-128, 128, (1, 6)).astype(np.int8)
    assert run_tflm_edu(data, [x])[0].tobytes() == run_oracle(data, [x])[0].tobytes()
