"""Every op tflm_edu registers accepts every version of it that TensorFlow Lite's converter
can write. TFLM itself never looks at an op's version (its resolver matches the builtin
code only), so a model the real TFLM runs must not be refused by tflm_edu's
Registration.max_version; a sample of ops is run at its newest version through both."""
import numpy as np
import pytest

from models import one_op_model, tensor
from op_harness import check_model
from tflm_edu.op_resolver import SPECS
from tflm_edu.schema import options as o
from tflm_edu.schema.builder import quantization
from tflm_edu.schema.enums import BuiltinOperator as Op

# The newest version of each op the converter can write: the largest version of the op in
# FindMinimumRuntimeVersionForOp's table (tensorflow/compiler/mlir/lite/tools/versioning/
# runtime_version.cc) or returned by GetBuiltinOperatorVersion
# (tensorflow/compiler/mlir/lite/tools/versioning/op_version.cc), TensorFlow commit
# 03f49db5a23ec2b22a59f3f3d72e5744469ea30b; ops in neither are version 1. The only op of
# tflm_edu's where the two differ is UNIDIRECTIONAL_SEQUENCE_LSTM (op_version.cc gives
# int16 activations version 5; the runtime table stops at 4).
NEWEST_VERSION = {
    "ABS": 5, "ADD": 6, "ADD_N": 1, "ARG_MAX": 3, "ARG_MIN": 3, "ASSIGN_VARIABLE": 1,
    "AVERAGE_POOL_2D": 3, "BATCH_MATMUL": 4, "BATCH_TO_SPACE_ND": 4, "BROADCAST_ARGS": 1,
    "BROADCAST_TO": 3, "CALL_ONCE": 1, "CAST": 8, "CEIL": 1, "CONCATENATION": 5,
    "CONV_2D": 8, "COS": 1, "CUMSUM": 1, "DEPTHWISE_CONV_2D": 7, "DEPTH_TO_SPACE": 2,
    "DEQUANTIZE": 8, "DIV": 2, "DYNAMIC_UPDATE_SLICE": 6, "ELU": 1, "EMBEDDING_LOOKUP": 5,
    "EQUAL": 5, "EXP": 2, "EXPAND_DIMS": 1, "FILL": 4, "FLOOR": 1, "FLOOR_DIV": 3,
    "FLOOR_MOD": 2, "FULLY_CONNECTED": 14, "GATHER": 7, "GATHER_ND": 5, "GREATER": 2,
    "GREATER_EQUAL": 3, "HARD_SWISH": 1, "IF": 1, "L2_NORMALIZATION": 2, "L2_POOL_2D": 1,
    "LEAKY_RELU": 2, "LESS": 3, "LESS_EQUAL": 2, "LOG": 2, "LOGICAL_AND": 1,
    "LOGICAL_NOT": 1, "LOGICAL_OR": 1, "LOGISTIC": 3, "LOG_SOFTMAX": 2, "MAXIMUM": 4,
    "MAX_POOL_2D": 3, "MEAN": 3, "MINIMUM": 4, "MIRROR_PAD": 3, "MUL": 8, "NEG": 1,
    "NOT_EQUAL": 4, "PACK": 4, "PAD": 5, "PADV2": 5, "PRELU": 1, "QUANTIZE": 6,
    "READ_VARIABLE": 1, "REDUCE_ALL": 1, "REDUCE_MAX": 3, "REDUCE_MIN": 3, "RELU": 3,
    "RELU6": 3, "RESHAPE": 1, "RESIZE_BILINEAR": 4, "RESIZE_NEAREST_NEIGHBOR": 4,
    "REVERSE_V2": 3, "ROUND": 1, "RSQRT": 3, "SELECT_V2": 2, "SHAPE": 1, "SIN": 1,
    "SLICE": 7, "SOFTMAX": 3, "SPACE_TO_BATCH_ND": 4, "SPACE_TO_DEPTH": 2, "SPLIT": 4,
    "SPLIT_V": 2, "SQRT": 2, "SQUARE": 1, "SQUARED_DIFFERENCE": 2, "SQUEEZE": 2,
    "STRIDED_SLICE": 8, "SUB": 5, "SUM": 2, "SVDF": 4, "TANH": 3, "TRANSPOSE": 8,
    "TRANSPOSE_CONV": 5, "UNIDIRECTIONAL_SEQUENCE_LSTM": 5, "UNPACK": 5, "VAR_HANDLE": 1,
    "WHILE": 1, "ZEROS_LIKE": 1,
}


def test_the_table_covers_every_registered_op():
    assert set(NEWEST_VERSION) == {op.name for op in SPECS}


@pytest.mark.parametrize("op", sorted(SPECS, key=lambda op: op.name), ids=lambda op: op.name)
def test_max_version_is_at_least_the_newest_the_converter_writes(op):
    assert SPECS[op].register().max_version >= NEWEST_VERSION[op.name]


# One-op models marked with the op's newest version. The real TFLM runs them as it runs
# version 1; tflm_edu must run them too, with the same bytes.
Q = quantization(0.05, -3)


def _newest(op, inputs, options, output):
    return one_op_model(op, inputs, options, output, NEWEST_VERSION[op.name])


SAMPLE = {
    "ADD": lambda: _newest(Op.ADD, [tensor((2, 3)), tensor((2, 3))], o.AddOptions(),
                           tensor((2, 3))),
    "MUL": lambda: _newest(Op.MUL, [tensor((2, 3), np.int8, quant=Q),
                                    tensor((3,), np.int8, quant=Q)], o.MulOptions(),
                           tensor((2, 3), np.int8, quant=quantization(0.1, 2))),
    "FULLY_CONNECTED": lambda: _newest(
        Op.FULLY_CONNECTED, [tensor((2, 3)), tensor((4, 3), data=np.arange(12) / 7.0), -1],
        o.FullyConnectedOptions(), tensor((2, 4))),
    "CAST": lambda: _newest(Op.CAST, [tensor((5,))], o.CastOptions(), tensor((5,), np.int32)),
    "CONCATENATION": lambda: _newest(Op.CONCATENATION, [tensor((2, 2)), tensor((2, 3))],
                                     o.ConcatenationOptions(axis=1), tensor((2, 5))),
    "QUANTIZE": lambda: _newest(Op.QUANTIZE, [tensor((6,))], None,
                                tensor((6,), np.int8, quant=Q)),
    "DEQUANTIZE": lambda: _newest(Op.DEQUANTIZE, [tensor((6,), np.int8, quant=Q)], None,
                                  tensor((6,))),
    "EQUAL": lambda: _newest(Op.EQUAL, [tensor((4,)), tensor((4,))], None,
                             tensor((4,), np.bool_)),
    "NOT_EQUAL": lambda: _newest(Op.NOT_EQUAL, [tensor((4,), np.int32),
                                                tensor((4,), np.int32)], None,
                                 tensor((4,), np.bool_)),
    "SLICE": lambda: _newest(Op.SLICE, [tensor((3, 4)), tensor((2,), np.int32, [1, 1]),
                                        tensor((2,), np.int32, [2, 2])], o.SliceOptions(),
                             tensor((2, 2))),
    "TRANSPOSE": lambda: _newest(Op.TRANSPOSE, [tensor((2, 3, 4)),
                                                tensor((3,), np.int32, [2, 0, 1])],
                                 o.TransposeOptions(), tensor((4, 2, 3))),
    "UNPACK": lambda: _newest(Op.UNPACK, [tensor((2, 3))], o.UnpackOptions(num=2, axis=0),
                              [tensor((3,)), tensor((3,))]),
    "PADV2": lambda: _newest(Op.PADV2, [tensor((2, 2)),
                                        tensor((2, 2), np.int32, [[1, 0], [0, 1]]),
                                        tensor((), np.float32, 1.5)], o.PadV2Options(),
                             tensor((3, 3))),
    "SQRT": lambda: _newest(Op.SQRT, [tensor((5,))], None, tensor((5,))),
    "DYNAMIC_UPDATE_SLICE": lambda: _newest(
        Op.DYNAMIC_UPDATE_SLICE, [tensor((4, 4)), tensor((2, 2)),
                                  tensor((2,), np.int32, [1, 2])],
        o.DynamicUpdateSliceOptions(), tensor((4, 4))),
    "EMBEDDING_LOOKUP": lambda: _newest(
        Op.EMBEDDING_LOOKUP, [tensor((2,), np.int32, [3, 0]),
                              tensor((5, 2), data=np.arange(10) / 3.0)], None, tensor((2, 2))),
    "GATHER_ND": lambda: _newest(Op.GATHER_ND, [tensor((3, 2)),
                                                tensor((2, 1), np.int32, [[2], [0]])],
                                 o.GatherNdOptions(), tensor((2, 2))),
    "BATCH_MATMUL": lambda: _newest(Op.BATCH_MATMUL, [tensor((2, 3)), tensor((3, 2))],
                                    o.BatchMatMulOptions(), tensor((2, 2))),
    "SIN": lambda: _newest(Op.SIN, [tensor((5,))], None, tensor((5,))),
}


@pytest.mark.parametrize("name", sorted(SAMPLE))
def test_tflm_and_tflm_edu_run_the_newest_version(name):
    model = SAMPLE[name]()
    assert model.operator_codes[0].version == NEWEST_VERSION[name]
    check_model(model, seed=3)
