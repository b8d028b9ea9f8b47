"""TRANSPOSE_CONV against the real TFLM: byte equality for float32, int8 (per-channel and
per-tensor) and 16x8 (int64 or int16 bias) over seeded shapes, strides, paddings,
activations, zero points and output sizes; the arena estimate (per-channel buffers and the
scratch buffers); malformed models."""
import numpy as np
import pytest

from models import SAME, VALID, _filter_op_tensors, one_op_model, tensor
from op_harness import check_model, run_tflm_edu
from tflm_edu import ModelError
from tflm_edu.arena_size import estimate_arena_size
from tflm_edu.arena_size.oracle import smallest_arena_tflm
from tflm_edu.interpreter import MicroInterpreter
from tflm_edu.op_resolver import AllOpsResolver
from tflm_edu.schema import read_model, write_model
from tflm_edu.schema.builder import quantization
from tflm_edu.schema.enums import ActivationFunctionType as Act
from tflm_edu.schema.enums import BuiltinOperator as Op
from tflm_edu.schema.options import TransposeConvOptions

VERSIONS = {np.float32: 1, np.int8: 3, np.int16: 4}


def tflite_output_size(size, kernel, stride, padding):
    """TFLite's output size for a transpose conv (the inverse of CONV_2D's)."""
    return size * stride if padding == SAME else (size - 1) * stride + kernel


def transpose_conv_model(dtype=np.int8, batches=1, hw=(4, 4), depth=3, kernel=(3, 3),
                         out_depth=4, stride=(2, 2), padding=SAME, act=Act.NONE, bias=True,
                         per_channel=True, out_hw=None, input_zp=None, output_zp=None,
                         out_scale=None, bias_dtype=None, bias_data=None, filter_shape=None,
                         bias_size=None, output_shape=None, shape_data=None, options=None,
                         version=None, filter_zp=0, seed=0):
    """A seeded TRANSPOSE_CONV: inputs (output_shape, filter, input[, bias]). bias=False
    writes the bias as input -1, bias=None leaves its slot out."""
    rng = np.random.default_rng(seed)
    if out_hw is None:
        out_hw = tuple(tflite_output_size(s, k, st, padding)
                       for s, k, st in zip(hw, kernel, stride))
    output_shape = output_shape or (batches, *out_hw, out_depth)
    if options is None:
        options = TransposeConvOptions(padding=padding, stride_h=stride[0], stride_w=stride[1],
                                       fused_activation_function=act)
    # The output sums about kernel * depth / stride^2 terms: a wider output scale than conv.
    taps = kernel[0] * kernel[1] * depth / max(1, stride[0] * stride[1])
    x, w, bias_t, out = _filter_op_tensors(
        rng, dtype, (batches, *hw, depth), filter_shape or (out_depth, *kernel, depth),
        output_shape, out_depth, bias=bias, bias_size=bias_size, per_channel=per_channel,
        input_zp=input_zp, output_zp=output_zp, out_scale=out_scale, filter_scale=None,
        filter_data=None, filter_zp=filter_zp, filter_axis=0, filter_is_input=False,
        out_scale_range=(0.005 * taps ** 0.5, 0.02 * taps ** 0.5),
        filter_scale_range=(0.002, 0.02), bias_range=(-5000, 5000), bias_dtype=bias_dtype,
        bias_data=bias_data)
    shape_data = shape_data or output_shape
    shape = tensor((len(shape_data),), np.int32, np.array(shape_data))
    inputs = [shape, w, x] if bias is None else [shape, w, x, bias_t]
    return one_op_model(Op.TRANSPOSE_CONV, inputs, options, out,
                        version or VERSIONS[np.dtype(dtype).type])


def allocate(model):
    interpreter = MicroInterpreter(read_model(write_model(model)), AllOpsResolver(), None)
    interpreter.allocate_tensors()
    return interpreter


def refuses(model, match):
    with pytest.raises(ModelError, match=match):
        allocate(model)


def random_case(seed, dtype):
    rng = np.random.default_rng(seed)
    kernel = tuple(int(k) for k in rng.integers(1, 5, 2))
    stride = tuple(int(s) for s in rng.integers(1, 4, 2))
    padding = SAME if rng.random() < 0.5 else VALID
    return dict(dtype=dtype, batches=int(rng.integers(1, 3)),
                hw=tuple(int(s) for s in rng.integers(1, 7, 2)), depth=int(rng.integers(1, 6)),
                kernel=kernel, out_depth=int(rng.integers(1, 6)), stride=stride,
                padding=padding, act=[Act.NONE, Act.RELU, Act.RELU6, Act.RELU_N1_TO_1][seed % 4],
                bias=[True, True, False, None][(seed // 4) % 4], per_channel=seed % 3 != 0,
                seed=seed)


@pytest.mark.parametrize("seed", range(24))
@pytest.mark.parametrize("dtype", [np.float32, np.int8, np.int16],
                         ids=lambda t: np.dtype(t).name)
def test_transpose_conv_random(dtype, seed):
    """Shapes, kernels 1-4, strides 1-3, SAME / VALID, every activation, with and without
    a bias (absent or -1), per-channel and per-tensor filters."""
    check_model(transpose_conv_model(**random_case(seed, dtype)), seed)


@pytest.mark.parametrize("seed", range(8))
def test_transpose_conv_16x8_int16_bias(seed):
    """An int16 bias, which TFLM widens into an int64 scratch buffer on every invoke."""
    case = random_case(seed, np.int16)
    case["bias"] = True
    check_model(transpose_conv_model(**case, bias_dtype=np.int16), seed)


@pytest.mark.parametrize("out_hw", [(9, 9), (7, 10), (3, 2), (12, 5), (1, 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.int8, np.int16],
                         ids=lambda t: np.dtype(t).name)
def test_transpose_conv_any_output_size(dtype, out_hw):
    """TFLM takes the output's size from the output tensor: larger outputs have pixels no
    stamp reaches, smaller ones drop stamps."""
    for padding in (SAME, VALID):
        check_model(transpose_conv_model(dtype, hw=(4, 4), kernel=(3, 3), stride=(2, 2),
                                         padding=padding, out_hw=out_hw))


def test_transpose_conv_zero_points_and_offsets():
    """int8: input and output zero points at the extremes, a filter zero point (TFLM does
    not read it); int16: an output zero point (it only moves the clamp)."""
    for input_zp, output_zp in ((-128, 127), (127, -128), (0, 0), (-5, 40)):
        check_model(transpose_conv_model(np.int8, input_zp=input_zp, output_zp=output_zp,
                                         act=Act.RELU))
    check_model(transpose_conv_model(np.int8, filter_zp=3, per_channel=False))
    check_model(transpose_conv_model(np.int16, output_zp=100, act=Act.RELU))


def test_transpose_conv_every_int8_input_value():
    """All 256 int8 values pass through a 1x1 stamp of every channel."""
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 16, 16, 1)
    model = transpose_conv_model(np.int8, hw=(16, 16), depth=1, kernel=(2, 2), out_depth=3,
                                 stride=(2, 2), padding=VALID, input_zp=-7, output_zp=5)
    check_model(model, inputs=[x])


def test_transpose_conv_saturating_and_wide_values():
    """int8: a tiny output scale saturates; int16: the full input range with large
    filters and an int64 bias beyond int32."""
    check_model(transpose_conv_model(np.int8, out_scale=1e-4))
    model = transpose_conv_model(np.int16, depth=8, out_depth=2,
                                 bias_data=np.array([2 ** 40, -2 ** 40]), out_scale=0.5)
    x = np.resize(np.array([32767, -32768, 12345], np.int16), (1, 4, 4, 8))
    check_model(model, inputs=[x])


def test_transpose_conv_float_order_of_rounding():
    """Big and small terms mixed: the float32 sums must be added in the C++ order."""
    rng = np.random.default_rng(3)
    model = transpose_conv_model(np.float32, hw=(5, 5), depth=6, kernel=(4, 4), stride=(1, 1),
                                 out_depth=3)
    x = (rng.standard_normal((1, 5, 5, 6)) * 10.0 ** rng.integers(-4, 5, (1, 5, 5, 6)))
    check_model(model, inputs=[x.astype(np.float32)])


def test_transpose_conv_float_order_matters():
    """The same sums in another order differ in the last bits: the order test above can
    fail."""
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((1, 5, 5, 6)) * 10.0 ** rng.integers(-4, 5, (1, 5, 5, 6))
         ).astype(np.float32)
    model = transpose_conv_model(np.float32, hw=(5, 5), depth=6, kernel=(4, 4), stride=(1, 1),
                                 out_depth=3, bias=None)
    ours = run_tflm_edu(write_model(model), [x])[0]
    sg = model.subgraphs[0]
    w = np.frombuffer(model.buffers[sg.tensors[1].buffer].data, np.float32).reshape(3, 4, 4, 6)
    as_float64 = np.zeros_like(ours, dtype=np.float64)
    for fy in range(4):
        for fx in range(4):
            for oy in range(5):
                for ox in range(5):
                    iy, ix = oy + 1 - fy, ox + 1 - fx  # SAME, stride 1, pad 1
                    if 0 <= iy < 5 and 0 <= ix < 5:
                        as_float64[0, oy, ox] += x[0, iy, ix].astype(np.float64) @ \
                            w[:, fy, fx, :].T.astype(np.float64)
    assert not np.array_equal(ours, as_float64.astype(np.float32))
    assert np.allclose(ours, as_float64, rtol=1e-4, atol=1e-3)


def test_transpose_conv_versions():
    for version in range(1, 6):
        check_model(transpose_conv_model(np.int8, version=version))


@pytest.mark.parametrize("dtype", [np.float32, np.int8, np.int16],
                         ids=lambda t: np.dtype(t).name)
def test_transpose_conv_arena(dtype):
    """The per-channel buffers (float models too), the int32 / int64 scratch buffer the
    size of the output, and the second set of temporaries of quantized models."""
    # The last: 256 per-channel zero points on each temporary filter tensor outweigh a
    # small output, so the temporaries decide the arena.
    for kwargs in (dict(), dict(bias=None), dict(hw=(8, 8), depth=4, out_depth=16),
                   dict(hw=(1, 1), depth=1, kernel=(1, 1), out_depth=256, stride=(1, 1),
                        padding=VALID)):
        model = transpose_conv_model(dtype, **kwargs)
        assert estimate_arena_size(model, "host").arena_bytes == smallest_arena_tflm(model)
    if dtype == np.int16:  # and the int64 copy of an int16 bias
        model = transpose_conv_model(dtype, bias_dtype=np.int16)
        assert estimate_arena_size(model, "host").arena_bytes == smallest_arena_tflm(model)


def test_transpose_conv_refuses_malformed():
    refuses(transpose_conv_model(np.int8, out_hw=(8, 8), output_shape=(1, 8, 8, 5)),
            "output has 5 channels")
    refuses(transpose_conv_model(np.int8, shape_data=(1, 9, 9, 4)),
            "output_shape \\[1, 9, 9, 4\\] does not match")
    refuses(transpose_conv_model(np.int8, filter_shape=(4, 3, 3, 2)), "input channels")
    refuses(transpose_conv_model(np.int8, bias_size=3), "bias has 3 elements")
    refuses(transpose_conv_model(np.int8, bias_dtype=np.int64), "takes INT32 bias")
    refuses(transpose_conv_model(np.int16, bias_dtype=np.int32), "takes INT64 or INT16 bias")
    refuses(transpose_conv_model(np.int8, stride=(0, 1), out_hw=(4, 4)), "strides must be")
    refuses(transpose_conv_model(np.int8, output_shape=(1, 8, 8)), "must be 4-D")
    refuses(transpose_conv_model(np.int8, output_shape=(2, 8, 8, 4)), "batches")
    no_options = transpose_conv_model(np.float32)
    no_options.subgraphs[0].operators[0].builtin_options = None
    refuses(no_options, "strides must be positive")  # the schema's defaults: strides 0
    hybrid = one_op_model(Op.TRANSPOSE_CONV, [
        tensor((4,), np.int32, np.array([1, 4, 4, 2])),
        tensor((2, 3, 3, 1), np.int8, np.ones((2, 3, 3, 1)), quantization(0.1, 0)),
        tensor((1, 2, 2, 1))], TransposeConvOptions(stride_h=2, stride_w=2),
        tensor((1, 4, 4, 2)))
    refuses(hybrid, "Hybrid models")
    too_few = one_op_model(Op.TRANSPOSE_CONV, [tensor((4,), np.int32, np.array([1, 2, 2, 1])),
                                               tensor((1, 1, 1, 1))],
                           TransposeConvOptions(stride_h=1, stride_w=1), tensor((1, 2, 2, 1)))
    refuses(too_few, "takes 3 or 4 inputs")
