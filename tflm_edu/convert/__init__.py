"""From a trained model to something a microcontroller runs.

    converter   a tflm_edu.train Sequential -> a float32 .tflite Model
    quantize    post-training int8 quantization with a representative dataset
    report      per-tensor scales, per-layer SQNR, float vs int8 accuracy
    checks      will this model run under TFLM on that board?
    c_array     the model as a C array (xxd -i), its I/O constants and op resolver
"""
from tflm_edu.convert.c_array import (model_header_source, op_resolver_source, parse_c_array,
                                      to_c_array, write_c_files)
from tflm_edu.convert.checks import Finding, check_model, format_findings
from tflm_edu.convert.converter import convert_sequential
from tflm_edu.convert.quantize import calibrate, quantize_model
from tflm_edu.convert.report import (layer_sqnr, model_accuracy, quantization_report,
                                     tensor_table)

__all__ = ["to_c_array", "parse_c_array", "model_header_source", "op_resolver_source",
           "write_c_files", "convert_sequential", "quantize_model", "calibrate",
           "quantization_report", "layer_sqnr", "model_accuracy", "tensor_table",
           "check_model", "format_findings", "Finding"]
