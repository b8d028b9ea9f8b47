"""16x8 quantization (int16 activations, int8 weights) in CONV_2D, DEPTHWISE_CONV_2D and
FULLY_CONNECTED, against the real TFLM byte for byte: geometry, per-channel scales, fused
activations, int64 and int32 biases (they choose the C++ accumulator and the
MultiplyByQuantizedMultiplier overload), sums that overflow int32, both kernel families,
SEANet's int16 conv layer from TFLM's integration tests, the arena estimate, and the models
TFLM refuses."""
from pathlib import Path

import numpy as np
import pytest

from models import conv_model, dw_model, fc_model, one_op_model, tensor
from op_harness import check_families, check_model, random_input, run_oracle, run_tflm_edu
from tflm_edu import AllOpsResolver, MicroInterpreter, ModelError
from tflm_edu.arena_size import estimate_arena_size
from tflm_edu.arena_size.oracle import smallest_arena_tflm, tflm_accepts
from tflm_edu.kernels.quantization_util import (multiply_by_quantized_multiplier,
                                                multiply_by_quantized_multiplier_int64,
                                                quantize_multiplier)
from tflm_edu.schema import read_model, write_model
from tflm_edu.schema.builder import quantization
from tflm_edu.schema.enums import ActivationFunctionType as Act
from tflm_edu.schema.enums import BuiltinOperator as Op
from tflm_edu.schema.enums import Padding, TensorType, type_name
from tflm_edu.schema.options import Conv2DOptions, FullyConnectedOptions

SAME, VALID = Padding.SAME, Padding.VALID
SEANET_CONV = Path(__file__).resolve().parents[2] / "shared" / "models" / \
    "seanet_seanet_conv13.tflite"
I16 = np.int16

GEOMETRY = [  # (hw, depth, kernel, out_depth, stride, dilation, padding)
    ((7, 7), 3, (3, 3), 4, (1, 1), (1, 1), SAME),
    ((7, 7), 3, (3, 3), 4, (1, 1), (1, 1), VALID),
    ((8, 8), 5, (3, 3), 6, (2, 2), (1, 1), SAME),
    ((10, 9), 2, (3, 2), 5, (1, 2), (2, 1), SAME),
    ((11, 11), 3, (3, 3), 4, (2, 3), (2, 2), VALID),
    ((5, 7), 3, (5, 5), 2, (1, 1), (1, 1), SAME),  # filter larger than input
    ((1, 1), 4, (3, 3), 5, (1, 1), (1, 1), SAME),  # every tap but the centre is outside
    ((6, 6), 3, (2, 2), 4, (2, 2), (1, 1), SAME),  # even filter: odd padding goes after
]
ACTIVATIONS = [Act.NONE, Act.RELU, Act.RELU6, Act.RELU_N1_TO_1]


def conv_options(padding=SAME, quantized_bias_type=TensorType.FLOAT32, act=Act.NONE):
    return Conv2DOptions(padding, stride_w=1, stride_h=1, fused_activation_function=act,
                         quantized_bias_type=quantized_bias_type)


def full_scale_input(shape, value=32767):
    return [np.full(shape, value, I16)]


def prepare_error(model) -> str:
    with pytest.raises(ModelError) as error:
        MicroInterpreter(model, AllOpsResolver(), None).allocate_tensors()
    return str(error.value)


# ----------------------------------------------------------------------------- the arithmetic


def test_int64_multiply_by_quantized_multiplier_rounds_its_own_way():
    """The int64 overload rounds the multiplier to Q15 and the product once; gemmlowp's
    int32 one rounds twice at Q31. Hand-computed values, and proof the two differ."""
    # x * 0.5 * 2^-1: 3 -> 0.75 -> 1 in both; -6 -> -1.5, where the int64 overload rounds
    # half up (towards +inf) and gemmlowp rounds half away from zero.
    assert multiply_by_quantized_multiplier_int64(3, 1 << 30, -1) == 1
    assert multiply_by_quantized_multiplier_int64(-6, 1 << 30, -1) == -1
    assert multiply_by_quantized_multiplier(-6, 1 << 30, -1) == -2
    # A multiplier at or above 0x7FFF0000 saturates at 0x7FFF in Q15, not 0x8000.
    assert multiply_by_quantized_multiplier_int64(1 << 20, 0x7FFFFFFF, 0) == 0x7FFF << 5
    # Sums beyond int32 are what the overload exists for.
    assert multiply_by_quantized_multiplier_int64(1 << 40, 1 << 30, -10) == 1 << 29
    x = np.arange(-(1 << 20), 1 << 20, 977, dtype=np.int64)
    multiplier, shift = quantize_multiplier(0.0123456)
    assert (multiply_by_quantized_multiplier_int64(x, multiplier, shift)
            != multiply_by_quantized_multiplier(x, multiplier, shift)).any()


def test_float64_products_are_exact_for_int16_times_int8():
    """The bound the fast paths rely on: |int16 x int8| <= 2^15 * 2^7 = 2^22, so K terms
    stay below 2^53 - exact in float64 - for K < 2^31. Check at the extreme values."""
    assert 32768 * 128 == 1 << 22
    k = 1 << 12
    x = np.full((1, k), -32768, np.float64)
    w = np.full((k, 1), -128, np.float64)
    assert int((x @ w)[0, 0]) == (1 << 22) * k


# ----------------------------------------------------------------------------- CONV_2D


@pytest.mark.parametrize("case", range(len(GEOMETRY)))
@pytest.mark.parametrize("act", [Act.NONE, Act.RELU6])
def test_conv_geometry(case, act):
    hw, depth, kernel, out_depth, stride, dilation, padding = GEOMETRY[case]
    check_model(conv_model(I16, 1, hw, depth, kernel, out_depth, stride, dilation, padding,
                           act, seed=case), seed=case)


@pytest.mark.parametrize("seed", range(8))
def test_conv_random(seed):
    """Random shapes and options; per-channel or per-tensor; int64, int32 or no bias."""
    rng = np.random.default_rng(300 + seed)
    kernel = tuple(int(k) for k in rng.integers(1, 4, 2))
    dilation = tuple(int(d) for d in rng.integers(1, 3, 2))
    hw = tuple(int(s) for s in rng.integers(3, 12, 2))
    fits = all((k - 1) * d + 1 <= s for k, d, s in zip(kernel, dilation, hw))
    bias_dtype = [np.int64, np.int32, None][seed % 3]
    check_model(conv_model(
        I16, int(rng.integers(1, 3)), hw, int(rng.integers(1, 6)), kernel,
        int(rng.integers(1, 9)), tuple(int(s) for s in rng.integers(1, 4, 2)), dilation,
        VALID if fits and rng.random() < 0.5 else SAME, ACTIVATIONS[seed % 4],
        bias=bias_dtype is not None, bias_dtype=bias_dtype,
        per_channel=bool(rng.random() < 0.7), seed=seed), seed=seed)


@pytest.mark.parametrize("act", [Act.RELU, Act.RELU_N1_TO_1])
def test_conv_activations(act):
    check_model(conv_model(I16, act=act, seed=3), seed=3)


@pytest.mark.parametrize("groups,depth,out_depth", [(2, 4, 6), (3, 6, 3)])
def test_conv_grouped(groups, depth, out_depth):
    check_model(conv_model(I16, batches=2, depth=depth, out_depth=out_depth, groups=groups,
                           seed=groups), seed=groups)


@pytest.mark.parametrize("bias_dtype", [np.int64, np.int32])
def test_conv_bias_type_picks_the_accumulator(bias_dtype):
    """Same values, int64 or int32 bias: int64 requantizes by the Q15 overload, int32 by
    gemmlowp's, and the two round differently."""
    check_model(conv_model(I16, bias_dtype=bias_dtype, seed=4), seed=4)


@pytest.mark.parametrize("quantized_bias_type", [TensorType.FLOAT32, TensorType.INT32,
                                                 TensorType.INT64], ids=type_name)
def test_conv_without_bias_reads_quantized_bias_type(quantized_bias_type):
    check_model(conv_model(I16, bias=None, seed=5,
                           options=conv_options(quantized_bias_type=quantized_bias_type)),
                seed=5)


@pytest.mark.parametrize("bias_dtype", [np.int64, np.int32])
def test_conv_sum_beyond_int32(bias_dtype):
    """127 x 32767 over 3x3x64 taps is 2.4e9: the int32 accumulator wraps (as C++ does),
    the int64 one does not - the outputs saturate at opposite ends."""
    model = conv_model(I16, hw=(3, 3), depth=64, out_depth=2, padding=VALID,
                       filter_scale=[0.02, 0.02], filter_data=np.full((2, 3, 3, 64), 127),
                       bias_dtype=bias_dtype, bias_data=[0, 0], seed=6)
    (ours,) = check_model(model, inputs=full_scale_input((1, 3, 3, 64)))
    assert ours.ravel().tolist() == ([32767] * 2 if bias_dtype == np.int64 else [-32768] * 2)


def test_conv_int64_bias_beyond_int32():
    """Biases that only int64 holds, scaled back into the int16 range."""
    model = conv_model(I16, hw=(3, 3), depth=8, out_depth=2, padding=VALID, out_scale=0.01,
                       filter_scale=[1e-4, 1e-4], bias_data=[3 << 31, -(5 << 31)], seed=7)
    (ours,) = check_model(model, seed=7)
    assert 0 < np.abs(ours.astype(np.int64)).min() and np.abs(ours).max() < 32767


def test_conv_zero_points_are_ignored_like_tflm():
    """The int16 loop reads no zero point; the output's still moves the RELU clamp."""
    check_model(conv_model(I16, input_zp=300, output_zp=-1000, act=Act.RELU, seed=8), seed=8)


def test_conv_saturation_and_large_multipliers():
    check_model(conv_model(I16, out_scale=1e-6, filter_scale=[0.02, 0.03, 0.05, 0.1], seed=9),
                seed=9)


def test_conv_deep_accumulation():
    check_model(conv_model(I16, hw=(5, 5), depth=256, kernel=(3, 3), out_depth=4,
                           out_scale=0.05, filter_scale=[0.02] * 4, seed=10), seed=10)


def test_conv_filter_is_a_graph_input():
    check_model(conv_model(I16, filter_is_input=True, seed=11), seed=11)


def test_conv_batches_per_tensor_filter():
    check_model(conv_model(I16, batches=3, hw=(6, 5), stride=(2, 1), per_channel=False,
                           seed=12), seed=12)


# ----------------------------------------------------------------------------- DEPTHWISE


@pytest.mark.parametrize("case", range(len(GEOMETRY)))
@pytest.mark.parametrize("multiplier", [1, 2])
def test_depthwise_geometry(case, multiplier):
    hw, depth, kernel, _, stride, dilation, padding = GEOMETRY[case]
    check_model(dw_model(I16, 1, hw, depth, kernel, multiplier, stride, dilation, padding,
                         ACTIVATIONS[case % 4], seed=case), seed=case)


@pytest.mark.parametrize("seed", range(6))
def test_depthwise_random(seed):
    rng = np.random.default_rng(400 + seed)
    kernel = tuple(int(k) for k in rng.integers(1, 4, 2))
    hw = tuple(int(s) for s in rng.integers(3, 10, 2))
    check_model(dw_model(
        I16, int(rng.integers(1, 3)), hw, int(rng.integers(1, 5)), kernel,
        int(rng.integers(1, 4)), tuple(int(s) for s in rng.integers(1, 3, 2)),
        tuple(int(d) for d in rng.integers(1, 3, 2)), SAME, ACTIVATIONS[seed % 4],
        bias=bool(rng.random() < 0.7), per_channel=bool(rng.random() < 0.7), seed=seed),
        seed=seed)


def test_depthwise_sum_beyond_int32():
    """23 x 23 taps of 127 x 32767: 2.2e9, past int32 - the C++ sums in int64."""
    model = dw_model(I16, hw=(23, 23), depth=2, kernel=(23, 23), padding=VALID,
                     filter_scale=[0.02, 0.02], filter_data=np.full((1, 23, 23, 2), 127),
                     bias_data=[0, -(1 << 33)], seed=13)
    (ours,) = check_model(model, inputs=full_scale_input((1, 23, 23, 2)))
    assert ours.ravel().tolist() == [32767, -32768]


def test_depthwise_scaled_sum_beyond_int32_is_truncated_like_tflm():
    """A bias of -2^40 takes the scaled value past int32: the int64 overload truncates it
    to 32 bits (it does not saturate), and what is left here is positive."""
    model = dw_model(I16, hw=(23, 23), depth=2, kernel=(23, 23), padding=VALID,
                     filter_scale=[0.02, 0.02], filter_data=np.full((1, 23, 23, 2), 127),
                     bias_data=[0, -(1 << 40)], seed=13)
    (ours,) = check_model(model, inputs=full_scale_input((1, 23, 23, 2)))
    assert ours.ravel().tolist() == [32767, 32767]


def test_depthwise_zero_points_are_ignored_like_tflm():
    check_model(dw_model(I16, input_zp=-77, output_zp=500, act=Act.RELU6, seed=14), seed=14)


def test_depthwise_filter_is_a_graph_input():
    check_model(dw_model(I16, multiplier=2, filter_is_input=True, seed=15), seed=15)


# ----------------------------------------------------------------------------- FULLY_CONNECTED


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("act", [Act.NONE, Act.RELU, Act.RELU6])
def test_fc(seed, act):
    check_model(fc_model(1 + seed % 3, 5 + 7 * seed, 3 + seed, I16, act, seed=seed), seed)


@pytest.mark.parametrize("bias_dtype", [np.int64, np.int32])
@pytest.mark.parametrize("per_channel", [False, True])
def test_fc_bias_type_and_per_channel(bias_dtype, per_channel):
    check_model(fc_model(3, 40, 6, I16, per_channel=per_channel, bias_dtype=bias_dtype,
                         seed=20), seed=20)


@pytest.mark.parametrize("quantized_bias_type", [TensorType.FLOAT32, TensorType.INT32],
                         ids=type_name)
def test_fc_without_bias_reads_quantized_bias_type(quantized_bias_type):
    check_model(fc_model(2, 30, 5, I16, bias=False, quantized_bias_type=quantized_bias_type,
                         seed=21), seed=21)


def test_fc_zero_points_are_used():
    """Unlike the convolutions, the 16x8 FULLY_CONNECTED is the int8 template: input,
    filter (per tensor) and output zero points all take part."""
    check_model(fc_model(2, 17, 4, I16, filter_zp=3, seed=22), seed=22)


def test_fc_deep_accumulation_beyond_int32():
    weights = np.full((2, 1024), 127)
    model = one_op_model(Op.FULLY_CONNECTED, [
        tensor((1, 1024), I16, quant=quantization(1e-3, 0)),
        tensor((2, 1024), np.int8, weights, quantization(0.01, 0)),
        tensor((2,), np.int32, [0, 0], quantization(1e-5, 0)),
    ], FullyConnectedOptions(), tensor((1, 2), I16, quant=quantization(1.0, 0)), 7)
    (ours,) = check_model(model, inputs=full_scale_input((1, 1024)))
    # 127 x 32767 x 1024 = 4.26e9 wraps in int32 to -3.37e7, x 1e-5: -337 (int64: 32767)
    assert ours.ravel().tolist() == [-337, -337]


def test_fc_per_tensor_multiplier_is_computed_in_double():
    """The tflite-micro package multiplies input x filter scale in double here (the C++
    tree it was built from rounds the product to float first). These scales give Q31
    multipliers 16 apart, and the accumulator 1,005,425 rounds to 91 with the double one,
    to 90 with the float one."""
    si, sw, so = np.float32(0.0008245026), np.float32(0.008271467), np.float32(0.07576628)
    acc, k = 1005425, 64
    assert quantize_multiplier(float(si) * float(sw) / float(so)) != \
        quantize_multiplier(float(np.float32(si * sw)) / float(so))
    x = np.full((1, k), acc // k, I16)
    x[0, :acc % k] += 1
    model = one_op_model(Op.FULLY_CONNECTED, [
        tensor((1, k), I16, quant=quantization(float(si), 0)),
        tensor((1, k), np.int8, np.ones((1, k)), quantization(float(sw), 0)),
        tensor((1,), np.int32, [0], quantization(float(si) * float(sw), 0)),
    ], FullyConnectedOptions(), tensor((1, 1), I16, quant=quantization(float(so), 0)), 7)
    (ours,) = check_model(model, inputs=[x])
    assert ours.ravel().tolist() == [91]


# ----------------------------------------------------------------------------- both families


@pytest.mark.parametrize("model", [
    lambda: conv_model(I16, hw=(5, 5), act=Act.RELU, seed=30),
    lambda: conv_model(I16, hw=(5, 5), bias_dtype=np.int32, out_scale=2e-5, seed=31),
    lambda: conv_model(I16, hw=(5, 5), depth=4, out_depth=4, groups=2, bias=None,
                       options=conv_options(quantized_bias_type=TensorType.INT32), seed=32),
    lambda: dw_model(I16, hw=(5, 5), multiplier=2, dilation=(2, 1), seed=33),
    lambda: fc_model(2, 20, 5, I16, filter_zp=2, seed=34),
    lambda: fc_model(2, 20, 5, I16, per_channel=True, bias_dtype=np.int32, seed=35),
    lambda: fc_model(2, 20, 5, I16, bias=False, quantized_bias_type=TensorType.INT32,
                     seed=36),
], ids=["conv", "conv_int32_bias", "conv_grouped_no_bias", "depthwise", "fc",
        "fc_per_channel_int32_bias", "fc_no_bias_int32"])
def test_reference_loops_equal_fast_path_and_tflm(model):
    check_families(model(), seed=1, oracle=True)


def test_reference_loops_wrap_like_the_fast_path():
    model = conv_model(I16, hw=(3, 3), depth=64, out_depth=2, padding=VALID,
                       filter_scale=[0.02, 0.02], filter_data=np.full((2, 3, 3, 64), 127),
                       bias_dtype=np.int32, bias_data=[0, 0], seed=6)
    check_families(model, inputs=full_scale_input((1, 3, 3, 64)), oracle=True)


# ----------------------------------------------------------------------------- SEANet


@pytest.mark.parametrize("seed", range(3))
def test_seanet_conv_layer(seed):
    """SEANet's decoder conv (TFLM's integration tests): [1,3,12,64] int16 through a 3x3
    int8 filter with an int64 bias, VALID."""
    data = SEANET_CONV.read_bytes()
    x = random_input(np.random.default_rng(seed), (1, 3, 12, 64), I16)
    (ours,), (theirs,) = run_tflm_edu(data, [x]), run_oracle(data, [x])
    assert ours.dtype == I16 and ours.shape == (1, 1, 10, 64)
    assert ours.tobytes() == theirs.astype(I16).tobytes()


def test_seanet_conv_layer_reference_loops():
    check_families(SEANET_CONV.read_bytes(), seed=5, oracle=True)


# ----------------------------------------------------------------------------- arena


@pytest.mark.parametrize("model", [
    lambda: SEANET_CONV.read_bytes(),
    lambda: write_model(conv_model(I16, bias_dtype=np.int32, seed=40)),
    lambda: write_model(dw_model(I16, multiplier=2, seed=41)),
    lambda: write_model(fc_model(2, 12, 6, I16, per_channel=True, seed=42)),
], ids=["seanet_conv", "conv", "depthwise", "fc_per_channel"])
def test_arena_estimate_equals_tflm(model):
    data = model()
    assert abs(estimate_arena_size(data, "host").arena_bytes - smallest_arena_tflm(data)) <= 16


# ----------------------------------------------------------------------------- refused


def test_conv_int16_bias_is_refused_like_tflm():
    """The 16x8 ConvEval takes an int64 or int32 bias and fails on any other."""
    model = conv_model(I16, bias_dtype=np.int16, bias_data=[1, 2, 3, 4], seed=50)
    assert not tflm_accepts(write_model(model), 100_000)
    assert "bias is INT16; this op needs INT64 or INT32 bias" in prepare_error(model)


def test_int16_filter_is_refused_like_tflm():
    model = conv_model(I16, seed=51)
    sg = model.subgraphs[0]
    sg.tensors[1].type = TensorType.INT16
    model.buffers[sg.tensors[1].buffer].data = np.zeros((4, 3, 3, 3), np.int16).tobytes()
    assert not tflm_accepts(write_model(model), 100_000)
    assert "int16 conv needs int8 filter" in prepare_error(model)


def test_fc_bias_scale_mismatch_is_refused_like_tflm():
    model = fc_model(2, 12, 3, I16, seed=52)
    model.subgraphs[0].tensors[2].quantization = quantization(0.5, 0)
    assert not tflm_accepts(write_model(model), 100_000)
    assert "bias scale 0.5 is not input scale x filter scale" in prepare_error(model)


def test_depthwise_int32_bias_is_refused():
    """TFLM's 16x8 DepthwiseConvEval reads any bias as int64: an int32 bias is read past
    its end, and TFLM's output is garbage. tflm_edu refuses the model instead."""
    model = dw_model(I16, bias_dtype=np.int32, seed=53)
    assert "bias is INT32; this op needs INT64 bias" in prepare_error(model)


def test_fc_int16_bias_is_refused():
    """The 16x8 FULLY_CONNECTED reads an int16 bias as int64 (garbage in TFLM)."""
    model = fc_model(2, 12, 3, I16, bias_dtype=np.int16, seed=54)
    assert "a INT16 FULLY_CONNECTED reads it as INT64 or INT32" in prepare_error(model)


def test_effective_scale_beyond_the_int64_requantizer_is_refused():
    """The int64 MultiplyByQuantizedMultiplier shifts right by 15 - shift; TFLM assumes
    shift < 8 and has no meaning for 15 or more. tflm_edu refuses such a model."""
    model = conv_model(I16, out_scale=1e-12, seed=55)
    assert "cannot be requantized from an int64 sum" in prepare_error(model)


def test_seanet_model_reads_as_16x8():
    sg = read_model(SEANET_CONV.read_bytes()).subgraphs[0]
    assert [sg.tensors[i].dtype for i in range(3)] == [I16, np.int8, np.int64]
