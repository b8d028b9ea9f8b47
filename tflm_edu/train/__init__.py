"""A small numpy training framework, Keras-shaped, for the models TFLM runs.

Layers (NHWC float32, Keras weight layouts), losses, optimizers, schedules and a Sequential
model with fit / evaluate / predict / summary; architectures.py builds the example models;
qat.py fine-tunes one through the int8 arithmetic (quantization-aware training).
"""
from tflm_edu.train.activations import ReLU, ReLU6, Softmax
from tflm_edu.train.architectures import (MAGIC_WAND_LABELS, MICRO_SPEECH_LABELS,
                                          PERSON_DETECTION_LABELS, hello_world, magic_wand,
                                          micro_speech_tiny_conv, person_detection_mobilenet_v1)
from tflm_edu.train.batchnorm import BatchNormalization
from tflm_edu.train.callbacks import LivePlot
from tflm_edu.train.conv import Conv2D, DepthwiseConv2D
from tflm_edu.train.dense import Dense
from tflm_edu.train.dropout import Dropout
from tflm_edu.train.gradcheck import gradient_errors
from tflm_edu.train.layer import Layer
from tflm_edu.train.losses import CrossEntropy, MeanSquaredError
from tflm_edu.train.optimizers import SGD, Adam, Optimizer
from tflm_edu.train.pooling import AveragePool2D, GlobalAveragePool, MaxPool2D
from tflm_edu.train.qat import QATModel, quantize_aware
from tflm_edu.train.reshape import Flatten, Reshape
from tflm_edu.train.schedules import CosineDecay, ExponentialDecay, StepDecay
from tflm_edu.train.sequential import History, LayerInfo, Sequential

__all__ = ["Layer", "Dense", "Conv2D", "DepthwiseConv2D", "MaxPool2D", "AveragePool2D",
           "GlobalAveragePool", "Flatten", "Reshape", "ReLU", "ReLU6", "Softmax", "Dropout",
           "BatchNormalization", "CrossEntropy", "MeanSquaredError", "Optimizer", "SGD", "Adam",
           "StepDecay", "ExponentialDecay", "CosineDecay", "Sequential", "History", "LayerInfo",
           "LivePlot", "gradient_errors", "hello_world", "micro_speech_tiny_conv", "magic_wand",
           "person_detection_mobilenet_v1", "MICRO_SPEECH_LABELS", "MAGIC_WAND_LABELS",
           "PERSON_DETECTION_LABELS", "quantize_aware", "QATModel"]
