"""MAXIMUM, MINIMUM, ABS, NEG, SQRT, RSQRT, SQUARE, LOG, EXP, SQUARED_DIFFERENCE and DIV
against the real TFLM, byte for byte: their types, broadcasting, every int8 input where
cheap, the float special values, refusals and the arena."""
import numpy as np
import pytest

from models import BROADCAST_SHAPES, one_op_model, tensor
from op_harness import check_model, random_input, run_oracle, run_tflm_edu
from tflm_edu import ModelError
from tflm_edu.arena_size import estimate_arena_size
from tflm_edu.arena_size.oracle import smallest_arena_tflm
from tflm_edu.interpreter import MicroInterpreter
from tflm_edu.op_resolver import SPECS, AllOpsResolver
from tflm_edu.schema import read_model, write_model
from tflm_edu.schema.builder import quantization
from tflm_edu.schema.enums import ActivationFunctionType as Act, BuiltinOperator as Op

ALL_INT8 = np.arange(-128, 128, dtype=np.int8)
# Float values where libm and rounding are at their edges: signed zeros, infinities, NaN,
# subnormals, the extremes of float32, and ordinary values.
SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1e-45, -1e-45, 1e-38,
                    3.4028235e38, -3.4028235e38, 1.0, -1.0, 0.5, 2.0, 88.72, -103.9, 89.0,
                    -88.0, 1e-7, 7.5e-39, 123456.78], np.float32)


def allocate(model):
    """tflm_edu's interpreter for `model` (through .tflite bytes), allocated."""
    interpreter = MicroInterpreter(read_model(write_model(model)), AllOpsResolver(), None)
    interpreter.allocate_tensors()
    return interpreter


def check_arena(model):
    assert estimate_arena_size(model, "host").arena_bytes == smallest_arena_tflm(model)


def binary(op, shape1, shape2, dtype, quants=(None, None, None), out_shape=None,
           out_dtype=None, const2=None, options=None, version=1):
    """One binary op; input 2 is a constant when const2 holds its data."""
    q1, q2, qo = quants
    x2 = tensor(shape2, dtype, const2, q2) if const2 is not None else tensor(shape2, dtype,
                                                                              quant=q2)
    out_shape = np.broadcast_shapes(shape1, shape2) if out_shape is None else out_shape
    if options is None and SPECS[op].options is not None:
        options = SPECS[op].options()
    return one_op_model(op, [tensor(shape1, dtype, quant=q1), x2], options,
                        tensor(out_shape, out_dtype or dtype, quant=qo), version)


def unary(op, shape, dtype=np.float32, quants=(None, None), out_shape=None, out_dtype=None,
          version=1):
    options = SPECS[op].options() if SPECS[op].options is not None else None
    return one_op_model(op, [tensor(shape, dtype, quant=quants[0])], options,
                        tensor(shape if out_shape is None else out_shape, out_dtype or dtype,
                               quant=quants[1]), version)


def float_inputs(rng, shape):
    """Seeded normal values with some special values mixed in."""
    x = random_input(rng, shape, np.float32)
    flat = x.reshape(-1)
    where = rng.choice(flat.size, min(flat.size, 6), replace=False)
    flat[where] = rng.choice(SPECIAL, where.size)
    return x


# ----------------------------------------------------------------------------- MAXIMUM, MINIMUM

MAX_MIN = [Op.MAXIMUM, Op.MINIMUM]
MAX_MIN_TYPES = [np.float32, np.int8, np.int16, np.int32, np.int64]
MAX_MIN_VERSION = {np.float32: 1, np.int8: 2, np.int16: 4, np.int32: 1, np.int64: 1}


@pytest.mark.parametrize("op", MAX_MIN, ids=lambda op: op.name)
@pytest.mark.parametrize("case", range(len(BROADCAST_SHAPES)))
@pytest.mark.parametrize("dtype", MAX_MIN_TYPES)
def test_max_min_broadcasting(op, case, dtype):
    shape1, shape2 = BROADCAST_SHAPES[case]
    quants = (quantization(0.05, 3),) * 3 if dtype in (np.int8, np.int16) else (None,) * 3
    check_model(binary(op, shape1, shape2, dtype, quants, version=MAX_MIN_VERSION[dtype]),
                seed=case)


@pytest.mark.parametrize("op", MAX_MIN, ids=lambda op: op.name)
def test_max_min_float_special_values(op):
    """NaN, signed zeros and infinities: the C++ ternary answers with the second input
    whenever the comparison is false."""
    x1 = np.repeat(SPECIAL, SPECIAL.size)
    x2 = np.tile(SPECIAL, SPECIAL.size)
    check_model(binary(op, x1.shape, x2.shape, np.float32), inputs=[x1, x2])


@pytest.mark.parametrize("op", MAX_MIN, ids=lambda op: op.name)
def test_max_min_int8_every_pair_ignores_quantization(op):
    """The stored integers are compared, whatever the scales say."""
    quants = (quantization(0.1, 5), quantization(0.02, -40), quantization(0.5, 100))
    check_model(binary(op, (256, 1), (1, 256), np.int8, quants, version=2),
                inputs=[ALL_INT8.reshape(256, 1), ALL_INT8.reshape(1, 256)])


def test_max_min_int8_constant_operand():
    data = np.array([-128, -3, 0, 7, 127], np.int8)
    check_model(binary(Op.MAXIMUM, (4, 5), (5,), np.int8, const2=data, version=2))


@pytest.mark.parametrize("op", MAX_MIN, ids=lambda op: op.name)
def test_max_min_rank_6(op):
    check_model(binary(op, (2, 1, 2, 1, 2, 3), (1, 2, 1, 2, 1, 3), np.float32))


@pytest.mark.parametrize("op", MAX_MIN, ids=lambda op: op.name)
def test_max_min_refusals(op):
    with pytest.raises(ModelError, match="one type"):
        allocate(binary(op, (3,), (3,), np.int8, out_dtype=np.int16))
    with pytest.raises(ModelError, match="do not broadcast"):
        allocate(binary(op, (3,), (4,), np.float32, out_shape=(4,)))
    with pytest.raises(ModelError, match="broadcast shape"):
        allocate(binary(op, (3, 1), (1, 4), np.float32, out_shape=(3, 1)))
    with pytest.raises(ModelError, match="not supported"):
        allocate(binary(op, (3,), (3,), np.uint8))
    with pytest.raises(ModelError, match="rank 7"):   # TFLM's RuntimeShape overflows
        allocate(binary(op, (1,) * 7, (2,), np.float32))


@pytest.mark.parametrize("op", MAX_MIN, ids=lambda op: op.name)
@pytest.mark.parametrize("dtype", [np.int8, np.float32])
def test_max_min_arena_is_the_real_tflms(op, dtype):
    check_arena(binary(op, (1, 8, 8, 3), (3,), dtype, const2=np.ones(3)))


def audio_preprocessor_tail():
    """The last ops of the micro_speech audio preprocessor (audio_preprocessor_int8.tflite,
    ops 15-20) with its constants: the int32 log energies [40] times 256, plus 333, DIV by
    666 (TensorFlow's TruncateDiv), minus 128, MINIMUM 127, MAXIMUM -128. tflm_edu has no
    kernels for the Signal ops before them, so the tail is rebuilt here."""
    from tflm_edu.schema.builder import ModelBuilder
    from tflm_edu.schema.options import AddOptions, DivOptions, MulOptions
    b = ModelBuilder()
    x = b.add_input((40,), np.int32, "Cast_2")

    def const(value, name):
        return b.add_tensor((), np.int32, name, np.array(value, np.int32))

    def op(code, a, c, options, name):
        out = b.add_tensor((40,), np.int32, name)
        b.add_operator(code, [a, c], [out], options)
        return out

    y = op(Op.MUL, x, const(256, "Const1"), MulOptions(), "mul")
    y = op(Op.ADD, y, const(333, "Cast_3"), AddOptions(), "add")
    y = op(Op.DIV, y, const(666, "Const_1"), DivOptions(), "TruncateDiv")
    y = op(Op.ADD, y, const(-128, "Const_2"), AddOptions(), "add_1")
    y = op(Op.MINIMUM, y, const(127, "clip_by_value/Minimum/y"), None, "clip_min")
    y = op(Op.MAXIMUM, y, const(-128, "Const_2b"), None, "clip_by_value")
    b.mark_output(y)
    return b.build()


def test_the_audio_preprocessor_uses_int32_div_minimum_maximum_with_scalars():
    from conftest import MODELS
    model = read_model((MODELS / "audio_preprocessor_int8.tflite").read_bytes())
    sg = model.subgraphs[0]
    for op in sg.operators:
        if model.op_name(op) in ("DIV", "MINIMUM", "MAXIMUM"):
            shapes = [tuple(sg.tensors[t].shape) for t in (*op.inputs, *op.outputs)]
            assert shapes == [(40,), (), (40,)]
            assert {int(sg.tensors[t].type) for t in (*op.inputs, *op.outputs)} == {2}  # INT32


def test_audio_preprocessor_end_to_end():
    """The whole model, Signal ops and CASTs included (their kernels are other modules'):
    its int8 features equal the real TFLM's byte for byte."""
    from conftest import MODELS
    data = (MODELS / "audio_preprocessor_int8.tflite").read_bytes()
    rng = np.random.default_rng(5)
    for scale in (100, 3000, 32767):
        frame = (rng.standard_normal((1, 480)) * scale).clip(-32768, 32767).astype(np.int16)
        ours, theirs = run_tflm_edu(data, [frame]), run_oracle(data, [frame])
        assert ours[0].tobytes() == theirs[0].reshape(ours[0].shape).tobytes()


@pytest.mark.parametrize("seed", range(3))
def test_audio_preprocessor_tail_runs_as_tflm(seed):
    rng = np.random.default_rng(seed)
    x = [np.arange(-20, 20, dtype=np.int32) * 97, rng.integers(0, 2**15, 40, np.int32),
         rng.integers(-2**23, 2**23, 40, np.int32)][seed]
    check_model(audio_preprocessor_tail(), inputs=[x])
    check_arena(audio_preprocessor_tail())


# ----------------------------------------------------------------------------- ABS, SQRT, RSQRT,
#                                                                               SQUARE, LOG

FLOAT_UNARY = [Op.ABS, Op.SQRT, Op.RSQRT, Op.SQUARE, Op.LOG]


@pytest.mark.parametrize("op", FLOAT_UNARY, ids=lambda op: op.name)
@pytest.mark.parametrize("seed", range(3))
def test_float_unary_random(op, seed):
    rng = np.random.default_rng(seed)
    shape = tuple(int(d) for d in rng.integers(1, 6, rng.integers(1, 5)))
    check_model(unary(op, shape), inputs=[float_inputs(rng, shape)])


@pytest.mark.parametrize("op", FLOAT_UNARY, ids=lambda op: op.name)
def test_float_unary_special_values_and_wide_range(op):
    """Signed zeros, infinities, NaN of both signs, subnormals, the float32 extremes, and
    40,000 values from 1e-44 to 1e38 of both signs: sqrt and 1/sqrt of negative numbers,
    log of 0 and of negative numbers, squares that overflow."""
    rng = np.random.default_rng(11)
    wide = np.exp(rng.uniform(-100, 88, 20000)).astype(np.float32)
    x = np.concatenate([SPECIAL, -SPECIAL, wide, -wide])
    check_model(unary(op, x.shape), inputs=[x])


def test_log_is_glibcs_logf_not_the_correctly_rounded_log():
    """glibc's logf is up to 0.82 ulp off: on these inputs the float64 log rounded to float32
    is one ulp away from what TFLM (and logf) answers - the test can tell the two apart."""
    x = np.array([1.0282631, 0.9802652, 0.6704246], np.float32)
    expected = run_oracle(write_model(unary(Op.LOG, (3,))), [x])[0]
    correctly_rounded = np.log(x.astype(np.float64)).astype(np.float32)
    assert (correctly_rounded != expected).all()
    check_model(unary(Op.LOG, (3,)), inputs=[x])


def every_int8(scale_in, zp_in, scale_out, zp_out, op=Op.ABS, dtype=np.int8, version=2):
    q = (quantization(scale_in, zp_in), quantization(scale_out, zp_out))
    return unary(op, (256,), dtype, q, version=version)


@pytest.mark.parametrize("seed", range(8))
def test_abs_int8_every_value(seed):
    """All 256 inputs; seed 0 with equal scales (no rescale, only the zero points move)."""
    rng = np.random.default_rng(300 + seed)
    s_in, s_out = 10 ** rng.uniform(-3, 0, 2)
    zp_in, zp_out = (int(z) for z in rng.integers(-128, 128, 2))
    check_model(every_int8(s_in, zp_in, s_in if seed == 0 else s_out, zp_out),
                inputs=[ALL_INT8.copy()])


ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16)


@pytest.mark.parametrize("scales", [(3e-4, 3e-4), (5e-4, 1e-4), (2e-5, 9e-4), (8e-4, 6e-4),
                                    # where input_scale / output_scale in float32 (TFLM's
                                    # source) and in double (the package) answer differently
                                    (0.0007503888919018209, 0.004916334059089422),
                                    (4.425130464369431e-05, 3.0243782020988874e-05)])
def test_abs_int16_every_value(scales):
    q = tuple(quantization(s, 0) for s in scales)
    check_model(unary(Op.ABS, ALL_INT16.shape, np.int16, q, version=3),
                inputs=[ALL_INT16.copy()])


def test_abs_int16_without_quantization_is_integer_abs():
    """-32768 stays -32768: the C++ takes std::abs in int and casts back to int16."""
    check_model(unary(Op.ABS, ALL_INT16.shape, np.int16, version=4), inputs=[ALL_INT16.copy()])
    q = (None, quantization(0.1, 0))    # only the input's quantization decides
    check_model(unary(Op.ABS, ALL_INT16.shape, np.int16, q, version=4),
                inputs=[ALL_INT16.copy()])


@pytest.mark.parametrize("seed", range(8))
def test_rsqrt_int8_every_valid_value(seed):
    """All inputs at or above the zero point (below it TFLM stops: see the refusal test);
    the value at the zero point gives 127."""
    rng = np.random.default_rng(400 + seed)
    s_in, s_out = 10 ** rng.uniform(-3, 0, 2)
    zp_in, zp_out = int(rng.integers(-128, 0)), int(rng.integers(-128, 128))
    x = np.arange(zp_in, 128, dtype=np.int8)
    q = (quantization(s_in, zp_in), quantization(s_out, zp_out))
    check_model(unary(Op.RSQRT, x.shape, np.int8, q, version=2), inputs=[x])


@pytest.mark.parametrize("scales", [(0.003309, 0.003309), (0.0003409, 0.001816),
                                    (2.778e-05, 0.002877), (0.001122, 0.002298),
                                    # where sqrtf and a float32 product (TFLM's source)
                                    # answer differently from the package's double
                                    (0.0006880481378175318, 1.3546466107072774e-05),
                                    (0.0004201762203592807, 0.0003336696536280215)])
def test_rsqrt_int16_every_valid_value(scales):
    """The tflite-micro package runs int16 RSQRT (the source tree's Prepare refused it)."""
    x = np.arange(0, 32768, dtype=np.int16)
    q = tuple(quantization(s, 0) for s in scales)
    check_model(unary(Op.RSQRT, x.shape, np.int16, q, version=3), inputs=[x])


def test_rsqrt_int16_without_quantization_is_refused():
    """TFLM would use an OpData multiplier it never set: its answers depend on what the
    arena held before."""
    with pytest.raises(ModelError, match="uninitialized"):
        allocate(unary(Op.RSQRT, (4,), np.int16, version=3))


def test_the_package_computes_the_multipliers_in_double():
    """At these scales the float32 computations of TFLM's source tree give other bytes."""
    from tflm_edu.kernels.elementwise import OpDataAbsRsqrt, abs_quantized, rsqrt_quantized
    from tflm_edu.kernels.quantization_util import quantize_multiplier
    s_in, s_out = np.float32(0.0007503888919018209), np.float32(0.004916334059089422)
    data = OpDataAbsRsqrt(needs_rescale=True)
    data.multiplier, data.shift = quantize_multiplier(float(s_in / s_out))
    model = unary(Op.ABS, ALL_INT16.shape, np.int16,
                  (quantization(s_in, 0), quantization(s_out, 0)), version=3)
    expected = run_oracle(write_model(model), [ALL_INT16.copy()])[0].reshape(-1)
    assert (abs_quantized(ALL_INT16, data, np.int16) != expected).any()

    s_in, s_out = np.float32(0.0006880481378175318), np.float32(1.3546466107072774e-05)
    x = np.arange(0, 32768, dtype=np.int16)
    data.multiplier, data.shift = quantize_multiplier(1.0 / float(np.sqrt(s_in) * s_out))
    model = unary(Op.RSQRT, x.shape, np.int16,
                  (quantization(s_in, 0), quantization(s_out, 0)), version=3)
    expected = run_oracle(write_model(model), [x])[0].reshape(-1)
    assert (rsqrt_quantized(x, data, np.int16) != expected).any()


def test_rsqrt_below_the_zero_point_stops_the_invoke():
    model = unary(Op.RSQRT, (3,), np.int8, (quantization(0.1, -5), quantization(0.1, 0)),
                  version=2)
    with pytest.raises(RuntimeError):          # the real TFLM fails its invoke
        run_oracle(write_model(model), [np.array([1, -6, 2], np.int8)])
    interpreter = allocate(model)
    interpreter.input(0).data[...] = np.array([1, -6, 2], np.int8)
    with pytest.raises(ModelError, match="only defined for positive values"):
        interpreter.invoke()


@pytest.mark.parametrize("op,dtype,quants,match", [
    (Op.SQRT, np.int8, (quantization(0.1, 0),) * 2, "not supported"),
    (Op.LOG, np.int8, (quantization(0.1, 0),) * 2, "not supported"),
    (Op.SQUARE, np.int32, (None, None), "not supported"),
    (Op.ABS, np.int32, (None, None), "not supported"),
    (Op.RSQRT, np.int32, (None, None), "not supported"),
    (Op.ABS, np.int8, (None, None), "no quantization"),
    (Op.ABS, np.int16, (quantization(0.1, 0), None), "no quantization"),
    (Op.RSQRT, np.int8, (quantization(0.1, 0), None), "no quantization"),
    (Op.ABS, np.int16, (quantization(0.1, 3), quantization(0.1, 0)), "zero points of 0"),
    (Op.RSQRT, np.int16, (quantization(0.1, 0), quantization(0.1, 1)), "zero points of 0"),
])
def test_unary_refusals(op, dtype, quants, match):
    with pytest.raises(ModelError, match=match):
        allocate(unary(op, (4,), dtype, quants))


@pytest.mark.parametrize("op", FLOAT_UNARY, ids=lambda op: op.name)
def test_unary_shape_and_type_refusals(op):
    with pytest.raises(ModelError, match="differ in size"):   # TFLM writes past the output
        allocate(unary(op, (2, 3), out_shape=(5,)))
    with pytest.raises(ModelError, match="input is"):
        allocate(unary(op, (4,), out_dtype=np.int32))
    check_model(unary(op, (2, 3), out_shape=(3, 2)),
                inputs=[np.arange(1, 7, dtype=np.float32).reshape(2, 3)])


@pytest.mark.parametrize("op", FLOAT_UNARY, ids=lambda op: op.name)
def test_unary_arena_is_the_real_tflms(op):
    check_arena(unary(op, (1, 8, 8, 3)))


@pytest.mark.parametrize("op", [Op.ABS, Op.RSQRT], ids=lambda op: op.name)
def test_quantized_unary_arena_is_the_real_tflms(op):
    check_arena(every_int8(0.05, -128, 0.02, 3, op))


# ----------------------------------------------------------------------------- NEG, EXP


@pytest.mark.parametrize("op", [Op.NEG, Op.EXP], ids=lambda op: op.name)
@pytest.mark.parametrize("seed", range(3))
def test_neg_exp_random(op, seed):
    rng = np.random.default_rng(seed)
    shape = tuple(int(d) for d in rng.integers(1, 6, rng.integers(0, 5)))
    check_model(unary(op, shape), inputs=[float_inputs(rng, shape)])


@pytest.mark.parametrize("op", [Op.NEG, Op.EXP], ids=lambda op: op.name)
def test_neg_exp_special_values_and_wide_range(op):
    """NaN keeps its payload and flips its sign under NEG; EXP overflows to inf above
    88.72, underflows through the subnormals to 0 below -103.97."""
    rng = np.random.default_rng(12)
    x = np.concatenate([SPECIAL, -SPECIAL, rng.uniform(-105, 90, 100000).astype(np.float32)])
    check_model(unary(op, x.shape), inputs=[x])


def test_exp_is_glibcs_expf_not_the_correctly_rounded_exp():
    """On these inputs glibc's expf is one ulp away from float64 exp rounded to float32:
    the C library's answer is what TFLM gives."""
    x = np.array([22.925056, -52.220604, -6.7768884, -75.17191], np.float32)
    expected = run_oracle(write_model(unary(Op.EXP, (4,))), [x])[0]
    assert (np.exp(x.astype(np.float64)).astype(np.float32) != expected).all()
    check_model(unary(Op.EXP, (4,)), inputs=[x])


@pytest.mark.parametrize("op", [Op.NEG, Op.EXP], ids=lambda op: op.name)
@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32])
def test_neg_exp_take_float32_only(op, dtype):
    """TFLM fails these (NEG at invoke, EXP at prepare); tflm_edu refuses them at prepare."""
    q = (quantization(0.1, 0),) * 2 if dtype != np.int32 else (None, None)
    with pytest.raises(ModelError, match="not supported"):
        allocate(unary(op, (4,), dtype, q))


def test_neg_and_exp_output_shapes():
    """NEG writes the input's element count whatever the output's shape; EXP's Prepare
    wants the input's shape exactly."""
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    check_model(unary(Op.NEG, (2, 3), out_shape=(3, 2)), inputs=[x])
    with pytest.raises(ModelError, match="differ in size"):
        allocate(unary(Op.NEG, (2, 3), out_shape=(5,)))
    with pytest.raises(ModelError, match="input's shape"):
        allocate(unary(Op.EXP, (2, 3), out_shape=(3, 2)))
    with pytest.raises(ModelError, match="input is"):
        allocate(unary(Op.EXP, (4,), out_dtype=np.int32))


@pytest.mark.parametrize("op", [Op.NEG, Op.EXP], ids=lambda op: op.name)
def test_neg_exp_arena_is_the_real_tflms(op):
    check_arena(unary(op, (1, 8, 8, 3)))


# ----------------------------------------------------------------------------- SQUARED_DIFFERENCE

SQD = Op.SQUARED_DIFFERENCE


def sqd_quants(rng, dtype):
    if dtype == np.int8:
        return [quantization(s, int(z)) for s, z in zip(10 ** rng.uniform(-3, 0, 3),
                                                         rng.integers(-128, 128, 3))]
    if dtype == np.int16:
        return [quantization(s, 0) for s in 10 ** rng.uniform(-5, -2, 3)]
    return [None] * 3


@pytest.mark.parametrize("case", range(len(BROADCAST_SHAPES)))
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int8, np.int16])
def test_squared_difference_broadcasting(case, dtype):
    shape1, shape2 = BROADCAST_SHAPES[case]
    rng = np.random.default_rng(case)
    check_model(binary(SQD, shape1, shape2, dtype, sqd_quants(rng, dtype),
                       version=2 if dtype == np.int8 else 1), seed=case)


@pytest.mark.parametrize("seed", range(8))
def test_squared_difference_int8_every_pair(seed):
    rng = np.random.default_rng(500 + seed)
    check_model(binary(SQD, (256, 1), (1, 256), np.int8, sqd_quants(rng, np.int8), version=2),
                inputs=[ALL_INT8.reshape(256, 1), ALL_INT8.reshape(1, 256)])


@pytest.mark.parametrize("seed", range(4))
def test_squared_difference_int16_extremes(seed):
    rng = np.random.default_rng(600 + seed)
    x1, x2 = random_input(rng, (64, 1), np.int16), random_input(rng, (1, 512), np.int16)
    x1[:2, 0], x2[0, :2] = [-32768, 32767], [32767, -32768]
    check_model(binary(SQD, (64, 1), (1, 512), np.int16, sqd_quants(rng, np.int16)),
                inputs=[x1, x2])


def test_squared_difference_int32_wraps_and_float_special_values():
    big = np.array([2**31 - 1, -(2**31), 2**16, 46341, -7, 0], np.int32)
    other = np.array([-(2**31), 2**31 - 1, 0, 0, 5, -46341], np.int32)
    check_model(binary(SQD, (6,), (6,), np.int32), inputs=[big, other])
    x1 = np.repeat(SPECIAL, SPECIAL.size)
    x2 = np.tile(SPECIAL, SPECIAL.size)
    check_model(binary(SQD, x1.shape, x2.shape, np.float32), inputs=[x1, x2])


def test_squared_difference_constant_operand():
    rng = np.random.default_rng(7)
    check_model(binary(SQD, (2, 5, 3), (3,), np.int8, sqd_quants(rng, np.int8),
                       const2=np.array([-128, 0, 127], np.int8), version=2))


@pytest.mark.parametrize("dtype,quants,match", [
    (np.int16, (quantization(1e-3, 1), quantization(1e-3, 0), quantization(1e-3, 0)),
     "zero points of 0"),
    (np.int8, (quantization(0.1, 0), None, quantization(0.1, 0)), "no quantization"),
    (np.int8, (quantization(0.1, 0), quantization(0.1, 0), quantization(1e-16, 0)),
     "too large|too far apart"),
    (np.uint8, (None, None, None), "not supported"),
])
def test_squared_difference_refusals(dtype, quants, match):
    with pytest.raises(ModelError, match=match):
        allocate(binary(SQD, (4,), (4,), dtype, quants))


def test_squared_difference_shape_and_type_refusals():
    with pytest.raises(ModelError, match="one type"):
        allocate(binary(SQD, (4,), (4,), np.float32, out_dtype=np.int32))
    with pytest.raises(ModelError, match="broadcast shape"):
        allocate(binary(SQD, (4, 1), (1, 3), np.float32, out_shape=(4, 1)))
    with pytest.raises(ModelError, match="rank 7"):
        allocate(binary(SQD, (1,) * 7, (3,), np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.int8])
def test_squared_difference_arena_is_the_real_tflms(dtype):
    rng = np.random.default_rng(3)
    check_arena(binary(SQD, (1, 8, 8, 3), (3,), dtype, sqd_quants(rng, dtype),
                       const2=np.ones(3)))


# ----------------------------------------------------------------------------- DIV

DIV = Op.DIV
EVERY_PAIR = [ALL_INT8.reshape(256, 1), ALL_INT8.reshape(1, 256)]


def div_model(shape1, shape2, dtype, act=Act.NONE, quants=(None, None, None), **kwargs):
    from tflm_edu.schema.options import DivOptions
    return binary(DIV, shape1, shape2, dtype, quants, options=DivOptions(act), **kwargs)


def nonzero_int32(rng, shape):
    x = rng.integers(-1000, 1000, shape).astype(np.int32)
    x[x == 0] = 7
    return x


@pytest.mark.parametrize("case", range(len(BROADCAST_SHAPES)))
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int8])
def test_div_broadcasting(case, dtype):
    shape1, shape2 = BROADCAST_SHAPES[case]
    rng = np.random.default_rng(case)
    quants = sqd_quants(rng, dtype)
    inputs = None
    if dtype == np.int32:
        inputs = [random_input(rng, shape1, np.int32), nonzero_int32(rng, shape2)]
    check_model(div_model(shape1, shape2, dtype, quants=quants), seed=case, inputs=inputs)


@pytest.mark.parametrize("act", [Act.NONE, Act.RELU, Act.RELU6, Act.RELU_N1_TO_1])
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int8])
def test_div_fused_activations(act, dtype):
    rng = np.random.default_rng(int(act))
    a = rng.integers(-20, 20, (4, 10)).astype(np.int32)
    b = rng.integers(1, 5, 10).astype(np.int32) * rng.choice([-1, 1], 10).astype(np.int32)
    inputs = [a.astype(dtype), b.astype(dtype)] if dtype != np.int8 else None
    check_model(div_model((4, 10), (10,), dtype, act, sqd_quants(rng, dtype)), inputs=inputs,
                seed=int(act))


@pytest.mark.parametrize("seed", range(10))
def test_div_int8_every_pair(seed):
    """All 65,536 pairs, the divisors at their zero point (real 0) included: TFLM goes on
    with GetReciprocal(0) and tflm_edu computes the same bytes."""
    rng = np.random.default_rng(700 + seed)
    act = [Act.NONE, Act.RELU, Act.RELU6, Act.RELU_N1_TO_1][seed % 4]
    check_model(div_model((256, 1), (1, 256), np.int8, act, sqd_quants(rng, np.int8)),
                inputs=EVERY_PAIR)


# (scale1, zp1, scale2, zp2, scale_out, zp_out) where the multiplier computed in float32 (TFLM's
# source) instead of double (the tflite-micro package) changes some of the 65,536 quotients.
DIV_PRECISION_SCALES = [
    (0.06428812444210052, 35, 0.03294966742396355, 28, 0.0016743388259783387, -104),
    (0.633751630783081, -44, 0.4245130121707916, 53, 0.0051917037926614285, 5),
]


def int8_div_with_multiplier(case, real_multiplier):
    from tflm_edu.kernels.div import OpDataDiv, div_quantized
    from tflm_edu.kernels.quantization_util import quantize_multiplier
    s1, z1, s2, z2, so, zo = case
    data = OpDataDiv(z1, z2, zo, -128, 127)
    data.output_multiplier, data.output_shift = quantize_multiplier(real_multiplier)
    return div_quantized(*EVERY_PAIR, data)


@pytest.mark.parametrize("case", DIV_PRECISION_SCALES)
def test_div_int8_multiplier_is_computed_in_double(case):
    s1, z1, s2, z2, so, zo = case
    model = div_model((256, 1), (1, 256), np.int8, quants=(
        quantization(s1, z1), quantization(s2, z2), quantization(so, zo)))
    check_model(model, inputs=EVERY_PAIR)
    expected = run_oracle(write_model(model), EVERY_PAIR)[0].reshape(256, 256)
    s1, s2, so = np.float32(s1), np.float32(s2), np.float32(so)
    in_float32 = int8_div_with_multiplier(case, float(s1 / (s2 * so)))
    assert (in_float32 != expected).any()


def test_div_int8_rounding_shift_beyond_31_is_the_hosts():
    """0 / x: the head-room of 0 is 31 bits and the final rounding shift goes past 31;
    the host answers the output zero point plus one, not the exact zero point."""
    from tflm_edu.kernels import div
    from tflm_edu.kernels.fixedpoint import rounding_divide_by_pot
    case = (0.05, 3, 0.02, -7, 0.1, 5)
    model = div_model((256, 1), (1, 256), np.int8, quants=tuple(
        quantization(s, z) for s, z in zip(case[::2], case[1::2])))
    expected = run_oracle(write_model(model), EVERY_PAIR)[0].reshape(256, 256)
    assert (expected[3 + 128, :5] == 6).all()
    real_multiplier = float(np.float32(0.05)) / (float(np.float32(0.02)) *
                                                 float(np.float32(0.1)))
    original = div.rounding_divide_by_pot_x86
    try:
        div.rounding_divide_by_pot_x86 = lambda x, e: rounding_divide_by_pot(x, np.asarray(e))
        with_exact_shifts = int8_div_with_multiplier(case, real_multiplier)
    finally:
        div.rounding_divide_by_pot_x86 = original
    assert (with_exact_shifts != expected).any()
    assert (int8_div_with_multiplier(case, real_multiplier) == expected).all()


def test_div_int32_truncates_toward_zero():
    a = np.array([7, -7, 7, -7, 0, 2**31 - 1, -(2**31), -(2**31), 5], np.int32)
    b = np.array([2, 2, -2, -2, 3, 1, 1, 2, -6], np.int32)
    check_model(div_model((9,), (9,), np.int32), inputs=[a, b])


def test_div_float_special_values():
    x1 = np.repeat(SPECIAL, SPECIAL.size)
    x2 = np.tile(SPECIAL, SPECIAL.size)
    check_model(div_model(x1.shape, x2.shape, np.float32), inputs=[x1, x2])
    check_model(div_model(x1.shape, x2.shape, np.float32, Act.RELU6), inputs=[x1, x2])


def test_div_int32_by_zero_stops_the_invoke():
    """TFLM's integer division traps (SIGFPE) there; tflm_edu raises instead."""
    interpreter = allocate(div_model((3,), (3,), np.int32))
    interpreter.input(0).data[...] = [1, 2, 3]
    interpreter.input(1).data[...] = [1, 0, 3]
    with pytest.raises(ModelError, match="divides by zero"):
        interpreter.invoke()
    interpreter.input(0).data[...] = [1, -(2**31), 3]
    interpreter.input(1).data[...] = [1, -1, 3]
    with pytest.raises(ModelError, match="INT32_MIN"):
        interpreter.invoke()


@pytest.mark.parametrize("dtype,quants,match", [
    (np.int16, (quantization(1e-3, 0),) * 3, "not supported"),
    (np.int32, (quantization(1.0, 0), None, None), "quantized"),
    (np.int8, (quantization(0.1, 0), None, quantization(0.1, 0)), "no quantization"),
    (np.int8, (quantization(0.5, 0), quantization(1e-4, 0), quantization(1e-4, 0)),
     "too large"),
])
def test_div_refusals(dtype, quants, match):
    with pytest.raises(ModelError, match=match):
        allocate(div_model((4,), (4,), dtype, quants=quants))


def test_div_shape_and_type_refusals():
    with pytest.raises(ModelError, match="one type"):
        allocate(div_model((4,), (4,), np.float32, out_dtype=np.int32))
    with pytest.raises(ModelError, match="broadcast shape"):
        allocate(div_model((4, 1), (1, 3), np.float32, out_shape=(4, 1)))
    with pytest.raises(ModelError, match="rank 7"):
        allocate(div_model((1,) * 7, (3,), np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int8])
def test_div_arena_is_the_real_tflms(dtype):
    rng = np.random.default_rng(4)
    check_arena(div_model((1, 8, 8, 3), (3,), dtype, quants=sqd_quants(rng, dtype),
                          const2=np.array([2, 3, 5])))
