"""FULLY_CONNECTED against the real TFLM: float32, int8 per-tensor and per-channel."""
import numpy as np
import pytest

from op_harness import check_model
from tflm_edu.schema.builder import ModelBuilder, quantization
from tflm_edu.schema.enums import ActivationFunctionType as Act, BuiltinOperator as Op
from tflm_edu.schema.options import FullyConnectedOptions


def fc_model(batches, accum, depth, dtype, act=Act.NONE, bias=True, per_channel=False, seed=0):
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    if dtype == np.float32:
        x = b.add_input((batches, accum), np.float32)
        w = b.add_tensor((depth, accum), np.float32, data=rng.standard_normal((depth, accum)))
        bias_t = b.add_tensor((depth,), np.float32, data=rng.standard_normal(depth)) if bias else -1
        out = b.add_tensor((batches, depth), np.float32)
        version = 1
    else:
        in_scale, out_scale = rng.uniform(0.01, 0.1), rng.uniform(0.05, 0.5)
        w_scales = rng.uniform(0.001, 0.02, depth if per_channel else 1)
        x = b.add_input((batches, accum), np.int8,
                        quant=quantization(in_scale, int(rng.integers(-20, 20))))
        w = b.add_tensor((depth, accum), np.int8, data=rng.integers(-127, 128, (depth, accum)),
                         quant=quantization(w_scales, 0))
        bias_t = b.add_tensor((depth,), np.int32, data=rng.integers(-3000, 3000, depth),
                              quant=quantization(in_scale * w_scales, 0)) if bias else -1
        out = b.add_tensor((batches, depth), np.int8,
                           quant=quantization(out_scale, int(rng.integers(-10, 10))))
        version = 4
    b.add_operator(Op.FULLY_CONNECTED, [x, w, bias_t], [out],
                   FullyConnectedOptions(fused_activation_function=act), version=version)
    b.mark_output(out)
    return b.build()


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("act", [Act.NONE, Act.RELU, Act.RELU6])
def test_int8(seed, act):
    check_model(fc_model(1 + seed % 3, 5 + 7 * seed, 3 + seed, np.int8, act, seed=seed), seed)


@pytest.mark.parametrize("seed", range(4))
def test_int8_per_channel(seed):
    check_model(fc_model(2, 33, 7, np.int8, per_channel=True, seed=seed), seed)


def test_int8_without_bias():
    check_model(fc_model(3, 10, 4, np.int8, bias=False))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("act", [Act.NONE, Act.RELU, Act.RELU_N1_TO_1])
def test_float(seed, act):
    check_model(fc_model(1 + seed, 3 + 11 * seed, 5, np.float32, act, seed=seed), seed)


def test_hybrid_model_is_refused_like_tflm():
    from tflm_edu import MicroInterpreter, AllOpsResolver, ModelError
    b = ModelBuilder()
    x = b.add_input((1, 4), np.float32)
    w = b.add_tensor((2, 4), np.int8, data=np.ones((2, 4)), quant=quantization(0.1))
    out = b.add_tensor((1, 2), np.float32)
    b.add_operator(Op.FULLY_CONNECTED, [x, w, -1], [out], FullyConnectedOptions())
    b.mark_output(out)
    with pytest.raises(ModelError, match="hybrid"):
        MicroInterpreter(b.build(), AllOpsResolver(), None).allocate_tensors()
