"""EQUAL, NOT_EQUAL, GREATER, GREATER_EQUAL, LESS, LESS_EQUAL, LOGICAL_AND and LOGICAL_OR
against the real TFLM: every type each op takes, broadcasting, all 65,536 int8 pairs at
several scale pairs, the refusals, and the arena."""
import numpy as np
import pytest

from models import BROADCAST_SHAPES, one_op_model, tensor
from op_harness import check_model
from tflm_edu import ModelError
from tflm_edu.arena_size import estimate_arena_size
from tflm_edu.arena_size.oracle import smallest_arena_tflm
from tflm_edu.interpreter import MicroInterpreter
from tflm_edu.op_resolver import AllOpsResolver
from tflm_edu.schema import read_model, write_model
from tflm_edu.schema.builder import quantization
from tflm_edu.schema.enums import BuiltinOperator as Op

EQUALITY = [Op.EQUAL, Op.NOT_EQUAL]
ORDER = [Op.GREATER, Op.GREATER_EQUAL, Op.LESS, Op.LESS_EQUAL]
COMPARISONS = EQUALITY + ORDER
LOGICAL = [Op.LOGICAL_AND, Op.LOGICAL_OR]
NUMPY_PREDICATE = {Op.EQUAL: np.equal, Op.NOT_EQUAL: np.not_equal, Op.GREATER: np.greater,
                   Op.GREATER_EQUAL: np.greater_equal, Op.LESS: np.less,
                   Op.LESS_EQUAL: np.less_equal}


def allocate(model):
    interpreter = MicroInterpreter(read_model(write_model(model)), AllOpsResolver(), None)
    interpreter.allocate_tensors()
    return interpreter


def compare_model(op, shape1, shape2, dtype, q1=None, q2=None, out_shape=None,
                  out_dtype=np.bool_, dtype2=None):
    out_shape = np.broadcast_shapes(shape1, shape2) if out_shape is None else out_shape
    return one_op_model(op, [tensor(shape1, dtype, quant=q1),
                             tensor(shape2, dtype2 or dtype, quant=q2)],
                        None, tensor(out_shape, out_dtype))


def tie_rich(rng, shape, dtype):
    """Values that often tie: small integers, halves for float32 (with a NaN, an inf and
    a -0.0 where there is room), 0/1 for bool, huge values for int64 (beyond 2^53, where
    float64 would round)."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.integers(0, 2, shape).astype(np.bool_)
    if dtype.kind == "f":
        x = (rng.integers(-4, 5, shape) / 2).astype(dtype)
        flat = x.reshape(-1)
        for i, special in enumerate([np.nan, np.inf, -0.0, -np.inf]):
            if flat.size > 4 + i:
                flat[rng.integers(flat.size)] = special
        return x
    if dtype == np.int64:
        return (2**60 + rng.integers(-3, 4, shape)).astype(dtype) * rng.choice([-1, 1], shape)
    if dtype == np.int32:
        return rng.integers(-3, 4, shape).astype(dtype) * 1_000_003
    return rng.integers(-4, 5, shape).astype(dtype)


def check(model, seed=0):
    rng = np.random.default_rng(seed)
    sg = model.subgraphs[0]
    inputs = [tie_rich(rng, sg.tensors[i].shape, sg.tensors[i].dtype) for i in sg.inputs]
    return check_model(model, inputs=inputs)


# ----------------------------------------------------------------------------- unquantized


@pytest.mark.parametrize("op", COMPARISONS)
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int64])
def test_comparison_same_shape(op, dtype):
    model = compare_model(op, (2, 3, 4), (2, 3, 4), dtype)
    ours = check(model, seed=op)
    rng = np.random.default_rng(op)   # the oracle agrees, and so does numpy's predicate
    x1, x2 = tie_rich(rng, (2, 3, 4), dtype), tie_rich(rng, (2, 3, 4), dtype)
    assert np.array_equal(ours[0], NUMPY_PREDICATE[op](x1, x2))
    assert ours[0].any() and not ours[0].all()


@pytest.mark.parametrize("op", EQUALITY)
def test_equality_of_bools(op):
    check(compare_model(op, (4, 5), (4, 5), np.bool_))
    check(compare_model(op, (4, 5), (5,), np.bool_), seed=1)


@pytest.mark.parametrize("op", COMPARISONS)
@pytest.mark.parametrize("case", range(len(BROADCAST_SHAPES)))
def test_comparison_broadcast(op, case):
    shape1, shape2 = BROADCAST_SHAPES[case]
    dtype = [np.float32, np.int32, np.int64][case % 3]
    check(compare_model(op, shape1, shape2, dtype), seed=case)


def test_comparison_scalar_output():
    check(compare_model(Op.LESS, (), (), np.int32))   # WHILE's loop condition: i < n


# ----------------------------------------------------------------------------- int8


def all_int8_pairs():
    x1 = np.repeat(np.arange(-128, 128, dtype=np.int8), 256)
    x2 = np.tile(np.arange(-128, 128, dtype=np.int8), 256)
    return [x1, x2]


# (scale1, zp1, scale2, zp2): equal quantization, different zero points, scales in
# ratio 2 (many ties), unrelated scales, extremes of the range allowed.
INT8_QUANTS = [(0.05, 0, 0.05, 0), (0.05, -10, 0.05, 7), (0.02, 3, 0.04, -5),
               (0.0137, -128, 0.0291, 127), (0.99, 0, 1e-3, 20), (1e-6, 5, 3e-6, -2)]


@pytest.mark.parametrize("op", COMPARISONS)
@pytest.mark.parametrize("quants", INT8_QUANTS)
def test_int8_every_pair(op, quants):
    s1, z1, s2, z2 = quants
    model = compare_model(op, (65536,), (65536,), np.int8, quantization(s1, z1),
                          quantization(s2, z2))
    check_model(model, inputs=all_int8_pairs())


def test_int8_rescaling_makes_close_reals_equal():
    """EQUAL compares the inputs rescaled to steps of 1/256, not the reals: at small
    scales many pairs of different reals tie."""
    model = compare_model(Op.EQUAL, (65536,), (65536,), np.int8, quantization(0.001, 0),
                          quantization(0.0013, 0))
    x1, x2 = all_int8_pairs()
    ours = check_model(model, inputs=[x1, x2])[0]
    reals_equal = x1.astype(np.float64) * np.float32(0.001) == \
        x2.astype(np.float64) * np.float32(0.0013)
    assert ours.sum() > 10 * reals_equal.sum()


@pytest.mark.parametrize("op", [Op.EQUAL, Op.LESS])
@pytest.mark.parametrize("case", [1, 5, 7, 9])
def test_int8_broadcast(op, case):
    shape1, shape2 = BROADCAST_SHAPES[case]
    model = compare_model(op, shape1, shape2, np.int8, quantization(0.03, 4),
                          quantization(0.05, -9))
    check_model(model, seed=case)


# ----------------------------------------------------------------------------- refusals


def test_int16_greater_is_refused():
    """TFLM's GREATER has an int16 case but computes its scaling only for int8."""
    model = compare_model(Op.GREATER, (4,), (4,), np.int16, quantization(1e-3, 0),
                          quantization(1e-3, 0))
    with pytest.raises(ModelError, match="INT16 is not supported by GREATER"):
        allocate(model)


@pytest.mark.parametrize("op,dtype", [(Op.LESS, np.bool_), (Op.EQUAL, np.int16),
                                      (Op.NOT_EQUAL, np.uint8)])
def test_unsupported_types(op, dtype):
    with pytest.raises(ModelError, match="is not supported by"):
        allocate(compare_model(op, (4,), (4,), dtype))


def test_mixed_input_types():
    with pytest.raises(ModelError, match="input 2 is INT64"):
        allocate(compare_model(Op.LESS, (4,), (4,), np.int32, dtype2=np.int64))


def test_non_bool_output():
    with pytest.raises(ModelError, match="must be bool"):
        allocate(compare_model(Op.EQUAL, (4,), (4,), np.float32, out_dtype=np.float32))


@pytest.mark.parametrize("scale", [1.0, 1.5, 300.0])
def test_int8_scale_of_one_or_more(scale):
    model = compare_model(Op.LESS, (4,), (4,), np.int8, quantization(0.1, 0),
                          quantization(scale, 0))
    with pytest.raises(ModelError, match="aborts on a scale of 1 or more"):
        allocate(model)


def test_int8_without_quantization():
    with pytest.raises(ModelError, match="carries no quantization"):
        allocate(compare_model(Op.EQUAL, (4,), (4,), np.int8))


@pytest.mark.parametrize("shapes", [((3,), (4,), (4,)), ((2, 3), (3,), (3,)),
                                    ((1,) * 9, (1,), (1,) * 9)])
def test_bad_shapes(shapes):
    shape1, shape2, out_shape = shapes
    with pytest.raises(ModelError):
        allocate(compare_model(Op.EQUAL, shape1, shape2, np.float32, out_shape=out_shape))


# ----------------------------------------------------------------------------- logical


def logical_model(op, shape1, shape2, out_shape=None, dtypes=(np.bool_,) * 3):
    out_shape = np.broadcast_shapes(shape1, shape2) if out_shape is None else out_shape
    return one_op_model(op, [tensor(shape1, dtypes[0]), tensor(shape2, dtypes[1])], None,
                        tensor(out_shape, dtypes[2]))


@pytest.mark.parametrize("op", LOGICAL)
@pytest.mark.parametrize("case", range(len(BROADCAST_SHAPES)))
def test_logical(op, case):
    shape1, shape2 = BROADCAST_SHAPES[case]
    check(logical_model(op, shape1, shape2), seed=case)


@pytest.mark.parametrize("op,table", [(Op.LOGICAL_AND, [0, 0, 0, 1]),
                                      (Op.LOGICAL_OR, [0, 1, 1, 1])])
def test_logical_truth_table(op, table):
    x1, x2 = np.array([0, 0, 1, 1], np.bool_), np.array([0, 1, 0, 1], np.bool_)
    ours = check_model(logical_model(op, (4,), (4,)), inputs=[x1, x2])
    assert ours[0].tolist() == [bool(t) for t in table]


@pytest.mark.parametrize("dtypes", [(np.int8, np.bool_, np.bool_),
                                    (np.bool_, np.bool_, np.float32)])
def test_logical_needs_bools(dtypes):
    with pytest.raises(ModelError, match="must be bool"):
        allocate(logical_model(Op.LOGICAL_OR, (4,), (4,), dtypes=dtypes))


def test_logical_bad_shapes():
    with pytest.raises(ModelError, match="do not broadcast"):
        allocate(logical_model(Op.LOGICAL_AND, (3,), (4,), out_shape=(4,)))


# ----------------------------------------------------------------------------- arena


@pytest.mark.parametrize("op", COMPARISONS + LOGICAL)
def test_arena_matches_tflm(op):
    if op in LOGICAL:
        model = logical_model(op, (2, 3), (3,))
    elif op in EQUALITY:
        model = compare_model(op, (2, 3), (3,), np.int8, quantization(0.1, 1),
                              quantization(0.2, -1))
    else:
        model = compare_model(op, (2, 3), (2, 3), np.float32)
    assert estimate_arena_size(model, "host").arena_bytes == smallest_arena_tflm(model)
