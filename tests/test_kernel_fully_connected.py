"""FULLY_CONNECTED against the real TFLM: float32, int8 per-tensor and per-channel."""
import numpy as np
import pytest

from models import fc_model, one_op_model, tensor
from op_harness import check_model
from tflm_edu.schema.builder import quantization
from tflm_edu.schema.enums import ActivationFunctionType as Act, BuiltinOperator as Op
from tflm_edu.schema.options import FullyConnectedOptions


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
    model = one_op_model(Op.FULLY_CONNECTED, [
        tensor((1, 4)), tensor((2, 4), np.int8, np.ones((2, 4)), quantization(0.1)), -1,
    ], FullyConnectedOptions(), tensor((1, 2)))
    with pytest.raises(ModelError, match="hybrid"):
        MicroInterpreter(model, AllOpsResolver(), None).allocate_tensors()
