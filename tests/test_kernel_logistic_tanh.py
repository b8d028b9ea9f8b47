"""LOGISTIC and TANH against the real TFLM: every int8 input for many input scales and
zero points, and float32 (where TFLM calls libm's expf / tanhf)."""
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

LOGISTIC, TANH = Op.LOGISTIC, Op.TANH
OUTPUT_QUANT = {LOGISTIC: quantization(1 / 256, -128), TANH: quantization(1 / 128, 0)}
ALL_INT8 = np.arange(-128, 128, dtype=np.int8).reshape(1, 16, 16)


def activation_model(op, shape, dtype, in_scale=0.1, in_zp=0, out_quant=None, out_dtype=None,
                     out_shape=None):
    if dtype == np.float32:
        x = tensor(shape, np.float32)
        out = tensor(out_shape or shape, out_dtype or np.float32)
        version = 1
    else:
        x = tensor(shape, np.int8, quant=quantization(in_scale, in_zp))
        out = tensor(out_shape or shape, out_dtype or np.int8,
                     quant=out_quant or OUTPUT_QUANT[op])
        version = 2
    return one_op_model(op, [x], None, out, version)


# Input scales from tiny (every input near 0) to huge (radius 0: every input saturates),
# powers of two and awkward values, with zero points across the range.
SCALES = [1e-6, 2 ** -20, 0.001, 0.0078125, 0.01, 1 / 32, 0.04, 0.0625, 0.1, 0.123456,
          0.25, 0.5, 1.0, 3.7, 8.0, 100.0]
ZERO_POINTS = [-128, -37, 0, 1, 64, 127]


@pytest.mark.parametrize("op", [LOGISTIC, TANH])
@pytest.mark.parametrize("scale", SCALES)
def test_int8_every_input_value(op, scale):
    for zero_point in ZERO_POINTS:
        check_model(activation_model(op, ALL_INT8.shape, np.int8, scale, zero_point),
                    inputs=[ALL_INT8])


@pytest.mark.parametrize("op", [LOGISTIC, TANH])
@pytest.mark.parametrize("seed", range(6))
def test_int8_random_scales(op, seed):
    rng = np.random.default_rng(seed)
    for _ in range(5):
        scale = float(10 ** rng.uniform(-4, 1))
        model = activation_model(op, ALL_INT8.shape, np.int8, scale, int(rng.integers(-128, 128)))
        check_model(model, inputs=[ALL_INT8])


@pytest.mark.parametrize("op", [LOGISTIC, TANH])
def test_int8_shapes(op):
    for shape in [(1,), (3, 5), (2, 3, 4, 5)]:
        check_model(activation_model(op, shape, np.int8, 0.05, 3), seed=len(shape))


def test_tanh_ignores_output_quantization():
    """TFLM's int8 tanh writes 1/128-scaled bytes whatever the output says."""
    model = activation_model(TANH, ALL_INT8.shape, np.int8, 0.05, 3,
                             out_quant=quantization(0.3, 20))
    check_model(model, inputs=[ALL_INT8])


@pytest.mark.parametrize("op", [LOGISTIC, TANH])
@pytest.mark.parametrize("spread", [0.5, 3.0, 12.0, 40.0])
def test_float(op, spread):
    rng = np.random.default_rng(int(spread * 10))
    x = (rng.standard_normal((4, 500)) * spread).astype(np.float32)
    check_model(activation_model(op, x.shape, np.float32), inputs=[x])


@pytest.mark.parametrize("op", [LOGISTIC, TANH])
def test_float_special_values(op):
    """The logistic cut-offs (-9 and 16.619047) on and beside the edge, tiny values,
    signed zeros, infinities and NaN."""
    edges = [np.float32(-9.0), np.float32(16.619047164916992188)]
    near = [np.nextafter(e, d) for e in edges for d in (np.float32(-np.inf), np.float32(np.inf))]
    x = np.array(edges + near + [0.0, -0.0, 1e-30, -1e-30, 1e-8, 88.0, -88.0, -104.0, 200.0,
                                 np.inf, -np.inf, np.nan, 9.0, -16.7], np.float32)
    check_model(activation_model(op, x.shape, np.float32), inputs=[x])


# ----------------------------------------------------------------------------- malformed


def allocate(model):
    MicroInterpreter(read_model(write_model(model)), AllOpsResolver(), None).allocate_tensors()


def test_logistic_output_zero_point_is_checked():
    model = activation_model(LOGISTIC, (4,), np.int8, out_quant=quantization(1 / 256, 0))
    with pytest.raises(ModelError, match="zero point -128"):
        allocate(model)


@pytest.mark.parametrize("op", [LOGISTIC, TANH])
def test_type_mismatch_is_rejected(op):
    model = activation_model(op, (4,), np.int8, out_dtype=np.float32)
    with pytest.raises(ModelError, match="input and output types differ"):
        allocate(model)


@pytest.mark.parametrize("op", [LOGISTIC, TANH])
def test_shape_mismatch_is_rejected(op):
    model = activation_model(op, (2, 4), np.float32, out_shape=(2, 5))
    with pytest.raises(ModelError, match="differs from input shape"):
        allocate(model)


@pytest.mark.parametrize("op", [LOGISTIC, TANH])
def test_tiny_scale_is_rejected(op):
    """A scale below 2^-28 makes TFLM shift by a negative amount (undefined behaviour)."""
    with pytest.raises(ModelError, match="too small for the fixed-point"):
        allocate(activation_model(op, (4,), np.int8, in_scale=1e-9))


@pytest.mark.parametrize("op", [LOGISTIC, TANH])
def test_unsupported_type_is_rejected(op):
    model = one_op_model(op, [tensor((4,), np.int32)], None, tensor((4,), np.int32))
    with pytest.raises(ModelError, match="INT32 is not supported"):
        allocate(model)
