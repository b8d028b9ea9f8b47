"""FULLY_CONNECTED against the real TFLM: float32, int8 per-tensor and per-channel."""
import numpy as np
import pytest

from models import fc_model, one_op_model, tensor
from op_harness import check_model
from tflm_edu import AllOpsResolver, MicroInterpreter, ModelError
from tflm_edu.schema import read_model, write_model
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


@pytest.mark.parametrize("dtype, bias_dtype", [(np.int8, np.int16), (np.int8, np.int64),
                                               (np.float32, np.int32)])
def test_a_bias_of_the_wrong_type_is_refused(dtype, bias_dtype):
    """TFLM's Eval reads the bias as int32 (int8 FC) or float: another type's bytes would be
    reinterpreted, so tflm_edu refuses instead of converting the values."""
    model = fc_model(2, 8, 4, dtype, bias_dtype=bias_dtype) if dtype != np.float32 else \
        fc_model(2, 8, 4, dtype)
    if dtype == np.float32:
        bias = model.subgraphs[0].tensors[2]
        bias.type = 2
        model.buffers[bias.buffer].data = np.arange(4, dtype=np.int32).tobytes()
    interpreter = MicroInterpreter(read_model(write_model(model)), AllOpsResolver(), None)
    with pytest.raises(ModelError, match="reads it as"):
        interpreter.allocate_tensors()


def test_a_bias_shaped_n_by_1_is_read_flat_as_tflm_reads_it():
    model = fc_model(2, 8, 4, np.int8, seed=3)
    model.subgraphs[0].tensors[2].shape = (4, 1)
    check_model(model)


def test_weights_formats_other_than_default_are_refused_as_tflm_refuses_them():
    model = fc_model(2, 8, 4, np.int8)
    model.subgraphs[0].operators[0].builtin_options.weights_format = 1
    with pytest.raises(ModelError, match="weights_format 1"):
        MicroInterpreter(read_model(write_model(model)), AllOpsResolver(), None).allocate_tensors()
