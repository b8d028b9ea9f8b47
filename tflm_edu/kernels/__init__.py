"""Kernels: one op per module, each with init / prepare / eval as in tensorflow/lite/micro/kernels."""
