"""The reference kernels (tflm_edu.kernels.reference, TFLM's plain loops) write the same
bytes as the optimized ones, op by op on seeded random cases and on whole reference
models - and, for the models and the cases where they once differed, as the real TFLM."""
import numpy as np
import pytest

from conftest import reference_file, reference_model
from op_harness import check_families, run_oracle
from models import BROADCAST_SHAPES, binary_model, conv_model, dw_model, fc_model, pool_model
from tflm_edu import AllOpsResolver, Interpreter, MicroMutableOpResolver
from tflm_edu import resolver_for_model
from tflm_edu.kernels import conv as optimized_conv
from tflm_edu.kernels.reference import conv as reference_conv
from tflm_edu.op_resolver import SPECS, REFERENCE_OPS, reference_fallbacks
from tflm_edu.schema import read_model
from tflm_edu.schema.enums import ActivationFunctionType as Act, BuiltinOperator as Op
from tflm_edu.schema.enums import Padding

SAME, VALID = Padding.SAME, Padding.VALID
ACTS = [Act.NONE, Act.RELU, Act.RELU6, Act.RELU_N1_TO_1]


# ----------------------------------------------------------------------------- resolver


def test_resolver_picks_the_family():
    optimized, ref = AllOpsResolver(), AllOpsResolver(kernels="reference")
    for op in SPECS:
        a, b = optimized.find_op(op), ref.find_op(op)
        assert a.kernels == "optimized"
        assert b.kernels == ("reference" if op in REFERENCE_OPS else "optimized")
        # a reference kernel is its optimized twin with another eval: same init, prepare
        assert (a.init, a.prepare, a.max_version) == (b.init, b.prepare, b.max_version)
        assert (a.eval is b.eval) == (op not in REFERENCE_OPS)
    assert Op.SOFTMAX in reference_fallbacks() and Op.CONV_2D not in reference_fallbacks()
    assert ref.find_op(Op.CONV_2D).eval is reference_conv.eval
    assert optimized.find_op(Op.CONV_2D).eval is optimized_conv.eval


def test_every_way_in_selects_the_family():
    data = reference_model("hello_world_int8.tflite").read_bytes()
    model = read_model(data)
    resolver = MicroMutableOpResolver(1, kernels="reference").add_fully_connected()
    assert resolver.find_op(Op.FULLY_CONNECTED).kernels == "reference"
    assert "kernels='reference'" in repr(resolver)
    assert resolver_for_model(model, "reference").kernels == "reference"
    interpreters = [Interpreter.from_bytes(data, kernels=k) for k in ("optimized", "reference")]
    assert [i.micro.registrations[0].kernels for i in interpreters] == ["optimized", "reference"]
    # the same prepare makes the same OpData: the arena cannot tell the families apart
    assert interpreters[0].arena_used_bytes() == interpreters[1].arena_used_bytes()
    path = reference_model("hello_world_int8.tflite")
    assert Interpreter.from_file(path).micro.registrations[0].kernels == "optimized"
    with pytest.raises(ValueError, match="kernels must be one of optimized, reference"):
        AllOpsResolver(kernels="cmsis_nn")


# ----------------------------------------------------------------------------- per op


def random_conv_geometry(rng):
    kernel = tuple(int(k) for k in rng.integers(1, 4, 2))
    dilation = tuple(int(d) for d in rng.integers(1, 3, 2))
    hw = tuple(int(s) for s in rng.integers(3, 9, 2))
    fits = all((k - 1) * d + 1 <= s for k, d, s in zip(kernel, dilation, hw))
    stride = tuple(int(s) for s in rng.integers(1, 4, 2))
    return hw, kernel, stride, dilation, VALID if fits and rng.random() < 0.5 else SAME


@pytest.mark.parametrize("dtype", [np.int8, np.float32])
@pytest.mark.parametrize("seed", range(6))
def test_conv(dtype, seed):
    rng = np.random.default_rng(200 + seed)
    hw, kernel, stride, dilation, padding = random_conv_geometry(rng)
    groups = int(rng.choice([1, 1, 2]))
    check_families(conv_model(
        dtype, int(rng.integers(1, 3)), hw, groups * int(rng.integers(1, 4)), kernel,
        groups * int(rng.integers(1, 4)), stride, dilation, padding, ACTS[seed % 4],
        bias=bool(rng.random() < 0.8), per_channel=bool(rng.random() < 0.7), groups=groups,
        filter_zp=int(rng.integers(-3, 4)), seed=seed), seed)


@pytest.mark.parametrize("dtype", [np.int8, np.float32])
@pytest.mark.parametrize("seed", range(6))
def test_depthwise_conv(dtype, seed):
    rng = np.random.default_rng(300 + seed)
    hw, kernel, stride, dilation, padding = random_conv_geometry(rng)
    check_families(dw_model(
        dtype, int(rng.integers(1, 3)), hw, int(rng.integers(1, 5)), kernel,
        int(rng.integers(1, 4)), stride, dilation, padding, ACTS[seed % 4],
        bias=bool(rng.random() < 0.8), per_channel=bool(rng.random() < 0.7), seed=seed), seed)


@pytest.mark.parametrize("dtype", [np.int8, np.float32])
@pytest.mark.parametrize("seed", range(6))
def test_fully_connected(dtype, seed):
    rng = np.random.default_rng(400 + seed)
    check_families(fc_model(int(rng.integers(1, 4)), int(rng.integers(1, 40)),
                            int(rng.integers(1, 9)), dtype, ACTS[seed % 4],
                            per_channel=seed % 2 == 1, filter_zp=0,
                            bias=bool(rng.random() < 0.8), seed=seed), seed)


@pytest.mark.parametrize("per_channel", [False, True])
def test_fully_connected_filter_zero_point_as_tflm(per_channel):
    """A per-tensor filter zero point is subtracted; per channel, TFLM ignores it (the
    reference loops showed the optimized kernel wrong here: now both agree with TFLM)."""
    check_families(fc_model(2, 9, 4, np.int8, Act.NONE, bias=False, per_channel=per_channel,
                            seed=5, filter_zp=7), oracle=True)


@pytest.mark.parametrize("op", [Op.AVERAGE_POOL_2D, Op.MAX_POOL_2D])
@pytest.mark.parametrize("dtype", [np.int8, np.float32, np.int16])
@pytest.mark.parametrize("seed", range(3))
def test_pooling(op, dtype, seed):
    rng = np.random.default_rng(500 + seed)
    shape = (int(rng.integers(1, 3)), *(int(s) for s in rng.integers(1, 9, 2)),
             int(rng.integers(1, 4)))
    filter_hw = tuple(int(f) for f in rng.integers(1, 4, 2))
    fits = filter_hw[0] <= shape[1] and filter_hw[1] <= shape[2]
    check_families(pool_model(op, shape, filter_hw, tuple(int(s) for s in rng.integers(1, 4, 2)),
                              VALID if fits and seed % 2 else SAME, dtype, ACTS[seed],
                              seed=seed), seed)


@pytest.mark.parametrize("op", [Op.ADD, Op.MUL])
@pytest.mark.parametrize("dtype", [np.int8, np.float32, np.int16, np.int32])
@pytest.mark.parametrize("case", [0, 1, 5, 6, 9, 10])
def test_add_mul(op, dtype, case):
    shape1, shape2 = BROADCAST_SHAPES[case]
    act = Act.NONE if dtype == np.int32 else ACTS[case % 4]
    check_families(binary_model(op, shape1, shape2, dtype, act, seed=case), case)


@pytest.mark.parametrize("op", [Op.ADD, Op.MUL, Op.MAX_POOL_2D, Op.AVERAGE_POOL_2D])
def test_float_special_values(op):
    """inf, NaN and -0.0 go through both loops alike (std::max keeps the earlier of equal
    values and skips NaN; sums and products propagate)."""
    special = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 3e38, -3e38, 1.5], np.float32)
    x = np.random.default_rng(7).choice(special, (1, 4, 4, 2)).astype(np.float32)
    if op in (Op.ADD, Op.MUL):
        model = binary_model(op, (1, 4, 4, 2), (1, 4, 4, 2), np.float32)
        inputs = [x, x[:, ::-1].copy()]
    else:
        model, inputs = pool_model(op, (1, 4, 4, 2), (2, 2), (1, 1), SAME, np.float32), [x]
    check_families(model, inputs=inputs)


# ----------------------------------------------------------------------------- whole models


@pytest.mark.parametrize("name", ["hello_world_int8", "hello_world_float",
                                  "micro_speech_quantized", "magic_wand"])
def test_reference_models(name):
    check_families(reference_model(f"{name}.tflite").read_bytes(), seed=1, oracle=True)


def test_person_detect_official_image():
    """One invoke (the reference loops take seconds here): TFLM's scores, byte for byte."""
    from PIL import Image
    pixels = np.array(Image.open(reference_file("person.bmp")))
    image = pixels.view(np.int8).reshape(1, 96, 96, 1)
    data = reference_model("person_detect.tflite").read_bytes()
    interpreter = Interpreter.from_bytes(data, kernels="reference")
    interpreter.set_input(image, 0)
    interpreter.invoke()
    ours = interpreter.get_output(0)
    assert ours.tolist() == [[-113, 113]]
    assert ours.tobytes() == run_oracle(data, [image])[0].tobytes()
    optimized = Interpreter.from_bytes(data)
    optimized.set_input(image, 0)
    optimized.invoke()
    assert ours.tobytes() == optimized.get_output(0).tobytes()
