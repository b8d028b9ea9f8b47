"""From a trained model to something a microcontroller runs.

    converter    a tflm_edu.train Sequential -> a float32 .tflite Model
    fold         constant folding: the SHAPE -> STRIDED_SLICE -> PACK chains of
                 TensorFlow's Reshape/Flatten become constants
    calibration  activation ranges over a representative dataset (minmax, moving
                 average, percentile), one array per model input
    quantize     post-training int8 or int16x8 quantization
    report       per-tensor scales, per-layer SQNR, the worst layer, float vs int8 accuracy
    checks       will this model run under TFLM on that board?
    c_array      the model as a C array (xxd -i), its I/O constants and op resolver
"""
from tflm_edu.convert.c_array import (model_header_source, op_resolver_source, parse_c_array,
                                      to_c_array, write_c_files)
from tflm_edu.convert.calibration import calibrate
from tflm_edu.convert.checks import Finding, check_model, format_findings
from tflm_edu.convert.converter import convert_sequential
from tflm_edu.convert.fold import fold_constants
from tflm_edu.convert.quantize import quantize_model
from tflm_edu.convert.report import (layer_sqnr, model_accuracy, quantization_report,
                                     suggest_fix, tensor_table, worst_layer)

__all__ = ["to_c_array", "parse_c_array", "model_header_source", "op_resolver_source",
           "write_c_files", "convert_sequential", "fold_constants", "quantize_model",
           "calibrate", "quantization_report", "layer_sqnr", "worst_layer", "suggest_fix",
           "model_accuracy", "tensor_table", "check_model", "format_findings", "Finding"]
