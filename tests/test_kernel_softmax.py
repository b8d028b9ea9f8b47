"""SOFTMAX against the real TFLM: float32, int8 -> int8, int8 -> int16, int16 -> int16.

The int8 kernel is fixed-point from end to end, so every one of the 256 int8 inputs is
tried in each position class (the row maximum, below it, far below it) for several
input scales, zero points and betas.
"""
import numpy as np
import pytest

from models import one_op_model, tensor
from op_harness import check_model
from tflm_edu import ModelError
from tflm_edu.interpreter import MicroInterpreter
from tflm_edu.op_resolver import AllOpsResolver
from tflm_edu.schema import read_model, write_model
from tflm_edu.schema.builder import quantization
from tflm_edu.schema.enums import BuiltinOperator as Op
from tflm_edu.schema.options import SoftmaxOptions

INT8_OUT = quantization(1 / 256, -128)
INT16_OUT = quantization(1 / 65536, -32768)


def softmax_model(shape, dtype, beta=1.0, in_scale=0.1, in_zp=0, out_dtype=None,
                  out_quant=None, out_shape=None):
    out_dtype = out_dtype or dtype
    if dtype == np.float32:
        x = tensor(shape, np.float32)
        out = tensor(out_shape or shape, np.float32)
        version = 1
    elif dtype == np.int16:
        x = tensor(shape, np.int16, quant=quantization(in_scale, in_zp))
        out = tensor(out_shape or shape, out_dtype,
                     quant=out_quant or quantization(1 / 32768, 0))
        version = 3
    else:
        x = tensor(shape, np.int8, quant=quantization(in_scale, in_zp))
        default_quant = INT16_OUT if out_dtype == np.int16 else INT8_OUT
        out = tensor(out_shape or shape, out_dtype, quant=out_quant or default_quant)
        version = 2
    return one_op_model(Op.SOFTMAX, [x], SoftmaxOptions(beta=beta), out, version)


def all_int8_rows(pattern):
    """256 rows covering every int8 value at every position of a short row."""
    values = np.arange(-128, 128, dtype=np.int64)
    rows = [np.roll(np.concatenate([[v], pattern]), k) for v in values
            for k in range(len(pattern) + 1)]
    return np.array(rows, dtype=np.int8)


@pytest.mark.parametrize("out_dtype", [np.int8, np.int16])
@pytest.mark.parametrize("in_scale, in_zp, beta", [
    (0.1, 0, 1.0), (0.0390625, -128, 1.0), (1 / 16, 5, 1.0), (0.25, -3, 0.5),
    (0.02, 17, 2.0), (0.5, 0, 1.0), (3.0, 10, 1.0), (0.004, -60, 1.0),
    (0.001, 0, 1.0), (0.0156, 100, 0.75),
])
def test_int8_every_input_value(in_scale, in_zp, beta, out_dtype):
    """Each int8 value beside a fixed set of others, in every position of the row."""
    for pattern in ([0, 50, -100], [127, -128], [-128]):
        x = all_int8_rows(np.array(pattern))
        model = softmax_model(x.shape, np.int8, beta, in_scale, in_zp, out_dtype)
        check_model(model, inputs=[x])


@pytest.mark.parametrize("seed", range(10))
def test_int8_random_shapes(seed):
    rng = np.random.default_rng(seed)
    rank = int(rng.integers(1, 5))
    shape = tuple(int(d) for d in rng.integers(1, 7, rank - 1)) + (int(rng.integers(1, 300)),)
    model = softmax_model(shape, np.int8, float(rng.uniform(0.3, 2.0)),
                          float(rng.uniform(0.005, 0.5)), int(rng.integers(-128, 128)))
    check_model(model, seed)


def test_int8_row_of_equal_values():
    """All exps equal 1.0: the sum of exps is the depth. 511 is the largest sum an int8
    output allows; an int16 output takes up to 4095."""
    for depth in (1, 2, 3, 255, 256, 511):
        x = np.full((2, depth), 7, np.int8)
        check_model(softmax_model(x.shape, np.int8), inputs=[x])
    for depth in (512, 1000, 4095):
        x = np.full((2, depth), -7, np.int8)
        check_model(softmax_model(x.shape, np.int8, out_dtype=np.int16), inputs=[x])


def test_int8_sum_of_512_is_an_error():
    """TFLM aborts the process here (TFLITE_CHECK); tflm_edu raises instead. Not run
    through the oracle, which would take pytest down with it."""
    interpreter = MicroInterpreter(read_model(write_model(softmax_model((1, 512), np.int8))),
                                   AllOpsResolver(), None)
    interpreter.allocate_tensors()
    interpreter.input(0).data[...] = 3
    with pytest.raises(ModelError, match="sum of exps reached 512"):
        interpreter.invoke()


def test_int8_micro_speech_like():
    """micro_speech and person_detect end in a [1, N] int8 softmax."""
    for shape, scale, zp in (((1, 4), 0.1171875, 1), ((1, 2), 0.09765625, -4)):
        check_model(softmax_model(shape, np.int8, 1.0, scale, zp), seed=3)


@pytest.mark.parametrize("in_scale, beta", [
    (1 / 32768, 1.0), (0.001, 1.0), (10 / 32768, 1.0), (0.0005, 0.5), (3e-5, 2.0),
    (0.01, 1.0), (1e-6, 1.0)])
def test_int16(in_scale, beta):
    """int16 -> int16 goes through interpolated exp and 1/(1+x) tables."""
    rng = np.random.default_rng(int(in_scale * 1e6))
    for shape in ((1, 10), (7, 33), (2, 3, 300)):
        x = rng.integers(-32768, 32768, shape).astype(np.int16)
        check_model(softmax_model(shape, np.int16, beta, in_scale), inputs=[x])
    # Every 128-wide interpolation segment of the exp table, and rows of equal values.
    x = np.stack([np.arange(-32768, 32768, 97, dtype=np.int64)[:600].astype(np.int16),
                  np.full(600, 12345, np.int16)])
    check_model(softmax_model(x.shape, np.int16, beta, in_scale), inputs=[x])


def test_int16_zero_points_are_checked():
    model = softmax_model((1, 4), np.int16, in_zp=3)
    with pytest.raises(ModelError, match="zero points 0"):
        allocate(model)


@pytest.mark.parametrize("seed", range(8))
def test_float(seed):
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 6)), int(rng.integers(1, 50)))
    beta = float(rng.choice([1.0, 0.5, 2.0, 0.1]))
    model = softmax_model(shape, np.float32, beta)
    x = (rng.standard_normal(shape) * rng.choice([1, 5, 30])).astype(np.float32)
    check_model(model, inputs=[x])


def test_float_rank_4_and_extremes():
    """magic_wand ends in a float softmax; also -inf, huge spreads and NaN rows."""
    check_model(softmax_model((2, 3, 2, 4), np.float32), seed=1)
    x = np.array([[0.0, -np.inf, 1.0, 100.0],
                  [-1e30, 1e30, 0.0, 5.0],
                  [3.0, np.nan, 2.0, 1.0],
                  [-0.0, 0.0, -0.0, 0.0]], np.float32)
    check_model(softmax_model(x.shape, np.float32), inputs=[x])


# ----------------------------------------------------------------------------- malformed


def allocate(model):
    MicroInterpreter(read_model(write_model(model)), AllOpsResolver(), None).allocate_tensors()


def test_int8_output_zero_point_is_checked():
    model = softmax_model((1, 4), np.int8, out_quant=quantization(1 / 256, 0))
    with pytest.raises(ModelError, match="zero point -128"):
        allocate(model)


def test_int8_output_scale_is_checked():
    model = softmax_model((1, 4), np.int8, out_quant=quantization(1 / 255, -128))
    with pytest.raises(ModelError, match="scale 1/256"):
        allocate(model)


def test_int16_output_quantization_is_checked():
    model = softmax_model((1, 4), np.int8, out_dtype=np.int16,
                          out_quant=quantization(1 / 65536, 0))
    with pytest.raises(ModelError, match="zero point -32768"):
        allocate(model)


def test_beta_zero_is_rejected():
    with pytest.raises(ModelError, match="too small for the fixed-point softmax"):
        allocate(softmax_model((1, 4), np.int8, beta=0.0))


def test_shape_mismatch_is_rejected():
    with pytest.raises(ModelError, match="differs from input shape"):
        allocate(softmax_model((2, 4), np.float32, out_shape=(2, 5)))


def test_type_mismatch_is_rejected():
    model = softmax_model((1, 4), np.int8, out_dtype=np.float32)
    with pytest.raises(ModelError, match="int8 or int16 output"):
        allocate(model)
