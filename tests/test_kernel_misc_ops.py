"""More of TFLM's builtin ops against the real TFLM: SELECT_V2, FLOOR, CEIL, ROUND,
FLOOR_DIV, FLOOR_MOD, ELU, ADD_N, UNPACK, PADV2, MIRROR_PAD, DEPTH_TO_SPACE, SPACE_TO_DEPTH,
BROADCAST_TO, BROADCAST_ARGS, REVERSE_V2 - seeded shapes and types, the refusals, the
arena."""
import numpy as np
import pytest

from models import BROADCAST_SHAPES, one_op_model, quant_for, tensor
from op_harness import check_model, run_oracle, run_tflm_edu
from tflm_edu import ModelError
from tflm_edu.arena_size import estimate_arena_size
from tflm_edu.arena_size.oracle import smallest_arena_tflm
from tflm_edu.interpreter import MicroInterpreter
from tflm_edu.op_resolver import AllOpsResolver
from tflm_edu.schema import read_model, write_model
from tflm_edu.schema.builder import quantization
from tflm_edu.schema.enums import BuiltinOperator as Op
from tflm_edu.schema.options import (DepthToSpaceOptions, MirrorPadOptions, PadV2Options,
                                     SpaceToDepthOptions, UnpackOptions)


def allocate(model):
    interpreter = MicroInterpreter(read_model(write_model(model)), AllOpsResolver(), None)
    interpreter.allocate_tensors()
    return interpreter


def check_arena(model):
    assert estimate_arena_size(model, "host").arena_bytes == smallest_arena_tflm(model)


def random_data(rng, shape, dtype):
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.integers(0, 2, shape).astype(np.bool_)
    if dtype.kind == "f":
        return (rng.standard_normal(shape) * 3).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)


def with_specials(x):
    """float32 data with NaN, +-inf, -0.0, halves and huge values written in."""
    specials = np.array([np.nan, np.inf, -np.inf, -0.0, 0.5, -0.5, 1.5, -2.5, 2.5, -0.3,
                         3e38, -1e30, 8388609.0, -8388607.5], np.float32)
    flat = x.reshape(-1)
    n = min(flat.size, specials.size)
    flat[:n] = specials[:n]
    return x


def check_inputs(model, seed=0, specials=False):
    """check_model with random data for every input (bools too), float inputs salted with
    special values when asked."""
    rng = np.random.default_rng(seed)
    sg = model.subgraphs[0]
    inputs = []
    for i in sg.inputs:
        x = random_data(rng, sg.tensors[i].shape, sg.tensors[i].dtype)
        inputs.append(with_specials(x) if specials and x.dtype.kind == "f" else x)
    return check_model(model, inputs=inputs)


# ----------------------------------------------------------------------------- SELECT_V2


def select_model(cond_shape, x_shape, y_shape, dtype, out_shape=None, cond_dtype=np.bool_,
                 y_dtype=None, out_dtype=None):
    q = quant_for(dtype)
    if out_shape is None:
        out_shape = np.broadcast_shapes(cond_shape, x_shape, y_shape)
    return one_op_model(Op.SELECT_V2, [tensor(cond_shape, cond_dtype),
                                       tensor(x_shape, dtype, quant=q),
                                       tensor(y_shape, y_dtype or dtype, quant=q)],
                        None, tensor(out_shape, out_dtype or dtype, quant=q))


SELECT_SHAPES = [((2, 3), (2, 3), (2, 3)), ((), (4, 5), (4, 5)), ((4, 1), (1, 5), ()),
                 ((3,), (2, 1, 3), (2, 4, 1)), ((1,), (1, 1), ()),
                 ((2, 1, 3, 1, 2), (1, 4, 1, 5, 1), (2, 4, 3, 5, 2)),
                 ((1, 2, 1, 2, 1, 2), (2, 1, 2, 1, 2, 1), (2,))]


@pytest.mark.parametrize("shapes", SELECT_SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.int8, np.int16])
def test_select_v2(shapes, dtype):
    check_inputs(select_model(*shapes, dtype), seed=len(shapes[0]), specials=True)


def test_select_v2_refusals():
    with pytest.raises(ModelError, match="condition must be bool"):
        allocate(select_model((3,), (3,), (3,), np.float32, cond_dtype=np.int8))
    with pytest.raises(ModelError, match="x is FLOAT32 but y is INT8"):
        allocate(select_model((3,), (3,), (3,), np.float32, y_dtype=np.int8))
    with pytest.raises(ModelError, match="not supported"):
        allocate(select_model((3,), (3,), (3,), np.int32))
    with pytest.raises(ModelError, match="not broadcastable"):
        allocate(select_model((3,), (4,), (3,), np.float32, out_shape=(4,)))
    with pytest.raises(ModelError, match="rank"):
        allocate(select_model((3,), (1, 3), (3,), np.float32, out_shape=(1, 1, 3)))
    with pytest.raises(ModelError, match="differs"):
        allocate(select_model((3,), (3,), (3,), np.float32, out_shape=(1, 3)))
    with pytest.raises(ModelError, match="writes x's type"):
        allocate(select_model((3,), (3,), (3,), np.float32, out_dtype=np.int32))


def test_select_v2_arena():
    check_arena(select_model((2, 1), (1, 3), (2, 3), np.int8))


# ----------------------------------------------------------------------------- FLOOR, CEIL, ROUND


def unary_model(op, shape, dtype=np.float32, out_shape=None, out_dtype=None, options=None,
                version=1):
    return one_op_model(op, [tensor(shape, dtype, quant=quant_for(dtype))], options,
                        tensor(out_shape or shape, out_dtype or dtype, quant=quant_for(dtype)),
                        version)


@pytest.mark.parametrize("op", [Op.FLOOR, Op.CEIL, Op.ROUND])
@pytest.mark.parametrize("shape", [(3, 7), (), (2, 3, 4, 5), (64,)])
def test_floor_ceil_round(op, shape):
    check_inputs(unary_model(op, shape), seed=len(shape), specials=True)


def test_round_ties_to_even_and_the_sign_of_zero():
    x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, -0.3, -0.7, 0.3, 8388607.5], np.float32)
    ours = check_model(unary_model(Op.ROUND, x.shape), inputs=[x])[0]
    assert ours.tolist() == [-2, -2, 0, 0, 2, 2, 0, -1, 0, 8388608]
    assert not np.signbit(ours[6])   # -0.3 rounds to +0.0 (rint would give -0.0)


@pytest.mark.parametrize("op", [Op.FLOOR, Op.CEIL, Op.ROUND])
def test_floor_ceil_round_refusals(op):
    with pytest.raises(ModelError, match="takes float32"):
        allocate(unary_model(op, (3,), np.int8))
    with pytest.raises(ModelError, match="differs"):
        allocate(unary_model(op, (3,), out_shape=(1, 3)))


@pytest.mark.parametrize("op", [Op.FLOOR, Op.CEIL, Op.ROUND])
def test_floor_ceil_round_arena(op):
    check_arena(unary_model(op, (2, 5)))


# ----------------------------------------------------------------------------- FLOOR_DIV, FLOOR_MOD


def binary_float_model(op, shape1, shape2, dtype=np.float32, out_shape=None, const2=None):
    out_shape = np.broadcast_shapes(shape1, shape2) if out_shape is None else out_shape
    return one_op_model(op, [tensor(shape1, dtype), tensor(shape2, dtype, const2)], None,
                        tensor(out_shape, dtype))


def nonzero_divisors(rng, shape):
    """Divisors without a zero (FLOOR_DIV refuses them), some tiny, some negative."""
    y = np.asarray(rng.standard_normal(shape) * 3, np.float32)
    y[np.abs(y) < 1e-3] = 0.25
    flat = y.reshape(-1)
    flat[: min(3, flat.size)] = np.array([1e-30, -7.0, 0.5], np.float32)[: min(3, flat.size)]
    return y


@pytest.mark.parametrize("op", [Op.FLOOR_DIV, Op.FLOOR_MOD])
@pytest.mark.parametrize("case", range(len(BROADCAST_SHAPES)))
def test_floor_div_mod(op, case):
    shape1, shape2 = BROADCAST_SHAPES[case]
    rng = np.random.default_rng(case)
    x = with_specials(np.asarray(rng.standard_normal(shape1) * 10, np.float32))
    check_model(binary_float_model(op, shape1, shape2), inputs=[x, nonzero_divisors(rng, shape2)])


def test_floor_mod_signs_and_zero_divisor():
    x = np.array([7, -7, 7, -7, 6, -6, 5.5, 1], np.float32)
    y = np.array([2, 2, -2, -2, 3, 3, -2, 0], np.float32)
    ours = check_model(binary_float_model(Op.FLOOR_MOD, (8,), (8,)), inputs=[x, y])[0]
    assert ours[:7].tolist() == [1, 1, -1, -1, 0, 0, -0.5] and np.isnan(ours[7])


def test_floor_div_by_zero_fails_at_invoke():
    model = binary_float_model(Op.FLOOR_DIV, (3,), (3,))
    inputs = [np.ones(3, np.float32), np.array([1, 0, 2], np.float32)]
    with pytest.raises(ModelError, match="Division by 0"):
        run_tflm_edu(write_model(model), inputs)
    with pytest.raises(RuntimeError):
        run_oracle(write_model(model), inputs)


@pytest.mark.parametrize("op", [Op.FLOOR_DIV, Op.FLOOR_MOD])
def test_floor_div_mod_refusals(op):
    with pytest.raises(ModelError, match="not supported"):
        allocate(binary_float_model(op, (3,), (3,), np.int32))
    with pytest.raises(ModelError, match="do not broadcast"):
        allocate(binary_float_model(op, (3,), (4,), out_shape=(4,)))


@pytest.mark.parametrize("op", [Op.FLOOR_DIV, Op.FLOOR_MOD])
def test_floor_div_mod_arena(op):
    """A constant divisor: TFLM's arena search invokes with zero inputs."""
    check_arena(binary_float_model(op, (2, 3), (3,), const2=np.array([1, -2, 3], np.float32)))


# ----------------------------------------------------------------------------- ELU


@pytest.mark.parametrize("shape", [(4, 5), (), (2, 3, 4, 5), (1000,)])
def test_elu_float(shape):
    check_inputs(unary_model(Op.ELU, shape), seed=len(shape), specials=True)


def test_elu_float_many_negatives():
    """expm1f is not correctly rounded: thousands of negative inputs, byte for byte."""
    rng = np.random.default_rng(7)
    x = -np.abs(rng.standard_normal(20000) * 4).astype(np.float32)
    x[:3000] *= np.float32(1e-3)
    check_model(unary_model(Op.ELU, x.shape), inputs=[x])


ELU_QUANTS = [((0.05, 0), (0.05, 0)), ((0.1, -20), (0.04, 30)), ((0.02, 127), (0.01, -128)),
              ((0.3, -128), (0.2, 100)), ((1e-3, 5), (3e-3, -7))]


@pytest.mark.parametrize("quants", ELU_QUANTS)
def test_elu_int8_every_value(quants):
    (s_in, z_in), (s_out, z_out) = quants
    model = one_op_model(Op.ELU, [tensor((256,), np.int8, quant=quantization(s_in, z_in))],
                         None, tensor((256,), np.int8, quant=quantization(s_out, z_out)))
    check_model(model, inputs=[np.arange(-128, 128, dtype=np.int8)])


def test_elu_refusals():
    with pytest.raises(ModelError, match="not supported"):
        allocate(unary_model(Op.ELU, (3,), np.int16))
    with pytest.raises(ModelError, match="carries no quantization"):
        allocate(one_op_model(Op.ELU, [tensor((3,), np.int8)], None, tensor((3,), np.int8)))
    with pytest.raises(ModelError, match="overflows int32"):
        allocate(one_op_model(Op.ELU, [tensor((3,), np.int8, quant=quantization(0.5, 0))],
                              None, tensor((3,), np.int8, quant=quantization(1e-10, 0))))


@pytest.mark.parametrize("dtype", [np.float32, np.int8])
def test_elu_arena(dtype):
    """Large enough tensors: with a float ELU whose tensors need less than its 256-byte
    OpData, TFLM's smallest arena is one where Init's allocation fails - silently, as the
    float Eval never reads the table."""
    check_arena(unary_model(Op.ELU, (8, 16), dtype))


# ----------------------------------------------------------------------------- ADD_N


def add_n_model(n, shape, dtype, q=None, out_q=None, quants=None):
    quants = quants or [q] * n
    return one_op_model(Op.ADD_N, [tensor(shape, dtype, quant=quants[i]) for i in range(n)],
                        None, tensor(shape, dtype, quant=out_q))


@pytest.mark.parametrize("n,shape", [(2, (3, 4)), (3, ()), (5, (2, 3, 4)), (16, (37,))])
def test_add_n_float(n, shape):
    check_inputs(add_n_model(n, shape, np.float32), seed=n, specials=True)


def test_add_n_float_negative_zeros_sum_to_plus_zero():
    x = np.array([-0.0], np.float32)
    ours = check_model(add_n_model(3, (1,), np.float32), inputs=[x, x, x])[0]
    assert not np.signbit(ours[0])


@pytest.mark.parametrize("n,q,out_q", [(2, (0.05, 0), (0.1, 0)), (3, (0.02, -20), (0.05, 7)),
                                       (4, (0.1, 100), (0.3, -128)),
                                       (7, (0.01, -128), (0.02, 127))])
def test_add_n_int8(n, q, out_q):
    model = add_n_model(n, (256, 4), np.int8, quantization(*q), quantization(*out_q))
    rng = np.random.default_rng(n)
    inputs = [rng.integers(-128, 128, (256, 4)).astype(np.int8) for _ in range(n)]
    inputs[0][:, 0] = np.arange(-128, 128)   # every int8 value in input 0
    check_model(model, inputs=inputs)


def test_add_n_refusals():
    with pytest.raises(ModelError, match="at least 2 inputs"):
        allocate(add_n_model(1, (3,), np.float32))
    with pytest.raises(ModelError, match="not supported"):
        allocate(add_n_model(2, (3,), np.int32))
    with pytest.raises(ModelError, match="quantized differently"):
        allocate(add_n_model(2, (3,), np.int8, out_q=quantization(0.1, 0),
                             quants=[quantization(0.1, 0), quantization(0.1, 1)]))
    with pytest.raises(ModelError, match="output rescale factor"):
        allocate(add_n_model(2, (3,), np.int8, quantization(1.0, 0), quantization(1e-7, 0)))
    with pytest.raises(ModelError, match="input 1 has shape"):
        allocate(one_op_model(Op.ADD_N, [tensor((3,)), tensor((1, 3))], None, tensor((3,))))


@pytest.mark.parametrize("dtype", [np.float32, np.int8])
def test_add_n_arena(dtype):
    q = quantization(0.1, 3) if dtype == np.int8 else None
    check_arena(add_n_model(3, (2, 5), dtype, q, q))


# ----------------------------------------------------------------------------- UNPACK

def unpack_model(in_shape, axis, dtype, num=None, out_shape=None, n_outputs=None,
                 out_dtype=None):
    q = quant_for(dtype)
    a = axis + len(in_shape) if axis < 0 else axis
    num = in_shape[a] if num is None else num
    out_shape = out_shape or tuple(in_shape[:a]) + tuple(in_shape[a + 1:])
    outputs = [tensor(out_shape, out_dtype or dtype, quant=q)
               for _ in range(num if n_outputs is None else n_outputs)]
    return one_op_model(Op.UNPACK, [tensor(in_shape, dtype, quant=q)],
                        UnpackOptions(num=num, axis=axis), outputs)


@pytest.mark.parametrize("in_shape,axis", [((3, 4), 0), ((3, 4), 1), ((2, 3, 4), -1),
                                           ((2, 3, 4), 1), ((5,), 0), ((1, 2, 1, 3, 2), 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int16, np.int8])
def test_unpack(in_shape, axis, dtype):
    check_inputs(unpack_model(in_shape, axis, dtype), seed=len(in_shape))


def test_unpack_refusals():
    with pytest.raises(ModelError, match="num is 2 but the op has 3 outputs"):
        allocate(unpack_model((3, 4), 0, np.float32, num=2, n_outputs=3))
    with pytest.raises(ModelError, match="entries along axis"):
        allocate(unpack_model((3, 4), 0, np.float32, num=2))
    with pytest.raises(ModelError, match="out of range"):
        allocate(unpack_model((3, 4), 2, np.float32, num=3, out_shape=(3,)))
    with pytest.raises(ModelError, match="gives"):
        allocate(unpack_model((3, 4), 0, np.float32, out_shape=(2, 2)))
    with pytest.raises(ModelError, match="not supported"):
        allocate(unpack_model((3, 4), 0, np.int64))
    with pytest.raises(ModelError, match="output 0 is"):
        allocate(unpack_model((3, 4), 0, np.float32, out_dtype=np.int32))


def test_unpack_arena():
    check_arena(unpack_model((3, 4), 1, np.int8))


# ----------------------------------------------------------------------------- PADV2, MIRROR_PAD

def padv2_model(in_shape, paddings, dtype, constant_value=None):
    q = quant_for(dtype)
    paddings = np.array(paddings, np.int32).reshape(-1, 2)
    inputs = [tensor(in_shape, dtype, quant=q), tensor(paddings.shape, np.int32, paddings)]
    if constant_value is not None:
        inputs.append(tensor((1,), dtype, [constant_value], q))
    out_shape = tuple(int(d + lo + hi) for d, (lo, hi) in zip(in_shape, paddings))
    return one_op_model(Op.PADV2, inputs, PadV2Options(), tensor(out_shape, dtype, quant=q))


@pytest.mark.parametrize("dtype,value", [(np.float32, -2.5), (np.float32, None),
                                         (np.int8, -3), (np.int8, None), (np.int16, 1234),
                                         (np.int32, -7)])
def test_padv2(dtype, value):
    check_inputs(padv2_model((2, 3, 1, 2), [[1, 0], [0, 2], [1, 1], [0, 3]], dtype, value))


def test_padv2_refuses_what_pad_refuses():
    with pytest.raises(ModelError, match="PADV2 takes 2 or 3 inputs"):
        allocate(one_op_model(Op.PADV2, [tensor((2,))], None, tensor((2,))))
    with pytest.raises(ModelError, match="must not be negative"):
        allocate(padv2_model((5,), [[-1, 0]], np.float32, 1.0))


def test_padv2_arena():
    check_arena(padv2_model((2, 3), [[1, 1], [0, 2]], np.int8, 5))


def mirror_pad_model(in_shape, paddings, dtype, mode=0, pad_dtype=np.int32, out_shape=None,
                     const=True, options=True):
    q = quant_for(dtype)
    paddings = np.array(paddings, pad_dtype).reshape(-1, 2)
    out_shape = out_shape or tuple(int(d + lo + hi) for d, (lo, hi) in zip(in_shape, paddings))
    return one_op_model(Op.MIRROR_PAD, [tensor(in_shape, dtype, quant=q),
                                        tensor(paddings.shape, pad_dtype,
                                               paddings if const else None)],
                        MirrorPadOptions(mode=mode) if options else None,
                        tensor(out_shape, dtype, quant=q))


MIRROR_CASES = [((3,), [[2, 2]]), ((4, 5), [[3, 0], [1, 4]]), ((2, 3, 4), [[1, 1], [0, 2], [3, 3]]),
                ((1, 2, 3, 2, 2), [[0, 0], [1, 1], [2, 2], [1, 0], [0, 1]])]


@pytest.mark.parametrize("case", MIRROR_CASES)
@pytest.mark.parametrize("mode", [0, 1])
@pytest.mark.parametrize("dtype", [np.float32, np.int8])
def test_mirror_pad(case, mode, dtype):
    in_shape, paddings = case
    if mode == 0:   # REFLECT pads at most size - 1
        paddings = [[min(lo, d - 1), min(hi, d - 1)] for d, (lo, hi) in zip(in_shape, paddings)]
    check_inputs(mirror_pad_model(in_shape, paddings, dtype, mode), seed=len(in_shape))


def test_mirror_pad_int64_paddings_and_reflect_example():
    x = np.array([1, 2, 3], np.float32)
    ours = check_model(mirror_pad_model((3,), [[2, 2]], np.float32, 0, np.int64), inputs=[x])
    assert ours[0].tolist() == [3, 2, 1, 2, 3, 2, 1]


def test_mirror_pad_without_options_is_symmetric():
    x = np.array([1, 2, 3], np.float32)
    ours = check_model(mirror_pad_model((3,), [[2, 2]], np.float32, options=False), inputs=[x])
    assert ours[0].tolist() == [2, 1, 1, 2, 3, 3, 2]


def test_mirror_pad_refusals():
    with pytest.raises(ModelError, match=r"must lie in \[0, 2\]"):
        allocate(mirror_pad_model((3,), [[3, 0]], np.float32, mode=0))
    with pytest.raises(ModelError, match="must lie in"):
        allocate(mirror_pad_model((3,), [[-1, 0]], np.float32, mode=1))
    with pytest.raises(ModelError, match="output dimension 0"):
        allocate(mirror_pad_model((3,), [[1, 0]], np.float32, out_shape=(5,)))
    with pytest.raises(ModelError, match="paddings must have shape"):
        allocate(one_op_model(Op.MIRROR_PAD, [tensor((3, 2)), tensor((2,), np.int32, [1, 1])],
                              MirrorPadOptions(), tensor((5, 2))))
    with pytest.raises(ModelError, match="not supported"):
        allocate(mirror_pad_model((3,), [[1, 0]], np.int16))


def test_mirror_pad_non_constant_paddings_checked_at_invoke():
    model = mirror_pad_model((4,), [[1, 1]], np.float32, const=False, out_shape=(6,))
    x = np.arange(4, dtype=np.float32)
    ours = check_model(model, inputs=[x, np.array([[2, 0]], np.int32)])
    assert ours[0].tolist() == [2, 1, 0, 1, 2, 3]
    with pytest.raises(ModelError, match="do not fit"):
        run_tflm_edu(write_model(model), [x, np.array([[2, 1]], np.int32)])


@pytest.mark.parametrize("dtype", [np.float32, np.int8])
def test_mirror_pad_arena(dtype):
    check_arena(mirror_pad_model((2, 3, 4), [[1, 1], [0, 2], [3, 3]], dtype, 1))


# ----------------------------------------------------------------------------- DEPTH_TO_SPACE, SPACE_TO_DEPTH

def block_model(op, in_shape, block_size, dtype, out_shape=None):
    b, h, w, c = in_shape
    if out_shape is None:
        out_shape = ((b, h * block_size, w * block_size, c // block_size**2)
                     if op == Op.DEPTH_TO_SPACE else
                     (b, h // block_size, w // block_size, c * block_size**2))
    options = (DepthToSpaceOptions if op == Op.DEPTH_TO_SPACE else SpaceToDepthOptions)(
        block_size=block_size)
    q = quant_for(dtype)
    return one_op_model(op, [tensor(in_shape, dtype, quant=q)], options,
                        tensor(out_shape, dtype, quant=q))


@pytest.mark.parametrize("in_shape,bs", [((1, 2, 3, 8), 2), ((2, 1, 1, 9), 3), ((1, 3, 2, 4), 1),
                                         ((3, 2, 2, 16), 4)])
@pytest.mark.parametrize("dtype", [np.float32, np.int8])
def test_depth_to_space(in_shape, bs, dtype):
    check_inputs(block_model(Op.DEPTH_TO_SPACE, in_shape, bs, dtype), seed=bs)


@pytest.mark.parametrize("in_shape,bs", [((1, 4, 6, 2), 2), ((2, 3, 3, 1), 3), ((1, 3, 2, 4), 1),
                                         ((3, 8, 4, 3), 4)])
@pytest.mark.parametrize("dtype", [np.float32, np.int8])
def test_space_to_depth(in_shape, bs, dtype):
    check_inputs(block_model(Op.SPACE_TO_DEPTH, in_shape, bs, dtype), seed=bs)


def test_depth_to_space_rewrites_the_output_dims():
    """An output declared [1, 2, 12, 2] (the right element count, another shape) leaves
    with the computed shape [1, 4, 6, 2]: TFLM rewrites the output's dims."""
    model = block_model(Op.DEPTH_TO_SPACE, (1, 2, 3, 8), 2, np.float32, out_shape=(1, 2, 12, 2))
    x = np.arange(48, dtype=np.float32).reshape(1, 2, 3, 8)
    ours = run_tflm_edu(write_model(model), [x])[0]
    assert ours.shape == (1, 4, 6, 2)
    assert ours.reshape(-1).tobytes() == run_oracle(write_model(model), [x])[0].reshape(-1).tobytes()


def test_depth_space_refusals():
    with pytest.raises(ModelError, match="do not divide"):
        allocate(block_model(Op.DEPTH_TO_SPACE, (1, 2, 2, 6), 2, np.float32, out_shape=(1, 4, 4, 1)))
    with pytest.raises(ModelError, match="does not divide"):
        allocate(block_model(Op.SPACE_TO_DEPTH, (1, 3, 4, 1), 2, np.float32, out_shape=(1, 1, 2, 4)))
    with pytest.raises(ModelError, match="block_size must be positive"):
        allocate(block_model(Op.SPACE_TO_DEPTH, (1, 2, 2, 1), 0, np.float32, out_shape=(1, 2, 2, 1)))
    with pytest.raises(ModelError, match="4-D input"):
        allocate(one_op_model(Op.DEPTH_TO_SPACE, [tensor((2, 2, 4))], DepthToSpaceOptions(2),
                              tensor((4, 4, 1))))
    with pytest.raises(ModelError, match="not supported"):
        allocate(block_model(Op.DEPTH_TO_SPACE, (1, 2, 2, 4), 2, np.int16))
    with pytest.raises(ModelError, match="does not hold"):
        allocate(block_model(Op.DEPTH_TO_SPACE, (1, 2, 2, 4), 2, np.float32, out_shape=(1, 4, 4, 2)))


@pytest.mark.parametrize("op", [Op.DEPTH_TO_SPACE, Op.SPACE_TO_DEPTH])
def test_depth_space_arena(op):
    check_arena(block_model(op, (1, 4, 4, 4), 2, np.int8))


# ----------------------------------------------------------------------------- BROADCAST_TO, BROADCAST_ARGS


def broadcast_to_model(in_shape, shape, dtype, shape_dtype=np.int32, out_shape=None,
                       const=True):
    q = quant_for(dtype)
    shape = np.array(shape, shape_dtype)
    return one_op_model(Op.BROADCAST_TO, [tensor(in_shape, dtype, quant=q),
                                          tensor(shape.shape, shape_dtype,
                                                 shape if const else None)],
                        None, tensor(out_shape or tuple(shape), dtype, quant=q), version=2)


@pytest.mark.parametrize("in_shape,shape", [((3,), (2, 3)), ((1,), (4,)), ((2, 1), (2, 5)),
                                            ((), (2, 2)), ((1, 3, 1), (2, 2, 3, 4)),
                                            ((2, 1, 3, 1, 1), (2, 2, 3, 2, 2))])
@pytest.mark.parametrize("dtype", [np.float32, np.int8, np.int16, np.int32, np.int64, np.bool_])
def test_broadcast_to(in_shape, shape, dtype):
    check_inputs(broadcast_to_model(in_shape, shape, dtype), seed=len(shape))


def test_broadcast_to_int64_shape():
    check_inputs(broadcast_to_model((3, 1), (2, 3, 4), np.float32, np.int64))


def test_broadcast_to_refusals():
    with pytest.raises(ModelError, match="Non-constant"):
        allocate(broadcast_to_model((3,), (2, 3), np.float32, const=False))
    with pytest.raises(ModelError, match="broadcastable"):
        allocate(broadcast_to_model((3,), (2, 4), np.float32))
    with pytest.raises(ModelError, match="1-5D"):
        allocate(broadcast_to_model((3,), (1, 1, 1, 1, 2, 3), np.float32))
    with pytest.raises(ModelError, match="is not the shape"):
        allocate(broadcast_to_model((3,), (2, 3), np.float32, out_shape=(3, 3)))
    with pytest.raises(ModelError, match="int32 or int64"):
        allocate(broadcast_to_model((3,), (2, 3), np.float32, shape_dtype=np.int16))


def test_broadcast_to_arena():
    check_arena(broadcast_to_model((1, 3), (4, 3), np.int8))


def broadcast_args_model(n1, n2, n_out, dtype=np.int32, data=(None, None)):
    return one_op_model(Op.BROADCAST_ARGS, [tensor((n1,), dtype, data[0]),
                                            tensor((n2,), dtype, data[1])],
                        None, tensor((n_out,), dtype))


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize("s1,s2,n_out", [([2, 1, 3], [4, 1], 3), ([1], [5, 6], 2),
                                         ([7, 1, 1], [7, 2, 1], 3), ([3], [3], 1),
                                         ([2, 3], [3], 4), ([4, 1, 3], [5, 1], 2)])
def test_broadcast_args(dtype, s1, s2, n_out):
    """n_out beyond the broadcast rank pads with 1s in front, below it keeps the tail."""
    model = broadcast_args_model(len(s1), len(s2), n_out, dtype)
    ours = check_model(model, inputs=[np.array(s1, dtype), np.array(s2, dtype)])[0]
    full = [1] * n_out + list(np.broadcast_shapes(tuple(s1), tuple(s2)))
    assert ours.tolist() == full[-n_out:]


def test_broadcast_args_int64_through_an_int():
    big = np.array([2**33 + 5], np.int64)
    check_model(broadcast_args_model(1, 1, 1, np.int64), inputs=[big, np.array([1], np.int64)])


def test_broadcast_args_refusals():
    with pytest.raises(ModelError, match="do not broadcast"):
        run_tflm_edu(write_model(broadcast_args_model(1, 1, 1)),
                     [np.array([2], np.int32), np.array([3], np.int32)])
    with pytest.raises(ModelError, match="one type"):
        allocate(one_op_model(Op.BROADCAST_ARGS, [tensor((2,), np.int32), tensor((2,), np.int64)],
                              None, tensor((2,), np.int32)))
    with pytest.raises(ModelError, match="int32 or int64"):
        allocate(broadcast_args_model(2, 2, 2, np.int16))


def test_broadcast_args_arena():
    check_arena(broadcast_args_model(3, 2, 3, np.int32, data=([2, 1, 3], [4, 1])))


# ----------------------------------------------------------------------------- REVERSE_V2


def reverse_model(in_shape, axes, dtype, const=True, out_shape=None, axis_dtype=np.int32):
    q = quant_for(dtype)
    axes = np.array(axes, axis_dtype)
    return one_op_model(Op.REVERSE_V2, [tensor(in_shape, dtype, quant=q),
                                        tensor(axes.shape, axis_dtype, axes if const else None)],
                        None, tensor(out_shape or in_shape, dtype, quant=q))


@pytest.mark.parametrize("in_shape,axes", [((5,), [0]), ((3, 4), [1]), ((3, 4), [0]),
                                           ((3, 4), [1, 0]), ((2, 3, 4), [-2]),
                                           ((2, 3, 4, 5), [1, 2]), ((2, 3, 4, 5), [0, 1, 2, 3]),
                                           ((2, 1, 3, 2, 2, 2), [3, 4])])
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int16, np.int8, np.uint8,
                                   np.int64, np.bool_])
def test_reverse_v2(in_shape, axes, dtype):
    check_inputs(reverse_model(in_shape, axes, dtype), seed=len(in_shape))


def test_reverse_v2_axes_as_an_input():
    model = reverse_model((3, 4), [0], np.float32, const=False)
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    check_model(model, inputs=[x, np.array([-1], np.int32)])
    with pytest.raises(ModelError, match="Non-contiguous"):
        run_tflm_edu(write_model(reverse_model((2, 3, 4), [0, 2], np.float32, const=False)),
                     [np.zeros((2, 3, 4), np.float32), np.array([0, 2], np.int32)])


def test_reverse_v2_refusals():
    with pytest.raises(ModelError, match="Non-contiguous"):
        allocate(reverse_model((2, 3, 4), [0, 2], np.float32))
    with pytest.raises(ModelError, match="Non-contiguous"):
        allocate(reverse_model((2, 3), [1, 1], np.float32))
    with pytest.raises(ModelError, match="out of range"):
        allocate(reverse_model((2, 3), [2], np.float32))
    with pytest.raises(ModelError, match="Axis Type"):
        allocate(reverse_model((2, 3), [1], np.float32, axis_dtype=np.int64))
    with pytest.raises(ModelError, match="differs"):
        allocate(reverse_model((2, 3), [1], np.float32, out_shape=(3, 2)))
    with pytest.raises(ModelError, match="at most|up to"):
        allocate(reverse_model((1,) * 7, [1], np.float32))


def test_reverse_v2_arena():
    check_arena(reverse_model((2, 3, 4), [1, 2], np.int8))
