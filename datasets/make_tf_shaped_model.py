"""Make datasets/tf_path/: a float .tflite exactly as TensorFlow's converter writes it for
ordinary Keras code, and calibration windows for it - the start of the README's TensorFlow
path (train with Keras, convert to float, bring the file to `tflm-edu quantize`).

Run once by a maintainer (the files are committed; nothing runs this at run time, and it
needs numpy only - not TensorFlow):

    python datasets/make_tf_shaped_model.py
    python datasets/make_tf_shaped_model.py --check-tensorflow   # compare with TF's own file

The model is magic_wand (notebook 03), as a Keras user writes it:

    model = tf.keras.Sequential([
        tf.keras.Input(shape=(128, 3, 1)),
        tf.keras.layers.Conv2D(8, (4, 3), padding="same", activation="relu"),
        tf.keras.layers.MaxPool2D((3, 3)),
        tf.keras.layers.Dropout(0.1),
        tf.keras.layers.Conv2D(16, (4, 1), padding="same", activation="relu"),
        tf.keras.layers.MaxPool2D((3, 1), padding="same"),
        tf.keras.layers.Dropout(0.1),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(16, activation="relu"),
        tf.keras.layers.Dropout(0.1),
        tf.keras.layers.Dense(4, activation="softmax"),
    ])
    ...                                        # compile, fit
    float_tflite = tf.lite.TFLiteConverter.from_keras_model(model).convert()

Its weights are trained here with tflm_edu's numpy framework (architectures.magic_wand:
the same layers, Keras' weight layouts) on synthetic gestures, and the file is written with
tflm_edu's ModelBuilder in the layout TensorFlow 2.21's converter gives that Keras model:

- the ops: CONV_2D (relu fused; a Conv2D with one input channel stays a CONV_2D),
  MAX_POOL_2D, CONV_2D, MAX_POOL_2D, then Flatten with a dynamic batch as SHAPE ->
  STRIDED_SLICE (begin [0], end and strides one shared [1] tensor, shrink_axis_mask 1) ->
  PACK(batch, 224) -> RESHAPE (no options), FULLY_CONNECTED (relu), FULLY_CONNECTED,
  SOFTMAX; the Dropouts are gone. Every op code version 1.
- float32 input and output, batch 1 with shape_signature -1 on the batch axis of every
  activation; the tensors in the converter's order (the input, the constants as it emits
  them, the activations) with its names - "serving_default_keras_tensor:0" in,
  "StatefulPartitionedCall_1:0" out, fused ops named "a;b;c" after the TF ops they
  absorbed, Keras 3's doubled layer suffixes (sequential_1/conv2d_1_2) - each tensor with
  its own buffer, and an empty QuantizationParameters table on each;
- the serving_default signature (input "keras_tensor", output "output_0"), description
  "MLIR Converted.", metadata min_runtime_version "1.11.0" and CONVERSION_METADATA (the
  bytes TensorFlow 2.21 writes: its version string, API version 2, model type Keras).

--check-tensorflow (needs `pip install tensorflow-cpu`, only for this check) builds the
Keras model above, sets it to these weights, converts it with TensorFlow and compares the
two files field by field, weights included. Done with TensorFlow 2.21.0 (tensorflow-cpu,
Keras 3) on 2026-12-01: every field equal, CONVERSION_METADATA's bytes too; only the
FlatBuffer's layout differs (TensorFlow's file is 21,596 bytes, this one 21,536).
tests/test_readme_tf_path.py checks that the committed file is what tf_shaped_model() writes
for the weights it holds.

Files (deterministic up to BLAS rounding in training):
  tf_path/magic_wand_float.tflite   the float model (~21 KB)
  tf_path/calibration.npy           32 windows (8 per gesture), float32 [32, 128, 3, 1], in g
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
from tflm_edu.datasets import make_gesture_dataset  # noqa: E402
from tflm_edu.schema import load_model, write_model  # noqa: E402
from tflm_edu.schema import options as o  # noqa: E402
from tflm_edu.schema.builder import ModelBuilder  # noqa: E402
from tflm_edu.schema.enums import ActivationFunctionType as Act  # noqa: E402
from tflm_edu.schema.enums import BuiltinOperator as Op, Padding, TensorType  # noqa: E402
from tflm_edu.schema.model import QuantizationParameters, SignatureDef, TensorMap  # noqa: E402
from tflm_edu.train import Adam, architectures  # noqa: E402

OUT = ROOT / "tf_path"
MODEL = OUT / "magic_wand_float.tflite"
CALIBRATION = OUT / "calibration.npy"

F32, I32 = np.float32, np.int32
S, C = "sequential_1", "sequential_1/conv2d_1"      # Keras 3's scope names, as TF writes them
C2, D, D2 = "sequential_1/conv2d_1_2", "sequential_1/dense_1", "sequential_1/dense_1_2"
FLAT = "sequential_1/flatten_1"

# CONVERSION_METADATA as TensorFlow 2.21 writes it: a ConversionMetadata table holding an
# Environment (tensorflow_version "2.21.0", api_version 2, model_type 2 = Keras model,
# model_hash) and empty ConversionOptions.
CONVERSION_METADATA = bytes.fromhex(
    "100000000000000008000e0008000400080000001000000024000000000006000800040006000000"
    "04000000000000000c001800140010000c0004000c000000b977cf2f8dc895b40200000002000000"
    "0400000006000000322e32312e300000")


# ----------------------------------------------------------------------------- training


def train_weights(seed: int = 0) -> list[np.ndarray]:
    """magic_wand trained on synthetic gestures (in g): its kernels and biases in Keras'
    layouts and layer order, what model.get_weights() returns."""
    x, y = make_gesture_dataset(n_per_class=100, seed=seed)
    model = architectures.magic_wand(seed=seed)
    model.compile(Adam(0.002), loss="cross_entropy")
    model.fit(x[..., None] / 1000, y, epochs=40, batch_size=32, verbose=0, seed=seed)
    return [getattr(layer, p) for layer in model.layers for p in layer.params]


def calibration_windows() -> np.ndarray:
    """8 windows per gesture, from other seeds than training: float32 [32, 128, 3, 1], in g."""
    x, _ = make_gesture_dataset(n_per_class=8, seed=7)
    return (x[..., None] / 1000).astype(F32)


# ----------------------------------------------------------------------------- the file


def tf_shaped_model(weights):
    """The float Model TensorFlow 2.21's converter writes for the Keras magic_wand above."""
    k1, b1, k2, b2, k3, b3, k4, b4 = [np.asarray(w, F32) for w in weights]
    b = ModelBuilder(description="MLIR Converted.", min_runtime_version="1.11.0")
    b.metadata.append(("CONVERSION_METADATA", CONVERSION_METADATA))

    def tensor(shape, dtype, name, data=None):
        return b.add_tensor(shape, dtype, name, data, quant=QuantizationParameters())

    # the tensors in the converter's order: input, constants, activations
    x = tensor((1, 128, 3, 1), F32, "serving_default_keras_tensor:0")
    b.inputs.append(x)
    relu_bias = f"{D}/Relu;{D}/BiasAdd"
    dense_bias = tensor((16,), F32, relu_bias, b3)
    conv2_fused = f"{C2}/Relu;{C2}/BiasAdd;{C2}/convolution;{C2}/Squeeze"
    conv2_bias = tensor((16,), F32, conv2_fused, b2)
    dense2_bias = tensor((4,), F32, f"{D2}/BiasAdd", b4)
    conv2_filter = tensor((16, 4, 1, 8), F32, f"{C2}/convolution", k2.transpose(3, 0, 1, 2))
    dense2_weights = tensor((4, 16), F32, f"{D2}/MatMul", k4.T)
    dense_weights = tensor((16, 224), F32, f"{D}/MatMul", k3.T)
    flat_dim = tensor((), I32, f"{FLAT}/Reshape/shape/1", 224)
    begin = tensor((1,), I32, f"{FLAT}/strided_slice/stack", [0])
    one = tensor((1,), I32, "arith.constant", [1])              # end and strides: one tensor
    conv1_filter = tensor((8, 4, 3, 1), F32, f"{C}/convolution", k1.transpose(3, 0, 1, 2))
    conv1_fused = f"{C}/Relu;{C}/BiasAdd;{C}/convolution;{C}/Squeeze"
    conv1_bias = tensor((8,), F32, conv1_fused, b1)
    conv1 = tensor((1, 128, 3, 8), F32, conv1_fused + "1")
    pool1 = tensor((1, 42, 1, 8), F32, f"{S}/max_pooling2d_1/MaxPool2d")
    conv2 = tensor((1, 42, 1, 16), F32, conv2_fused + "1")
    pool2 = tensor((1, 14, 1, 16), F32, f"{S}/max_pooling2d_1_2/MaxPool2d")
    shape = tensor((4,), I32, f"{FLAT}/Shape")
    batch = tensor((), I32, f"{FLAT}/strided_slice")
    packed = tensor((2,), I32, f"{FLAT}/Reshape/shape")
    flat = tensor((1, 224), F32, f"{FLAT}/Reshape")
    dense = tensor((1, 16), F32, f"{D}/MatMul;{relu_bias}")
    logits = tensor((1, 4), F32, f"{D2}/MatMul;{D2}/BiasAdd")
    probabilities = tensor((1, 4), F32, "StatefulPartitionedCall_1:0")
    b.outputs.append(probabilities)

    relu = Act.RELU
    b.add_operator(Op.CONV_2D, [x, conv1_filter, conv1_bias], [conv1], o.Conv2DOptions(
        padding=Padding.SAME, stride_w=1, stride_h=1, fused_activation_function=relu))
    b.add_operator(Op.MAX_POOL_2D, [conv1], [pool1], o.Pool2DOptions(
        padding=Padding.VALID, stride_w=3, stride_h=3, filter_width=3, filter_height=3))
    b.add_operator(Op.CONV_2D, [pool1, conv2_filter, conv2_bias], [conv2], o.Conv2DOptions(
        padding=Padding.SAME, stride_w=1, stride_h=1, fused_activation_function=relu))
    b.add_operator(Op.MAX_POOL_2D, [conv2], [pool2], o.Pool2DOptions(
        padding=Padding.SAME, stride_w=1, stride_h=3, filter_width=1, filter_height=3))
    # Flatten with a dynamic batch: the batch size is read from the tensor at run time
    b.add_operator(Op.SHAPE, [pool2], [shape], o.ShapeOptions(out_type=TensorType.INT32))
    b.add_operator(Op.STRIDED_SLICE, [shape, begin, one, one], [batch],
                   o.StridedSliceOptions(shrink_axis_mask=1))
    b.add_operator(Op.PACK, [batch, flat_dim], [packed], o.PackOptions(values_count=2, axis=0))
    b.add_operator(Op.RESHAPE, [pool2, packed], [flat])
    b.add_operator(Op.FULLY_CONNECTED, [flat, dense_weights, dense_bias], [dense],
                   o.FullyConnectedOptions(fused_activation_function=relu))
    b.add_operator(Op.FULLY_CONNECTED, [dense, dense2_weights, dense2_bias], [logits],
                   o.FullyConnectedOptions())
    b.add_operator(Op.SOFTMAX, [logits], [probabilities], o.SoftmaxOptions(beta=1.0))

    model = b.build()
    graph = model.subgraphs[0]
    activations = {x, conv1, pool1, conv2, pool2, flat, dense, logits, probabilities}
    graph.tensors = [replace(t, shape_signature=(-1, *t.shape[1:])) if i in activations else t
                     for i, t in enumerate(graph.tensors)]
    model.signature_defs = [SignatureDef(inputs=(TensorMap("keras_tensor", x),),
                                         outputs=(TensorMap("output_0", probabilities),),
                                         signature_key="serving_default")]
    return model


def keras_weights(model) -> list[np.ndarray]:
    """The weights in a file tf_shaped_model() wrote, back in Keras' layouts and order."""
    from tflm_edu.schema import tensor_data
    tensors = {t.name: tensor_data(model, t) for t in model.subgraphs[0].tensors}
    weights = []
    for scope in (C, C2):                               # filters OHWI -> Keras' HWIO
        weights += [tensors[f"{scope}/convolution"].transpose(1, 2, 3, 0),
                    tensors[f"{scope}/Relu;{scope}/BiasAdd;{scope}/convolution;{scope}/Squeeze"]]
    weights += [tensors[f"{D}/MatMul"].T, tensors[f"{D}/Relu;{D}/BiasAdd"],
                tensors[f"{D2}/MatMul"].T, tensors[f"{D2}/BiasAdd"]]
    return weights


# ----------------------------------------------------------------------------- the check


def keras_model(weights):
    import tensorflow as tf
    model = tf.keras.Sequential([
        tf.keras.Input(shape=(128, 3, 1)),
        tf.keras.layers.Conv2D(8, (4, 3), padding="same", activation="relu"),
        tf.keras.layers.MaxPool2D((3, 3)),
        tf.keras.layers.Dropout(0.1),
        tf.keras.layers.Conv2D(16, (4, 1), padding="same", activation="relu"),
        tf.keras.layers.MaxPool2D((3, 1), padding="same"),
        tf.keras.layers.Dropout(0.1),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(16, activation="relu"),
        tf.keras.layers.Dropout(0.1),
        tf.keras.layers.Dense(4, activation="softmax"),
    ])
    model.set_weights(weights)
    return model


def check_against_tensorflow(weights, ours) -> int:
    """Convert the Keras model with these weights with TensorFlow; print every field in
    which its file and ours differ. Returns the number of differences."""
    import tensorflow as tf
    data = tf.lite.TFLiteConverter.from_keras_model(keras_model(weights)).convert()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tf.tflite"
        path.write_bytes(data)
        theirs = load_model(path)
    print(f"TensorFlow {tf.__version__}: {len(data):,} bytes; ours {len(write_model(ours)):,}")
    differences = 0
    for field in ("version", "description", "operator_codes", "signature_defs", "metadata"):
        if getattr(ours, field) != getattr(theirs, field):
            differences += 1
            print(f"{field}:\n  ours {getattr(ours, field)}\n  TF   {getattr(theirs, field)}")
    mine, tf_graph = ours.subgraphs[0], theirs.subgraphs[0]
    for field in ("inputs", "outputs", "operators", "name"):
        if getattr(mine, field) != getattr(tf_graph, field):
            differences += 1
            print(f"subgraph {field}:\n  ours {getattr(mine, field)}\n  TF   "
                  f"{getattr(tf_graph, field)}")
    for i, (a, t) in enumerate(zip(mine.tensors, tf_graph.tensors)):
        if a != t:
            differences += 1
            print(f"tensor {i}:\n  ours {a}\n  TF   {t}")
    for i, (a, t) in enumerate(zip(ours.buffers, theirs.buffers)):
        if a != t:
            differences += 1
            what = "CONVERSION_METADATA" if i == theirs.metadata[-1].buffer else "data"
            print(f"buffer {i} ({what}): {len(a.data)} bytes, TF {len(t.data)}; differing "
                  f"at {[k for k, (p, q) in enumerate(zip(a.data, t.data)) if p != q]}")
    if len(mine.tensors) != len(tf_graph.tensors) or len(ours.buffers) != len(theirs.buffers):
        differences += 1
        print("a different number of tensors or buffers")
    print(f"{differences} difference(s)")
    return differences


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check-tensorflow", action="store_true",
                        help="also convert the Keras model with TensorFlow and compare")
    args = parser.parse_args()
    weights = train_weights()
    model = tf_shaped_model(weights)
    OUT.mkdir(exist_ok=True)
    MODEL.write_bytes(write_model(model))
    np.save(CALIBRATION, calibration_windows())
    for path in (MODEL, CALIBRATION):
        print(f"wrote {path.relative_to(ROOT.parent)} ({path.stat().st_size:,} bytes)")
    if args.check_tensorflow:
        check_against_tensorflow(weights, model)


if __name__ == "__main__":
    main()
