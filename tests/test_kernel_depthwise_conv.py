"""DEPTHWISE_CONV_2D against the real TFLM: int8 (per-channel and per-tensor filters) and
float32, over depth multipliers, strides, dilations, SAME/VALID, activations, batches."""
import numpy as np
import pytest

from models import dw_model
from op_harness import check_model, run_tflm_edu
from tflm_edu import ModelError
from tflm_edu.interpreter import MicroInterpreter
from tflm_edu.op_resolver import AllOpsResolver
from tflm_edu.schema import read_model, write_model
from tflm_edu.schema.enums import ActivationFunctionType as Act, Padding
from tflm_edu.schema.options import DepthwiseConv2DOptions

SAME, VALID = Padding.SAME, Padding.VALID

# ----------------------------------------------------------------------------- int8

CASES = [  # (hw, depth, kernel, multiplier, stride, dilation, padding)
    ((7, 7), 3, (3, 3), 1, (1, 1), (1, 1), SAME),
    ((7, 7), 3, (3, 3), 1, (1, 1), (1, 1), VALID),
    ((96, 96), 1, (3, 3), 8, (2, 2), (1, 1), SAME),  # person_detect's first op
    ((8, 9), 4, (3, 3), 2, (2, 2), (1, 1), SAME),
    ((9, 8), 5, (3, 3), 1, (2, 2), (1, 1), VALID),
    ((10, 9), 2, (3, 2), 3, (1, 2), (2, 1), SAME),
    ((11, 11), 3, (3, 3), 1, (2, 3), (2, 2), VALID),
    ((5, 7), 2, (5, 5), 2, (1, 1), (1, 1), SAME),  # filter larger than input
    ((4, 4), 6, (4, 4), 1, (3, 3), (1, 1), SAME),
    ((12, 5), 1, (5, 1), 4, (2, 1), (1, 1), VALID),
    ((1, 1), 8, (3, 3), 1, (1, 1), (1, 1), SAME),
    ((13, 13), 3, (3, 3), 2, (3, 3), (3, 3), SAME),
    ((6, 6), 3, (2, 2), 1, (2, 2), (1, 1), SAME),  # even filter: odd padding goes after
    ((10, 49), 8, (10, 8), 1, (2, 2), (1, 1), SAME),  # micro_speech's shape
]


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("act", [Act.NONE, Act.RELU6])
def test_int8_geometry(case, act):
    hw, depth, kernel, multiplier, stride, dilation, padding = CASES[case]
    check_model(dw_model(np.int8, 1, hw, depth, kernel, multiplier, stride, dilation, padding,
                         act, seed=case), seed=case)


@pytest.mark.parametrize("seed", range(8))
def test_int8_random(seed):
    rng = np.random.default_rng(200 + seed)
    kernel = tuple(int(k) for k in rng.integers(1, 5, 2))
    dilation = tuple(int(d) for d in rng.integers(1, 3, 2))
    hw = tuple(int(s) for s in rng.integers(3, 14, 2))
    fits = all((k - 1) * d + 1 <= s for k, d, s in zip(kernel, dilation, hw))
    check_model(dw_model(
        np.int8, int(rng.integers(1, 3)), hw, int(rng.integers(1, 6)), kernel,
        int(rng.integers(1, 4)), tuple(int(s) for s in rng.integers(1, 4, 2)), dilation,
        VALID if fits and rng.random() < 0.5 else SAME,
        [Act.NONE, Act.RELU, Act.RELU6, Act.RELU_N1_TO_1][seed % 4],
        bias=bool(rng.random() < 0.8), per_channel=bool(rng.random() < 0.7), seed=seed),
        seed=seed)


@pytest.mark.parametrize("act", [Act.RELU, Act.RELU_N1_TO_1])
def test_int8_activations(act):
    check_model(dw_model(np.int8, act=act, seed=3), seed=3)


def test_int8_batches():
    check_model(dw_model(np.int8, batches=3, hw=(6, 5), multiplier=2, stride=(2, 1), seed=4),
                seed=4)


def test_int8_without_bias():
    check_model(dw_model(np.int8, bias=False, multiplier=2, seed=5), seed=5)


def test_int8_bias_given_as_minus_one():
    """An absent bias written as input -1: TFLM's depthwise Prepare crashes on it (see
    dw_model), so tflm_edu refuses it - a model the board cannot run (issue 14); the
    two-input form runs."""
    two_inputs = dw_model(np.int8, bias=False, multiplier=2, seed=6)
    minus_one = dw_model(np.int8, bias=False, multiplier=2, seed=6)
    op = minus_one.subgraphs[0].operators[0]
    op.inputs = (*op.inputs, -1)
    x = np.random.default_rng(6).integers(-128, 128, (1, 7, 7, 3)).astype(np.int8)
    with pytest.raises(ModelError, match="TFLM's depthwise Prepare crashes"):
        run_tflm_edu(write_model(minus_one), [x])
    check_model(two_inputs, inputs=[x])


def test_int8_per_tensor_filter():
    check_model(dw_model(np.int8, per_channel=False, multiplier=3, seed=7), seed=7)


@pytest.mark.parametrize("input_zp", [-128, 127, 0])
def test_int8_extreme_zero_points(input_zp):
    check_model(dw_model(np.int8, input_zp=input_zp, output_zp=127, act=Act.RELU, seed=8),
                seed=8)


def test_int8_relu6_bound_rounds_in_float32():
    """6 / 0.23529412f is 25.5 in float32 (rounds to 26), 25.4999... in double."""
    x = np.full((1, 7, 7, 3), 127, np.int8)
    check_model(dw_model(np.int8, act=Act.RELU6, out_scale=float(np.float32(6.0 / 25.5)),
                         output_zp=-10, input_zp=-128, filter_scale=[0.05] * 3,
                         filter_data=np.full((1, 3, 3, 3), 127), seed=9), inputs=[x])


def test_int8_saturation_and_large_multipliers():
    check_model(dw_model(np.int8, out_scale=0.0002, filter_scale=[0.05, 0.2, 0.5], seed=10),
                seed=10)


@pytest.mark.parametrize("dtype", [np.int8, np.float32])
def test_filter_is_a_graph_input(dtype):
    """A filter that is not a constant: prepared on every invoke instead of once."""
    check_model(dw_model(dtype, filter_is_input=True, seed=30), seed=30)


# ----------------------------------------------------------------------------- float32


@pytest.mark.parametrize("case", range(len(CASES)))
def test_float_geometry(case):
    hw, depth, kernel, multiplier, stride, dilation, padding = CASES[case]
    check_model(dw_model(np.float32, 1, hw, depth, kernel, multiplier, stride, dilation,
                         padding, seed=case), seed=case)


@pytest.mark.parametrize("act", [Act.RELU, Act.RELU6, Act.RELU_N1_TO_1])
def test_float_activations(act):
    check_model(dw_model(np.float32, act=act, multiplier=2, seed=20), seed=20)


def test_float_batches_no_bias():
    check_model(dw_model(np.float32, batches=2, multiplier=2, bias=False, stride=(2, 1),
                         seed=21), seed=21)


def test_float_tap_order():
    """A 7x7 filter: 49 float32 additions whose order must be (filter_y, filter_x)."""
    check_model(dw_model(np.float32, hw=(9, 9), depth=4, kernel=(7, 7), seed=22), seed=22)


def test_float_overflow_clamps_to_float_max():
    weights = np.full((1, 1, 1, 2), 3e38, np.float32)
    weights[..., 1] = -3e38
    x = np.array([1.0, 2.0, np.nan, 0.5], np.float32).reshape(1, 2, 2, 1)
    check_model(dw_model(np.float32, hw=(2, 2), depth=1, kernel=(1, 1), multiplier=2,
                         bias=False, filter_data=weights), inputs=[x])


def test_float_infinite_filter_outside_image_is_skipped():
    weights = np.ones((1, 3, 3, 2), np.float32)
    weights[0, 2, 2, 1] = -np.inf
    check_model(dw_model(np.float32, hw=(3, 3), depth=2, kernel=(3, 3), bias=False,
                         filter_data=weights), seed=23)


# ----------------------------------------------------------------------------- malformed


def prepare_error(model):
    with pytest.raises(ModelError) as info:
        interpreter = MicroInterpreter(read_model(write_model(model)), AllOpsResolver(), None)
        interpreter.allocate_tensors()
    return str(info.value)


def dw_options(**overrides):
    return DepthwiseConv2DOptions(**{"padding": SAME, "stride_h": 1, "stride_w": 1,
                                     "depth_multiplier": 1, **overrides})


@pytest.mark.parametrize("overrides,match", [
    ({"stride_w": 0}, "strides must be positive"),
    ({"dilation_w_factor": -2}, "dilations must be positive"),
    ({"padding": 3}, "padding must be SAME or VALID"),
    ({"depth_multiplier": 0}, "depth_multiplier must be positive"),
    ({"depth_multiplier": 2}, "3 input channels x depth_multiplier 2 != 3 filter channels"),
])
def test_bad_options(overrides, match):
    assert match in prepare_error(dw_model(options=dw_options(**overrides),
                                           output_shape=(1, 7, 7, 3)))


def test_wrong_output_shape():
    assert "output shape [1, 7, 7, 6] should be [1, 7, 7, 3]" in prepare_error(
        dw_model(output_shape=(1, 7, 7, 6)))


def test_filter_first_dimension():
    assert "depthwise filter must be [1, height, width, channels]" in prepare_error(
        dw_model(filter_shape=(2, 3, 3, 3)))


def test_filter_rank():
    assert "filter must be 4-D" in prepare_error(dw_model(filter_shape=(3, 3, 3),
                                                          filter_axis=2))


def test_filter_larger_than_input_valid():
    assert "gives no output" in prepare_error(dw_model(hw=(2, 2), padding=VALID,
                                                       output_shape=(1, 1, 1, 3)))


def test_per_channel_wrong_axis():
    assert "quantized along dimension 3" in prepare_error(
        dw_model(filter_shape=(1, 3, 3, 3), filter_axis=1))


def test_bias_size_mismatch():
    assert "bias has 2 elements for 3 output channels" in prepare_error(dw_model(bias_size=2))


def test_int8_bias_type():
    model = dw_model()
    model.subgraphs[0].tensors[2].type = 4  # int64 bias
    model.buffers[model.subgraphs[0].tensors[2].buffer].data = np.zeros(3, np.int64).tobytes()
    assert "bias is INT64" in prepare_error(model)
