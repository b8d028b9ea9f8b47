"""SUM, REDUCE_MAX, ARG_MAX and ARG_MIN against the real TFLM: float32, int8 and int16
where TFLM has them; several, negative and repeated axes, keep_dims on and off, axes
computed by the graph; malformed models; the arena."""
import numpy as np
import pytest

from models import one_op_model, tensor
from op_harness import check_model
from tflm_edu import ModelError
from tflm_edu.arena_size import estimate_arena_size
from tflm_edu.arena_size.oracle import smallest_arena_tflm
from tflm_edu.interpreter import MicroInterpreter
from tflm_edu.op_resolver import AllOpsResolver
from tflm_edu.schema import read_model, write_model
from tflm_edu.schema.builder import quantization
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType
from tflm_edu.schema.options import ArgMaxOptions, ArgMinOptions, ReducerOptions


def allocate(model):
    MicroInterpreter(read_model(write_model(model)), AllOpsResolver(), None).allocate_tensors()


def assert_arena_is_tflms(model):
    assert estimate_arena_size(model, "host").arena_bytes == smallest_arena_tflm(model)


def expected_shape(shape, axes, keep_dims):
    resolved = {a + len(shape) if a < 0 else a for a in axes} if shape else set()
    if keep_dims:
        return tuple(1 if i in resolved else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in resolved)


# ----------------------------------------------------------------------------- SUM, REDUCE_MAX


def reduce_model(op, shape, axes, keep_dims, dtype, seed=0, quants=None, out_shape=None,
                 axis_dtype=np.int32, const_axes=True, out_dtype=None):
    rng = np.random.default_rng(seed)
    if quants is not None:
        in_quant, out_quant = quants
    elif dtype == np.int8:
        in_quant = quantization(rng.uniform(0.01, 0.2), int(rng.integers(-128, 128)))
        out_quant = in_quant if op == Op.REDUCE_MAX else quantization(
            rng.uniform(0.05, 2.0), int(rng.integers(-100, 100)))
    elif dtype == np.int16:
        in_quant = quantization(rng.uniform(1e-4, 1e-3), 0)
        out_quant = quantization(rng.uniform(1e-3, 1e-2), 0)
    else:
        in_quant = out_quant = None
    axes = np.asarray(axes, np.int32)
    out = tensor(out_shape or expected_shape(shape, axes.tolist(), keep_dims),
                 out_dtype or dtype, quant=out_quant)
    version = {np.int8: 2, np.int16: 3 if op == Op.REDUCE_MAX else 2}.get(dtype, 1)
    axis_tensor = tensor(axes.shape, axis_dtype, axes if const_axes else None)
    return one_op_model(op, [tensor(shape, dtype, quant=in_quant), axis_tensor],
                        ReducerOptions(keep_dims=keep_dims), out, version)


# Shapes and axes: one axis, several, all, negative, repeated (a repeat counts once),
# unsorted, the global-pool axes {1, 2} of a 4-D tensor, a 0-d and a 5-D input.
CASES = [
    ((4, 5), [1]), ((4, 5), [0]), ((2, 3, 4), [0, 2]), ((2, 3, 4), [-1]),
    ((2, 3, 4), [2, -3]), ((2, 3, 4), [1, 1, -2]), ((2, 3, 4), [0, 1, 2]),
    ((1, 6, 6, 3), [1, 2]), ((1, 6, 6, 3), [2, 1]), ((2, 3, 4, 5), [3, 0]),
    ((2, 2, 3, 2, 3), [1, 3, 4]), ((7,), [0]), ((3, 1, 4), [1]), ((), [0]),
]


# TFLM's REDUCE_MAX has no int16 kernel (test_reduce_max_int16_refused).
OPS_AND_TYPES = [(Op.SUM, np.float32), (Op.SUM, np.int8), (Op.SUM, np.int16),
                 (Op.REDUCE_MAX, np.float32), (Op.REDUCE_MAX, np.int8)]


@pytest.mark.parametrize("op, dtype", OPS_AND_TYPES)
@pytest.mark.parametrize("keep_dims", [False, True])
def test_reduce_cases(op, dtype, keep_dims):
    for seed, (shape, axes) in enumerate(CASES):
        check_model(reduce_model(op, shape, axes, keep_dims, dtype, seed=seed), seed=seed)


@pytest.mark.parametrize("op", [Op.SUM, Op.REDUCE_MAX])
def test_reduce_axes_from_the_graph(op):
    """An axis tensor that is a graph input: resolved at Eval, as TFLM does every time."""
    model = reduce_model(op, (2, 3, 4), [0, 2], False, np.int8, const_axes=False)
    x = np.random.default_rng(1).integers(-128, 128, (2, 3, 4)).astype(np.int8)
    check_model(model, inputs=[x, np.array([0, -1], np.int32)])


def test_sum_int8_requantization():
    """Every int8 input value in rows of 256 summed, over scales from shrinking to
    growing the sum (the sum saturates the int8 output at the wide end), zero points
    across the range - the sum of zero points times the count is subtracted in int32."""
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    x = np.concatenate([x, x[:, ::-1], np.roll(x, 77, axis=1)]).reshape(3, 16, 16)
    rng = np.random.default_rng(0)
    for k in range(40):
        in_q = quantization(float(10 ** rng.uniform(-3, 0)), int(rng.integers(-128, 128)))
        out_q = quantization(float(10 ** rng.uniform(-1, 2.5)), int(rng.integers(-128, 128)))
        for axes in ([1, 2], [2], [0]):
            model = reduce_model(Op.SUM, x.shape, axes, k % 2 == 0, np.int8,
                                 quants=(in_q, out_q))
            check_model(model, inputs=[x])


def test_sum_int8_every_pair():
    """All 65,536 pairs (a, b) summed along the last axis, with scales where the output
    rounding lands on ties."""
    a, b = np.meshgrid(np.arange(-128, 128), np.arange(-128, 128), indexing="ij")
    x = np.stack([a, b], axis=-1).astype(np.int8).reshape(256, 256, 2)
    for in_q, out_q in [(quantization(0.5, 0), quantization(1.0, 0)),
                        (quantization(0.1, -3), quantization(0.4, 7)),
                        (quantization(0.02, 100), quantization(0.05, -128))]:
        check_model(reduce_model(Op.SUM, x.shape, [-1], False, np.int8, quants=(in_q, out_q)),
                    inputs=[x])


def test_sum_int16_wide_rows():
    rng = np.random.default_rng(2)
    model = reduce_model(Op.SUM, (3, 2000), [1], True, np.int16,
                         quants=(quantization(1e-4, 0), quantization(0.05, 0)))
    check_model(model, inputs=[rng.integers(-32768, 32768, (3, 2000)).astype(np.int16)])


def test_sum_float_order():
    """Float32 sums in memory order: large and small terms where the order shows."""
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((4, 6, 50)) * 10 ** rng.uniform(-3, 6, (4, 6, 50)))
    x = x.astype(np.float32)
    for axes in ([2], [0, 2], [1, 0], [-1, -2, -3]):
        check_model(reduce_model(Op.SUM, x.shape, axes, False, np.float32), inputs=[x])


def test_reduce_max_float_special_values():
    """NaN never wins; an all -inf row gives -FLT_MAX; the first of 0.0 / -0.0 stays."""
    ninf, nan = -np.inf, np.nan
    x = np.array([[nan, 1.0, 2.0, nan], [ninf, ninf, ninf, ninf], [-0.0, 0.0, -1.0, -0.0],
                  [0.0, -0.0, -5.0, -0.0], [nan, nan, nan, nan], [np.inf, nan, 1.0, 3e38],
                  [-3e38, -3.4028235e38, ninf, nan], [-1e-45, -0.0, ninf, -2.0]],
                 np.float32)
    check_model(reduce_model(Op.REDUCE_MAX, x.shape, [1], False, np.float32), inputs=[x])
    check_model(reduce_model(Op.REDUCE_MAX, x.shape, [0], True, np.float32), inputs=[x])


def test_reduce_max_int8_without_quantization():
    """TFLM compares the (absent: 0) scales and zero points, so unquantized int8 runs."""
    check_model(reduce_model(Op.REDUCE_MAX, (3, 4), [1], False, np.int8,
                             quants=(None, None)))


@pytest.mark.parametrize("op", [Op.SUM, Op.REDUCE_MAX])
@pytest.mark.parametrize("kwargs, message", [
    (dict(shape=(2, 3), axes=[2], keep_dims=False, dtype=np.float32, out_shape=(2, 3)),
     "axis 2 is out of range"),
    (dict(shape=(2, 3), axes=[-3], keep_dims=False, dtype=np.float32, out_shape=(2, 3)),
     "axis -3 is out of range"),
    (dict(shape=(2, 3), axes=[1], keep_dims=False, dtype=np.float32, out_shape=(3,)),
     r"should have the shape \[2\]"),
    (dict(shape=(2, 3), axes=[1], keep_dims=False, dtype=np.float32, axis_dtype=np.int64),
     "axis tensor must be int32"),
    (dict(shape=(2, 3), axes=[1], keep_dims=False, dtype=np.float32, out_dtype=np.int8),
     "types differ"),
    (dict(shape=(2, 3), axes=[1], keep_dims=False, dtype=np.int32), "INT32 is not supported"),
])
def test_reduce_refusals(op, kwargs, message):
    with pytest.raises(ModelError, match=message):
        allocate(reduce_model(op, **kwargs))


def test_reduce_max_int16_refused():
    """TFLM's EvalMinMaxHelper takes float32 and int8 only (it fails at Eval)."""
    with pytest.raises(ModelError, match="INT16 is not supported"):
        allocate(reduce_model(Op.REDUCE_MAX, (2, 3), [1], False, np.int16))


def test_reduce_max_int8_requantization_refused():
    quants = (quantization(0.1, 3), quantization(0.2, 3))
    with pytest.raises(ModelError, match="must keep its quantization"):
        allocate(reduce_model(Op.REDUCE_MAX, (2, 3), [1], False, np.int8, quants=quants))
    quants = (quantization(0.1, 3), quantization(0.1, 4))
    with pytest.raises(ModelError, match="must keep its quantization"):
        allocate(reduce_model(Op.REDUCE_MAX, (2, 3), [1], False, np.int8, quants=quants))


@pytest.mark.parametrize("op, dtype", OPS_AND_TYPES)
def test_reduce_arena(op, dtype):
    assert_arena_is_tflms(reduce_model(op, (2, 3, 4, 5), [1, 2], True, dtype))
    assert_arena_is_tflms(reduce_model(op, (6, 7), [-1], False, dtype))


# ----------------------------------------------------------------------------- ARG_MAX, ARG_MIN

ARG_OPTIONS = {Op.ARG_MAX: ArgMaxOptions, Op.ARG_MIN: ArgMinOptions}


def arg_model(op, shape, axis, dtype, out_dtype=np.int32, axis_dtype=np.int32, out_shape=None,
              const_axis=True, quant=None):
    axis_value = np.array([axis], axis_dtype)
    if out_shape is None:
        resolved = axis + len(shape) if axis < 0 else axis
        out_shape = tuple(d for i, d in enumerate(shape) if i != resolved)
    if quant is None and dtype == np.int8:
        quant = quantization(0.1, -5)
    version = 2 if dtype == np.int8 else 1
    return one_op_model(op, [tensor(shape, dtype, quant=quant),
                             tensor((1,), axis_dtype, axis_value if const_axis else None)],
                        ARG_OPTIONS[op](output_type=TensorType.INT32 if out_dtype == np.int32
                                        else TensorType.INT64),
                        tensor(out_shape, out_dtype), version)


ARG_CASES = [((10,), 0), ((4, 5), 1), ((4, 5), 0), ((4, 5), -1), ((2, 3, 4), 1),
             ((2, 3, 4), -3), ((1, 5, 5, 8), 3), ((2, 3, 4, 5), 2), ((2, 1, 3, 2, 4), 4),
             ((3, 1), 1)]


@pytest.mark.parametrize("op", [Op.ARG_MAX, Op.ARG_MIN])
@pytest.mark.parametrize("dtype", [np.float32, np.int8])
def test_arg_cases(op, dtype):
    for seed, (shape, axis) in enumerate(ARG_CASES):
        check_model(arg_model(op, shape, axis, dtype), seed=seed)


@pytest.mark.parametrize("op", [Op.ARG_MAX, Op.ARG_MIN])
def test_arg_int8_ties(op):
    """Few distinct values: ties everywhere, the first index wins."""
    rng = np.random.default_rng(4)
    x = rng.integers(-2, 2, (64, 9)).astype(np.int8)
    x[:8] = -128
    x[8:16] = 127
    check_model(arg_model(op, x.shape, 1, np.int8), inputs=[x])
    check_model(arg_model(op, x.shape, 0, np.int8), inputs=[x])


@pytest.mark.parametrize("op", [Op.ARG_MAX, Op.ARG_MIN])
def test_arg_float_special_values(op):
    """A NaN first is never beaten (index 0); later NaNs never win; 0.0 == -0.0."""
    nan, inf = np.nan, np.inf
    x = np.array([[nan, 1, 2, nan], [1, nan, 3, 2], [nan] * 4, [-0.0, 0.0, 0.0, -1],
                  [0.0, -0.0, 1, 1], [-inf, -inf, nan, -inf], [inf, nan, inf, -inf],
                  [3, 3, 3, 3]], np.float32)
    check_model(arg_model(op, x.shape, 1, np.float32), inputs=[x])
    check_model(arg_model(op, x.shape, 0, np.float32), inputs=[x])


@pytest.mark.parametrize("op", [Op.ARG_MAX, Op.ARG_MIN])
def test_arg_axis_from_the_graph(op):
    model = arg_model(op, (3, 4, 5), -2, np.float32, const_axis=False)
    x = np.random.default_rng(0).standard_normal((3, 4, 5)).astype(np.float32)
    check_model(model, inputs=[x, np.array([-2], np.int32)])


@pytest.mark.parametrize("op", [Op.ARG_MAX, Op.ARG_MIN])
@pytest.mark.parametrize("kwargs, message", [
    (dict(out_dtype=np.int64), "this op takes INT32"),       # TFLM's Eval: int32 only
    (dict(axis_dtype=np.int64), "this op takes INT32"),
    (dict(dtype=np.int16, quant=quantization(1e-3, 0)), "INT16 is not supported"),
    (dict(axis=2, out_shape=(3, 4)), "axis 2 is out of range"),
    (dict(axis=-3, out_shape=(3, 4)), "axis -3 is out of range"),
    (dict(out_shape=(4,)), "does not hold the 3 indices"),
])
def test_arg_refusals(op, kwargs, message):
    args = dict(shape=(3, 4), axis=1, dtype=np.float32)
    args.update(kwargs)
    with pytest.raises(ModelError, match=message):
        allocate(arg_model(op, **args))


def test_arg_axis_from_the_graph_out_of_range():
    model = arg_model(Op.ARG_MAX, (3, 4), 1, np.float32, const_axis=False)
    interpreter = MicroInterpreter(read_model(write_model(model)), AllOpsResolver(), None)
    interpreter.allocate_tensors()
    interpreter.input(1).data[...] = 5
    with pytest.raises(ModelError, match="axis 5 is out of range"):
        interpreter.invoke()


@pytest.mark.parametrize("op", [Op.ARG_MAX, Op.ARG_MIN])
@pytest.mark.parametrize("dtype", [np.float32, np.int8])
def test_arg_arena(op, dtype):
    assert_arena_is_tflms(arg_model(op, (2, 3, 4), 1, dtype))
