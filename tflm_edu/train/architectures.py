"""The float models behind TFLM's three example applications and person detection, untrained.

Each function returns the Sequential that the matching reference .tflite was converted from,
layer for layer (shapes and parameter counts are checked against the reference files in
tests/test_architectures.py):

- hello_world: tflite-micro/tensorflow/lite/micro/examples/hello_world (train/train.py)
- micro_speech_tiny_conv: tensorflow/examples/speech_commands/models.py, create_tiny_conv_model
- magic_wand: tflite-micro/tensorflow/lite/micro/examples/magic_wand (train/train.py, build_cnn)
- person_detection_mobilenet_v1: tf-slim nets/mobilenet_v1.py at depth_multiplier 0.25, the
  model of the person_detection example (BatchNormalization after every conv, folded away
  by the converter; the head is slim's 3x3 average pool, 1x1 conv logits, squeeze, softmax).

The classifiers end in Softmax like the reference models; compile(loss="cross_entropy")
trains them through the fused Softmax + cross-entropy gradient.
"""
from __future__ import annotations

import math

from tflm_edu.train.activations import ReLU6, Softmax
from tflm_edu.train.batchnorm import BatchNormalization
from tflm_edu.train.conv import Conv2D, DepthwiseConv2D
from tflm_edu.train.dense import Dense
from tflm_edu.train.dropout import Dropout
from tflm_edu.train.pooling import AveragePool2D, MaxPool2D
from tflm_edu.train.reshape import Flatten, Reshape
from tflm_edu.train.sequential import Sequential

MICRO_SPEECH_LABELS = ("silence", "unknown", "yes", "no")
MAGIC_WAND_LABELS = ("wing", "ring", "slope", "negative")
PERSON_DETECTION_LABELS = ("no_person", "person")


def hello_world(seed: int = 0) -> Sequential:
    """x -> sin(x): 1 -> Dense 16 ReLU -> Dense 16 ReLU -> Dense 1 (321 parameters)."""
    return Sequential([Dense(16, activation="relu"), Dense(16, activation="relu"), Dense(1)],
                      input_shape=(1,), seed=seed)


def micro_speech_tiny_conv(seed: int = 0, dropout: float = 0.5) -> Sequential:
    """49 frames x 40 features -> silence/unknown/yes/no (16,652 parameters).

    One 10x8 conv, stride 2, SAME: (49, 40, 1) -> (25, 20, 8), then a Dense over all 4000.
    """
    return Sequential([
        Conv2D(8, (10, 8), strides=2, padding="same", activation="relu"),
        Dropout(dropout),
        Flatten(),
        Dense(len(MICRO_SPEECH_LABELS)),
        Softmax(),
    ], input_shape=(49, 40, 1), seed=seed)


def magic_wand(seed: int = 0, dropout: float = 0.1) -> Sequential:
    """128 accelerometer samples x (x, y, z) -> wing/ring/slope/negative (4,300 parameters)."""
    return Sequential([
        Conv2D(8, (4, 3), padding="same", activation="relu"),        # (128, 3, 8)
        MaxPool2D((3, 3)),                                           # (42, 1, 8)
        Dropout(dropout),
        Conv2D(16, (4, 1), padding="same", activation="relu"),       # (42, 1, 16)
        MaxPool2D((3, 1), padding="same"),                           # (14, 1, 16)
        Dropout(dropout),
        Flatten(),                                                   # (224,)
        Dense(16, activation="relu"),
        Dropout(dropout),
        Dense(len(MAGIC_WAND_LABELS)),
        Softmax(),
    ], input_shape=(128, 3, 1), seed=seed)


# MobileNet v1's 13 depthwise-separable blocks: (pointwise filters at alpha = 1, stride).
MOBILENET_V1_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1),
                       (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


def _depth(filters: int, alpha: float) -> int:
    """Slim's channel rule: scale by the width multiplier, but keep at least 8 channels."""
    return max(int(filters * alpha), 8)


def _conv_bn_relu6(conv) -> list:
    """A convolution without bias (BatchNormalization's beta takes its place), BN, ReLU6.

    BN's moving averages use momentum 0.9, not Keras' 0.99: inference mode uses them, and in
    a short notebook run (say 120 steps) 0.99 still remembers the first batches' statistics,
    which through 27 BN layers is enough to validate at chance while training looks perfect.
    """
    return [conv, BatchNormalization(momentum=0.9), ReLU6()]


def person_detection_mobilenet_v1(alpha: float = 0.25, input_shape=(96, 96, 1), classes: int = 2,
                                  dropout: float = 1e-3, seed: int = 0) -> Sequential:
    """MobileNet v1 (width multiplier `alpha`) on 96x96 grayscale -> no_person/person."""
    layers = _conv_bn_relu6(Conv2D(_depth(32, alpha), 3, strides=2, padding="same",
                                   use_bias=False))
    for filters, stride in MOBILENET_V1_BLOCKS:
        layers += _conv_bn_relu6(DepthwiseConv2D(3, strides=stride, padding="same",
                                                 use_bias=False))
        layers += _conv_bn_relu6(Conv2D(_depth(filters, alpha), 1, padding="same",
                                        use_bias=False))
    # Five stride-2 SAME layers leave ceil(size / 32) rows and columns for the average pool.
    final_hw = (math.ceil(input_shape[0] / 32), math.ceil(input_shape[1] / 32))
    layers += [AveragePool2D(final_hw, strides=2),            # slim's stride; one window anyway
               Dropout(dropout),
               Conv2D(classes, 1, padding="same"),                     # the logits, (1, 1, 2)
               Reshape((classes,)),
               Softmax()]
    return Sequential(layers, input_shape=input_shape, seed=seed)
