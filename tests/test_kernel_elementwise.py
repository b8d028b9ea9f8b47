"""ADD, MUL, RELU, RELU6, QUANTIZE and DEQUANTIZE against the real TFLM, byte for byte."""
import numpy as np
import pytest

from models import BROADCAST_SHAPES, binary_model, one_op_model, tensor
from op_harness import check_model
from tflm_edu import ModelError
from tflm_edu.interpreter import MicroInterpreter
from tflm_edu.op_resolver import AllOpsResolver
from tflm_edu.schema import read_model, write_model
from tflm_edu.schema.builder import ModelBuilder, quantization
from tflm_edu.schema.enums import ActivationFunctionType as Act, BuiltinOperator as Op
from tflm_edu.schema.options import (AddOptions, DequantizeOptions,
                                     QuantizeOptions)

ADD, MUL = Op.ADD, Op.MUL
ALL_INT8 = np.arange(-128, 128, dtype=np.int8)


def allocate(model):
    """Build tflm_edu's interpreter for `model` (through .tflite bytes) and allocate it."""
    interpreter = MicroInterpreter(read_model(write_model(model)), AllOpsResolver(), None)
    interpreter.allocate_tensors()
    return interpreter


@pytest.mark.parametrize("op", [ADD, MUL])
@pytest.mark.parametrize("case", range(len(BROADCAST_SHAPES)))
@pytest.mark.parametrize("dtype", [np.int8, np.float32, np.int32, np.int16])
def test_broadcasting(op, case, dtype):
    shape1, shape2 = BROADCAST_SHAPES[case]
    check_model(binary_model(op, shape1, shape2, dtype, seed=case), case)


@pytest.mark.parametrize("op", [ADD, MUL])
@pytest.mark.parametrize("act", [Act.NONE, Act.RELU, Act.RELU6, Act.RELU_N1_TO_1, Act.TANH])
@pytest.mark.parametrize("dtype", [np.int8, np.float32, np.int32, np.int16])
def test_fused_activations(op, act, dtype):
    check_model(binary_model(op, (2, 4, 5), (4, 1), dtype, act, seed=int(act)), int(act))


@pytest.mark.parametrize("op", [ADD, MUL])
@pytest.mark.parametrize("seed", range(12))
def test_int8_random_scales(op, seed):
    """Seeded scales from tiny to large ratios, zero points across the range, with one
    operand a constant half of the time."""
    rng = np.random.default_rng(100 + seed)
    scales = 10.0 ** rng.uniform(-4, 0, 3)
    zero_points = rng.integers(-128, 128, 3)
    quants = [quantization(s, z) for s, z in zip(scales, zero_points)]
    act = [Act.NONE, Act.RELU, Act.RELU6][seed % 3]
    model = binary_model(op, (3, 1, 6), (1, 5, 6), np.int8, act, seed=seed,
                         const2=bool(seed % 2), quants=quants)
    check_model(model, seed)


@pytest.mark.parametrize("op", [ADD, MUL])
def test_int8_every_pair(op):
    """All 256 x 256 input pairs through one broadcast."""
    quants = [quantization(0.041, -7), quantization(0.013, 22), quantization(0.06, 3)]
    model = binary_model(op, (256, 1), (1, 256), np.int8, quants=quants)
    check_model(model, inputs=[ALL_INT8.reshape(256, 1), ALL_INT8.reshape(1, 256)])


# Scales (scale1, zp1, scale2, zp2, scale_out, zp_out) found by search where a plausible
# simplification changes at least one of the 65536 results: ADD with a left shift of 19
# instead of 20, MUL with its multiplier computed in float instead of double.
ADD_HARD_SCALES = [(0.08144886791706085, -109, 0.006447036750614643, -124,
                    0.0013271516654640436, -84),
                   (0.5473520159721375, 80, 0.06605524569749832, 33, 0.15434397757053375, 11),
                   (0.8760038614273071, 87, 0.11392681300640106, 48, 0.08940830081701279, 52)]
MUL_HARD_SCALES = [(0.08630815893411636, -61, 0.011791571974754333, 31,
                    0.03407023847103119, 72),
                   (0.009279908612370491, -60, 0.017425134778022766, -126,
                    0.0032387650571763515, 91),
                   (0.10626881569623947, 123, 0.1474393606185913, -70, 0.9103190898895264, -97)]


@pytest.mark.parametrize("op,case", [(ADD, c) for c in ADD_HARD_SCALES] +
                         [(MUL, c) for c in MUL_HARD_SCALES])
def test_int8_every_pair_hard_scales(op, case):
    quants = [quantization(case[i], case[i + 1]) for i in (0, 2, 4)]
    model = binary_model(op, (256, 1), (1, 256), np.int8, quants=quants)
    check_model(model, inputs=[ALL_INT8.reshape(256, 1), ALL_INT8.reshape(1, 256)])


# Output (scale, zero point) where 6.0 / scale or 1.0 / scale sits so close to k + 0.5
# that the float32 division TFLM uses rounds the other way than a double division would:
# the fused activation's bounds then differ by one.
ACTIVATION_HARD_SCALES = [(Act.RELU6, 0.11214953660964966, -100),
                          (Act.RELU6, 0.045627377927303314, -128),
                          (Act.RELU_N1_TO_1, 0.007067137863487005, -20),
                          (Act.RELU_N1_TO_1, 0.0063492064364254475, -35)]


@pytest.mark.parametrize("op", [ADD, MUL])
@pytest.mark.parametrize("act,scale,zero_point", ACTIVATION_HARD_SCALES)
def test_int8_activation_bounds_in_float32(op, act, scale, zero_point):
    quants = [quantization(0.9, 0), quantization(0.8, 0), quantization(scale, zero_point)]
    model = binary_model(op, (256, 1), (1, 256), np.int8, act, quants=quants)
    check_model(model, inputs=[ALL_INT8.reshape(256, 1), ALL_INT8.reshape(1, 256)])


@pytest.mark.parametrize("op", [ADD, MUL])
def test_int8_equal_scales(op):
    """Equal scales hit the exact-half rounding cases of the fixed-point rescaling."""
    q = quantization(0.05, 0)
    model = binary_model(op, (256,), (256,), np.int8, quants=[q, q, q])
    check_model(model, inputs=[ALL_INT8, ALL_INT8[::-1].copy()])


@pytest.mark.parametrize("op", [ADD, MUL])
def test_float_special_values(op):
    """inf sums clamp to +-FLT_MAX (TFLM's activation range is the finite float range);
    NaN passes; -0.0 keeps its sign bit."""
    special = np.array([np.inf, -np.inf, np.nan, -0.0, 0.0, 3e38, -3e38, 1.5],
                       dtype=np.float32)
    model = binary_model(op, (8,), (8,), np.float32)
    check_model(model, inputs=[special, special[::-1].copy()])
    relu = binary_model(op, (8,), (8,), np.float32, Act.RELU)
    check_model(relu, inputs=[special, np.full(8, -0.0, np.float32)])


@pytest.mark.parametrize("op", [ADD])
def test_int16_add_with_zero_points(op):
    """int16 ADD takes the general-scale path, which allows non-zero zero points."""
    quants = [quantization(3e-4, 17), quantization(5e-4, -200), quantization(7e-4, 9)]
    check_model(binary_model(op, (3, 40), (40,), np.int16, quants=quants), 4)


def test_int32_add_wraps():
    big = np.array([2**31 - 1, -(2**31), 2**30, -5], dtype=np.int32)
    model = binary_model(ADD, (4,), (4,), np.int32, Act.RELU)
    check_model(model, inputs=[big, big])


def test_int32_mul_scalar_constant():
    """The audio preprocessor's pattern: int32 [40] times a scalar constant."""
    check_model(binary_model(MUL, (40,), (), np.int32, const2=True, seed=3), 3)


# ----------------------------------------------------------------------------- RELU, RELU6


def unary_model(op, shape, dtype, in_quant=None, out_quant=None, out_dtype=None,
                version=1):
    options = {Op.QUANTIZE: QuantizeOptions(), Op.DEQUANTIZE: DequantizeOptions()}.get(op)
    return one_op_model(op, [tensor(shape, dtype, quant=in_quant)], options,
                        tensor(shape, out_dtype or dtype, quant=out_quant), version)


# (input scale, input zero point, output scale, output zero point): equal quantization,
# a larger and a smaller output scale (multiplier below and above 1), extreme zero points.
# The last two: scale ratios whose double quotient is just below 1.5 / 2.5 while the
# float32 quotient is exactly 1.5 / 2.5. The oracle build divides in double, so q = 1
# rounds down (a float32 division, as in some TFLM sources, would round it up).
RELU_QUANTS = [
    (0.05, 0, 0.05, 0), (0.05, -128, 0.05, -128), (0.02, 10, 0.05, -20),
    (0.1, -3, 0.03, -128), (0.007, 127, 0.2, 5), (0.5, -100, 0.0013, 30),
    (1e-3, 40, 1e-3, 40), (0.0627, -128, 0.0235, -128),
    (0.19657298922538757, 0, 0.13104866445064545, 0),
    (0.4803127348423004, 0, 0.1921250969171524, 0),
]


@pytest.mark.parametrize("case", range(len(RELU_QUANTS)))
def test_relu_int8_every_value(case):
    in_scale, in_zp, out_scale, out_zp = RELU_QUANTS[case]
    model = unary_model(Op.RELU, (256,), np.int8, quantization(in_scale, in_zp),
                        quantization(out_scale, out_zp), version=2)
    check_model(model, inputs=[ALL_INT8])


@pytest.mark.parametrize("case", range(len(RELU_QUANTS)))
def test_relu6_int8_every_value(case):
    in_scale, in_zp, _, _ = RELU_QUANTS[case]
    q = quantization(in_scale, in_zp)
    check_model(unary_model(Op.RELU6, (256,), np.int8, q, q, version=2), inputs=[ALL_INT8])


@pytest.mark.parametrize("scale", [1e-10, 1e-6, 0.023, 6.0, 12.5, 100.0])
def test_relu6_int8_extreme_scales(scale):
    """6 / scale beyond int32 (TFLM's conversion gives INT32_MIN, so 'six' becomes -128 and
    the clamp degenerates), far above 127, near 1, and below 0.5 (six == zero point)."""
    q = quantization(scale, -3)
    check_model(unary_model(Op.RELU6, (256,), np.int8, q, q, version=2), inputs=[ALL_INT8])


def test_relu6_ignores_output_quantization():
    """TFLM's RELU6 clamps in the input's domain and never reads the output's scale."""
    model = unary_model(Op.RELU6, (256,), np.int8, quantization(0.05, 4),
                        quantization(0.2, -9), version=2)
    check_model(model, inputs=[ALL_INT8])


@pytest.mark.parametrize("op", [Op.RELU, Op.RELU6])
@pytest.mark.parametrize("seed", range(3))
def test_relu_int16(op, seed):
    rng = np.random.default_rng(seed)
    q_in, q_out = quantization(rng.uniform(1e-4, 1e-3), 0), quantization(rng.uniform(1e-4, 1e-3), 0)
    model = unary_model(op, (4, 33), np.int16, q_in, q_in if op == Op.RELU6 else q_out,
                        version=3)
    check_model(model, seed)


@pytest.mark.parametrize("op", [Op.RELU, Op.RELU6])
def test_relu_float(op):
    special = np.array([np.inf, -np.inf, np.nan, -0.0, 0.0, 6.0, 6.000001, 5.99999, -1e-30,
                        1e-30, 3.0, -7.0], dtype=np.float32)
    check_model(unary_model(op, (12,), np.float32), inputs=[special])
    check_model(unary_model(op, (2, 3, 5, 4), np.float32), seed=1)


# ----------------------------------------------------------------------------- QUANTIZE


def float_inputs_for(scale, zero_point, rng):
    """Values around every quantization step, exact halves, and specials."""
    steps = np.arange(-140, 140, dtype=np.float64) - zero_point
    near = np.concatenate([steps, steps + 0.5, steps - 0.5, steps + 0.49999, steps + 0.50001])
    values = np.concatenate([near * scale, rng.standard_normal(200) * 100 * scale,
                             [np.inf, -np.inf, np.nan, -0.0, 3e9, -3e9, 1e38]])
    return values.astype(np.float32)


@pytest.mark.parametrize("scale,zero_point", [(0.1, 0), (0.05, -1), (0.0039215, -128),
                                              (0.37, 77), (1.0, 0), (3e-5, 5), (0.02, 127)])
def test_quantize_float_to_int8(scale, zero_point):
    rng = np.random.default_rng(int(scale * 1000) + zero_point + 128)
    x = float_inputs_for(scale, zero_point, rng)
    model = unary_model(Op.QUANTIZE, x.shape, np.float32, None,
                        quantization(scale, zero_point), np.int8, version=2)
    check_model(model, inputs=[x])


@pytest.mark.parametrize("scale", [1e-4, 3.0517578e-05, 0.01])
def test_quantize_float_to_int16(scale):
    rng = np.random.default_rng(7)
    x = np.concatenate([float_inputs_for(scale, 0, rng),
                        (rng.standard_normal(300) * 40000 * scale).astype(np.float32)])
    model = unary_model(Op.QUANTIZE, x.shape, np.float32, None, quantization(scale, 0),
                        np.int16, version=3)
    check_model(model, inputs=[x])


# (input dtype, output dtype): every pair TFLM's QUANTIZE implements between integers.
REQUANTIZE_PAIRS = [(np.int8, np.int8), (np.int8, np.int16), (np.int8, np.int32),
                    (np.int16, np.int8), (np.int16, np.int16), (np.int16, np.int32),
                    (np.int32, np.int8), (np.int32, np.int16), (np.int8, np.uint8),
                    (np.uint8, np.int8)]


def integer_quant(rng, dtype):
    if dtype == np.uint8:
        return quantization(rng.uniform(0.005, 0.3), int(rng.integers(0, 256)))
    if dtype == np.int8:
        return quantization(rng.uniform(0.005, 0.3), int(rng.integers(-128, 128)))
    if dtype == np.int16:
        return quantization(rng.uniform(1e-4, 1e-2), int(rng.integers(-100, 100)))
    return quantization(rng.uniform(1e-6, 1e-4), int(rng.integers(-1000, 1000)))


@pytest.mark.parametrize("pair", range(len(REQUANTIZE_PAIRS)))
@pytest.mark.parametrize("seed", range(4))
def test_requantize(pair, seed):
    in_dtype, out_dtype = REQUANTIZE_PAIRS[pair]
    rng = np.random.default_rng(seed * 31 + pair)
    model = unary_model(Op.QUANTIZE, (3, 97), in_dtype, integer_quant(rng, in_dtype),
                        integer_quant(rng, out_dtype), out_dtype, version=2)
    check_model(model, seed)


@pytest.mark.parametrize("in_q,out_q", [((0.05, 3), (0.05, 3)), ((0.05, 3), (0.05, -20)),
                                        ((0.02, 0), (0.08, 0)), ((0.08, 0), (0.02, 0)),
                                        ((0.3, -128), (0.0011, 127)), ((0.01, 5), (0.03, 5))])
def test_requantize_int8_every_value(in_q, out_q):
    model = unary_model(Op.QUANTIZE, (256,), np.int8, quantization(*in_q),
                        quantization(*out_q), np.int8, version=2)
    check_model(model, inputs=[ALL_INT8])


def test_requantize_int8_uint8_flip():
    """Equal scales, zero points 128 apart: the reference flips the top bit."""
    model = unary_model(Op.QUANTIZE, (256,), np.int8, quantization(0.05, -3),
                        quantization(0.05, 125), np.uint8, version=2)
    check_model(model, inputs=[ALL_INT8])
    back = unary_model(Op.QUANTIZE, (256,), np.uint8, quantization(0.05, 125),
                       quantization(0.05, -3), np.int8, version=2)
    check_model(back, inputs=[np.arange(256, dtype=np.uint8)])


# ----------------------------------------------------------------------------- DEQUANTIZE


@pytest.mark.parametrize("scale,zero_point", [(0.1, 0), (0.0039215686, -128), (0.37, 77),
                                              (1e-5, -3), (12.5, 127)])
def test_dequantize_int8_every_value(scale, zero_point):
    model = unary_model(Op.DEQUANTIZE, (256,), np.int8, quantization(scale, zero_point),
                        None, np.float32, version=2)
    check_model(model, inputs=[ALL_INT8])


@pytest.mark.parametrize("dtype,scale,zero_point", [(np.int16, 3.0517578e-05, 0),
                                                    (np.int16, 0.013, 17),
                                                    (np.uint8, 0.02, 128)])
def test_dequantize_other_types(dtype, scale, zero_point):
    info = np.iinfo(dtype)
    x = np.arange(info.min, info.max + 1, max(1, (int(info.max) - int(info.min)) // 4000),
                  dtype=np.int64).astype(dtype)
    model = unary_model(Op.DEQUANTIZE, x.shape, dtype, quantization(scale, zero_point), None,
                        np.float32, version=3)
    check_model(model, inputs=[x])


def test_quantize_dequantize_round_trip():
    """float -> int8 -> float, as at the edges of a quantized model."""
    b = ModelBuilder()
    x = b.add_input((5, 7), np.float32)
    q = b.add_tensor((5, 7), np.int8, quant=quantization(0.047, -11))
    y = b.add_tensor((5, 7), np.float32)
    b.add_operator(Op.QUANTIZE, [x], [q], QuantizeOptions(), version=2)
    b.add_operator(Op.DEQUANTIZE, [q], [y], DequantizeOptions(), version=2)
    b.mark_output(y)
    check_model(b.build(), seed=5)


# ----------------------------------------------------------------------------- malformed models


def test_add_shapes_that_do_not_broadcast():
    model = binary_model(ADD, (2, 3), (4, 3), np.float32, out_shape=(2, 3))
    with pytest.raises(ModelError, match="do not broadcast"):
        allocate(model)


def test_mul_output_not_the_broadcast_shape():
    model = binary_model(MUL, (2, 3), (3,), np.int8, out_shape=(4, 3))
    with pytest.raises(ModelError, match="not the broadcast shape"):
        allocate(model)


def test_add_mixed_types():
    model = one_op_model(ADD, [tensor((3,)), tensor((3,), np.int32)], AddOptions(),
                         tensor((3,)))
    with pytest.raises(ModelError, match="one type"):
        allocate(model)


def test_add_int8_without_quantization():
    model = binary_model(ADD, (3,), (3,), np.int8, quants=[None, None, None])
    with pytest.raises(ModelError, match="no quantization"):
        allocate(model)


def test_add_output_scale_too_small():
    quants = [quantization(1.0, 0), quantization(1.0, 0), quantization(1e-7, 0)]
    with pytest.raises(ModelError, match="rescale factor"):
        allocate(binary_model(ADD, (3,), (3,), np.int8, quants=quants))


def test_mul_int16_needs_zero_points_of_zero():
    quants = [quantization(1e-3, 4), quantization(1e-3, 0), quantization(1e-3, 0)]
    with pytest.raises(ModelError, match="zero points of 0"):
        allocate(binary_model(MUL, (3,), (3,), np.int16, quants=quants))


def test_int8_zero_point_out_of_range():
    quants = [quantization(0.1, 300), quantization(0.1, 0), quantization(0.1, 0)]
    with pytest.raises(ModelError, match="zero point 300"):
        allocate(binary_model(MUL, (3,), (3,), np.int8, quants=quants))


def test_quantize_unsupported_pair():
    model = unary_model(Op.QUANTIZE, (4,), np.float32, None, quantization(0.1, 0), np.int32)
    with pytest.raises(ModelError, match="FLOAT32 to INT32 is not supported"):
        allocate(model)


def test_quantize_per_channel_output():
    model = unary_model(Op.QUANTIZE, (4,), np.float32, None,
                        quantization([0.1, 0.2, 0.3, 0.4], 0), np.int8)
    with pytest.raises(ModelError, match="exactly one scale"):
        allocate(model)


def test_quantize_zero_scale():
    model = unary_model(Op.QUANTIZE, (4,), np.float32, None, quantization(0.0, 0), np.int8)
    with pytest.raises(ModelError, match="positive and finite"):
        allocate(model)


def test_dequantize_needs_a_quantized_input():
    model = unary_model(Op.DEQUANTIZE, (4,), np.float32, None, None, np.float32)
    with pytest.raises(ModelError, match="not supported by DEQUANTIZE"):
        allocate(model)


def test_relu_output_size_mismatch():
    model = one_op_model(Op.RELU, [tensor((4,))], None, tensor((5,)))
    with pytest.raises(ModelError, match="differ in size"):
        allocate(model)
