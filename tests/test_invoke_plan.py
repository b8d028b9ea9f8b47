"""The invoke plan: invoke() runs each op's bound Eval (Registration.bind), steps() runs
eval itself. Both must give the real TFLM's bytes.

The kernel tests (test_kernel_*.py) already compare invoke() with the real TFLM over many
geometries; these add cases aimed at the bound paths' own edges - the int8 depthwise BLAS
path (16 taps or more) and tap loop, float32 and float64 BLAS for CONV_2D, the small and
large FULLY_CONNECTED products, accumulators that wrap, multipliers above 1, float
convolutions whose weights are not finite - and check on real models that every tensor
invoke() leaves equals what steps() leaves, and that the bound Evals share one workspace.
"""
import numpy as np
import pytest

from conftest import MODELS
from models import conv_model, dw_model, fc_model
from op_harness import check_model
from tflm_edu import AllOpsResolver, MicroInterpreter
from tflm_edu.schema import load_model
from tflm_edu.schema.enums import ActivationFunctionType as Act, Padding

SAME, VALID = Padding.SAME, Padding.VALID
ACTS = [Act.NONE, Act.RELU, Act.RELU6, Act.RELU_N1_TO_1]


@pytest.mark.parametrize("seed", range(12))
def test_depthwise_int8_many_taps_blas_path(seed):
    """16 taps or more go through float BLAS per channel."""
    rng = np.random.default_rng(900 + seed)
    kernel = (int(rng.integers(4, 9)), int(rng.integers(4, 7)))
    hw = tuple(int(k + rng.integers(0, 8)) for k in kernel)
    check_model(dw_model(np.int8, int(rng.integers(1, 3)), hw, int(rng.integers(1, 4)),
                         kernel, int(rng.integers(1, 4)),
                         tuple(int(s) for s in rng.integers(1, 3, 2)), (1, 1),
                         [SAME, VALID][seed % 2], ACTS[seed % 4],
                         bias=bool(seed % 3), per_channel=bool(seed % 4), seed=seed), seed=seed)


@pytest.mark.parametrize("seed", range(8))
def test_float_convolutions_sum_in_tflms_order(seed):
    rng = np.random.default_rng(700 + seed)
    kernel = (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
    hw = tuple(int(k + rng.integers(0, 6)) for k in kernel)
    stride = tuple(int(s) for s in rng.integers(1, 3, 2))
    check_model(conv_model(np.float32, int(rng.integers(1, 3)), hw, int(rng.integers(1, 9)),
                           kernel, int(rng.integers(1, 9)), stride, (1, 1),
                           [SAME, VALID][seed % 2], ACTS[seed % 4], seed=seed), seed=seed)
    check_model(dw_model(np.float32, 1, hw, int(rng.integers(1, 5)), kernel,
                         int(rng.integers(1, 3)), stride, (1, 1), [SAME, VALID][seed % 2],
                         ACTS[seed % 4], seed=seed), seed=seed)


@pytest.mark.parametrize("value", [np.inf, np.nan])
@pytest.mark.parametrize("kind", ["conv", "dw"])
def test_float_weights_not_finite_with_padding(kind, value):
    """A zero border times inf is NaN where TFLM skips the tap: such a model runs eval."""
    model = (conv_model(np.float32, 1, (5, 5), 2, (3, 3), 3, padding=SAME, seed=3)
             if kind == "conv" else dw_model(np.float32, 1, (5, 5), 2, (3, 3), 1,
                                             padding=SAME, seed=3))
    filter_tensor = model.subgraphs[0].tensors[model.subgraphs[0].operators[0].inputs[1]]
    data = np.frombuffer(model.buffers[filter_tensor.buffer].data, np.float32).copy()
    data[0] = value
    model.buffers[filter_tensor.buffer].data = data.tobytes()
    check_model(model, seed=1)


def test_conv_int8_wide_sums_use_float64():
    """K x 128 x max|w| at or above 2^24: float32 BLAS would round, float64 must run."""
    check_model(conv_model(np.int8, 1, (6, 6), 256, (3, 3), 4, seed=5), seed=5)


@pytest.mark.parametrize("accum,depth", [(1, 16), (16, 16), (64, 64), (500, 30), (4000, 4)])
@pytest.mark.parametrize("per_channel", [False, True])
def test_fully_connected_int8_small_and_large_products(accum, depth, per_channel):
    for seed in range(3):
        check_model(fc_model(int(1 + seed), accum, depth, np.int8, ACTS[seed],
                             per_channel=per_channel, filter_zp=0 if per_channel else seed - 1,
                             seed=seed), seed=seed)


@pytest.mark.parametrize("accum", [1, 7, 224, 3000])
def test_fully_connected_float_in_order(accum):
    for seed in range(3):
        check_model(fc_model(1 + seed, accum, 1 + 5 * seed, np.float32, ACTS[seed],
                             bias=bool(seed), seed=seed), seed=seed)


def test_fully_connected_multiplier_above_one():
    """A large input x filter scale over a small output scale: a left shift, which the
    requantizer must wrap to int32 as the C++ does."""
    model = fc_model(2, 64, 8, np.int8, seed=4)
    sg = model.subgraphs[0]
    out = sg.tensors[sg.outputs[0]]
    out.quantization.scale = (out.quantization.scale[0] / 5000,)
    check_model(model, seed=4)


# ----------------------------------------------------------------------------- real models

REFERENCE_NAMES = ["hello_world_int8", "hello_world_float", "micro_speech_quantized",
                   "magic_wand", "person_detect"]


@pytest.mark.parametrize("name", REFERENCE_NAMES)
def test_invoke_equals_steps_tensor_by_tensor(name):
    path = MODELS / f"{name}.tflite"
    if not path.is_file():
        pytest.skip(f"{path} not found (needs ../shared/reference)")
    model = load_model(path)
    rng = np.random.default_rng(0)
    results = []
    for use_steps in (False, True):
        interpreter = MicroInterpreter(model, AllOpsResolver())
        interpreter.allocate_tensors()
        x = interpreter.input(0)
        x.data[...] = (rng.integers(-128, 128, x.shape) if x.data.dtype != np.float32
                       else rng.standard_normal(x.shape)).astype(x.data.dtype)
        rng = np.random.default_rng(0)
        seen = {}

        def keep(interp, event):
            for i in event.node.outputs:
                seen[i] = interp.tensors[i].data.copy()
        if use_steps:
            interpreter.add_hook(after=keep)
            interpreter.invoke()
        else:
            for sg_node, run in interpreter.subgraphs[0].invoke_plan or \
                    interpreter._bind_plan(interpreter.subgraphs[0]):
                run()
                for i in sg_node.outputs:
                    seen[i] = interpreter.tensors[i].data.copy()
        results.append(seen)
    bound, stepped = results
    assert bound.keys() == stepped.keys()
    for i in bound:
        assert np.array_equal(bound[i].view(np.uint8), stepped[i].view(np.uint8)), \
            f"tensor {i} differs between the bound Eval and eval"


def test_bound_evals_share_one_workspace():
    path = MODELS / "person_detect.tflite"
    if not path.is_file():
        pytest.skip(f"{path} not found (needs ../shared/reference)")
    interpreter = MicroInterpreter(load_model(path), AllOpsResolver())
    interpreter.allocate_tensors()
    interpreter.invoke()
    sg = interpreter.subgraphs[0]
    # one block, as large as the largest op needs - far below the sum over the ops
    assert sg.workspace.block.nbytes == sg.workspace.largest
    assert sg.workspace.largest < 4 << 20


@pytest.mark.parametrize("seed", range(16))
def test_short_float_softmax_element_by_element(seed):
    """Up to 32 values, the bound softmax runs on float32 scalars with libm's expf."""
    from test_kernel_softmax import softmax_model
    rng = np.random.default_rng(500 + seed)
    shape = (int(rng.integers(1, 4)), int(rng.integers(1, 11)))
    x = (rng.standard_normal(shape) * rng.choice([0.1, 3, 40])).astype(np.float32)
    special = rng.random(shape) < 0.15
    x[special] = rng.choice([np.inf, -np.inf, np.nan, -0.0, 3e38], special.sum())
    check_model(softmax_model(shape, np.float32, float(rng.choice([1.0, 0.3, 7.5]))),
                inputs=[x])
