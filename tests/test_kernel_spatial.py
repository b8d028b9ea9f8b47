"""CAST, FILL, ZEROS_LIKE, RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR, SPACE_TO_BATCH_ND and
BATCH_TO_SPACE_ND against the real TFLM: byte equality on seeded shapes, parameters and
types, the arena estimate, malformed models. (TRANSPOSE_CONV: test_kernel_transpose_conv.py.)"""
import warnings

import numpy as np
import pytest

from models import one_op_model, quant_for, tensor
from op_harness import check_model, random_input, run_oracle, run_tflm_edu
from tflm_edu import ModelError, load_model
from tflm_edu.arena_size import estimate_arena_size
from tflm_edu.arena_size.oracle import smallest_arena_tflm
from tflm_edu.interpreter import MicroInterpreter
from tflm_edu.op_resolver import AllOpsResolver
from tflm_edu.schema import read_model, write_model
from tflm_edu.schema.enums import BuiltinOperator as Op
from tflm_edu.schema.options import (CastOptions, FillOptions, ResizeBilinearOptions,
                                     ResizeNearestNeighborOptions, ZerosLikeOptions)

MODELS = "/work/shared/reference/models"


def allocate(model):
    """tflm_edu's interpreter for `model` (through .tflite bytes), allocated."""
    interpreter = MicroInterpreter(read_model(write_model(model)), AllOpsResolver(), None)
    interpreter.allocate_tensors()
    return interpreter


def refuses(model, match):
    with pytest.raises(ModelError, match=match):
        allocate(model)


def check_arena(model):
    assert estimate_arena_size(model, "host").arena_bytes == smallest_arena_tflm(model)


def random_values(rng, shape, dtype):
    """Seeded inputs of any type here, bool included (op_harness draws numbers only)."""
    if np.dtype(dtype) == np.bool_:
        return rng.random(shape) < 0.5
    return random_input(rng, shape, dtype)


# ----------------------------------------------------------------------------- CAST

CAST_TYPES = [np.int8, np.int16, np.int32, np.uint32, np.float32, np.bool_]


def cast_model(in_shape, in_dtype, out_dtype, out_shape=None, version=1):
    return one_op_model(Op.CAST, [tensor(in_shape, in_dtype)],
                        CastOptions(), tensor(out_shape or in_shape, out_dtype), version=version)


@pytest.mark.parametrize("out_dtype", CAST_TYPES, ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("in_dtype", CAST_TYPES, ids=lambda t: np.dtype(t).name)
def test_cast_every_type_pair(in_dtype, out_dtype):
    """Each of the 36 pairs on the input type's whole range (floats: normal values times
    2, and values far beyond every integer range)."""
    rng = np.random.default_rng(0)
    x = random_values(rng, (3, 41), in_dtype)
    if np.dtype(in_dtype).kind == "f":
        x[1] *= 1e9
    check_model(cast_model(x.shape, in_dtype, out_dtype), inputs=[x])


# Out of range, halves, NaN, infinities, the int32 and uint32 bounds in float32.
SPECIAL_FLOATS = np.array(
    [200.7, -300.2, 1e10, -1e10, np.nan, -np.nan, np.inf, -np.inf, -1.5, -0.5, 0.5, -0.0, 0.0,
     3e9, 4.5e9, -2.5e9, 2.0 ** 31, 2.0 ** 31 - 128, -2.0 ** 31, 2.0 ** 32, 2.0 ** 32 - 256,
     127.9, -128.9, 65535.5, 32767.99, -32768.99, 1e-45], np.float32)


@pytest.mark.parametrize("out_dtype", CAST_TYPES, ids=lambda t: np.dtype(t).name)
def test_cast_float_special_values(out_dtype):
    """float32 -> integer saturates (NaN -> 0), as the package does; -> bool is x != 0."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_model(cast_model(SPECIAL_FLOATS.shape, np.float32, out_dtype),
                    inputs=[SPECIAL_FLOATS])


@pytest.mark.parametrize("out_dtype", CAST_TYPES, ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("in_dtype", [np.int32, np.uint32], ids=lambda t: np.dtype(t).name)
def test_cast_integer_bounds(in_dtype, out_dtype):
    """Wrap-around to narrower integers and float32 rounding of wide ones."""
    info = np.iinfo(in_dtype)
    values = [0, 1, 127, 128, 255, 256, 300, 32767, 32768, 65535, 16777217, 2 ** 31 - 65,
              2 ** 31 - 64, info.max, info.min, info.max - 1]
    if info.min < 0:
        values += [-1, -129, -300, -32769, -16777217]
    check_model(cast_model((len(values),), in_dtype, out_dtype),
                inputs=[np.array(values, dtype=np.int64).astype(in_dtype)])


def test_cast_every_int8_and_int16_value():
    for dtype, out in ((np.int8, np.float32), (np.int16, np.int8), (np.int16, np.float32)):
        info = np.iinfo(dtype)
        x = np.arange(info.min, info.max + 1).astype(dtype)
        check_model(cast_model(x.shape, dtype, out), inputs=[x])


def test_cast_reshapes_like_tflm():
    """TFLM copies as many elements as the input has: another shape of the same size is
    accepted (a version-7 op, the highest TFLite writes)."""
    check_model(cast_model((2, 3, 4), np.float32, np.int32, out_shape=(4, 6), version=7))


@pytest.mark.parametrize("name", ["audio_preprocessor_int8", "audio_preprocessor_float"])
def test_cast_pairs_of_the_audio_preprocessor(name):
    """Every CAST of micro_speech's audio preprocessor, each as a one-op model (the signal
    ops around them are custom ops), on seeded values and on the extremes of its input."""
    model = load_model(f"{MODELS}/{name}.tflite")
    sg = model.subgraphs[0]
    pairs = set()
    for op in sg.operators:
        if model.operator_codes[op.opcode_index].builtin_code == Op.CAST:
            x, y = sg.tensors[op.inputs[0]], sg.tensors[op.outputs[0]]
            pairs.add((x.dtype.type, y.dtype.type, tuple(x.shape), tuple(y.shape),
                       model.operator_codes[op.opcode_index].version))
    assert {p[:2] for p in pairs} >= ({(np.int16, np.float32)} if "float" in name else
                                      {(np.int32, np.int8), (np.int16, np.int32)}) | {
        (np.uint32, np.int32), (np.int32, np.uint32)}
    rng = np.random.default_rng(1)
    for in_dtype, out_dtype, in_shape, out_shape, version in sorted(pairs, key=str):
        cast = cast_model(in_shape, in_dtype, out_dtype, out_shape, version)
        check_model(cast, inputs=[random_values(rng, in_shape, in_dtype)])
        info = np.iinfo(in_dtype)
        extremes = np.resize(np.array([info.min, info.max, 0, 1], np.int64), in_shape)
        check_model(cast, inputs=[extremes.astype(in_dtype)])


def test_cast_arena():
    check_arena(cast_model((3, 5), np.int16, np.float32))
    check_arena(cast_model((257,), np.uint32, np.int32))


@pytest.mark.parametrize("in_dtype,out_dtype", [(np.uint8, np.int32), (np.float32, np.int64),
                                                (np.float32, np.float16)])
def test_cast_refuses_unsupported_types(in_dtype, out_dtype):
    refuses(cast_model((4,), in_dtype, out_dtype), "not supported by CAST")


def test_cast_refuses_malformed():
    refuses(cast_model((2, 3), np.float32, np.int32, out_shape=(7,)), "as many elements")
    two_inputs = one_op_model(Op.CAST, [tensor((3,)), tensor((3,))], CastOptions(),
                              tensor((3,), np.int32))
    refuses(two_inputs, "takes 1 input")


def test_cast_runs_in_tflm_edu_alone():
    """The saturating conversion itself, without the oracle."""
    x = np.array([300.5, -300.5, np.nan, -1.9, 1.9], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = run_tflm_edu(write_model(cast_model(x.shape, np.float32, np.int8)), [x])[0]
    assert out.tolist() == [127, -128, 0, -1, 1]


# ----------------------------------------------------------------------------- FILL

FILL_TYPES = [np.float32, np.int32, np.int8]


def fill_model(shape, dtype=np.float32, dims=None, dims_dtype=np.int32, value_shape=(),
               value=None, out_dtype=None, version=1):
    dims = list(shape) if dims is None else dims
    return one_op_model(Op.FILL, [tensor((len(dims),), dims_dtype, np.array(dims)),
                                  tensor(value_shape, dtype, value)],
                        FillOptions(), tensor(shape, out_dtype or dtype), version=version)


@pytest.mark.parametrize("seed", range(12))
def test_fill_random(seed):
    """Rank 1 to 5, each value type, each dims type."""
    rng = np.random.default_rng(seed)
    shape = tuple(int(d) for d in rng.integers(1, 5, int(rng.integers(1, 6))))
    dims_dtype = [np.int32, np.int64, np.int16, np.int8][seed % 4]
    check_model(fill_model(shape, FILL_TYPES[seed % 3], dims_dtype=dims_dtype,
                           version=1 + seed % 4), seed)


def test_fill_special_values():
    for value in (np.nan, -np.inf, -0.0, 1e-45):
        check_model(fill_model((2, 3)), inputs=[np.array(value, np.float32)])
    check_model(fill_model((4,), np.int8), inputs=[np.array(-128, np.int8)])
    check_model(fill_model((3, 1), np.int32), inputs=[np.array(-2 ** 31, np.int32)])


def test_fill_constant_value():
    check_model(fill_model((2, 2, 3), value=np.array(2.5)), inputs=[])


def test_fill_arena():
    check_arena(fill_model((3, 4, 5)))
    check_arena(fill_model((7,), np.int8, dims_dtype=np.int64))


def test_fill_refuses_malformed():
    refuses(fill_model((2, 3), dims=[3, 2]), "must equal the output's shape")
    refuses(fill_model((2, 3), dims=[2, 3, 1]), "must equal the output's shape")
    refuses(fill_model((2, 3), value_shape=(1,)), "must be a scalar")
    refuses(fill_model((2, 3), out_dtype=np.int32), "the value is FLOAT32")
    refuses(fill_model((2, 3), dims_dtype=np.float32), "int8, int16, int32 or int64")
    refuses(fill_model((2, 3), np.int16), "not supported by FILL")
    refuses(fill_model((2, 3), np.bool_), "not supported by FILL")
    non_constant_dims = one_op_model(Op.FILL, [tensor((2,), np.int32), tensor(())],
                                     FillOptions(), tensor((2, 3)))
    refuses(non_constant_dims, "Non-constant >dims<")


# ----------------------------------------------------------------------------- ZEROS_LIKE

ZEROS_LIKE_TYPES = [np.float32, np.int32, np.int8, np.int64]


@pytest.mark.parametrize("seed", range(8))
def test_zeros_like_random(seed):
    rng = np.random.default_rng(seed)
    shape = tuple(int(d) for d in rng.integers(1, 6, int(rng.integers(1, 6))))
    dtype = ZEROS_LIKE_TYPES[seed % 4]
    model = one_op_model(Op.ZEROS_LIKE, [tensor(shape, dtype, quant=quant_for(dtype))],
                         ZerosLikeOptions(), tensor(shape, dtype, quant=quant_for(dtype)))
    out = check_model(model, seed)[0]
    assert not out.any()


def test_zeros_like_negative_zero_input():
    """The output is +0.0 whatever the input holds."""
    model = one_op_model(Op.ZEROS_LIKE, [tensor((5,))], ZerosLikeOptions(), tensor((5,)))
    out = check_model(model, inputs=[np.array([-0.0, np.nan, -1, np.inf, 3], np.float32)])[0]
    assert not np.signbit(out).any()


def test_zeros_like_arena():
    check_arena(one_op_model(Op.ZEROS_LIKE, [tensor((3, 8), np.int8)], ZerosLikeOptions(),
                             tensor((3, 8), np.int8)))


def test_zeros_like_refuses_malformed():
    def zl(in_dtype, out_dtype, out_shape=(2, 3)):
        return one_op_model(Op.ZEROS_LIKE, [tensor((2, 3), in_dtype)], ZerosLikeOptions(),
                            tensor(out_shape, out_dtype))
    refuses(zl(np.float32, np.int8), "the input is FLOAT32 but the output is INT8")
    refuses(zl(np.float32, np.float32, (7,)), "as many elements")
    refuses(zl(np.int16, np.int16), "not supported by ZEROS_LIKE")
    refuses(zl(np.bool_, np.bool_), "not supported by ZEROS_LIKE")


# ----------------------------------------------------------------------------- RESIZE_*

RESIZE_FLAGS = [(False, False), (True, False), (False, True), (True, True)]


def resize_model(op, in_shape, size, dtype=np.float32, align_corners=False,
                 half_pixel_centers=False, out_shape=None, out_dtype=None, size_dtype=np.int32,
                 version=None):
    q = quant_for(dtype)
    options = (ResizeBilinearOptions if op == Op.RESIZE_BILINEAR
               else ResizeNearestNeighborOptions)(align_corners=align_corners,
                                                  half_pixel_centers=half_pixel_centers)
    if out_shape is None:
        out_shape = (in_shape[0], *size, in_shape[3])
    version = version or {np.float32: 1, np.int8: 2, np.int16: 4}[np.dtype(dtype).type]
    return one_op_model(op, [tensor(in_shape, dtype, quant=q),
                             tensor((len(size),), size_dtype, np.array(size))],
                        options, tensor(out_shape, out_dtype or dtype, quant=q), version)


def random_resize(rng, flags):
    in_shape = (int(rng.integers(1, 3)), int(rng.integers(1, 9)), int(rng.integers(1, 9)),
                int(rng.integers(1, 5)))
    size = [int(rng.integers(1, 20)), int(rng.integers(1, 20))]
    return in_shape, size, dict(zip(("align_corners", "half_pixel_centers"), flags))


@pytest.mark.parametrize("seed", range(16))
@pytest.mark.parametrize("dtype", [np.float32, np.int8, np.int16],
                         ids=lambda t: np.dtype(t).name)
def test_resize_nearest_neighbor_random(dtype, seed):
    """Up- and downscales, every combination of align_corners and half_pixel_centers."""
    rng = np.random.default_rng(seed)
    in_shape, size, flags = random_resize(rng, RESIZE_FLAGS[seed % 4])
    check_model(resize_model(Op.RESIZE_NEAREST_NEIGHBOR, in_shape, size, dtype, **flags), seed)


@pytest.mark.parametrize("flags", RESIZE_FLAGS)
def test_resize_nearest_neighbor_every_size_pair(flags):
    """Every input size 1-12 to every output size 1-40 along one axis (float32 index
    arithmetic near the .5 and integer boundaries), the values each row's index."""
    flags = dict(zip(("align_corners", "half_pixel_centers"), flags))
    for in_h in range(1, 13):
        x = np.arange(in_h, dtype=np.int8).reshape(1, in_h, 1, 1)
        for out_h in range(1, 41):
            model = resize_model(Op.RESIZE_NEAREST_NEIGHBOR, (1, in_h, 1, 1), [out_h, 1],
                                 np.int8, **flags)
            check_model(model, inputs=[x])


@pytest.mark.parametrize("seed", range(16))
@pytest.mark.parametrize("dtype", [np.float32, np.int8], ids=lambda t: np.dtype(t).name)
def test_resize_bilinear_random(dtype, seed):
    """Up- and downscales with align_corners or half_pixel_centers (not both)."""
    rng = np.random.default_rng(seed)
    in_shape, size, flags = random_resize(rng, RESIZE_FLAGS[seed % 3])
    check_model(resize_model(Op.RESIZE_BILINEAR, in_shape, size, dtype, **flags), seed)


@pytest.mark.parametrize("flags", RESIZE_FLAGS[:3])
@pytest.mark.parametrize("dtype", [np.float32, np.int8], ids=lambda t: np.dtype(t).name)
def test_resize_bilinear_every_size_pair(dtype, flags):
    """Every input size 1-9 to every output size 1-30 along both axes at once, on values
    spanning the whole type (int8: every value appears; the rounding of each blend)."""
    flags = dict(zip(("align_corners", "half_pixel_centers"), flags))
    rng = np.random.default_rng(5)
    for in_hw in range(1, 10):
        x = random_input(rng, (1, in_hw, in_hw, 3), dtype)
        if dtype == np.int8 and in_hw == 9:
            x = np.resize(np.arange(-128, 128, dtype=np.int8), x.shape)
        for out_hw in range(1, 31):
            model = resize_model(Op.RESIZE_BILINEAR, x.shape, [out_hw, out_hw + 1], dtype,
                                 **flags)
            check_model(model, inputs=[x])


def test_resize_bilinear_float_signed_zero_and_specials():
    """-0.0 comes out +0.0 (the C++ adds 0.0f); inf and NaN spread as in float32."""
    x = np.array([-0.0, -0.0, np.inf, 1.0, -0.0, np.nan], np.float32).reshape(1, 2, 3, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for flags in RESIZE_FLAGS[:3]:
            kwargs = dict(zip(("align_corners", "half_pixel_centers"), flags))
            check_model(resize_model(Op.RESIZE_BILINEAR, x.shape, [3, 5], **kwargs),
                        inputs=[x])


def test_resize_versions():
    for version in range(1, 5):
        check_model(resize_model(Op.RESIZE_BILINEAR, (1, 3, 3, 2), [5, 4], np.int8,
                                 version=version))
        check_model(resize_model(Op.RESIZE_NEAREST_NEIGHBOR, (1, 3, 3, 2), [5, 4], np.int16,
                                 version=version))


def test_resize_arena():
    for op in (Op.RESIZE_BILINEAR, Op.RESIZE_NEAREST_NEIGHBOR):
        check_arena(resize_model(op, (1, 4, 4, 3), [8, 6], np.int8))
        check_arena(resize_model(op, (2, 5, 3, 1), [2, 9]))


@pytest.mark.parametrize("op", [Op.RESIZE_BILINEAR, Op.RESIZE_NEAREST_NEIGHBOR],
                         ids=lambda op: op.name)
def test_resize_refuses_malformed(op):
    refuses(resize_model(op, (1, 4, 4, 3), [8, 6], out_shape=(1, 8, 7, 3)),
            "should be \\[1, 8, 6, 3\\]")
    refuses(resize_model(op, (1, 4, 4, 3), [8, 6], out_dtype=np.int8), "but the output")
    refuses(resize_model(op, (1, 4, 4, 3), [8, 6, 1], out_shape=(1, 8, 6, 3)),
            "must hold 2 values")
    refuses(resize_model(op, (1, 4, 4, 3), [8, 0]), "must be positive")
    refuses(resize_model(op, (1, 4, 4, 3), [8, 6], size_dtype=np.int64), "must be int32")
    refuses(resize_model(op, (4, 4, 3), [8, 6], out_shape=(4, 8, 6)), "must be 4-D")
    refuses(resize_model(op, (1, 4, 4, 3), [8, 6], np.int32, version=1), "not supported")
    non_constant = one_op_model(op, [tensor((1, 4, 4, 3)), tensor((2,), np.int32)],
                                None, tensor((1, 8, 6, 3)))
    refuses(non_constant, "Non-constant >size<")


def test_resize_bilinear_refuses_what_tflm_refuses_or_misreads():
    refuses(resize_model(Op.RESIZE_BILINEAR, (1, 4, 4, 3), [8, 6], align_corners=True,
                         half_pixel_centers=True), "align_corners must be False")
    refuses(resize_model(Op.RESIZE_BILINEAR, (1, 4, 4, 3), [8, 6], np.int16), "not supported")
    # TFLM's int8 scale for 1 -> 55 rows is 19/1024: row 54 maps to 1026/1024, row 1.
    refuses(resize_model(Op.RESIZE_BILINEAR, (1, 1, 4, 3), [55, 6], np.int8),
            "reads row 1, past the input's last row \\(0\\)")
    refuses(resize_model(Op.RESIZE_BILINEAR, (1, 4, 39, 3), [6, 306], np.int8),
            "reads column 39")
    check_model(resize_model(Op.RESIZE_BILINEAR, (1, 1, 4, 3), [55, 6]))  # float: fine


# ----------------------------------------------------------------------------- SPACE_TO_BATCH_ND
# TFLM pads with the bytes of a SpaceToBatchParams it never initializes: zero on a zeroed
# arena, but the oracle's arena is recycled heap memory. Padded outputs are compared with
# zero; all others byte for byte with the real TFLM.


def block_model(op, in_shape, block, pads, dtype=np.float32, out_shape=None, out_dtype=None,
                const=True, version=None):
    q = quant_for(dtype)
    pads = np.array(pads, dtype=np.int32).reshape(-1, 2)
    block = np.array(block, dtype=np.int32)
    if out_shape is None:
        if op == Op.SPACE_TO_BATCH_ND:
            spatial = [(s + p.sum()) // b for s, p, b in zip(in_shape[1:-1], pads, block)]
            out_shape = (in_shape[0] * int(block.prod()), *spatial, in_shape[-1])
        else:
            spatial = [s * b - p.sum() for s, p, b in zip(in_shape[1:-1], pads, block)]
            out_shape = (in_shape[0] // int(block.prod()), *spatial, in_shape[-1])
    version = version or {np.float32: 1, np.int8: 2}.get(np.dtype(dtype).type, 1)
    return one_op_model(op, [tensor(in_shape, dtype, quant=q),
                             tensor(block.shape, np.int32, block if const else None),
                             tensor(pads.shape, np.int32, pads if const else None)],
                        None, tensor(out_shape, out_dtype or dtype, quant=q), version)


def check_space_to_batch(model, x, extra_inputs=()):
    """The real TFLM's bytes where the output holds input values; zeros at the padding."""
    theirs = run_oracle(write_model(model), [x, *extra_inputs])[0]
    ours = run_tflm_edu(write_model(model), [x, *extra_inputs])[0]
    marked = run_tflm_edu(write_model(model), [np.ones_like(x), *extra_inputs])[0]
    data, padding = marked != 0, marked == 0
    assert np.array_equal(ours[data].view(np.uint8), theirs.reshape(ours.shape)[data]
                          .astype(ours.dtype).view(np.uint8))
    assert not ours[padding].view(np.uint8).any()
    return ours


def random_blocks(rng, op):
    rank = int(rng.integers(3, 5))
    spatial = rank - 2
    block = [int(b) for b in rng.integers(1, 4, spatial)]
    if op == Op.SPACE_TO_BATCH_ND:
        sizes = [int(s) for s in rng.integers(1, 7, spatial)]
        pads = []
        for size, b in zip(sizes, block):
            top = int(rng.integers(0, 3))
            bottom = (-(size + top)) % b + b * int(rng.integers(0, 2))
            pads.append([top, bottom])
        in_shape = (int(rng.integers(1, 3)), *sizes, int(rng.integers(1, 4)))
    else:
        sizes = [int(s) for s in rng.integers(1, 5, spatial)]
        pads = []
        for size, b in zip(sizes, block):  # crop up to a block, keeping one row
            top = int(rng.integers(0, b))
            pads.append([top, min(int(rng.integers(0, b)), size * b - top - 1)])
        batches = int(np.prod(block)) * int(rng.integers(1, 3))
        in_shape = (batches, *sizes, int(rng.integers(1, 4)))
    return in_shape, block, pads


@pytest.mark.parametrize("seed", range(16))
@pytest.mark.parametrize("dtype", [np.float32, np.int8], ids=lambda t: np.dtype(t).name)
def test_space_to_batch_nd_random(dtype, seed):
    """3-D and 4-D, blocks 1-3, paddings on every side."""
    rng = np.random.default_rng(seed)
    in_shape, block, pads = random_blocks(rng, Op.SPACE_TO_BATCH_ND)
    model = block_model(Op.SPACE_TO_BATCH_ND, in_shape, block, pads, dtype)
    check_space_to_batch(model, random_input(rng, in_shape, dtype))


def test_space_to_batch_nd_without_padding_is_byte_exact():
    """With no padding nothing depends on TFLM's uninitialized bytes."""
    for dtype in (np.float32, np.int8):
        check_model(block_model(Op.SPACE_TO_BATCH_ND, (2, 6, 4, 3), [3, 2], [[0, 0], [0, 0]],
                                dtype))
        check_model(block_model(Op.SPACE_TO_BATCH_ND, (1, 8, 5), [4], [[0, 0]], dtype))


def test_space_to_batch_nd_known_layout():
    """The 2x2 example of the TensorFlow documentation, written out."""
    x = np.arange(1, 17, dtype=np.float32).reshape(1, 4, 4, 1)
    out = check_space_to_batch(block_model(Op.SPACE_TO_BATCH_ND, x.shape, [2, 2],
                                           [[0, 0], [0, 0]]), x)
    assert out[:, :, :, 0].tolist() == [[[1, 3], [9, 11]], [[2, 4], [10, 12]],
                                        [[5, 7], [13, 15]], [[6, 8], [14, 16]]]


def test_space_to_batch_nd_non_constant_block():
    model = block_model(Op.SPACE_TO_BATCH_ND, (1, 4, 4, 2), [2, 2], [[1, 1], [0, 2]],
                        const=False, out_shape=(4, 3, 3, 2))
    x = np.random.default_rng(0).standard_normal((1, 4, 4, 2)).astype(np.float32)
    block, pads = np.array([2, 2], np.int32), np.array([[1, 1], [0, 2]], np.int32)
    check_space_to_batch(model, x, [block, pads])
    with pytest.raises(ModelError, match="should be"):
        run_tflm_edu(write_model(model), [x, np.array([1, 2], np.int32), pads])


# ----------------------------------------------------------------------------- BATCH_TO_SPACE_ND


@pytest.mark.parametrize("seed", range(16))
@pytest.mark.parametrize("dtype", [np.float32, np.int8], ids=lambda t: np.dtype(t).name)
def test_batch_to_space_nd_random(dtype, seed):
    """3-D and 4-D, blocks 1-3, crops on every side."""
    rng = np.random.default_rng(seed)
    in_shape, block, crops = random_blocks(rng, Op.BATCH_TO_SPACE_ND)
    check_model(block_model(Op.BATCH_TO_SPACE_ND, in_shape, block, crops, dtype, version=1 +
                            seed % 4), seed)


@pytest.mark.parametrize("seed", range(6))
def test_batch_to_space_inverts_space_to_batch(seed):
    rng = np.random.default_rng(seed)
    in_shape, block, pads = random_blocks(rng, Op.SPACE_TO_BATCH_ND)
    x = random_input(rng, in_shape, np.float32)
    blocks = run_tflm_edu(write_model(block_model(Op.SPACE_TO_BATCH_ND, in_shape, block,
                                                  pads)), [x])[0]
    back = block_model(Op.BATCH_TO_SPACE_ND, blocks.shape, block, pads)
    assert np.array_equal(check_model(back, inputs=[blocks])[0], x)


def test_batch_to_space_nd_non_constant_crops():
    model = block_model(Op.BATCH_TO_SPACE_ND, (4, 3, 3, 2), [2, 2], [[1, 1], [0, 2]],
                        const=False, out_shape=(1, 4, 4, 2))
    x = np.random.default_rng(0).standard_normal((4, 3, 3, 2)).astype(np.float32)
    check_model(model, inputs=[x, np.array([2, 2], np.int32),
                               np.array([[1, 1], [0, 2]], np.int32)])


def test_block_ops_arena():
    for op in (Op.SPACE_TO_BATCH_ND, Op.BATCH_TO_SPACE_ND):
        check_arena(block_model(op, (4, 4, 4, 3), [2, 2], [[0, 0], [0, 0]], np.int8))
        check_arena(block_model(op, (4, 6, 3), [2], [[0, 0]]))


@pytest.mark.parametrize("op", [Op.SPACE_TO_BATCH_ND, Op.BATCH_TO_SPACE_ND],
                         ids=lambda op: op.name)
def test_block_ops_refuse_malformed(op):
    shape = (4, 4, 4, 3)
    refuses(block_model(op, shape, [2, 2], [[0, 0], [0, 0]], out_shape=(4, 4, 4, 3)),
            "should be")
    refuses(block_model(op, shape, [2, 2], [[0, 0], [0, 0]], out_dtype=np.int8),
            "but the output")
    refuses(block_model(op, shape, [2, 0], [[0, 0], [0, 0]], out_shape=(4, 4, 4, 3)),
            "must be positive")
    refuses(block_model(op, shape, [2, 2], [[0, 0], [-2, 0]], out_shape=(4, 4, 4, 3)),
            "must not be negative")
    refuses(block_model(op, shape, [2, 2, 1], [[0, 0], [0, 0], [0, 0]],
                        out_shape=(4, 4, 4, 3)), "block_shape must have shape \\[2\\]")
    refuses(block_model(op, (4, 4, 4, 3, 1), [2, 2], [[0, 0], [0, 0]], out_shape=(4, 4, 4, 3)),
            "must be 3-D or 4-D")
    refuses(block_model(op, (4, 4, 3), [2], [[0, 0]], out_shape=(4, 4, 1, 3)), "differ in rank")
    refuses(block_model(op, shape, [2, 2], [[0, 0], [0, 0]], np.int16), "not supported")


def test_space_to_batch_nd_refuses_ragged_padding():
    refuses(block_model(Op.SPACE_TO_BATCH_ND, (1, 5, 4, 1), [2, 2], [[0, 0], [0, 0]],
                        out_shape=(4, 2, 2, 1)), "not a multiple of the block size 2")


def test_batch_to_space_nd_refuses_uneven_batches():
    refuses(block_model(Op.BATCH_TO_SPACE_ND, (3, 2, 2, 1), [2, 1], [[0, 0], [0, 0]],
                        out_shape=(1, 4, 2, 1)), "not a multiple of the block size 2")
