"""The bound float Evals' fast paths (issue 15) at their edges, against the real TFLM.

- WeightedSum (conv, depthwise, fully connected): negated constant weights summed by one
  np.subtract.reduce, along any axis, in chunks past a size, with the bias as last term -
  checked against a plain float32 loop with the C++'s NaN rule (the running total's NaN
  wins), then whole ops with NaN (several payloads), inf, -0.0, denormals and float max in
  their inputs.
- MAX_POOL_2D: np.fmax.reduce when no tap is -0.0, the tap-by-tap loop when one is.
- Softmax: a short row in Python floats rounded to float32, expf through ctypes.
- invoke(): numpy's floating-point warnings off while it runs, as they were afterwards.
"""
import numpy as np
import pytest

from models import conv_model, dw_model, fc_model, pool_model
from op_harness import check_model
from test_kernel_softmax import softmax_model
from tflm_edu.interpreter import MicroInterpreter
from tflm_edu.kernels.quantization_util import WeightedSum
from tflm_edu.op_resolver import AllOpsResolver
from tflm_edu.schema.enums import ActivationFunctionType as Act, BuiltinOperator as Op
from tflm_edu.schema.enums import Padding

SAME, VALID = Padding.SAME, Padding.VALID
ACTS = [Act.NONE, Act.RELU, Act.RELU6, Act.RELU_N1_TO_1]
F32 = np.float32


def nan(bits):
    return np.array(bits, np.uint32).view(F32)


SPECIAL = np.array([np.inf, -np.inf, 0.0, -0.0, 3e38, -3e38, 1e-45, -1e-45, 1.5e-39,
                    np.finfo(F32).min, np.finfo(F32).max], F32)
NANS = np.array([nan(0x7FC00000), nan(0xFFC00000), nan(0x7FC00123), nan(0xFFC45678)], F32)


def special_input(rng, shape, share=0.15, nans=True, negative_zero=True):
    """Normal values with a share of specials: inf, +-0.0, denormals, float max, and NaNs
    with several payloads and signs."""
    x = (rng.standard_normal(shape) * 10.0 ** rng.integers(-3, 4, shape)).astype(F32)
    pool = SPECIAL if negative_zero else SPECIAL[SPECIAL.view(np.uint32) != 0x80000000]
    pool = np.concatenate([pool, NANS]) if nans else pool
    special = rng.random(shape) < share
    x[special] = rng.choice(pool, int(special.sum()))
    return x


# ----------------------------------------------------------------------------- WeightedSum


def in_order(x, w, bias, axis, shape):
    """total = 0.0f; total += x[k] * w[k]; total += bias - the C++ loop, with its NaN rule:
    the running total's NaN wins over the added term's."""
    products = np.moveaxis(np.broadcast_to((x * w).astype(F32), shape), axis, 0)
    total = np.zeros(products.shape[1:], F32)
    terms = list(products) + ([] if bias is None else [np.broadcast_to(bias, total.shape)])
    for term in terms:
        total = np.where(np.isnan(total), total, np.where(np.isnan(term), term, total + term))
    return total


@pytest.mark.parametrize("seed", range(40))
def test_weighted_sum_is_the_cpp_loop(seed):
    """Any layout (the summed axis first, inside or last, where numpy would add an
    add.reduce pairwise), broadcasting operands, chunked sums, an empty K, special values."""
    rng = np.random.default_rng(seed)
    shape = [int(s) for s in rng.integers(1, 6, int(rng.integers(1, 4)))]
    axis = int(rng.integers(0, len(shape) + 1))
    shape.insert(axis, int(rng.integers(0, 40)))
    shape = tuple(shape)
    x_shape = tuple(1 if rng.random() < 0.3 and i != axis else n for i, n in enumerate(shape))
    w_shape = tuple(1 if rng.random() < 0.3 and i != axis else n for i, n in enumerate(shape))
    x = special_input(rng, x_shape)
    w = special_input(rng, w_shape, 0.05, nans=False)
    total_shape = shape[:axis] + shape[axis + 1:]
    bias = special_input(rng, total_shape, 0.1, nans=False) if seed % 3 else None
    sums = WeightedSum(w, axis, shape, bias, max_elements=[1 << 22, 7, 60][seed % 3])
    total = np.empty(total_shape, F32)
    with np.errstate(all="ignore"):
        sums.bind(x, total)()
        expected = in_order(x, w, bias, axis, shape)
    assert np.array_equal(total.view(np.uint32), expected.view(np.uint32))


def test_weighted_sum_without_expanded_weights():
    """Past EXPAND_ELEMENTS products the weights stay broadcast."""
    rng = np.random.default_rng(1)
    shape = (5, 200, 300)
    assert np.prod(shape) > WeightedSum.EXPAND_ELEMENTS
    x, w = special_input(rng, (5, 1, 300)), special_input(rng, (5, 200, 1), nans=False)
    sums, total = WeightedSum(w, 0, shape), np.empty((200, 300), F32)
    with np.errstate(all="ignore"):
        sums.bind(x, total)()
        assert np.array_equal(total.view(np.uint32), in_order(x, w, None, 0, shape)
                              .view(np.uint32))


def test_weighted_sum_refuses_nan_constants():
    assert WeightedSum.accepts(np.ones(3, F32), np.array([np.inf], F32))
    assert not WeightedSum.accepts(np.array([1.0, np.nan], F32))
    assert not WeightedSum.accepts(np.ones(3, F32), np.array([np.nan], F32))


# ----------------------------------------------------------------------------- whole ops


def check_special(model, seed, **kinds):
    rng = np.random.default_rng(seed)
    sg = model.subgraphs[0]
    check_model(model, inputs=[special_input(rng, sg.tensors[i].shape, **kinds)
                               for i in sg.inputs])


@pytest.mark.parametrize("seed", range(10))
def test_float_conv_special_values(seed):
    rng = np.random.default_rng(300 + seed)
    kernel = (int(rng.integers(1, 5)), int(rng.integers(1, 4)))
    hw = (int(kernel[0] + rng.integers(0, 9)), int(kernel[1] + rng.integers(0, 3)))
    if seed % 2:                          # wider than tall: the other order of the rows
        hw, kernel = hw[::-1], kernel[::-1]
    check_special(conv_model(np.float32, int(rng.integers(1, 3)), hw, int(rng.integers(1, 6)),
                             kernel, int(rng.integers(1, 9)),
                             tuple(int(s) for s in rng.integers(1, 3, 2)),
                             padding=[SAME, VALID][seed % 2], act=ACTS[seed % 4],
                             bias=[True, False][seed % 3 == 2], seed=seed), seed)


@pytest.mark.parametrize("seed", range(10))
def test_float_depthwise_special_values(seed):
    rng = np.random.default_rng(400 + seed)
    kernel = (int(rng.integers(1, 5)), int(rng.integers(1, 4)))
    hw = (int(kernel[0] + rng.integers(0, 12)), int(kernel[1] + rng.integers(0, 3)))
    if seed % 3 == 1:
        hw, kernel = hw[::-1], kernel[::-1]
    check_special(dw_model(np.float32, int(rng.integers(1, 3)), hw, int(rng.integers(1, 4)),
                           kernel, int(rng.integers(1, 9)),
                           tuple(int(s) for s in rng.integers(1, 3, 2)),
                           padding=[SAME, VALID][seed % 2], act=ACTS[seed % 4],
                           bias=seed % 3 != 2, seed=seed), seed)


def test_float_conv_single_output_pixel():
    """One output pixel: the sums' lanes are the channels alone."""
    check_special(conv_model(np.float32, 1, (3, 3), 4, (3, 3), 5, padding=VALID, seed=7), 7)
    check_special(dw_model(np.float32, 1, (2, 2), 1, (2, 2), 1, padding=VALID, seed=8), 8)


def test_float_dilated_convolutions():
    check_special(conv_model(np.float32, 2, (9, 6), 3, (3, 2), 4, (1, 2), (2, 3),
                             act=Act.RELU6, seed=11), 11)
    check_special(dw_model(np.float32, 1, (7, 10), 2, (2, 3), 3, (2, 1), (3, 2),
                           act=Act.RELU, seed=12), 12)


def test_magic_wand_shapes():
    """magic_wand's first two ops: a tall depthwise (128 x 3, multiplier 8) and a conv."""
    check_special(dw_model(np.float32, 1, (128, 3), 1, (4, 3), 8, act=Act.RELU, seed=9), 9)
    check_special(conv_model(np.float32, 1, (42, 1), 8, (4, 1), 16, act=Act.RELU, seed=10),
                  10)


@pytest.mark.parametrize("batches,accum,depth", [(1, 224, 16), (1, 16, 4), (1, 1, 1),
                                                 (2, 5, 3), (3, 5, 7), (2, 40, 33),
                                                 (1, 300, 1)])
def test_float_fully_connected_special_values(batches, accum, depth):
    """Few outputs sum along K one by one; many, all at once."""
    for seed in range(3):
        check_special(fc_model(batches, accum, depth, np.float32, ACTS[seed + batches % 2],
                               bias=seed != 1, seed=seed), seed)


def test_float_fully_connected_nan_weights_run_eval():
    model = fc_model(1, 6, 3, np.float32, seed=4)
    sg = model.subgraphs[0]
    weights = sg.tensors[sg.operators[0].inputs[1]]
    data = np.frombuffer(model.buffers[weights.buffer].data, F32).copy()
    data[[1, 8]] = nan([0x7FC00001, 0xFFC00002])
    model.buffers[weights.buffer].data = data.tobytes()
    check_special(model, 4)


POOLS = [((1, 128, 3, 8), (3, 3), (3, 3), VALID), ((1, 42, 1, 16), (3, 1), (3, 1), SAME),
         ((2, 7, 9, 3), (3, 2), (2, 2), SAME), ((1, 5, 5, 2), (7, 7), (1, 1), SAME),
         ((1, 6, 4, 3), (2, 2), (1, 1), VALID),
         ((1, 48, 40, 4), (3, 3), (1, 1), SAME)]     # taps past the op's own array


@pytest.mark.parametrize("case", range(len(POOLS)))
@pytest.mark.parametrize("negative_zero", [False, True])
def test_float_max_pool_special_values(case, negative_zero):
    """Without -0.0 the fmax path, with it the loop; NaN, inf, +0.0, float max and lowest
    in the windows, some windows all NaN or all -inf."""
    shape, filter_hw, stride_hw, padding = POOLS[case]
    for act in ACTS:
        model = pool_model(Op.MAX_POOL_2D, shape, filter_hw, stride_hw, padding, np.float32,
                           act, seed=case)
        rng = np.random.default_rng(case * 10 + int(act))
        x = special_input(rng, shape, 0.3, negative_zero=negative_zero)
        x[0, :filter_hw[0], :filter_hw[1]] = np.nan
        x[-1, -filter_hw[0]:, -filter_hw[1]:] = -np.inf
        check_model(model, inputs=[x])


@pytest.mark.parametrize("seed", range(6))
def test_short_float_softmax_specials(seed):
    rng = np.random.default_rng(600 + seed)
    shape = (int(rng.integers(1, 3)), int(rng.integers(1, 9)))
    x = special_input(rng, shape, 0.3)
    if seed == 0:
        x[0] = -np.inf                    # every exp is 0: 0.0f / 0.0f
    check_model(softmax_model(shape, np.float32, [1.0, 0.5, 3.7, -2.0, 1e-3, 1.0][seed]),
                inputs=[x])


# ----------------------------------------------------------------------------- invoke


def test_invoke_silences_float_warnings_and_restores_them():
    model = fc_model(1, 4, 2, np.float32, seed=2)
    interpreter = MicroInterpreter(model, AllOpsResolver())
    interpreter.allocate_tensors()
    interpreter.input(0).data[...] = np.array([[3e38, 3e38, -np.inf, np.nan]], F32)
    before = np.geterr()
    with np.errstate(all="raise"):
        interpreter.invoke()          # would raise on the overflow, inf - inf and NaN
        with pytest.raises(FloatingPointError):
            np.array([3e38], F32) * F32(10)
    assert np.geterr() == before
