"""CONV_2D against the real TFLM: int8 (per-channel and per-tensor filters) and float32,
over strides, dilations, SAME/VALID padding, groups, fused activations, batches, bias."""
import numpy as np
import pytest

from models import conv_model
from op_harness import check_model
from tflm_edu import ModelError
from tflm_edu.interpreter import MicroInterpreter
from tflm_edu.op_resolver import AllOpsResolver
from tflm_edu.schema.enums import ActivationFunctionType as Act, Padding
from tflm_edu.schema.options import Conv2DOptions

SAME, VALID = Padding.SAME, Padding.VALID

# ----------------------------------------------------------------------------- int8

CASES = [  # (hw, depth, kernel, out_depth, stride, dilation, padding)
    ((7, 7), 3, (3, 3), 4, (1, 1), (1, 1), SAME),
    ((7, 7), 3, (3, 3), 4, (1, 1), (1, 1), VALID),
    ((8, 8), 5, (3, 3), 6, (2, 2), (1, 1), SAME),
    ((9, 8), 4, (3, 3), 3, (2, 2), (1, 1), VALID),
    ((10, 9), 2, (3, 2), 5, (1, 2), (2, 1), SAME),
    ((11, 11), 3, (3, 3), 4, (2, 3), (2, 2), VALID),
    ((6, 6), 8, (1, 1), 16, (1, 1), (1, 1), SAME),
    ((5, 7), 3, (5, 5), 2, (1, 1), (1, 1), SAME),  # filter larger than input
    ((4, 4), 2, (4, 4), 3, (3, 3), (1, 1), SAME),
    ((12, 5), 1, (5, 1), 4, (2, 1), (1, 1), VALID),
    ((1, 1), 7, (1, 1), 3, (1, 1), (1, 1), SAME),
    ((1, 1), 4, (3, 3), 5, (1, 1), (1, 1), SAME),  # every tap but the centre is outside
    ((13, 13), 3, (3, 3), 8, (3, 3), (3, 3), SAME),
    ((6, 6), 3, (2, 2), 4, (2, 2), (1, 1), SAME),  # even filter: odd padding goes after
]


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("act", [Act.NONE, Act.RELU6])
def test_int8_geometry(case, act):
    hw, depth, kernel, out_depth, stride, dilation, padding = CASES[case]
    check_model(conv_model(np.int8, 1, hw, depth, kernel, out_depth, stride, dilation, padding,
                           act, seed=case), seed=case)


@pytest.mark.parametrize("seed", range(8))
def test_int8_random(seed):
    """Random shapes and options, per-channel or per-tensor, with and without bias."""
    rng = np.random.default_rng(100 + seed)
    kernel = tuple(int(k) for k in rng.integers(1, 4, 2))
    dilation = tuple(int(d) for d in rng.integers(1, 3, 2))
    hw = tuple(int(s) for s in rng.integers(3, 12, 2))
    fits = all((k - 1) * d + 1 <= s for k, d, s in zip(kernel, dilation, hw))
    check_model(conv_model(
        np.int8, int(rng.integers(1, 3)), hw, int(rng.integers(1, 6)), kernel,
        int(rng.integers(1, 9)), tuple(int(s) for s in rng.integers(1, 4, 2)), dilation,
        VALID if fits and rng.random() < 0.5 else SAME,
        [Act.NONE, Act.RELU, Act.RELU6, Act.RELU_N1_TO_1][seed % 4],
        bias=bool(rng.random() < 0.8), per_channel=bool(rng.random() < 0.7), seed=seed),
        seed=seed)


@pytest.mark.parametrize("act", [Act.RELU, Act.RELU_N1_TO_1])
def test_int8_activations(act):
    check_model(conv_model(np.int8, act=act, seed=3), seed=3)


def test_int8_batches():
    check_model(conv_model(np.int8, batches=3, hw=(6, 5), stride=(2, 1), seed=4), seed=4)


def test_int8_without_bias():
    check_model(conv_model(np.int8, bias=False, seed=5), seed=5)


def test_int8_two_inputs_no_bias_slot():
    check_model(conv_model(np.int8, bias=None, seed=6), seed=6)


def test_int8_per_tensor_filter():
    check_model(conv_model(np.int8, per_channel=False, seed=7), seed=7)


@pytest.mark.parametrize("groups,depth,out_depth", [(2, 4, 6), (3, 6, 3), (4, 8, 8)])
def test_int8_grouped(groups, depth, out_depth):
    check_model(conv_model(np.int8, batches=2, depth=depth, out_depth=out_depth,
                           groups=groups, seed=groups), seed=groups)


@pytest.mark.parametrize("input_zp", [-128, 127, 0])
def test_int8_extreme_zero_points(input_zp):
    check_model(conv_model(np.int8, input_zp=input_zp, output_zp=-128, act=Act.RELU,
                           seed=8), seed=8)


def test_int8_relu6_bound_rounds_in_float32():
    """6 / 0.23529412f is 25.5 in float32 arithmetic (rounds to 26) but 25.4999... in
    double: TFLM's clamp uses the float32 value."""
    scale = float(np.float32(6.0 / 25.5))
    x = np.full((1, 7, 7, 3), 127, np.int8)
    check_model(conv_model(np.int8, act=Act.RELU6, out_scale=scale, output_zp=-10,
                           filter_scale=[0.02] * 4, input_zp=-128,
                           filter_data=np.full((4, 3, 3, 3), 127), seed=9), inputs=[x])


def test_int8_large_multipliers_and_saturation():
    """Outputs far beyond int8 (they saturate) and effective scales above 1."""
    check_model(conv_model(np.int8, out_scale=0.0005, filter_scale=[0.02, 0.03, 0.05, 0.1],
                           seed=10), seed=10)


def test_int8_filter_zero_point_is_ignored():
    """ConvPerChannel never reads the filter offset (int8 filters are symmetric)."""
    check_model(conv_model(np.int8, filter_zp=5, seed=13), seed=13)


def test_int8_grouped_in_row_blocks():
    """144 rows of K=64 x 128 per group: multiplied in blocks of rows (see
    matmul_in_row_blocks)."""
    check_model(conv_model(np.int8, hw=(12, 12), depth=128, kernel=(1, 1), out_depth=256,
                           groups=2, seed=14), seed=14)


def test_int8_person_detect_sized_pointwise():
    check_model(conv_model(np.int8, hw=(24, 24), depth=16, kernel=(1, 1), out_depth=32,
                           act=Act.RELU6, seed=11), seed=11)


def test_int8_deep_accumulation():
    check_model(conv_model(np.int8, hw=(5, 5), depth=256, kernel=(3, 3), out_depth=4,
                           out_scale=30.0, filter_scale=[0.02] * 4, seed=12), seed=12)


@pytest.mark.parametrize("dtype", [np.int8, np.float32])
def test_filter_is_a_graph_input(dtype):
    """A filter that is not a constant: prepared on every invoke instead of once."""
    check_model(conv_model(dtype, filter_is_input=True, seed=30), seed=30)


# ----------------------------------------------------------------------------- float32


@pytest.mark.parametrize("case", range(len(CASES)))
def test_float_geometry(case):
    hw, depth, kernel, out_depth, stride, dilation, padding = CASES[case]
    check_model(conv_model(np.float32, 1, hw, depth, kernel, out_depth, stride, dilation,
                           padding, seed=case), seed=case)


@pytest.mark.parametrize("act", [Act.RELU, Act.RELU6, Act.RELU_N1_TO_1])
def test_float_activations(act):
    check_model(conv_model(np.float32, act=act, seed=20), seed=20)


def test_float_batches_grouped_no_bias():
    check_model(conv_model(np.float32, batches=2, depth=6, out_depth=4, groups=2, bias=False,
                           stride=(2, 1), seed=21), seed=21)


def test_float_deep_accumulation_order():
    """Long float32 sums: any other summation order would differ in the last bits."""
    check_model(conv_model(np.float32, hw=(4, 4), depth=64, kernel=(3, 3), out_depth=3,
                           seed=22), seed=22)


def test_float_overflow_clamps_to_float_max():
    """TFLM clamps with the float32 extremes, not infinities: +-inf totals come out as
    +-FLT_MAX; NaN passes through."""
    weights = np.full((2, 1, 1, 2), 3e38, np.float32)
    weights[1] = -3e38
    x = np.array([1.0, 1.0, 0.5, 0.0, np.nan, 1.0, -1.0, 0.0], np.float32).reshape(1, 2, 2, 2)
    check_model(conv_model(np.float32, hw=(2, 2), depth=2, kernel=(1, 1), out_depth=2,
                           bias=False, filter_data=weights), inputs=[x])


def test_float_infinite_filter_outside_image_is_skipped():
    """TFLM skips taps outside the image; a zero border would make inf * 0 = NaN there."""
    weights = np.ones((1, 3, 3, 1), np.float32)
    weights[0, 0, 0, 0] = np.inf
    check_model(conv_model(np.float32, hw=(3, 3), depth=1, kernel=(3, 3), out_depth=1,
                           bias=False, filter_data=weights), seed=23)


# ----------------------------------------------------------------------------- malformed


def prepare_error(model):
    from tflm_edu.schema import read_model, write_model
    with pytest.raises(ModelError) as info:
        interpreter = MicroInterpreter(read_model(write_model(model)), AllOpsResolver(), None)
        interpreter.allocate_tensors()
    return str(info.value)


def conv_options(**overrides):
    return Conv2DOptions(**{"padding": SAME, "stride_h": 1, "stride_w": 1, **overrides})


@pytest.mark.parametrize("overrides,match", [
    ({"stride_h": 0}, "strides must be positive"),
    ({"stride_w": -1}, "strides must be positive"),
    ({"dilation_h_factor": 0}, "dilations must be positive"),
    ({"padding": 7}, "padding must be SAME or VALID"),
])
def test_bad_options(overrides, match):
    assert match in prepare_error(conv_model(options=conv_options(**overrides),
                                             output_shape=(1, 7, 7, 4)))


def test_wrong_output_shape():
    assert "output shape [1, 6, 7, 4] should be [1, 7, 7, 4]" in prepare_error(
        conv_model(output_shape=(1, 6, 7, 4)))


def test_filter_larger_than_input_valid():
    assert "gives no output" in prepare_error(conv_model(
        hw=(2, 2), kernel=(3, 3), padding=VALID, output_shape=(1, 1, 1, 4)))


def test_channels_not_multiple_of_filter_depth():
    assert "not a multiple of the filter's 3" in prepare_error(
        conv_model(depth=4, filter_shape=(4, 3, 3, 3)))


def test_groups_must_divide_output_channels():
    assert "do not divide the 5 output channels" in prepare_error(
        conv_model(depth=4, groups=2, out_depth=5))


def test_per_channel_scale_count():
    assert "3 per-channel scales for 4 channels" in prepare_error(
        conv_model(filter_scale=[0.01] * 3))


def test_per_channel_wrong_axis():
    assert "quantized along dimension 0" in prepare_error(
        conv_model(depth=4, filter_axis=3))


def test_bias_size_mismatch():
    assert "bias has 3 elements for 4 output channels" in prepare_error(conv_model(bias_size=3))


def test_filter_rank():
    assert "filter must be 4-D" in prepare_error(conv_model(filter_shape=(4, 27),
                                                            filter_data=np.zeros((4, 27))))


def test_int8_bias_type():
    model = conv_model()
    model.subgraphs[0].tensors[2].type = 0  # float32 bias (same byte size as int32)
    assert "bias is FLOAT32; this op needs INT32 bias" in prepare_error(model)


def test_output_type_differs():
    model = conv_model()
    model.subgraphs[0].tensors[3].type = 0  # float32 output of an int8 conv
    model.subgraphs[0].tensors[3].quantization = None
    assert "input is INT8 but output is FLOAT32" in prepare_error(model)


def test_int8_input_without_quantization():
    model = conv_model()
    model.subgraphs[0].tensors[0].quantization = None
    assert "no quantization parameters" in prepare_error(model)
