"""TRANSPOSE, SPLIT_V, SPLIT, SQUEEZE, EXPAND_DIMS, SLICE and GATHER against the real TFLM:
byte equality on seeded shapes, axes and types, the arena estimate, malformed models."""
import numpy as np
import pytest

from models import one_op_model, quant_for, tensor
from op_harness import check_model, random_input, run_oracle, run_tflm_edu
from tflm_edu import ModelError
from tflm_edu.arena_size import estimate_arena_size
from tflm_edu.arena_size.oracle import smallest_arena_tflm
from tflm_edu.interpreter import MicroInterpreter
from tflm_edu.op_resolver import AllOpsResolver
from tflm_edu.schema import read_model, write_model
from tflm_edu.schema.enums import BuiltinOperator as Op
from tflm_edu.schema.options import (ExpandDimsOptions, GatherOptions, SplitOptions,
                                     SplitVOptions,
                                     SqueezeOptions, TransposeOptions)

TINYENGINE = "/work/shared/models/tinyengine_mcunetv2_large.tflite"


def allocate(model):
    """tflm_edu's interpreter for `model` (through .tflite bytes), allocated."""
    interpreter = MicroInterpreter(read_model(write_model(model)), AllOpsResolver(), None)
    interpreter.allocate_tensors()
    return interpreter


def random_shape(rng, min_rank, max_rank, max_dim=5):
    return tuple(int(d) for d in rng.integers(1, max_dim + 1,
                                               int(rng.integers(min_rank, max_rank + 1))))


def check_bool_model(model, seed=0):
    """check_model for a model with a bool input (op_harness draws numbers only)."""
    sg = model.subgraphs[0]
    rng = np.random.default_rng(seed)
    check_model(model, inputs=[rng.random(sg.tensors[i].shape) < 0.5 for i in sg.inputs])


def check_arena(model):
    """tflm_edu's arena estimate is the real TFLM's smallest arena (to the 16-byte
    alignment the oracle's bisection resolves)."""
    ours, theirs = estimate_arena_size(model, "host").arena_bytes, smallest_arena_tflm(model)
    assert abs(ours - theirs) <= 16, (ours, theirs)


# ----------------------------------------------------------------------------- TRANSPOSE

TRANSPOSE_TYPES = [np.float32, np.int8, np.int16]


def transpose_model(in_shape, perm, dtype=np.float32, out_shape=None, perm_dtype=np.int32,
                    version=1):
    q = quant_for(dtype)
    if out_shape is None:
        out_shape = tuple(in_shape[p] for p in perm)
    return one_op_model(Op.TRANSPOSE, [tensor(in_shape, dtype, quant=q),
                                       tensor((len(perm),), perm_dtype, np.array(perm))],
                        TransposeOptions(), tensor(out_shape, dtype, quant=q), version)


@pytest.mark.parametrize("seed", range(30))
def test_transpose_random(seed):
    """Rank 1 to 5, a random permutation, each supported type."""
    rng = np.random.default_rng(seed)
    shape = random_shape(rng, 1, 5)
    perm = [int(p) for p in rng.permutation(len(shape))]
    dtype = TRANSPOSE_TYPES[seed % len(TRANSPOSE_TYPES)]
    check_model(transpose_model(shape, perm, dtype), seed)


# NHWC <-> NCHW (the tinyengine model's), a matrix, the identity, a 5-D reversal.
TRANSPOSES = [((1, 7, 7, 384), [0, 3, 1, 2]), ((1, 16, 4, 4), [0, 2, 3, 1]),
              ((37, 5), [1, 0]), ((2, 3, 4), [0, 1, 2]), ((2, 3, 1, 4, 5), [4, 3, 2, 1, 0]),
              ((9,), [0])]


@pytest.mark.parametrize("case", range(len(TRANSPOSES)))
@pytest.mark.parametrize("dtype", TRANSPOSE_TYPES)
def test_transpose_cases(case, dtype):
    shape, perm = TRANSPOSES[case]
    check_model(transpose_model(shape, perm, dtype, version=1 + case % 6), case)


def test_transpose_is_numpys():
    """An independent oracle: np.transpose of a known input."""
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    ours = run_tflm_edu(write_model(transpose_model((2, 3, 4), [1, 2, 0])), [x])
    np.testing.assert_array_equal(ours[0], np.transpose(x, (1, 2, 0)))


@pytest.mark.parametrize("perm,match", [
    ([0, 0, 1], "not a permutation"),
    ([0, 3, 1], "out of bounds"),
    ([0, -1, 1], "out of bounds"),
    ([1, 0], "perm has 2 entries; the input has 3"),
])
def test_transpose_bad_perm(perm, match):
    model = transpose_model((2, 3, 4), perm, out_shape=(2, 3, 4))
    with pytest.raises(ModelError, match=match):
        allocate(model)


def test_transpose_wrong_output_shape():
    with pytest.raises(ModelError, match=r"should be \[4, 2, 3\]"):
        allocate(transpose_model((2, 3, 4), [2, 0, 1], out_shape=(4, 3, 2)))


def test_transpose_int64_perm_is_refused():
    """TFLM reads an int64 perm as int32 pairs ([0, 2, 1] becomes [0, 0, 2]) and reads
    past the input; tflm_edu refuses it."""
    with pytest.raises(ModelError, match="perm must be int32"):
        allocate(transpose_model((2, 3, 4), [0, 2, 1], perm_dtype=np.int64))


@pytest.mark.parametrize("dtype", [np.int32, np.uint8])
def test_transpose_unsupported_type(dtype):
    with pytest.raises(ModelError, match="not supported by TRANSPOSE"):
        allocate(transpose_model((2, 3), [1, 0], dtype))


def test_transpose_rank_6_is_refused():
    with pytest.raises(ModelError, match="1-D to 5-D"):
        allocate(transpose_model((1, 2, 1, 2, 1, 2), [5, 4, 3, 2, 1, 0]))


def test_transpose_non_constant_perm():
    model = one_op_model(Op.TRANSPOSE, [tensor((2, 3)), tensor((2,), np.int32)],
                         TransposeOptions(), tensor((3, 2)))
    with pytest.raises(ModelError, match="Non-constant perm"):
        allocate(model)


@pytest.mark.parametrize("dtype", [np.int8, np.float32])
def test_transpose_arena_is_the_real_tflms(dtype):
    check_arena(transpose_model((1, 6, 5, 8), [0, 3, 1, 2], dtype))


def test_tinyengine_mcunetv2_matches_tflm():
    """A real model with a TRANSPOSE (NHWC -> NCHW, int8, before its classifier): every
    output byte equals the real TFLM's on a seeded random input (the model takes float32
    and quantizes it itself)."""
    model_bytes = open(TINYENGINE, "rb").read()
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (1, 224, 224, 3)).astype(np.float32)
    ours = run_tflm_edu(model_bytes, [x])
    theirs = run_oracle(model_bytes, [x], arena_size=8_000_000)
    assert len(ours) == len(theirs) == 1
    assert ours[0].tobytes() == theirs[0].astype(ours[0].dtype).reshape(ours[0].shape).tobytes()


# ----------------------------------------------------------------------------- SPLIT, SPLIT_V

SPLIT_TYPES = [np.float32, np.int8, np.int16, np.int32]


def split_model(in_shape, axis, count, dtype=np.float32, out_shapes=None, num_splits=None,
                axis_dtype=np.int32):
    q = quant_for(dtype)
    if out_shapes is None:
        out_shapes = [p.shape for p in np.split(np.zeros(in_shape), count, axis=axis)]
    outputs = [tensor(s, dtype, quant=q) for s in out_shapes]
    return one_op_model(Op.SPLIT, [tensor((), axis_dtype, np.array(axis)),
                                   tensor(in_shape, dtype, quant=q)],
                        SplitOptions(num_splits=count if num_splits is None else num_splits),
                        outputs, version=1 + (dtype == np.int8))


def split_v_model(in_shape, size_splits, axis, dtype=np.float32, out_sizes=None,
                  num_splits=None, const_sizes=True, sizes_dtype=np.int32, axis_value=None):
    """SPLIT_V of `in_shape`; out_sizes (default: size_splits with the -1 resolved) sets
    the outputs' sizes along the axis; axis_value, if given, is written instead of axis."""
    q = quant_for(dtype)
    if out_sizes is None:
        known = sum(s for s in size_splits if s != -1)
        out_sizes = [in_shape[axis] - known if s == -1 else s for s in size_splits]
    outputs = []
    for size in out_sizes:
        shape = list(in_shape)
        shape[axis] = size
        outputs.append(tensor(shape, dtype, quant=q))
    sizes = tensor((len(size_splits),), sizes_dtype,
                   np.array(size_splits) if const_sizes else None)
    count = len(out_sizes) if num_splits is None else num_splits
    return one_op_model(Op.SPLIT_V, [tensor(in_shape, dtype, quant=q), sizes,
                                     tensor((1,), np.int32, np.array(
                                         [axis if axis_value is None else axis_value]))],
                        SplitVOptions(num_splits=count), outputs, version=1)


def random_sizes(rng, total, count):
    """`count` positive sizes adding up to `total` (count <= total)."""
    cuts = np.sort(rng.choice(np.arange(1, total), count - 1, replace=False))
    return [int(s) for s in np.diff(np.concatenate([[0], cuts, [total]]))]


@pytest.mark.parametrize("seed", range(30))
def test_split_v_random(seed):
    """Rank 1 to 5, a random axis (negative half of the time), random sizes with a -1
    now and then."""
    rng = np.random.default_rng(seed)
    shape = list(random_shape(rng, 1, 5, max_dim=4))
    axis = int(rng.integers(len(shape)))
    shape[axis] = int(rng.integers(2, 9))
    sizes = random_sizes(rng, shape[axis], int(rng.integers(1, shape[axis] + 1)))
    if rng.random() < 0.3:
        sizes[int(rng.integers(len(sizes)))] = -1
    axis_arg = axis - len(shape) if seed % 2 else axis
    model = split_v_model(tuple(shape), sizes, axis_arg, SPLIT_TYPES[seed % 4])
    check_model(model, seed)


@pytest.mark.parametrize("dtype", SPLIT_TYPES)
def test_split_v_non_constant_size_splits(dtype):
    """size_splits as a graph input: TFLM never reads it, nor does tflm_edu."""
    model = split_v_model((3, 7, 2), [2, 5], 1, dtype, const_sizes=False)
    rng = np.random.default_rng(1)
    x = rng.integers(-100, 100, (3, 7, 2)).astype(dtype)
    check_model(model, inputs=[x, np.array([2, 5], np.int32)])


def test_split_v_int64_size_splits():
    check_model(split_v_model((4, 6), [1, -1, 2], -1, np.int8, sizes_dtype=np.int64))


@pytest.mark.parametrize("sizes,out_sizes,match", [
    ([2, 2], [2, 3], "does not match the output sizes"),
    ([2, -1, -1], [2, 2, 1], "may hold one -1"),
    ([2, 3], [2, 2], "add up to 4, not to the input's 5"),
])
def test_split_v_bad_size_splits(sizes, out_sizes, match):
    with pytest.raises(ModelError, match=match):
        allocate(split_v_model((3, 5), sizes, 1, out_sizes=out_sizes))


def test_split_v_bad_axis():
    with pytest.raises(ModelError, match="axis 2 is out of range for a 2-D input"):
        allocate(split_v_model((3, 5), [2, 3], 1, axis_value=2))


def test_split_v_num_splits_mismatch():
    with pytest.raises(ModelError, match="num_splits is 3 but the op has 2 outputs"):
        allocate(split_v_model((3, 5), [2, 3], 1, num_splits=3))


def test_split_v_unsupported_type():
    with pytest.raises(ModelError, match="not supported by SPLIT_V"):
        allocate(split_v_model((3, 5), [2, 3], 1, np.int64))


@pytest.mark.parametrize("dtype", [np.int8, np.float32])
def test_split_v_arena_is_the_real_tflms(dtype):
    check_arena(split_v_model((1, 8, 8, 6), [1, 2, 3], 3, dtype))


@pytest.mark.parametrize("seed", range(30))
def test_split_random(seed):
    rng = np.random.default_rng(seed)
    shape = list(random_shape(rng, 1, 5, max_dim=4))
    axis = int(rng.integers(len(shape)))
    count = int(rng.integers(1, 5))
    shape[axis] = count * int(rng.integers(1, 4))
    axis_arg = axis - len(shape) if seed % 2 else axis
    check_model(split_model(tuple(shape), axis_arg, count, SPLIT_TYPES[seed % 4]), seed)


def test_split_is_numpys():
    x = np.arange(24, dtype=np.float32).reshape(2, 12)
    ours = run_tflm_edu(write_model(split_model((2, 12), 1, 3)), [x])
    for a, b in zip(ours, np.split(x, 3, axis=1)):
        np.testing.assert_array_equal(a, b)


def test_split_uneven():
    with pytest.raises(ModelError, match="do not split into 4 equal pieces"):
        allocate(split_model((2, 6), 1, 4, out_shapes=[(2, 1)] * 4))


def test_split_output_shapes():
    with pytest.raises(ModelError, match=r"output 1 has shape \[2, 2\]; the split makes it "
                                         r"\[2, 3\]"):
        allocate(split_model((2, 6), 1, 2, out_shapes=[(2, 3), (2, 2)]))


@pytest.mark.parametrize("axis", [2, -3])
def test_split_axis_out_of_range(axis):
    with pytest.raises(ModelError, match=f"axis {axis} is out of range"):
        allocate(split_model((2, 6), axis, 2, out_shapes=[(2, 3)] * 2))


def test_split_int64_axis_is_refused():
    with pytest.raises(ModelError, match="the axis must be int32"):
        allocate(split_model((2, 6), 1, 2, axis_dtype=np.int64))


@pytest.mark.parametrize("dtype", [np.int8, np.int32])
def test_split_arena_is_the_real_tflms(dtype):
    check_arena(split_model((1, 4, 4, 6), -1, 3, dtype))


# ----------------------------------------------------------------------------- SQUEEZE

SQUEEZE_TYPES = [np.float32, np.int8, np.int16, np.int32, np.int64, np.bool_, np.uint8]


def squeeze_model(in_shape, squeeze_dims, dtype=np.float32, out_shape=None):
    q = quant_for(dtype)
    if out_shape is None:
        dims = tuple(squeeze_dims) if squeeze_dims else None
        out_shape = np.squeeze(np.zeros(in_shape), axis=dims).shape
    return one_op_model(Op.SQUEEZE, [tensor(in_shape, dtype, quant=q)],
                        SqueezeOptions(squeeze_dims=tuple(squeeze_dims) or None),
                        tensor(out_shape, dtype, quant=q), 1 + (dtype == np.int8))


@pytest.mark.parametrize("seed", range(24))
def test_squeeze_random(seed):
    """Rank 1 to 8 with some axes of size 1; squeeze all of them or a random subset,
    each named by a positive or a negative index."""
    rng = np.random.default_rng(seed)
    shape = [1 if rng.random() < 0.5 else int(rng.integers(2, 4))
             for _ in range(int(rng.integers(1, 9)))]
    if 1 not in shape:
        shape[int(rng.integers(len(shape)))] = 1
    ones = [i for i, d in enumerate(shape) if d == 1]
    chosen = [] if seed % 3 == 0 else \
        sorted(rng.choice(ones, int(rng.integers(1, len(ones) + 1)), replace=False))
    dims = [int(d) - len(shape) if rng.random() < 0.5 else int(d) for d in chosen]
    dtype = SQUEEZE_TYPES[seed % len(SQUEEZE_TYPES)]
    check = check_bool_model if dtype == np.bool_ else check_model
    check(squeeze_model(tuple(shape), dims, dtype), seed)


@pytest.mark.parametrize("dtype", SQUEEZE_TYPES)
def test_squeeze_types(dtype):
    check = check_bool_model if dtype == np.bool_ else check_model
    check(squeeze_model((1, 5, 1, 3), [-2], dtype))


@pytest.mark.parametrize("dims,match", [([1], "names axis 1, of size 5"),
                                        ([4], "entry 4 is out of range for a 4-D input"),
                                        ([-5], "entry -5 is out of range")])
def test_squeeze_bad_dims(dims, match):
    with pytest.raises(ModelError, match=match):
        allocate(squeeze_model((1, 5, 1, 3), dims, out_shape=(5, 3)))


def test_squeeze_wrong_output_shape():
    """TFLM would accept [5, 3, 1] here (it only checks each kept axis is not smaller)."""
    with pytest.raises(ModelError, match=r"should be \[5, 3\]"):
        allocate(squeeze_model((1, 5, 1, 3), [], out_shape=(5, 3, 1)))


def test_squeeze_more_than_8_dims_is_refused():
    """ParseSqueeze copies squeeze_dims into an int32[8]: a ninth entry fails there."""
    with pytest.raises(ModelError, match="squeeze_dims has 9 entries"):
        allocate(squeeze_model((1,) * 8, list(range(8)) + [0], out_shape=()))


@pytest.mark.parametrize("dtype", [np.int8, np.float32])
def test_squeeze_arena_is_the_real_tflms(dtype):
    check_arena(squeeze_model((1, 1, 1, 10), [1, 2], dtype))


# ----------------------------------------------------------------------------- EXPAND_DIMS

EXPAND_TYPES = [np.float32, np.int8, np.int16]


def expand_dims_model(in_shape, axis, dtype=np.float32, out_shape=None, axis_shape=(),
                      axis_dtype=np.int32):
    q = quant_for(dtype)
    if out_shape is None:
        out_shape = np.expand_dims(np.zeros(in_shape), axis).shape
    axis_data = np.full(axis_shape, axis)
    return one_op_model(Op.EXPAND_DIMS, [tensor(in_shape, dtype, quant=q),
                                         tensor(axis_shape, axis_dtype, axis_data)],
                        ExpandDimsOptions(), tensor(out_shape, dtype, quant=q))


@pytest.mark.parametrize("seed", range(24))
def test_expand_dims_random(seed):
    """Rank 0 to 5, every axis from -(rank + 1) to rank, the axis a scalar or [1]."""
    rng = np.random.default_rng(seed)
    shape = random_shape(rng, 0, 5)
    axis = int(rng.integers(-len(shape) - 1, len(shape) + 1))
    model = expand_dims_model(shape, axis, EXPAND_TYPES[seed % 3],
                              axis_shape=() if seed % 2 else (1,))
    check_model(model, seed)


def test_expand_dims_is_numpys():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    ours = run_tflm_edu(write_model(expand_dims_model((2, 3), -2)), [x])
    assert ours[0].shape == (2, 1, 3)
    np.testing.assert_array_equal(ours[0], np.expand_dims(x, -2))


@pytest.mark.parametrize("axis", [3, -4])
def test_expand_dims_axis_out_of_range(axis):
    with pytest.raises(ModelError, match=f"axis {axis} is out of range for a 2-D input"):
        allocate(expand_dims_model((2, 3), axis, out_shape=(2, 3, 1)))


def test_expand_dims_wrong_output_shape():
    with pytest.raises(ModelError, match=r"should be \[2, 1, 3\]"):
        allocate(expand_dims_model((2, 3), 1, out_shape=(2, 3, 1)))


@pytest.mark.parametrize("axis_shape,axis_dtype,match", [
    ((2,), np.int32, "must hold one value"),
    ((1, 1), np.int32, "must hold one value"),
    ((), np.int64, "the axis must be int32"),
])
def test_expand_dims_bad_axis_tensor(axis_shape, axis_dtype, match):
    with pytest.raises(ModelError, match=match):
        allocate(expand_dims_model((2, 3), 0, axis_shape=axis_shape, axis_dtype=axis_dtype,
                                   out_shape=(1, 2, 3)))


@pytest.mark.parametrize("dtype", [np.int32, np.bool_])
def test_expand_dims_unsupported_type(dtype):
    with pytest.raises(ModelError, match="not supported by EXPAND_DIMS"):
        allocate(expand_dims_model((2, 3), 0, dtype))


@pytest.mark.parametrize("dtype", [np.int8, np.float32])
def test_expand_dims_arena_is_the_real_tflms(dtype):
    check_arena(expand_dims_model((4, 6, 5), 1, dtype))


# ----------------------------------------------------------------------------- SLICE

SLICE_TYPES = [np.float32, np.int8, np.int16, np.int32, np.bool_]


def slice_model(in_shape, begin, size, dtype=np.float32, out_shape=None,
                index_dtype=np.int32, const_indices=True):
    q = quant_for(dtype)
    if out_shape is None:
        out_shape = tuple(d - b if s == -1 else s for d, b, s in zip(in_shape, begin, size))
    indices = [tensor((len(v),), index_dtype, np.array(v) if const_indices else None)
               for v in (begin, size)]
    return one_op_model(Op.SLICE, [tensor(in_shape, dtype, quant=q)] + indices, None,
                        tensor(out_shape, dtype, quant=q), 1 + (dtype == np.int8))


def random_block(rng, shape):
    begin = [int(rng.integers(0, d)) for d in shape]
    size = [-1 if rng.random() < 0.2 else int(rng.integers(1, d - b + 1))
            for d, b in zip(shape, begin)]
    return begin, size


@pytest.mark.parametrize("seed", range(30))
def test_slice_random(seed):
    """Rank 1 to 5, a random block (size -1 now and then), int32 or int64 indices."""
    rng = np.random.default_rng(seed)
    shape = random_shape(rng, 1, 5, max_dim=6)
    begin, size = random_block(rng, shape)
    dtype = SLICE_TYPES[seed % len(SLICE_TYPES)]
    model = slice_model(shape, begin, size, dtype,
                        index_dtype=np.int64 if seed % 3 == 0 else np.int32)
    check = check_bool_model if dtype == np.bool_ else check_model
    check(model, seed)


def test_slice_is_numpys():
    x = np.arange(24, dtype=np.float32).reshape(4, 6)
    ours = run_tflm_edu(write_model(slice_model((4, 6), [1, 2], [2, -1])), [x])
    np.testing.assert_array_equal(ours[0], x[1:3, 2:])


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_slice_begin_and_size_at_run_time(index_dtype):
    """begin and size as graph inputs: TFLM reads them on every invoke, as tflm_edu's
    Eval does."""
    model = slice_model((3, 5, 4), [1, 0, 2], [2, 3, -1], np.int8, index_dtype=index_dtype,
                        const_indices=False)
    x = np.random.default_rng(2).integers(-128, 128, (3, 5, 4)).astype(np.int8)
    begin, size = (np.array(v, index_dtype) for v in ([1, 0, 2], [2, 3, -1]))
    check_model(model, inputs=[x, begin, size])
    begin, size = (np.array(v, index_dtype) for v in ([0, 2, 0], [2, 3, 2]))
    check_model(model, inputs=[x, begin, size])


def test_slice_bad_run_time_size():
    model = slice_model((3, 5), [0, 0], [2, 3], const_indices=False)
    interpreter = allocate(model)
    interpreter.input(1).data[...] = [2, 0]
    interpreter.input(2).data[...] = [2, 3]
    with pytest.raises(ModelError, match="size 2 from begin 2 does not fit axis 0"):
        interpreter.invoke()


@pytest.mark.parametrize("begin,size,match", [
    ([0, 6], [1, 1], "begin 6 is outside axis 1"),
    ([-1, 0], [1, 1], "begin -1 is outside axis 0"),
    ([1, 2], [4, 1], "size 4 from begin 1 does not fit axis 0"),
    ([1, 2], [1, -2], "size -2 from begin 2"),
])
def test_slice_out_of_range(begin, size, match):
    with pytest.raises(ModelError, match=match):
        allocate(slice_model((4, 5), begin, size, out_shape=(1, 1)))


def test_slice_wrong_output_shape():
    with pytest.raises(ModelError, match=r"which has shape \[2, 3\]"):
        allocate(slice_model((4, 5), [0, 1], [2, 3], out_shape=(3, 2)))


def test_slice_index_lengths():
    with pytest.raises(ModelError, match="begin has shape \\[1\\]; it needs one entry"):
        allocate(slice_model((4, 5), [0], [2], out_shape=(2, 5)))


def test_slice_rank_6_is_refused():
    with pytest.raises(ModelError, match="up to 5 dimensions"):
        allocate(slice_model((1, 2, 1, 2, 1, 2), [0] * 6, [-1] * 6))


@pytest.mark.parametrize("dtype", [np.int8, np.float32])
def test_slice_arena_is_the_real_tflms(dtype):
    check_arena(slice_model((1, 8, 8, 4), [0, 2, 1, 0], [1, 4, -1, 2], dtype))


# ----------------------------------------------------------------------------- GATHER

GATHER_TYPES = [np.float32, np.int8]


def gather_output_shape(in_shape, coords_shape, axis, batch_dims):
    rank = len(in_shape)
    axis = axis + rank if axis < 0 else axis
    batch_dims = batch_dims + len(coords_shape) if batch_dims < 0 else batch_dims
    return tuple(in_shape[:axis]) + tuple(coords_shape[batch_dims:]) + tuple(in_shape[axis + 1:])


def gather_model(in_shape, coords, axis=0, batch_dims=0, dtype=np.float32, out_shape=None,
                 coords_shape=None, coords_dtype=np.int32, version=1):
    """GATHER with constant `coords` (an array), or, with coords None, coords of
    `coords_shape` as a second graph input."""
    q = quant_for(dtype)
    coords_shape = np.shape(coords) if coords is not None else coords_shape
    if out_shape is None:
        out_shape = gather_output_shape(in_shape, coords_shape, axis, batch_dims)
    coords_t = tensor(coords_shape, coords_dtype, None if coords is None else np.array(coords))
    return one_op_model(Op.GATHER, [tensor(in_shape, dtype, quant=q), coords_t],
                        GatherOptions(axis=axis, batch_dims=batch_dims),
                        tensor(out_shape, dtype, quant=q), version)


def numpy_gather(x, coords, axis, batch_dims):
    """An oracle independent of the kernel: TensorFlow's batched gather, by recursion
    over the batch axes."""
    if batch_dims == 0:
        return np.take(x, coords, axis=axis)
    return np.stack([numpy_gather(x[b], coords[b], axis - 1, batch_dims - 1)
                     for b in range(x.shape[0])])


@pytest.mark.parametrize("seed", range(30))
def test_gather_random(seed):
    """Rank 1 to 4 inputs and 0 to 3-D coords, any axis (negative half of the time),
    batch_dims up to the axis (negative now and then), constant coords."""
    rng = np.random.default_rng(seed)
    shape = random_shape(rng, 1, 4)
    axis = int(rng.integers(len(shape)))
    batch_dims = int(rng.integers(0, axis + 1)) if seed % 3 else 0
    coords_shape = shape[:batch_dims] + random_shape(rng, 0, 3 - batch_dims if batch_dims < 3
                                                     else 0, max_dim=4)
    coords = rng.integers(0, shape[axis], coords_shape).astype(np.int32)
    axis_arg = axis - len(shape) if seed % 2 else axis
    batch_arg = batch_dims - len(coords_shape) if seed % 5 == 1 else batch_dims
    dtype = GATHER_TYPES[seed % 2]
    model = gather_model(shape, coords, axis_arg, batch_arg, dtype)
    ours = check_model(model, seed)
    x = random_input(np.random.default_rng(seed), shape, dtype)  # check_model's draw
    np.testing.assert_array_equal(ours[0], numpy_gather(x, coords, axis, batch_dims))


@pytest.mark.parametrize("axis,batch_dims", [(1, -1), (-1, -1), (2, 1), (-2, -2)])
@pytest.mark.parametrize("dtype", GATHER_TYPES)
def test_gather_batched(axis, batch_dims, dtype):
    """Batched gathers on [2, 3, 4] with coords [2, 3]; negative batch_dims count from the
    end of coords' axes."""
    coords = np.array([[0, 2, 1], [1, 1, 0]])
    x = random_input(np.random.default_rng(4), (2, 3, 4), dtype)
    ours = check_model(gather_model((2, 3, 4), coords, axis, batch_dims, dtype), inputs=[x])
    positive = (axis + 3) % 3, (batch_dims + 2) % 2 if batch_dims < 0 else batch_dims
    np.testing.assert_array_equal(ours[0], numpy_gather(x, coords, *positive))


@pytest.mark.parametrize("dtype", GATHER_TYPES)
def test_gather_coords_at_run_time(dtype):
    """coords as a graph input (an embedding lookup): TFLM reads them on every invoke."""
    model = gather_model((10, 4), None, 0, dtype=dtype, coords_shape=(2, 3))
    rng = np.random.default_rng(3)
    x = rng.integers(-100, 100, (10, 4)).astype(dtype)
    coords = np.array([[9, 0, 3], [3, 3, 7]], np.int32)
    ours = check_model(model, inputs=[x, coords])
    np.testing.assert_array_equal(ours[0], x[coords])


def test_gather_out_of_range_coords_at_run_time():
    """A release build of TFLM reads past the input here; tflm_edu stops."""
    interpreter = allocate(gather_model((10, 4), None, coords_shape=(2,)))
    interpreter.input(1).data[...] = [1, 10]
    with pytest.raises(ModelError, match="coords hold 10, outside the gathered axis of "
                                         "size 10"):
        interpreter.invoke()


@pytest.mark.parametrize("coords", [[0, 4], [-1, 0]])
def test_gather_out_of_range_constant_coords(coords):
    with pytest.raises(ModelError, match="outside the gathered axis of size 4"):
        allocate(gather_model((4, 3), coords))


@pytest.mark.parametrize("axis,batch_dims,match", [
    (2, 0, "axis 2 is out of range for a 2-D input"),
    (-3, 0, "axis -3 is out of range"),
    (0, 1, "batch_dims 1 must not be above the axis"),
    (1, 2, "batch_dims 2 must not be above the axis"),
    (1, -3, "batch_dims -3 is out of range"),
])
def test_gather_bad_axis(axis, batch_dims, match):
    with pytest.raises(ModelError, match=match):
        allocate(gather_model((4, 3), [[0, 1]] * 4, axis, batch_dims, out_shape=(4, 2)))


def test_gather_batch_axes_differ():
    with pytest.raises(ModelError, match="the batch axes"):
        allocate(gather_model((4, 3), [[0, 1]] * 3, 1, 1, out_shape=(4, 2)))


def test_gather_wrong_output_shape():
    """TFLM overwrites the output's dims with the shape it computes; tflm_edu wants the
    model to say it."""
    with pytest.raises(ModelError, match=r"should be \[2, 3\]"):
        allocate(gather_model((4, 3), [0, 1], out_shape=(3, 2)))


@pytest.mark.parametrize("dtype,coords_dtype,match", [
    (np.int16, np.int32, "not supported by GATHER"),
    (np.int32, np.int32, "not supported by GATHER"),
    (np.float32, np.int64, "Positions of type INT64"),
])
def test_gather_unsupported_types(dtype, coords_dtype, match):
    with pytest.raises(ModelError, match=match):
        allocate(gather_model((4, 3), [0, 1], dtype=dtype, coords_dtype=coords_dtype))


@pytest.mark.parametrize("dtype", GATHER_TYPES)
def test_gather_arena_is_the_real_tflms(dtype):
    check_arena(gather_model((2, 6, 5), np.array([[1, 5, 0], [2, 2, 4]]), 1, 1, dtype))


# ----------------------------------------------------------------------------- op versions

# The newest version TensorFlow Lite writes of each op (TFLM itself never checks a
# version): tflm_edu must run all of them.
NEWEST_VERSIONS = [
    (Op.TRANSPOSE, 7, lambda v: transpose_model((2, 3, 4), [2, 0, 1], np.int8, version=v)),
    (Op.SPLIT, 4, lambda v: _with_version(split_model((2, 6), 1, 2, np.int16), v)),
    (Op.SPLIT_V, 2, lambda v: _with_version(split_v_model((2, 6), [1, 5], 1, np.int8), v)),
    (Op.SQUEEZE, 2, lambda v: _with_version(squeeze_model((1, 3), [], np.int8), v)),
    (Op.EXPAND_DIMS, 1, lambda v: _with_version(expand_dims_model((3,), 0, np.int8), v)),
    (Op.SLICE, 6, lambda v: _with_version(slice_model((4, 3), [1, 0], [2, -1], np.int8), v)),
    (Op.GATHER, 7, lambda v: gather_model((4, 3), [3, 0], dtype=np.int8, version=v)),
]


def _with_version(model, version):
    model.operator_codes[0].version = version
    return model


@pytest.mark.parametrize("op,newest,build", NEWEST_VERSIONS, ids=lambda x: getattr(x, "name", ""))
def test_every_version_runs(op, newest, build):
    for version in range(1, newest + 1):
        model = build(version)
        assert model.operator_codes[0].version == version
        check_model(model, version)
