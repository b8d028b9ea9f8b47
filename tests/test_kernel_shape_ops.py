"""RESHAPE, PAD, CONCATENATION, SHAPE, STRIDED_SLICE and PACK against the real TFLM."""
import numpy as np
import pytest

from models import one_op_model, quant_for, tensor
from op_harness import check_model, run_oracle, run_tflm_edu
from tflm_edu import ModelError
from tflm_edu.interpreter import MicroInterpreter
from tflm_edu.op_resolver import AllOpsResolver
from tflm_edu.schema import read_model, write_model
from tflm_edu.schema.builder import ModelBuilder, quantization
from tflm_edu.schema.enums import ActivationFunctionType as Act, BuiltinOperator as Op
from tflm_edu.schema.enums import TensorType
from tflm_edu.schema.options import (ConcatenationOptions, PackOptions, PadOptions,
                                     ReshapeOptions, ShapeOptions, StridedSliceOptions)

DTYPES = [np.float32, np.int8, np.int16, np.int32]


def allocate(model):
    """Build tflm_edu's interpreter for `model` (through .tflite bytes) and allocate it."""
    interpreter = MicroInterpreter(read_model(write_model(model)), AllOpsResolver(), None)
    interpreter.allocate_tensors()
    return interpreter


def check_scalar_output(model, inputs):
    """check_model for a model whose output is a scalar (op_harness's byte view of a 0-d
    array fails for items wider than a byte): compare the flattened bytes."""
    model_bytes = write_model(model)
    ours, theirs = run_tflm_edu(model_bytes, inputs), run_oracle(model_bytes, inputs)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        b = np.asarray(b).astype(a.dtype)
        assert a.shape == () and a.reshape(-1).tobytes() == b.reshape(-1).tobytes(), (a, b)


def random_data(rng, shape, dtype):
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)


# ----------------------------------------------------------------------------- RESHAPE


def reshape_model(in_shape, out_shape, dtype, shape_input="const", new_shape=None):
    q = quant_for(dtype)
    inputs = [tensor(in_shape, dtype, quant=q)]
    if shape_input == "const":
        inputs.append(tensor((len(out_shape),), np.int32, np.array(out_shape)))
    options = ReshapeOptions(new_shape=tuple(new_shape)) if new_shape is not None else None
    return one_op_model(Op.RESHAPE, inputs, options, tensor(out_shape, dtype, quant=q))


RESHAPES = [((1, 96, 96, 1), (1, 9216)), ((2, 3, 4), (4, 6)), ((24,), (2, 3, 2, 2)),
            ((1, 1, 1, 5), (5,)), ((3, 1), (1, 3)), ((), (1, 1)), ((2, 2, 2, 2, 2), (32,))]


@pytest.mark.parametrize("case", range(len(RESHAPES)))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape_input", ["const", "option", "none"])
def test_reshape(case, dtype, shape_input):
    in_shape, out_shape = RESHAPES[case]
    new_shape = out_shape if shape_input == "option" else None
    check_model(reshape_model(in_shape, out_shape, dtype, shape_input, new_shape), case)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("out_shape,shape_input", [((), "const"), ((0,), "none")])
def test_reshape_to_scalar(dtype, out_shape, shape_input):
    """To a scalar; [0] with no shape input is the legacy spelling of a scalar shape."""
    model = reshape_model((1, 1), out_shape, dtype, shape_input)
    check_scalar_output(model, [random_data(np.random.default_rng(0), (1, 1), dtype)])


def test_reshape_infers_a_minus_one_dimension():
    """A -1 in the output tensor's shape (the reader refuses negative dims in a file, so
    the Model is handed over directly): Prepare fills it in and the planner sizes it."""
    model = reshape_model((2, 6), (3, 4), np.float32, shape_input="none")
    model.subgraphs[0].tensors[1].shape = (3, -1)
    interpreter = MicroInterpreter(model, AllOpsResolver(), None)
    interpreter.allocate_tensors()
    x = np.arange(12, dtype=np.float32).reshape(2, 6)
    interpreter.input(0).data[...] = x
    interpreter.invoke()
    assert interpreter.output(0).shape == (3, 4)
    np.testing.assert_array_equal(interpreter.output(0).data, x.reshape(3, 4))


def test_reshape_element_count_mismatch():
    with pytest.raises(ModelError, match=r"cannot reshape \[2, 3\] \(6 elements\)"):
        allocate(reshape_model((2, 3), (4, 2), np.float32))


def test_reshape_type_mismatch():
    model = reshape_model((2, 3), (6,), np.float32)
    model.subgraphs[0].tensors[2].type = TensorType.INT32
    with pytest.raises(ModelError, match="types differ"):
        allocate(model)


# ----------------------------------------------------------------------------- SHAPE


def shape_model(in_shape, dtype=np.float32, out_type=np.int32, out_len=None):
    return one_op_model(Op.SHAPE, [tensor(in_shape, dtype, quant=quant_for(dtype))],
                        ShapeOptions(out_type=TensorType.INT32),
                        tensor((len(in_shape) if out_len is None else out_len,), out_type))


@pytest.mark.parametrize("in_shape", [(1, 96, 96, 1), (7,), (2, 3, 4, 5, 6), (1, 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.int8])
def test_shape(in_shape, dtype):
    check_model(shape_model(in_shape, dtype))


def test_shape_int64_output_is_refused():
    with pytest.raises(ModelError, match="int32 only"):
        allocate(shape_model((2, 3), out_type=np.int64))


def test_shape_output_of_wrong_length():
    with pytest.raises(ModelError, match="must hold 2 values"):
        allocate(shape_model((2, 3), out_len=3))


# ----------------------------------------------------------------------------- STRIDED_SLICE


def slice_shape(in_shape, begin, end, strides, begin_mask=0, end_mask=0, shrink=0):
    """The output shape by Python's own slicing rules - an oracle independent of the
    kernel for where TF's semantics and Python's agree (which they do for these masks)."""
    shape = []
    for axis, size in enumerate(in_shape):
        if shrink & (1 << axis):
            continue
        b = None if begin_mask & (1 << axis) else begin[axis]
        e = None if end_mask & (1 << axis) else end[axis]
        shape.append(len(range(*slice(b, e, strides[axis]).indices(size))))
    return tuple(shape)


def strided_slice_model(in_shape, begin, end, strides, dtype=np.float32, out_shape=None,
                        const_indices=True, **masks):
    q = quant_for(dtype)
    n = len(begin)
    index_tensors = [tensor((n,), np.int32, np.array(v, np.int32) if const_indices else None)
                     for v in (begin, end, strides)]
    if out_shape is None:
        out_shape = slice_shape(in_shape, begin, end, strides, masks.get("begin_mask", 0),
                                masks.get("end_mask", 0), masks.get("shrink_axis_mask", 0))
    return one_op_model(Op.STRIDED_SLICE, [tensor(in_shape, dtype, quant=q)] + index_tensors,
                        StridedSliceOptions(**masks), tensor(out_shape, dtype, quant=q), 4)


def random_slice(rng, shape):
    """Begin/end anywhere from well before to well after the axis, negative indices,
    strides of either sign, random begin/end masks, sometimes a shrunk axis. Slices with
    an empty dimension are drawn again: TFLM refuses zero-sized tensors ("dynamic")."""
    while True:
        begin, end, strides, masks = _random_slice_once(rng, shape)
        out_shape = slice_shape(shape, begin, end, strides, masks["begin_mask"],
                                masks["end_mask"], masks["shrink_axis_mask"])
        if all(out_shape) and out_shape:
            return begin, end, strides, masks


def _random_slice_once(rng, shape):
    begin, end, strides, begin_mask, end_mask, shrink = [], [], [], 0, 0, 0
    for axis, size in enumerate(shape):
        stride = int(rng.choice([1, 1, 2, 3, -1, -2]))
        begin.append(int(rng.integers(-size - 2, size + 3)))
        end.append(int(rng.integers(-size - 2, size + 3)))
        if rng.random() < 0.25:
            begin_mask |= 1 << axis
        if rng.random() < 0.25:
            end_mask |= 1 << axis
        if rng.random() < 0.15 and stride > 0:
            shrink |= 1 << axis
            begin[-1] = int(rng.integers(-size, size))
            begin_mask &= ~(1 << axis)
        strides.append(stride)
    return begin, end, strides, dict(begin_mask=begin_mask, end_mask=end_mask,
                                     shrink_axis_mask=shrink)


@pytest.mark.parametrize("seed", range(40))
def test_strided_slice_random(seed):
    rng = np.random.default_rng(seed)
    shape = tuple(int(d) for d in rng.integers(1, 7, int(rng.integers(1, 5))))
    dtype = DTYPES[seed % len(DTYPES)]
    begin, end, strides, masks = random_slice(rng, shape)
    check_model(strided_slice_model(shape, begin, end, strides, dtype, **masks), seed)


# (shape, begin, end, strides, masks): Python-style basics, reversal, clamping, empty
# slices, shrinking to a scalar, and the audio preprocessor's int32 [257] -> [236] slice.
SLICES = [
    ((6,), [1], [5], [1], {}),
    ((6,), [-1], [-7], [-1], {}),  # the whole axis, reversed
    ((6,), [0], [6], [-1], {"begin_mask": 1, "end_mask": 1}),
    ((6,), [10], [3], [-2], {}),  # begin clamped to the last element
    ((6,), [-10], [3], [1], {}),  # begin clamped to the first element
    ((2, 6), [0, 5], [2, -10], [1, -1], {}),  # end clamped to "before element 0"
    ((3, 4), [1, 0], [2, 4], [1, 1], {"shrink_axis_mask": 1}),
    ((2, 3, 4, 5), [0, 1, -1, 0], [2, 3, 0, 5], [1, 1, -2, 2], {}),
    ((1, 4, 4, 3), [0, 0, 0, 1], [1, 4, 4, 2], [1, 2, 2, 1], {"shrink_axis_mask": 8}),
    ((257,), [5], [241], [1], {}),
]


@pytest.mark.parametrize("case", range(len(SLICES)))
@pytest.mark.parametrize("dtype", DTYPES)
def test_strided_slice_cases(case, dtype):
    shape, begin, end, strides, masks = SLICES[case]
    check_model(strided_slice_model(shape, begin, end, strides, dtype, **masks), case)


@pytest.mark.parametrize("dtype", DTYPES)
def test_strided_slice_to_scalar(dtype):
    model = strided_slice_model((3, 4), [-1, -1], [0, 0], [1, 1], dtype, shrink_axis_mask=3)
    x = random_data(np.random.default_rng(1), (3, 4), dtype)
    check_scalar_output(model, [x])


def test_strided_slice_empty_axis_backwards():
    """An empty slice going backwards starts at -1: TFLM (which refuses the zero-sized
    output at allocation) and Python slicing disagree on what -1 means, so tflm_edu's
    own result is checked against numpy here."""
    model = strided_slice_model((4, 3), [-5, 0], [0, 3], [-1, 1], end_mask=1)
    interpreter = allocate(model)
    assert interpreter.output(0).shape == (0, 3)
    interpreter.input(0).data[...] = np.arange(12, dtype=np.float32).reshape(4, 3)
    interpreter.invoke()
    assert interpreter.output(0).data.size == 0


def test_strided_slice_zero_stride():
    model = strided_slice_model((4, 4), [0, 0], [4, 4], [1, 0], out_shape=(4, 4))
    with pytest.raises(ModelError, match="stride value has to be non-zero"):
        allocate(model)


def test_strided_slice_index_lengths():
    model = strided_slice_model((4, 4), [0], [4], [1], out_shape=(4, 4))
    with pytest.raises(ModelError, match="begin has 1 values; the input has 2"):
        allocate(model)


def test_strided_slice_non_constant_begin():
    model = strided_slice_model((4,), [0], [4], [1], out_shape=(4,), const_indices=False)
    with pytest.raises(ModelError, match="Non-constant begin"):
        allocate(model)


@pytest.mark.parametrize("mask", ["ellipsis_mask", "new_axis_mask"])
def test_strided_slice_unsupported_masks(mask):
    model = strided_slice_model((3, 4), [0, 1], [3, 3], [1, 1], out_shape=(3, 2), **{mask: 1})
    with pytest.raises(ModelError, match=f"{mask} = 1 is not supported"):
        allocate(model)


def test_strided_slice_offset_unsupported():
    model = strided_slice_model((3, 4), [0, 1], [3, 1], [1, 1], out_shape=(3, 1), offset=True)
    with pytest.raises(ModelError, match="offset"):
        allocate(model)


def test_strided_slice_rank_5():
    model = strided_slice_model((1, 1, 1, 1, 2), [0] * 5, [1, 1, 1, 1, 2], [1] * 5)
    with pytest.raises(ModelError, match="should not exceed 4"):
        allocate(model)


@pytest.mark.parametrize("begin,strides,match", [([3, 0], [1, 1], "outside an axis"),
                                                 ([-4, 0], [1, 1], "outside an axis"),
                                                 ([1, 0], [-1, 1], "only positive strides")])
def test_strided_slice_bad_shrink(begin, strides, match):
    model = strided_slice_model((3, 4), begin, [4, 4], strides, out_shape=(4,),
                                shrink_axis_mask=1)
    with pytest.raises(ModelError, match=match):
        allocate(model)


def test_strided_slice_wrong_output_shape():
    model = strided_slice_model((6,), [0], [6], [2], out_shape=(4,))
    with pytest.raises(ModelError, match=r"does not match the slice, which has shape \[3\]"):
        allocate(model)


# ----------------------------------------------------------------------------- PACK


def pack_model(in_shape, count, axis, dtype, out_shape=None, values_count=None):
    q = quant_for(dtype)
    if out_shape is None:
        out_shape = np.stack([np.zeros(in_shape)] * count, axis=axis).shape
    return one_op_model(Op.PACK, [tensor(in_shape, dtype, quant=q)] * count,
                        PackOptions(values_count=count if values_count is None else values_count,
                                    axis=axis), tensor(out_shape, dtype, quant=q), 2)


PACKS = [((), 2, 0), ((3,), 1, 0), ((3,), 4, 1), ((3,), 3, -1), ((2, 3), 3, 1),
         ((2, 3), 2, -3), ((2, 1, 4), 5, 2), ((1, 2, 3, 2), 2, 4)]


@pytest.mark.parametrize("case", range(len(PACKS)))
@pytest.mark.parametrize("dtype", DTYPES + [np.int64])
def test_pack(case, dtype):
    in_shape, count, axis = PACKS[case]
    check_model(pack_model(in_shape, count, axis, dtype), case)


def test_pack_values_count_mismatch():
    with pytest.raises(ModelError, match="values_count is 3 but the op has 2 inputs"):
        allocate(pack_model((3,), 2, 0, np.float32, out_shape=(3, 3), values_count=3))


def test_pack_axis_out_of_range():
    with pytest.raises(ModelError, match="axis 3 is out of range for an output of rank 3"):
        allocate(pack_model((2, 3), 2, 3, np.float32, out_shape=(2, 3, 2)))


def test_pack_output_shape():
    with pytest.raises(ModelError, match=r"should be \[2, 2, 3\]"):
        allocate(pack_model((2, 3), 2, 0, np.float32, out_shape=(2, 3, 2)))


# ----------------------------------------------------------------------------- the Flatten chain


@pytest.mark.parametrize("dtype", [np.float32, np.int8])
def test_dynamic_batch_flatten_chain(dtype):
    """What TensorFlow's converter emits for Flatten with a dynamic batch:
    SHAPE -> STRIDED_SLICE (batch = shape[0], shrunk to a scalar) -> PACK([batch, -1]) ->
    RESHAPE, whose shape input is computed at run time. The packed shape is an output
    too, so its values [1, -1] are checked as well."""
    b = ModelBuilder()
    q = quant_for(dtype)
    x = b.add_input((1, 4, 4, 3), dtype, quant=q)
    shape = b.add_tensor((4,), np.int32)
    b.add_operator(Op.SHAPE, [x], [shape], ShapeOptions(out_type=TensorType.INT32))
    begin, end, strides = (b.add_tensor((1,), np.int32, data=[v]) for v in (0, 1, 1))
    batch = b.add_tensor((), np.int32)
    b.add_operator(Op.STRIDED_SLICE, [shape, begin, end, strides], [batch],
                   StridedSliceOptions(shrink_axis_mask=1), version=1)
    minus_one = b.add_tensor((), np.int32, data=-1)
    packed = b.add_tensor((2,), np.int32)
    b.add_operator(Op.PACK, [batch, minus_one], [packed], PackOptions(values_count=2, axis=0))
    out = b.add_tensor((1, 48), dtype, quant=q)
    b.add_operator(Op.RESHAPE, [x, packed], [out])
    b.mark_output(out)
    b.mark_output(packed)
    ours = check_model(b.build(), seed=1)
    np.testing.assert_array_equal(ours[1], [1, -1])


# ----------------------------------------------------------------------------- CONCATENATION


def concat_model(shapes, axis, dtype, out_shape=None, act=Act.NONE, quants=None,
                 const_inputs=(), seed=0):
    rng = np.random.default_rng(seed)
    q = quant_for(dtype)
    inputs = []
    for i, shape in enumerate(shapes):
        qi = quants[i] if quants else q
        data = random_data(rng, shape, dtype) if i in const_inputs else None
        inputs.append(tensor(shape, dtype, data, qi))
    if out_shape is None:
        out_shape = np.concatenate([np.zeros(s) for s in shapes], axis=axis).shape
    return one_op_model(Op.CONCATENATION, inputs,
                        ConcatenationOptions(axis=axis, fused_activation_function=act),
                        tensor(out_shape, dtype, quant=q), 2)


CONCATS = [([(2, 3), (2, 5)], 1), ([(2, 3), (4, 3)], 0), ([(1, 4, 4, 3)] * 3, -1),
           ([(1, 2, 2, 1), (1, 2, 2, 4), (1, 2, 2, 2)], 3), ([(5,)], 0),
           ([(2, 1, 3), (2, 4, 3), (2, 2, 3)], -2), ([(1, 2, 1, 2, 1, 2)] * 2, 5),
           ([(3,)] * 10, 0), ([(2, 0, 3), (2, 2, 3)], 1)]


@pytest.mark.parametrize("case", range(len(CONCATS)))
@pytest.mark.parametrize("dtype", DTYPES + [np.int64])
def test_concatenation(case, dtype):
    shapes, axis = CONCATS[case]
    check_model(concat_model(shapes, axis, dtype, seed=case), case)


def test_concatenation_with_constants():
    """The audio preprocessor's pattern: int32 constant, computed, constant along axis 0."""
    check_model(concat_model([(5,), (236,), (16,)], 0, np.int32, const_inputs=(0, 2)))


def test_concatenation_fused_activation_refused():
    with pytest.raises(ModelError, match="no fused activation"):
        allocate(concat_model([(2,), (3,)], 0, np.float32, act=Act.RELU))


def test_concatenation_too_many_inputs():
    with pytest.raises(ModelError, match="1 to 10 inputs"):
        allocate(concat_model([(1,)] * 11, 0, np.float32))


def test_concatenation_int8_scales_must_match():
    quants = [quantization(0.05, -3), quantization(0.1, -3)]
    with pytest.raises(ModelError, match="does not rescale"):
        allocate(concat_model([(2,), (3,)], 0, np.int8, quants=quants))


def test_concatenation_axis_out_of_range():
    with pytest.raises(ModelError, match="axis -3 is out of range for rank 2"):
        allocate(concat_model([(2, 3), (2, 3)], -3, np.float32, out_shape=(4, 3)))


def test_concatenation_mismatched_dimension():
    with pytest.raises(ModelError, match="differ in dimension 0"):
        allocate(concat_model([(2, 3), (3, 3)], 1, np.float32, out_shape=(2, 6)))


def test_concatenation_wrong_total():
    with pytest.raises(ModelError, match="add up to 5 along axis 1"):
        allocate(concat_model([(2, 3), (2, 2)], 1, np.float32, out_shape=(2, 6)))


# ----------------------------------------------------------------------------- PAD


def pad_model(in_shape, paddings, dtype, constant_value=None, out_shape=None,
              paddings_dtype=np.int32, const_paddings=True, out_quant=None):
    q = quant_for(dtype)
    paddings = np.array(paddings, dtype=paddings_dtype).reshape(-1, 2)
    inputs = [tensor(in_shape, dtype, quant=q),
              tensor(paddings.shape, paddings_dtype, paddings if const_paddings else None)]
    if constant_value is not None:
        inputs.append(tensor((1,), dtype, [constant_value], q))
    if out_shape is None:
        out_shape = tuple(int(d + lo + hi) for d, (lo, hi) in zip(in_shape, paddings))
    out = tensor(out_shape, dtype, quant=out_quant or q)
    return one_op_model(Op.PAD, inputs, PadOptions(), out, 2)


PADS = [((1, 4, 4, 3), [[0, 0], [1, 1], [2, 1], [0, 0]]),  # image style
        ((1, 4, 4, 3), [[1, 0], [0, 2], [0, 0], [3, 1]]),
        ((5,), [[2, 3]]), ((2, 3), [[0, 0], [0, 0]]), ((2, 1, 3), [[1, 1], [4, 0], [0, 2]]),
        ((1, 2, 1, 2, 1), [[0, 1], [1, 0], [1, 1], [0, 0], [2, 2]])]


@pytest.mark.parametrize("case", range(len(PADS)))
@pytest.mark.parametrize("dtype", DTYPES)
def test_pad(case, dtype):
    in_shape, paddings = PADS[case]
    check_model(pad_model(in_shape, paddings, dtype), case)


@pytest.mark.parametrize("dtype,value", [(np.float32, -2.5), (np.float32, np.nan),
                                         (np.int8, -3), (np.int16, 1234), (np.int32, -7)])
def test_pad_constant_values(dtype, value):
    check_model(pad_model((2, 3), [[1, 2], [0, 3]], dtype, constant_value=value))


@pytest.mark.parametrize("zero_point", [-128, 0, 127])
def test_pad_int8_pads_with_the_zero_point(zero_point):
    b_quant = quantization(0.02, zero_point)
    model = pad_model((1, 3, 3, 2), [[0, 0], [1, 1], [1, 1], [0, 0]], np.int8,
                      out_quant=b_quant)
    model.subgraphs[0].tensors[0].quantization = b_quant
    check_model(model, seed=zero_point + 128)


def test_pad_int16_pads_with_zero_not_the_zero_point():
    q = quantization(1e-3, 25)
    model = pad_model((2, 3), [[1, 1], [2, 0]], np.int16, out_quant=q)
    model.subgraphs[0].tensors[0].quantization = q
    check_model(model, seed=3)


def test_pad_negative_paddings():
    with pytest.raises(ModelError, match="must not be negative"):
        allocate(pad_model((5,), [[-1, 0]], np.float32))


def test_pad_non_constant_paddings():
    with pytest.raises(ModelError, match="Non-constant paddings"):
        allocate(pad_model((5,), [[1, 0]], np.float32, const_paddings=False, out_shape=(6,)))


def test_pad_scalar_input():
    """A rank-0 input has an empty paddings tensor, which has no buffer data: TFLM sees a
    non-constant paddings tensor and refuses the model, and so does tflm_edu."""
    with pytest.raises(ModelError, match="Non-constant paddings"):
        allocate(pad_model((), [], np.float32))


def test_pad_paddings_of_wrong_size():
    model = pad_model((2, 3), [[1, 1]], np.float32, out_shape=(4, 3))
    with pytest.raises(ModelError, match="paddings has 2 values; a rank-2 output needs 4"):
        allocate(model)


def test_pad_output_shape_mismatch():
    with pytest.raises(ModelError, match="output dimension 1 is 5"):
        allocate(pad_model((2, 3), [[1, 1], [1, 0]], np.float32, out_shape=(4, 5)))


def test_pad_rank_6():
    with pytest.raises(ModelError, match="up to 5 dimensions"):
        allocate(pad_model((1,) * 6, [[0, 0]] * 6, np.float32))


def test_pad_int64_paddings():
    with pytest.raises(ModelError, match="paddings must be int32"):
        allocate(pad_model((2,), [[1, 1]], np.float32, paddings_dtype=np.int64))
