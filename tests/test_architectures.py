"""The example architectures against the published models.

Two sources of truth: literal numbers from the TFLM examples (hello_world has 321 parameters,
tiny_conv 16,652, ...), and the reference .tflite files in ../shared/reference/models, read
with tflm_edu.schema. Against a file the comparison is op by op: the op a layer becomes, its
output shape, kernel size, strides, padding, fused activation and parameter count.

Counting parameters the way a .tflite file does: BatchNormalization is folded into the conv
before it (kernel' = kernel * scale, bias' = shift), so a bias-free conv followed by BN stores
kernel + one bias per output channel, and BN's gamma/beta/moving statistics disappear.
"""
from pathlib import Path

import numpy as np
import pytest

from tflm_edu.train import (AveragePool2D, BatchNormalization, Conv2D, Dense, DepthwiseConv2D,
                            Dropout, Flatten, MaxPool2D, ReLU, ReLU6, Reshape, Softmax,
                            architectures)

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "models"

ARCHITECTURES = {
    "hello_world_float.tflite": architectures.hello_world,
    "micro_speech_quantized.tflite": architectures.micro_speech_tiny_conv,
    "magic_wand.tflite": architectures.magic_wand,
    "person_detect.tflite": architectures.person_detection_mobilenet_v1,
}


# ---- literal published numbers ---------------------------------------------------------------

@pytest.mark.parametrize("build, params, folded", [
    (architectures.hello_world, 321, 321),
    (architectures.micro_speech_tiny_conv, 16_652, 16_652),
    (architectures.magic_wand, 4_300, 4_300),
    # Keras counts BN's 4 arrays per channel (5,472 of them untrained); the .tflite keeps 1.
    (architectures.person_detection_mobilenet_v1, 218_914, 210_706),
])
def test_parameter_counts(build, params, folded):
    model = build()
    assert model.count_params() == params
    assert sum(p for _, _, p in converted_ops(model) if p is not None) == folded


def test_tiny_conv_layers():
    model = architectures.micro_speech_tiny_conv()
    assert [layer.output_shape for layer in model.layers] == [
        (25, 20, 8), (25, 20, 8), (4000,), (4,), (4,)]
    assert model.layers[0].kernel.size + model.layers[0].bias.size == 648
    assert model.layers[3].kernel.size + model.layers[3].bias.size == 16_004


def test_magic_wand_layers():
    model = architectures.magic_wand()
    assert [layer.output_shape for layer in model.layers] == [
        (128, 3, 8), (42, 1, 8), (42, 1, 8), (42, 1, 16), (14, 1, 16), (14, 1, 16), (224,),
        (16,), (16,), (4,), (4,)]


def test_person_detection_layers():
    model = architectures.person_detection_mobilenet_v1()
    convs = [layer for layer in model.layers if isinstance(layer, (Conv2D, DepthwiseConv2D))]
    assert len(convs) == 28            # 1 standard conv, 13 x (depthwise + pointwise), the logits
    assert convs[0].output_shape == (48, 48, 8)
    assert [c.output_shape[-1] for c in convs[2::2]] == [16, 32, 32, 64, 64, 128, 128, 128, 128,
                                                         128, 128, 256, 256]
    assert model.layers[-5].output_shape == (1, 1, 256)     # the average pool over 3x3x256
    assert model.output_shape == (2,)


def test_width_multiplier_scales_channels_with_a_floor_of_8():
    full = architectures.person_detection_mobilenet_v1(alpha=1.0)
    convs = [layer for layer in full.layers if isinstance(layer, Conv2D)]
    assert [c.filters for c in convs[:3]] == [32, 64, 128] and convs[-2].filters == 1024
    narrow = architectures.person_detection_mobilenet_v1(alpha=0.1)
    assert [layer for layer in narrow.layers if isinstance(layer, Conv2D)][0].filters == 8


def test_seed_decides_the_initial_weights():
    a, b, c = (architectures.magic_wand(seed=s) for s in (0, 0, 1))
    assert np.array_equal(a.layers[0].kernel, b.layers[0].kernel)
    assert not np.array_equal(a.layers[0].kernel, c.layers[0].kernel)


# ---- against the reference .tflite files -----------------------------------------------------

LAYER_OPS = {Dense: "FULLY_CONNECTED", DepthwiseConv2D: "DEPTHWISE_CONV_2D",
             MaxPool2D: "MAX_POOL_2D", AveragePool2D: "AVERAGE_POOL_2D", Softmax: "SOFTMAX",
             Reshape: "RESHAPE"}
# Layers that leave no op behind: folded into the op before (BN, activations), the identity at
# inference (Dropout), or absorbed by FULLY_CONNECTED, which flattens its input itself.
VANISHING = (BatchNormalization, ReLU, ReLU6, Dropout, Flatten)


def op_name(layer) -> str:
    """The TFLite op a layer becomes. The converter writes a conv over a single input channel
    as a depthwise conv (one filter per output channel, depth_multiplier = filters)."""
    if isinstance(layer, Conv2D):
        return "DEPTHWISE_CONV_2D" if layer.input_shape[-1] == 1 else "CONV_2D"
    return LAYER_OPS[type(layer)]


def fused_activation(model, index) -> str:
    """The activation fused into op `index`: its own, or a ReLU/ReLU6 after it (past a BN)."""
    layer = model.layers[index]
    if getattr(layer, "activation", None):
        return layer.activation.upper()
    for after in model.layers[index + 1:]:
        if isinstance(after, (ReLU, ReLU6)):
            return type(after).__name__.upper()
        if not isinstance(after, BatchNormalization):
            break
    return "NONE"


def converted_ops(model) -> list:
    """(op, output shape, parameters after BN folding) of each op the model becomes."""
    ops = []
    for i, layer in enumerate(model.layers):
        if isinstance(layer, VANISHING):
            continue
        params = None
        if hasattr(layer, "kernel"):
            params = layer.kernel.size + layer.output_shape[-1]   # a bias: its own or BN's
        ops.append((op_name(layer), layer.output_shape, params))
    return ops


def reference_ops(model_file) -> list:
    """The same triples read from a .tflite file (batch axis dropped)."""
    from tflm_edu.schema import load_model, tensor_data
    model = load_model(model_file)
    graph = model.subgraphs[0]
    ops = []
    for op in graph.operators:
        name = model.op_name(op)
        if name == "RESHAPE" and op.inputs[0] in graph.inputs:
            continue            # micro_speech takes its features flat and reshapes them first
        shape = tuple(graph.tensors[op.outputs[0]].shape[1:])
        constants = [graph.tensors[i] for i in op.inputs[1:] if i >= 0]
        params = None if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") else \
            sum(tensor_data(model, t).size for t in constants)
        ops.append((name, shape, params))
    return ops


def reference_options(model_file) -> list:
    """(kernel hw, strides, padding, fused activation) of each conv, pool and fully connected
    op in a .tflite file (None where the op has no such option)."""
    from tflm_edu.schema import ActivationFunctionType, Padding, load_model
    model = load_model(model_file)
    graph, rows = model.subgraphs[0], []
    for op in graph.operators:
        o, name = op.builtin_options, model.op_name(op)
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D",
                        "FULLY_CONNECTED"):
            continue
        activation = ActivationFunctionType(o.fused_activation_function).name
        if name == "FULLY_CONNECTED":
            rows.append((None, None, None, activation))
            continue
        kernel = (o.filter_height, o.filter_width) if name.endswith("POOL_2D") else \
            tuple(graph.tensors[op.inputs[1]].shape[1:3])
        rows.append((kernel, (o.stride_h, o.stride_w), Padding(o.padding).name.lower(), activation))
    return rows


def layer_options(model) -> list:
    rows = []
    for i, layer in enumerate(model.layers):
        if isinstance(layer, (Conv2D, DepthwiseConv2D)):
            rows.append((layer.kernel_size, layer.strides, layer.padding,
                         fused_activation(model, i)))
        elif isinstance(layer, (MaxPool2D, AveragePool2D)):
            rows.append((layer.pool_size, layer.strides, layer.padding, "NONE"))
        elif isinstance(layer, Dense):
            rows.append((None, None, None, fused_activation(model, i)))
    return rows


def reference_file(name: str) -> Path:
    path = REFERENCE / name
    if not path.exists():
        pytest.skip(f"reference model {path} is absent (it lives beside the project, in "
                    "../shared/reference/models, not in a user's clone)")
    return path


@pytest.mark.parametrize("model_file", list(ARCHITECTURES))
def test_ops_shapes_and_parameters_match_the_reference_model(model_file):
    expected = reference_ops(reference_file(model_file))
    assert converted_ops(ARCHITECTURES[model_file]()) == expected


@pytest.mark.parametrize("model_file", list(ARCHITECTURES))
def test_kernels_strides_padding_and_activations_match_the_reference_model(model_file):
    expected = reference_options(reference_file(model_file))
    assert layer_options(ARCHITECTURES[model_file]()) == expected


def test_reference_input_shapes():
    from tflm_edu.schema import load_model
    for model_file, build in ARCHITECTURES.items():
        graph = load_model(reference_file(model_file)).subgraphs[0]
        shape = tuple(graph.tensors[graph.inputs[0]].shape[1:])
        # micro_speech's file takes the 49x40 features flat: compare element counts there.
        assert int(np.prod(shape)) == int(np.prod(build().input_shape)), model_file
