"""The .tflite FlatBuffer layer: read, validate and write schema-v3 models."""
from tflm_edu.schema.enums import (ActivationFunctionType, BuiltinOperator, Padding, TensorType,
                                   NUMPY_DTYPE)
from tflm_edu.schema.model import (Buffer, Metadata, Model, Operator, OperatorCode,
                                   QuantizationParameters, SignatureDef, SubGraph, Tensor,
                                   TensorMap, tensor_data)
from tflm_edu.schema import options
from tflm_edu.schema.options import *  # noqa: F401,F403 - the BuiltinOptions tables
from tflm_edu.schema.reader import (as_bytes, as_model, as_model_and_bytes, load_model,
                                    read_model)
from tflm_edu.schema.writer import write_model

__all__ = ["ActivationFunctionType", "BuiltinOperator", "Padding", "TensorType", "NUMPY_DTYPE",
           "Buffer", "Metadata", "Model", "Operator", "OperatorCode", "QuantizationParameters",
           "SignatureDef", "SubGraph", "Tensor", "TensorMap", "tensor_data", "load_model",
           "read_model", "write_model", "as_bytes", "as_model", "as_model_and_bytes", "options",
           *options.__all__]
