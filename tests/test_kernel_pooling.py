"""AVERAGE_POOL_2D and MAX_POOL_2D against the real TFLM: float32, int8 and int16."""
import numpy as np
import pytest

from models import one_op_model, pool_model, tensor
from op_harness import check_model
from tflm_edu import ModelError
from tflm_edu.interpreter import MicroInterpreter
from tflm_edu.op_resolver import AllOpsResolver
from tflm_edu.schema import read_model, write_model
from tflm_edu.schema.builder import quantization
from tflm_edu.schema.enums import ActivationFunctionType as Act, BuiltinOperator as Op
from tflm_edu.schema.enums import Padding
from tflm_edu.schema.options import Pool2DOptions

SAME, VALID = Padding.SAME, Padding.VALID


AVG, MAX = Op.AVERAGE_POOL_2D, Op.MAX_POOL_2D

# (input shape, filter, stride, padding): odd sizes, SAME border windows, overlapping and
# gapped windows, a filter larger than the input, 1x1 and global pooling.
GEOMETRIES = [
    ((1, 8, 8, 3), (2, 2), (2, 2), VALID),
    ((1, 7, 9, 4), (3, 3), (2, 2), SAME),
    ((2, 5, 6, 2), (3, 2), (1, 1), SAME),
    ((1, 10, 7, 5), (4, 3), (3, 2), SAME),
    ((1, 6, 6, 1), (5, 5), (1, 1), SAME),
    ((1, 3, 3, 8), (3, 3), (3, 3), VALID),  # person_detect-like global average
    ((1, 4, 4, 2), (7, 7), (1, 1), SAME),  # filter larger than the input
    ((1, 9, 5, 3), (2, 3), (3, 1), VALID),
    ((3, 4, 4, 3), (1, 1), (1, 1), VALID),
    ((1, 11, 11, 2), (2, 2), (3, 3), SAME),  # stride larger than the filter
    ((1, 128, 3, 1), (3, 1), (3, 1), SAME),  # magic_wand-like
    ((1, 1, 1, 6), (1, 1), (2, 2), SAME),
]


@pytest.mark.parametrize("op", [AVG, MAX])
@pytest.mark.parametrize("dtype", [np.float32, np.int8, np.int16])
@pytest.mark.parametrize("case", range(len(GEOMETRIES)))
def test_geometries(op, dtype, case):
    shape, filter_hw, stride_hw, padding = GEOMETRIES[case]
    check_model(pool_model(op, shape, filter_hw, stride_hw, padding, dtype, seed=case), case)


@pytest.mark.parametrize("op", [AVG, MAX])
@pytest.mark.parametrize("dtype", [np.float32, np.int8, np.int16])
@pytest.mark.parametrize("act", [Act.RELU, Act.RELU6, Act.RELU_N1_TO_1, Act.TANH])
def test_fused_activations(op, dtype, act):
    model = pool_model(op, (1, 6, 5, 3), (2, 2), (1, 2), SAME, dtype, act, seed=int(act))
    check_model(model, int(act))


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("op", [AVG, MAX])
def test_random_int8(seed, op):
    rng = np.random.default_rng(100 + seed)
    shape = (int(rng.integers(1, 3)), *rng.integers(1, 13, 2), int(rng.integers(1, 6)))
    filter_hw, stride_hw = tuple(rng.integers(1, 5, 2)), tuple(rng.integers(1, 4, 2))
    padding = SAME if seed % 2 else VALID
    if padding == VALID:
        filter_hw = tuple(min(f, s) for f, s in zip(filter_hw, shape[1:3]))
    check_model(pool_model(op, shape, filter_hw, stride_hw, padding, np.int8, seed=seed), seed)


def test_activation_bounds_quantize_in_float32():
    """TFLM quantizes the activation bounds as roundf(1.0f / 0.4f) = roundf(2.5f) = 3; the
    same division in double gives 2.49999996 -> 2."""
    for op in (AVG, MAX):
        for act in (Act.RELU_N1_TO_1, Act.RELU6):
            model = pool_model(op, (1, 1, 8, 1), (1, 1), (1, 1), VALID, np.int8, act,
                               out_quant=None)
            for t in model.subgraphs[0].tensors:
                t.quantization = quantization(0.4, 0)
            x = np.array([-5, -3, -2, 0, 2, 3, 4, 16], np.int8).reshape(1, 1, 8, 1)
            ours = check_model(model, inputs=[x])
            if act == Act.RELU_N1_TO_1:
                assert ours[0].reshape(-1).tolist() == [-3, -3, -2, 0, 2, 3, 3, 3]


def test_int8_rounding_of_negative_averages():
    """All-equal negative windows and ties: -3.5 rounds to -4, 2.5 rounds to 3."""
    model = pool_model(AVG, (1, 2, 4, 1), (2, 2), (2, 2), VALID, np.int8)
    x = np.array([-3, -4, 2, 3, -4, -3, 2, 3], np.int8).reshape(1, 2, 4, 1)
    ours = check_model(model, inputs=[x])
    assert ours[0].reshape(-1).tolist() == [-4, 3]


def test_int8_extremes():
    model = pool_model(AVG, (1, 6, 6, 2), (3, 3), (1, 1), SAME, np.int8)
    for value in (-128, 127):
        check_model(model, inputs=[np.full((1, 6, 6, 2), value, np.int8)])


def test_float_special_values():
    """inf, -inf, NaN and signed zeros go through the same comparisons as in C++; with no
    activation TFLM clamps to the finite float range, so inf comes out as FLT_MAX."""
    x = np.array([np.inf, 1.0, -0.0, 0.0, -np.inf, -np.inf, np.nan, 2.0,
                  -0.0, -0.0, 5.0, np.nan], np.float32).reshape(1, 3, 4, 1)
    for op in (AVG, MAX):
        for act in (Act.NONE, Act.RELU):
            model = pool_model(op, (1, 3, 4, 1), (1, 2), (1, 2), VALID, np.float32, act)
            ours = check_model(model, inputs=[x])
            assert np.isfinite(ours[0]).any()


# ----------------------------------------------------------------------------- malformed


def allocate(model):
    MicroInterpreter(read_model(write_model(model)), AllOpsResolver(), None).allocate_tensors()


@pytest.mark.parametrize("op", [AVG, MAX])
def test_stride_zero_is_rejected(op):
    model = pool_model(op, (1, 4, 4, 1), (2, 2), (0, 1), VALID, np.float32,
                       out_shape=(1, 2, 2, 1))
    with pytest.raises(ModelError, match="strides must be positive"):
        allocate(model)


def test_filter_zero_is_rejected():
    model = pool_model(AVG, (1, 4, 4, 1), (0, 2), (1, 1), SAME, np.float32,
                       out_shape=(1, 4, 4, 1))
    with pytest.raises(ModelError, match="filter size must be positive"):
        allocate(model)


def test_wrong_output_shape_is_rejected():
    model = pool_model(MAX, (1, 4, 4, 1), (2, 2), (2, 2), VALID, np.int8,
                       out_shape=(1, 3, 2, 1))
    with pytest.raises(ModelError, match=r"output shape \[1, 3, 2, 1\] should be \[1, 2, 2, 1\]"):
        allocate(model)


def test_valid_filter_larger_than_input_is_rejected():
    model = pool_model(AVG, (1, 2, 2, 1), (3, 3), (1, 1), VALID, np.float32,
                       out_shape=(1, 1, 1, 1))
    with pytest.raises(ModelError, match="does not fit"):
        allocate(model)


def test_rank_is_checked():
    model = one_op_model(MAX, [tensor((4, 4, 1))], Pool2DOptions(VALID, 2, 2, 2, 2),
                         tensor((2, 2, 1)))
    with pytest.raises(ModelError, match="input must be 4-D"):
        allocate(model)


def test_quantized_rescale_is_rejected():
    model = pool_model(AVG, (1, 4, 4, 1), (2, 2), (2, 2), VALID, np.int8,
                       out_quant=quantization(0.5, 3))
    with pytest.raises(ModelError, match="pooling does not rescale"):
        allocate(model)


def test_unsupported_type_is_rejected():
    model = one_op_model(AVG, [tensor((1, 4, 4, 1), np.int32)], Pool2DOptions(VALID, 2, 2, 2, 2),
                         tensor((1, 2, 2, 1), np.int32))
    with pytest.raises(ModelError, match="INT32 is not supported"):
        allocate(model)


@pytest.mark.parametrize("op", [Op.AVERAGE_POOL_2D, Op.MAX_POOL_2D])
@pytest.mark.parametrize("dtype", [np.float32, np.int8])
@pytest.mark.parametrize("filter_hw, stride_hw", [((60001, 3), (1, 1)),
                                                  ((5, 1 << 15), (2, 1 << 12))])
def test_huge_filters_cost_no_more_than_the_image(op, dtype, filter_hw, stride_hw):
    """A filter of 60,001 rows over a 6x7 image: only the taps that reach the image are
    read (as TFLM's loops clip the window), and the bytes equal the real TFLM's."""
    check_model(pool_model(op, (1, 6, 7, 3), filter_hw, stride_hw, Padding.SAME, dtype))


@pytest.mark.parametrize("filter_hw", [(1 << 20, 3), ((1 << 31) - 1, 1)])
def test_a_padding_beyond_int16_is_refused(filter_hw):
    """TFLM keeps the padding in an int16 field: 524,287 rows of padding become -1 and its
    answers go wrong (the last row comes out as the lowest float). tflm_edu refuses."""
    model = pool_model(Op.MAX_POOL_2D, (1, 6, 7, 3), filter_hw, (1, 1), Padding.SAME,
                       np.float32, out_shape=(1, 6, 7, 3))
    interpreter = MicroInterpreter(read_model(write_model(model)), AllOpsResolver(), None)
    with pytest.raises(ModelError, match="int16"):
        interpreter.allocate_tensors()


def test_conv_dilation_beyond_int16_is_refused():
    from models import conv_model
    model = conv_model(np.int8, dilation=(1 << 16, 1))
    interpreter = MicroInterpreter(read_model(write_model(model)), AllOpsResolver(), None)
    with pytest.raises(ModelError, match="dilation_h 65,536 does not fit the int16"):
        interpreter.allocate_tensors()
