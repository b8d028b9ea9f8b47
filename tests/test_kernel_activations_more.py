"""More activations against the real TFLM: int16 LOGISTIC and TANH (every int16 input),
LEAKY_RELU, HARD_SWISH, PRELU, LOG_SOFTMAX and L2_NORMALIZATION - every int8 (or int16)
input value where cheap, seeded shapes and parameters, malformed models, the arena."""
import re
import tarfile

import numpy as np
import pytest

from models import one_op_model, tensor
from op_harness import check_model
from tflm_edu import ModelError
from tflm_edu.arena_size import estimate_arena_size
from tflm_edu.arena_size.oracle import smallest_arena_tflm
from tflm_edu.interpreter import MicroInterpreter
from tflm_edu.kernels.logistic import SIGMOID_TABLE_UINT16
from tflm_edu.op_resolver import AllOpsResolver
from tflm_edu.schema import read_model, write_model
from tflm_edu.schema import options as o
from tflm_edu.schema.builder import quantization
from tflm_edu.schema.enums import BuiltinOperator as Op

ALL_INT8 = np.arange(-128, 128, dtype=np.int8).reshape(16, 16)
ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16).reshape(256, 256)
OUT_Q15 = quantization(2 ** -15, 0)


def allocate(model):
    MicroInterpreter(read_model(write_model(model)), AllOpsResolver(), None).allocate_tensors()


def assert_arena_is_tflms(model):
    assert estimate_arena_size(model, "host").arena_bytes == smallest_arena_tflm(model)


# ----------------------------------------------------------------------------- int16 LOGISTIC, TANH


def int16_activation_model(op, in_scale, in_zp=0, out_quant=OUT_Q15, shape=ALL_INT16.shape):
    return one_op_model(op, [tensor(shape, np.int16, quant=quantization(in_scale, in_zp))],
                        None, tensor(shape, np.int16, quant=out_quant), 3)


def tflm_source(path):
    """A file of the TFLM source tree the firmware is built from, or None without it."""
    from conftest import SHARED_TFLM
    archive = SHARED_TFLM / "tflm_tree.tar.gz"
    if not archive.is_file():
        return None
    with tarfile.open(archive) as tar:
        return tar.extractfile(f"tflm_tree/{path}").read().decode()


def test_sigmoid_table_is_tflms():
    """The rule that rebuilds sigmoid_table_uint16 gives TFLM's table entry for entry
    (read from the TFLM source tree where it is; the oracle tests below check the table
    through the kernels in any case)."""
    source = tflm_source("tensorflow/lite/kernels/internal/common.h")
    if source is not None:
        body = source[source.index("sigmoid_table_uint16[256] = {"):]
        body = body[body.index("{") + 1:body.index("}")]
        assert SIGMOID_TABLE_UINT16.tolist() == [int(v) for v in re.findall(r"\d+", body)]
    assert SIGMOID_TABLE_UINT16[0] == 32768 and SIGMOID_TABLE_UINT16[-1] == 65535
    assert np.all(np.diff(SIGMOID_TABLE_UINT16) >= 0)


# Power-of-two scales (2^-12 for both, 2^-11 for TANH take the multiplier-free path),
# other powers of two, and general scales up to the largest the kernel takes.
INT16_SCALES = [2 ** -12, 2 ** -11, 2 ** -10, 2 ** -15, 2 ** -13, 1e-4, 3e-4, 1 / 3000, 0.001,
                0.01, 0.3, 2.5, 5.3, 1e-7, 1e-12]


@pytest.mark.parametrize("op", [Op.LOGISTIC, Op.TANH])
@pytest.mark.parametrize("scale", INT16_SCALES)
def test_int16_every_input_value(op, scale):
    check_model(int16_activation_model(op, scale), inputs=[ALL_INT16])


@pytest.mark.parametrize("op", [Op.LOGISTIC, Op.TANH])
def test_int16_random_scales_and_shapes(op):
    rng = np.random.default_rng(int(op))
    for shape in [(1,), (3, 7), (2, 3, 4, 5)]:
        scale = float(10 ** rng.uniform(-5, 0))
        check_model(int16_activation_model(op, scale, shape=shape), seed=len(shape))


@pytest.mark.parametrize("op", [Op.LOGISTIC, Op.TANH])
def test_int16_output_scale_near_two_to_minus_15(op):
    """CheckedLog2 accepts a scale within 1e-3 of 2^-15 in log2."""
    check_model(int16_activation_model(op, 1e-4, out_quant=quantization(2 ** -15 * 1.0005, 0)),
                inputs=[ALL_INT16])


@pytest.mark.parametrize("op", [Op.LOGISTIC, Op.TANH])
@pytest.mark.parametrize("in_scale, in_zp, out_quant, message", [
    (1e-4, 1, OUT_Q15, "input must have zero point 0"),
    (1e-4, 0, quantization(2 ** -15, 3), "output must have zero point 0"),
    (1e-4, 0, quantization(2 ** -14, 0), "scale 2\\^-15"),
    (1e-4, 0, quantization(1.5 * 2 ** -15, 0), "scale 2\\^-15"),
    (6.0, 0, OUT_Q15, "too large for the int16"),
    (1e-15, 0, OUT_Q15, "too small for the int16"),
])
def test_int16_refusals(op, in_scale, in_zp, out_quant, message):
    with pytest.raises(ModelError, match=message):
        allocate(int16_activation_model(op, in_scale, in_zp, out_quant, shape=(4,)))


@pytest.mark.parametrize("op", [Op.LOGISTIC, Op.TANH])
def test_int16_arena(op):
    assert_arena_is_tflms(int16_activation_model(op, 1e-4, shape=(3, 5)))


# ----------------------------------------------------------------------------- LEAKY_RELU


def leaky_relu_model(dtype, alpha, shape=None, seed=0, quants=None, out_shape=None,
                     out_dtype=None):
    rng = np.random.default_rng(seed)
    shape = shape or {np.float32: (4, 50), np.int8: ALL_INT8.shape,
                      np.int16: ALL_INT16.shape}[dtype]
    if dtype == np.float32:
        qi = qo = None
    elif quants is not None:
        qi, qo = quants
    elif dtype == np.int8:
        qi = quantization(rng.uniform(0.005, 0.3), int(rng.integers(-128, 128)))
        qo = quantization(rng.uniform(0.005, 0.3), int(rng.integers(-128, 128)))
    else:
        qi = quantization(rng.uniform(1e-5, 1e-3), int(rng.integers(-5, 5)))
        qo = quantization(rng.uniform(1e-5, 1e-3), int(rng.integers(-5, 5)))
    version = 2 if dtype == np.int16 else 1
    return one_op_model(Op.LEAKY_RELU, [tensor(shape, dtype, quant=qi)],
                        o.LeakyReluOptions(alpha),
                        tensor(out_shape or shape, out_dtype or dtype, quant=qo), version)


ALPHAS = [0.2, 0.01, 0.0, -0.5, 1.0, 1.7, 3.7, -2.25]


@pytest.mark.parametrize("alpha", ALPHAS)
def test_leaky_relu_int8_every_input_value(alpha):
    for seed in range(8):
        check_model(leaky_relu_model(np.int8, alpha, seed=seed), inputs=[ALL_INT8])


@pytest.mark.parametrize("alpha", ALPHAS)
def test_leaky_relu_int16_every_input_value(alpha):
    """Exact rounding ties are common over 65,536 inputs: they show that the multipliers
    are computed in double (float32 ratios differ here)."""
    for seed in range(3):
        check_model(leaky_relu_model(np.int16, alpha, seed=seed), inputs=[ALL_INT16])


def test_leaky_relu_int16_double_multiplier():
    """A case where float32 scale arithmetic (the TFLM source tree) moves 9 ties."""
    quants = (quantization(0.0008069528945079264, -1), quantization(0.0008098613818391288, 0))
    check_model(leaky_relu_model(np.int16, 0.2, quants=quants), inputs=[ALL_INT16])


@pytest.mark.parametrize("alpha", ALPHAS)
def test_leaky_relu_float(alpha):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((4, 50)) * 3).astype(np.float32)
    x.reshape(-1)[:6] = [0.0, -0.0, np.nan, -np.inf, np.inf, -1e-30]
    check_model(leaky_relu_model(np.float32, alpha, shape=x.shape), inputs=[x])


def test_leaky_relu_shapes():
    for shape in [(1,), (2, 3, 4, 5), (1, 1, 1, 1, 7)]:
        check_model(leaky_relu_model(np.int8, 0.3, shape=shape, seed=len(shape)))
        check_model(leaky_relu_model(np.float32, 0.3, shape=shape), seed=len(shape))


@pytest.mark.parametrize("kwargs, message", [
    (dict(dtype=np.int8, alpha=0.2, out_dtype=np.int16), "types differ"),
    (dict(dtype=np.int8, alpha=0.2, shape=(4,), out_shape=(5,)), "differ in size"),
    (dict(dtype=np.int8, alpha=0.2, quants=(None, quantization(0.1, 0))),
     "no quantization parameters"),
    (dict(dtype=np.int8, alpha=1e12), "too large a ratio|too far apart"),
])
def test_leaky_relu_refusals(kwargs, message):
    with pytest.raises(ModelError, match=message):
        allocate(leaky_relu_model(**kwargs))


def test_leaky_relu_int32_is_refused():
    model = one_op_model(Op.LEAKY_RELU, [tensor((4,), np.int32)], o.LeakyReluOptions(0.1),
                         tensor((4,), np.int32))
    with pytest.raises(ModelError, match="INT32 is not supported"):
        allocate(model)


@pytest.mark.parametrize("dtype", [np.float32, np.int8, np.int16])
def test_leaky_relu_arena(dtype):
    assert_arena_is_tflms(leaky_relu_model(dtype, 0.2, shape=(2, 7)))


# ----------------------------------------------------------------------------- HARD_SWISH


def hard_swish_model(dtype, shape=ALL_INT8.shape, in_quant=None, out_quant=None,
                     out_dtype=None, out_shape=None):
    return one_op_model(Op.HARD_SWISH, [tensor(shape, dtype, quant=in_quant)], None,
                        tensor(out_shape or shape, out_dtype or dtype, quant=out_quant))


@pytest.mark.parametrize("seed", range(12))
def test_hard_swish_int8_every_input_value(seed):
    rng = np.random.default_rng(seed)
    for _ in range(10):
        in_scale = float(10 ** rng.uniform(-3, 0.5))
        out_scale = float(10 ** rng.uniform(np.log10(in_scale / 128) + 0.01, 0.5))
        model = hard_swish_model(
            np.int8, in_quant=quantization(in_scale, int(rng.integers(-128, 128))),
            out_quant=quantization(out_scale, int(rng.integers(-128, 128))))
        check_model(model, inputs=[ALL_INT8])


@pytest.mark.parametrize("in_scale, out_scale", [
    (0.001, 1.0),        # output shift 16: gemmlowp's int16 RoundingDivideByPOT misbehaves
    (1e-7, 1e-5),        # reluish shift 16, the same
    (1e-8, 1e-7),
    (0.05, 0.05 / 127.9),  # the largest input / output ratio TFLM accepts
    (1.2, 0.0094),       # reluish multiplier with a left shift (saturating)
    (1.0801174640655518, 0.47356486320495605),  # float32 scale ratios would differ here
    (0.02, 0.02),
])
@pytest.mark.parametrize("zero_points", [(0, 0), (-128, 127), (100, -100), (85, -120)])
def test_hard_swish_int8_edge_scales(in_scale, out_scale, zero_points):
    model = hard_swish_model(np.int8, in_quant=quantization(in_scale, zero_points[0]),
                             out_quant=quantization(out_scale, zero_points[1]))
    check_model(model, inputs=[ALL_INT8])


def test_hard_swish_float():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(1000) * 4).astype(np.float32)
    x[:10] = [0.0, -0.0, np.nan, -np.inf, np.inf, -3.0, 3.0, -1e-30, 3e38, -3e38]
    check_model(hard_swish_model(np.float32, x.shape), inputs=[x])


def test_hard_swish_shapes():
    q = quantization(0.05, -10), quantization(0.03, -100)
    for shape in [(1,), (2, 3, 4, 5), (1, 2, 1, 3, 7)]:
        check_model(hard_swish_model(np.int8, shape, *q), seed=len(shape))
        check_model(hard_swish_model(np.float32, shape), seed=len(shape))


@pytest.mark.parametrize("kwargs, message", [
    (dict(in_quant=quantization(1.0, 0), out_quant=quantization(0.005, 0)),
     "too large for output scale"),
    (dict(in_quant=quantization(0.1, 0), out_quant=None), "no quantization parameters"),
    (dict(in_quant=quantization(0.1, 0), out_quant=quantization(0.1, 0), out_dtype=np.int16),
     "types differ"),
    (dict(in_quant=quantization(0.1, 0), out_quant=quantization(0.1, 0), shape=(4,),
          out_shape=(3,)), "differ in size"),
])
def test_hard_swish_refusals(kwargs, message):
    with pytest.raises(ModelError, match=message):
        allocate(hard_swish_model(np.int8, **kwargs))


def test_hard_swish_int16_is_refused():
    q = quantization(1e-4, 0)
    with pytest.raises(ModelError, match="INT16 is not supported"):
        allocate(hard_swish_model(np.int16, (4,), q, q))


@pytest.mark.parametrize("dtype", [np.float32, np.int8])
def test_hard_swish_arena(dtype):
    q = quantization(0.05, 3) if dtype == np.int8 else None
    assert_arena_is_tflms(hard_swish_model(dtype, (3, 5), q, q))


# ----------------------------------------------------------------------------- PRELU


def prelu_model(dtype, input_shape, alpha_shape, seed=0, const_alpha=True, out_shape=None,
                alpha_dtype=None, quants=None):
    rng = np.random.default_rng(seed)
    out_shape = out_shape or np.broadcast_shapes(input_shape, alpha_shape)
    if dtype == np.float32:
        alpha_data = rng.standard_normal(alpha_shape) if const_alpha else None
        return one_op_model(Op.PRELU, [tensor(input_shape),
                                       tensor(alpha_shape, alpha_dtype or np.float32,
                                              alpha_data)], None, tensor(out_shape))
    if quants is None:
        qa = quantization(rng.uniform(0.001, 0.05), int(rng.integers(-128, 128)))
        if dtype == np.int8:
            qi = quantization(rng.uniform(0.01, 0.2), int(rng.integers(-128, 128)))
            qo = quantization(rng.uniform(0.01, 0.2), int(rng.integers(-128, 128)))
        else:
            qi = quantization(rng.uniform(1e-4, 1e-3), int(rng.integers(-10, 10)))
            qo = quantization(rng.uniform(1e-4, 1e-3), int(rng.integers(-10, 10)))
        quants = qi, qa, qo
    qi, qa, qo = quants
    alpha_data = rng.integers(-128, 128, alpha_shape) if const_alpha else None
    return one_op_model(Op.PRELU, [tensor(input_shape, dtype, quant=qi),
                                   tensor(alpha_shape, alpha_dtype or np.int8, alpha_data,
                                          qa)], None, tensor(out_shape, dtype, quant=qo))


PRELU_SHAPES = [((1, 4, 4, 3), (3,)), ((1, 4, 4, 3), (1, 1, 3)), ((2, 3), (2, 3)),
                ((2, 3, 4), (3, 1)), ((5,), ()), ((4, 1), (1, 6)), ((3,), (2, 3)),
                ((2, 1, 3, 1), (1, 4, 1, 2))]


@pytest.mark.parametrize("dtype", [np.float32, np.int8, np.int16])
@pytest.mark.parametrize("shapes", PRELU_SHAPES, ids=str)
def test_prelu_broadcasts(dtype, shapes):
    for seed, const_alpha in [(0, True), (1, False), (2, True)]:
        check_model(prelu_model(dtype, *shapes, seed=seed, const_alpha=const_alpha),
                    seed=seed)


@pytest.mark.parametrize("dtype", [np.int8, np.int16])
def test_prelu_quantized_beyond_4_dims(dtype):
    """The quantized loop takes up to 8 dimensions; 7 here, as the oracle's Python
    runtime returns garbage for rank-8 tensors (any op, ADD too)."""
    check_model(prelu_model(dtype, (1, 2, 3, 1, 2, 3), (3,), seed=5))
    check_model(prelu_model(dtype, (2, 1, 2, 1, 2, 2, 3), (2, 1, 3), seed=6))


@pytest.mark.parametrize("seed", range(8))
def test_prelu_int8_every_input_value(seed):
    """All 256 inputs against 16 alphas (one per channel) - every alpha value over the
    seeds."""
    model = prelu_model(np.int8, ALL_INT8.shape, (16,), seed=seed, const_alpha=False)
    rng = np.random.default_rng(seed)
    alpha = rng.integers(-128, 128, 16).astype(np.int8)
    check_model(model, inputs=[ALL_INT8, alpha])


def test_prelu_output_with_leading_ones():
    check_model(prelu_model(np.int8, (3, 4), (4,), out_shape=(1, 3, 4)))
    check_model(prelu_model(np.float32, (3, 4), (4,), out_shape=(1, 1, 3, 4)))


def test_prelu_float_special_values():
    x = np.array([0.0, -0.0, np.nan, -np.inf, np.inf, -1e-30, -2.0, 3.0], np.float32)
    check_model(prelu_model(np.float32, x.shape, (), const_alpha=False),
                inputs=[x, np.array(-0.5, np.float32)])
    check_model(prelu_model(np.float32, x.shape, x.shape, const_alpha=False),
                inputs=[x, np.array([0, 0, 1, 0, np.inf, 1e38, np.nan, 2], np.float32)])


@pytest.mark.parametrize("kwargs, message", [
    (dict(dtype=np.int8, input_shape=(2, 3), alpha_shape=(2,), out_shape=(2, 3)),
     "does not broadcast"),
    (dict(dtype=np.int8, input_shape=(2, 3), alpha_shape=(3,), out_shape=(2, 4)),
     "broadcast shape"),
    (dict(dtype=np.int8, input_shape=(2, 3), alpha_shape=(3,), out_shape=(3, 2, 3)),
     "broadcast shape"),
    (dict(dtype=np.float32, input_shape=(1, 2, 3, 4, 5), alpha_shape=(5,)),
     "at most 4 dimensions"),
    (dict(dtype=np.int8, input_shape=(4,), alpha_shape=(4,), alpha_dtype=np.int16),
     "this op takes INT8"),
    (dict(dtype=np.float32, input_shape=(4,), alpha_shape=(4,), alpha_dtype=np.int8),
     "this op takes FLOAT32"),
    (dict(dtype=np.int8, input_shape=(4,), alpha_shape=(4,),
          quants=(quantization(0.1, 0), None, quantization(0.1, 0))),
     "no quantization parameters"),
])
def test_prelu_refusals(kwargs, message):
    with pytest.raises(ModelError, match=message):
        allocate(prelu_model(**kwargs))


@pytest.mark.parametrize("dtype", [np.float32, np.int8, np.int16])
def test_prelu_arena(dtype):
    assert_arena_is_tflms(prelu_model(dtype, (1, 4, 4, 3), (3,)))
    assert_arena_is_tflms(prelu_model(dtype, (2, 3), (2, 3), const_alpha=False))


# ----------------------------------------------------------------------------- LOG_SOFTMAX


def log_softmax_model(dtype, shape, in_quant=None, out_quant=None, out_shape=None,
                      out_dtype=None):
    if dtype == np.int8:
        out_quant = out_quant or quantization(16 / 256, 127)
    return one_op_model(Op.LOG_SOFTMAX, [tensor(shape, dtype, quant=in_quant)], None,
                        tensor(out_shape or shape, out_dtype or dtype, quant=out_quant),
                        version=2 if dtype == np.int8 else 1)


def log_softmax_rows(rng):
    """Rows of every int8 value, random rows, descending rows, constant rows."""
    return [ALL_INT8, rng.integers(-128, 128, (16, 16)).astype(np.int8),
            np.ascontiguousarray(np.sort(rng.integers(-128, 128, (16, 16)), axis=1)[:, ::-1])
            .astype(np.int8), np.full((16, 16), 5, np.int8)]


LOG_SOFTMAX_SCALES = [2 ** -25, 1e-4, 0.01, 1 / 16, 0.1, 0.25, 1.0, 3.3, 31.9, 100.0, 1e4]


@pytest.mark.parametrize("scale", LOG_SOFTMAX_SCALES)
def test_log_softmax_int8_scales(scale):
    rng = np.random.default_rng(int(scale * 1000) % 997)
    for zero_point in (-128, 0, 77):
        model = log_softmax_model(np.int8, ALL_INT8.shape, quantization(scale, zero_point))
        for x in log_softmax_rows(rng):
            check_model(model, inputs=[x])


@pytest.mark.parametrize("seed", range(6))
def test_log_softmax_int8_random_scales(seed):
    rng = np.random.default_rng(seed)
    for _ in range(8):
        quant = quantization(float(10 ** rng.uniform(-3, 1)), int(rng.integers(-128, 128)))
        model = log_softmax_model(np.int8, ALL_INT8.shape, quant)
        for x in log_softmax_rows(rng):
            check_model(model, inputs=[x])


def test_log_softmax_shapes():
    for shape in [(5,), (3, 7), (2, 3, 40), (1, 1000), (2, 1, 3, 4, 6)]:
        check_model(log_softmax_model(np.int8, shape, quantization(0.07, -20)), seed=len(shape))
        check_model(log_softmax_model(np.float32, shape), seed=len(shape))


def test_log_softmax_float_special_values():
    x = np.array([[np.nan, 1, 2], [-np.inf, -np.inf, -np.inf], [np.inf, 1, 2],
                  [0, -0.0, 100], [-1e30, 1e30, 0], [-3e38, -3.4028235e38, 3e38],
                  [1e-30, -1e-30, 0]], np.float32)
    check_model(log_softmax_model(np.float32, x.shape), inputs=[x])


def test_log_softmax_float_wide_rows():
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((4, 3000)) * 10).astype(np.float32)
    check_model(log_softmax_model(np.float32, x.shape), inputs=[x])


@pytest.mark.parametrize("kwargs, message", [
    (dict(dtype=np.int8, shape=(4,), in_quant=quantization(0.1, 0),
          out_quant=quantization(1 / 16, 0)), "scale 16/256 and zero point 127"),
    (dict(dtype=np.int8, shape=(4,), in_quant=quantization(0.1, 0),
          out_quant=quantization(1 / 16.001, 127)), "scale 16/256 and zero point 127"),
    (dict(dtype=np.int8, shape=(4,), in_quant=quantization(1e-9, 0)), "too small"),
    (dict(dtype=np.float32, shape=(2, 4), out_shape=(4, 2)), "differs from input shape"),
    (dict(dtype=np.float32, shape=(4,), out_dtype=np.int8,
          out_quant=quantization(1 / 16, 127)), "types differ"),
    (dict(dtype=np.int16, shape=(4,), in_quant=quantization(1e-3, 0),
          out_quant=quantization(1e-3, 0)), "INT16 is not supported"),
])
def test_log_softmax_refusals(kwargs, message):
    with pytest.raises(ModelError, match=message):
        allocate(log_softmax_model(**kwargs))


@pytest.mark.parametrize("dtype", [np.float32, np.int8])
def test_log_softmax_arena(dtype):
    quant = quantization(0.1, 3) if dtype == np.int8 else None
    assert_arena_is_tflms(log_softmax_model(dtype, (3, 10), quant))


# ----------------------------------------------------------------------------- L2_NORMALIZATION


def l2norm_model(dtype, shape, in_quant=None, out_quant=None, out_shape=None, out_dtype=None,
                 act=0):
    if dtype == np.int8:
        in_quant = in_quant or quantization(0.05, -3)
        out_quant = out_quant or quantization(1 / 128, 0)
    return one_op_model(Op.L2_NORMALIZATION, [tensor(shape, dtype, quant=in_quant)],
                        o.L2NormOptions(fused_activation_function=act),
                        tensor(out_shape or shape, out_dtype or dtype, quant=out_quant),
                        version=2 if dtype == np.int8 else 1)


ALL_INT8_PAIRS = np.stack(np.meshgrid(np.arange(-128, 128), np.arange(-128, 128),
                                      indexing="ij"), axis=-1).astype(np.int8).reshape(-1, 2)


@pytest.mark.parametrize("zero_point", [-128, -3, 0, 50, 127])
def test_l2norm_int8_every_pair(zero_point):
    """All 65,536 rows (a, b): every value against every other, a row at the zero point
    (all zeros) included."""
    model = l2norm_model(np.int8, ALL_INT8_PAIRS.shape, quantization(0.1, zero_point))
    check_model(model, inputs=[ALL_INT8_PAIRS])


@pytest.mark.parametrize("seed", range(5))
def test_l2norm_int8_rows(seed):
    rng = np.random.default_rng(seed)
    for shape in [(16, 16), (1, 4, 4, 8), (3, 100), (2, 1), (1, 3000)]:
        zero_point = int(rng.integers(-128, 128))
        model = l2norm_model(np.int8, shape, quantization(0.02, zero_point))
        x = rng.integers(-128, 128, shape).astype(np.int8)
        x.reshape(-1, shape[-1])[0] = zero_point  # a row of zeros
        check_model(model, inputs=[x])


def test_l2norm_int8_ignores_output_quantization():
    """The bytes are in 1/128 steps whatever the output tensor says."""
    check_model(l2norm_model(np.int8, (4, 6), out_quant=quantization(0.3, 20)))


def test_l2norm_float():
    rng = np.random.default_rng(0)
    for shape in [(5,), (3, 7), (2, 3, 40), (1, 1000), (1, 2, 3, 4)]:
        x = (rng.standard_normal(shape) * 10 ** rng.uniform(-3, 3)).astype(np.float32)
        check_model(l2norm_model(np.float32, shape), inputs=[x])


def test_l2norm_float_special_values():
    """NaN and inf, an all-zero row and one below epsilon, squares that overflow."""
    x = np.array([[np.nan, 1, 2], [0, 0, 0], [np.inf, 1, 2], [1e-30, -1e-30, 0],
                  [-1e30, 1e30, 0], [1e20, 1e20, 1], [3e-7, 0, 0], [-0.0, 0, -0.0]],
                 np.float32)
    check_model(l2norm_model(np.float32, x.shape), inputs=[x])


@pytest.mark.parametrize("kwargs, message", [
    (dict(dtype=np.float32, shape=(1, 2, 3, 4, 5)), "at most 4 dimensions"),
    (dict(dtype=np.float32, shape=(2, 3), act=1), "no fused activation"),
    (dict(dtype=np.float32, shape=(2, 3), out_shape=(3, 2)), "differs from input shape"),
    (dict(dtype=np.float32, shape=(2, 3), out_dtype=np.int8,
          out_quant=quantization(1 / 128, 0)), "types differ"),
    (dict(dtype=np.int16, shape=(2, 3), in_quant=quantization(1e-3, 0),
          out_quant=quantization(1e-3, 0)), "INT16 is not supported"),
    (dict(dtype=np.float32, shape=()), "at least 1 dimension"),
])
def test_l2norm_refusals(kwargs, message):
    with pytest.raises(ModelError, match=message):
        allocate(l2norm_model(**kwargs))


@pytest.mark.parametrize("dtype", [np.float32, np.int8])
def test_l2norm_arena(dtype):
    assert_arena_is_tflms(l2norm_model(dtype, (1, 3, 3, 8)))
