"""MEAN against the real TFLM: float32, int8 and int16; negative and repeated axes,
keep_dims on and off, the global-average-pool case and the general requantizing one."""
import numpy as np
import pytest

from models import one_op_model, tensor
from op_harness import check_model as harness_check_model, run_oracle, run_tflm_edu
from tflm_edu import ModelError
from tflm_edu.interpreter import MicroInterpreter
from tflm_edu.op_resolver import AllOpsResolver
from tflm_edu.schema import read_model, write_model
from tflm_edu.schema.builder import quantization
from tflm_edu.schema.enums import BuiltinOperator as Op
from tflm_edu.schema.options import ReducerOptions


def expected_shape(shape, axes, keep_dims):
    resolved = {a + len(shape) if a < 0 else a for a in axes}
    if keep_dims:
        return tuple(1 if i in resolved else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in resolved)


def mean_model(shape, axes, keep_dims, dtype, seed=0, same_quant=False, out_shape=None,
               axis_shape=None):
    rng = np.random.default_rng(seed)
    in_quant = out_quant = None
    if dtype == np.int8:
        in_quant = quantization(rng.uniform(0.01, 0.2), int(rng.integers(-128, 128)))
        out_quant = in_quant if same_quant else quantization(
            rng.uniform(0.005, 0.3), int(rng.integers(-100, 100)))
    elif dtype == np.int16:
        in_quant = quantization(rng.uniform(1e-4, 1e-3), 0)
        out_quant = in_quant if same_quant else quantization(rng.uniform(5e-5, 2e-3), 0)
    axes = np.asarray(axes, np.int32)
    out = tensor(out_shape or expected_shape(shape, axes.tolist(), keep_dims), dtype,
                 quant=out_quant)
    version = {np.float32: 1, np.int8: 2, np.int16: 3}[dtype]
    return one_op_model(Op.MEAN, [tensor(shape, dtype, quant=in_quant),
                                  tensor(axis_shape or axes.shape, np.int32, axes)],
                        ReducerOptions(keep_dims=keep_dims), out, version)


def check_model(model, seed=0, inputs=None):
    """op_harness.check_model, plus 0-d outputs (a full reduction without keep_dims),
    whose bytes the harness cannot view yet."""
    out = model.subgraphs[0].tensors[model.subgraphs[0].outputs[0]]
    if len(out.shape) > 0:
        return harness_check_model(model, seed, inputs)
    model_bytes = write_model(model)
    if inputs is None:
        from op_harness import random_input
        sg = model.subgraphs[0]
        rng = np.random.default_rng(seed)
        inputs = [random_input(rng, sg.tensors[i].shape, sg.tensors[i].dtype) for i in sg.inputs]
    ours = run_tflm_edu(model_bytes, inputs)[0].reshape(-1)
    theirs = run_oracle(model_bytes, inputs)[0].reshape(-1).astype(ours.dtype)
    assert ours.tobytes() == theirs.tobytes(), f"tflm_edu {ours} vs TFLM {theirs}"
    return [ours]


CASES = [  # (input shape, axes)
    ((1, 7, 7, 16), [1, 2]),  # global average pool
    ((2, 5, 3, 4), [2, 1]),
    ((2, 5, 3, 4), [-3, -2]),
    ((3, 4, 5), [0]),
    ((3, 4, 5), [2]),
    ((3, 4, 5), [-1]),
    ((3, 4, 5), [0, 2]),
    ((3, 4, 5), [1, 1]),  # a repeated axis counts once
    ((3, 4, 5), [-1, 2, 0]),
    ((3, 4, 5), [0, 1, 2]),  # everything
    ((6,), [0]),
    ((2, 3, 4, 5), [3]),
    ((2, 3, 4, 5), [0, 3]),
    ((2, 3, 4, 5), [1, 2, 3]),
    ((1, 1, 1, 9), [1, 2]),
    ((4, 33), [1]),
]


@pytest.mark.parametrize("keep_dims", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.int8, np.int16])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_axes(case, dtype, keep_dims):
    shape, axes = CASES[case]
    check_model(mean_model(shape, axes, keep_dims, dtype, seed=case), seed=case)


@pytest.mark.parametrize("keep_dims", [True, False])
@pytest.mark.parametrize("dtype", [np.int8, np.int16])
@pytest.mark.parametrize("case", [0, 1, 6, 9])
def test_same_input_and_output_quantization(case, dtype, keep_dims):
    shape, axes = CASES[case]
    check_model(mean_model(shape, axes, keep_dims, dtype, seed=case, same_quant=True), case)


@pytest.mark.parametrize("seed", range(12))
def test_random_int8(seed):
    rng = np.random.default_rng(50 + seed)
    rank = int(rng.integers(1, 5))
    shape = tuple(int(d) for d in rng.integers(1, 9, rank))
    axes = [int(a) for a in rng.integers(-rank, rank, int(rng.integers(1, rank + 2)))]
    check_model(mean_model(shape, axes, bool(seed % 2), np.int8, seed=seed), seed)


def test_large_reduction():
    """A count far from a power of two and sums that need many bits."""
    for dtype in (np.float32, np.int8, np.int16):
        check_model(mean_model((1, 37, 41, 3), [1, 2], True, dtype), seed=4)
        check_model(mean_model((3, 1000), [1], False, dtype), seed=5)


def test_empty_axis_list():
    """No axes: every output is its own input, divided by 1 (and requantized)."""
    for dtype in (np.float32, np.int8):
        check_model(mean_model((2, 3), np.zeros(0, np.int32), False, dtype, seed=2), seed=2)


def test_int8_extremes():
    model = mean_model((1, 4, 4, 8), [1, 2], True, np.int8, seed=9)
    for value in (-128, 127):
        check_model(model, inputs=[np.full((1, 4, 4, 8), value, np.int8)])


def test_float_negative_zeros():
    x = np.full((2, 3, 4), -0.0, np.float32)
    x[1, 0, 0] = 1e-30
    check_model(mean_model(x.shape, [1, 2], False, np.float32), inputs=[x])


def test_axes_from_a_graph_input():
    """The axis tensor need not be constant: then it is resolved on every invoke."""
    for dtype in (np.float32, np.int8):
        quant = quantization(0.05, -3) if dtype == np.int8 else None
        model = one_op_model(Op.MEAN, [tensor((2, 3, 4), dtype, quant=quant),
                                       tensor((2,), np.int32)],
                             ReducerOptions(keep_dims=False), tensor((2,), dtype, quant=quant))
        rng = np.random.default_rng(7)
        data = (rng.standard_normal((2, 3, 4)) if dtype == np.float32
                else rng.integers(-128, 128, (2, 3, 4))).astype(dtype)
        for axes in ([1, 2], [-1, -2], [2, 1]):
            check_model(model, inputs=[data, np.array(axes, np.int32)])


def test_bad_axis_from_a_graph_input_fails_at_invoke():
    model = one_op_model(Op.MEAN, [tensor((2, 3, 4)), tensor((1,), np.int32)], ReducerOptions(),
                         tensor((2, 3)))
    interpreter = MicroInterpreter(read_model(write_model(model)), AllOpsResolver(), None)
    interpreter.allocate_tensors()
    interpreter.input(1).data[...] = 5
    with pytest.raises(ModelError, match="axis 5 is out of range"):
        interpreter.invoke()


# ----------------------------------------------------------------------------- malformed


def allocate(model):
    MicroInterpreter(read_model(write_model(model)), AllOpsResolver(), None).allocate_tensors()


@pytest.mark.parametrize("axis", [3, -4, 100])
def test_axis_out_of_range_is_rejected(axis):
    model = mean_model((2, 3, 4), [axis], False, np.float32, out_shape=(2, 3))
    with pytest.raises(ModelError, match=f"axis {axis} is out of range for a 3-D input"):
        allocate(model)


def test_wrong_output_shape_is_rejected():
    model = mean_model((2, 3, 4), [1], False, np.int8, out_shape=(2, 3))
    with pytest.raises(ModelError, match=r"should have the shape \[2, 4\]"):
        allocate(model)


def test_axis_type_is_checked():
    model = one_op_model(Op.MEAN, [tensor((2, 3)), tensor((1,), np.int8, [1])], ReducerOptions(),
                         tensor((2,)))
    with pytest.raises(ModelError, match="axis tensor must be int32"):
        allocate(model)


def test_missing_axis_input_is_rejected():
    model = one_op_model(Op.MEAN, [tensor((2, 3))], ReducerOptions(), tensor((2,)))
    with pytest.raises(ModelError, match="mean takes 2 inputs"):
        allocate(model)


def test_scratch_buffers_are_requested():
    """As in TFLM: int32 sums per output (quantized only), then the index scratch."""
    interpreter = MicroInterpreter(read_model(write_model(
        mean_model((1, 7, 7, 16), [1, 2], True, np.int8))), AllOpsResolver(), None)
    interpreter.allocate_tensors()
    assert [r.bytes for r in interpreter.context.scratch_requests] == [4 * 16, 4 * 4, 4 * 2]
