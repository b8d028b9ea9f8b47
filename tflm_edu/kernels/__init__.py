"""Kernels: one op per module, each with init / prepare / eval as in tensorflow/lite/micro/kernels.

These are the optimized kernels (vectorised numpy) that run by default; the subpackage
reference holds TFLM's plain reference loops for the main ops, sharing these modules' init
and prepare (see tflm_edu.kernels.reference and tflm_edu.op_resolver).
"""
