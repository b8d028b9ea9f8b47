"""Sequential -> float .tflite: tflm_edu, the real TFLM and LiteRT compute what predict() does."""
import numpy as np
import pytest

from models import gap_model, mixed_model, randomize_bn
from tflm_edu.convert.converter import convert_sequential
from tflm_edu.errors import ModelError
from tflm_edu.runtime import Interpreter
from tflm_edu.schema import ActivationFunctionType as Act, read_model, write_model
from tflm_edu.train import BatchNormalization, Dense, ReLU, Reshape, Sequential, architectures

tflm = pytest.importorskip("tflite_micro.python.tflite_micro.runtime",
                           reason="the real TFLM (pip install tflite-micro) is the oracle")
litert = pytest.importorskip("ai_edge_litert.interpreter",
                             reason="LiteRT (pip install ai-edge-litert) is the oracle")


def run_all(data, x):
    ours = Interpreter.from_bytes(data)
    ours.set_input(x, 0)
    ours.invoke()
    real = tflm.Interpreter.from_bytes(data, arena_size=4_000_000)
    real.set_input(x, 0)
    real.invoke()
    lite = litert.Interpreter(model_content=data)
    lite.allocate_tensors()
    lite.set_tensor(lite.get_input_details()[0]["index"], x)
    lite.invoke()
    return ours.get_output(0), real.get_output(0), \
        lite.get_tensor(lite.get_output_details()[0]["index"])


MODELS = {"hello_world": architectures.hello_world, "magic_wand": architectures.magic_wand,
          "micro_speech": architectures.micro_speech_tiny_conv, "mixed": mixed_model,
          "gap": gap_model,
          "person_small": lambda: architectures.person_detection_mobilenet_v1(
              input_shape=(32, 32, 1))}


@pytest.mark.parametrize("name", MODELS)
def test_float_model_matches_predict(name):
    model = randomize_bn(MODELS[name]())
    converted = convert_sequential(model)
    data = write_model(converted)
    assert read_model(data) == converted
    x = np.random.default_rng(0).standard_normal((1, *model.layers[0].input_shape)) \
        .astype(np.float32)
    expected = model.predict(x)
    ours, real, lite = run_all(data, x)
    assert ours.shape == expected.shape
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(lite, expected, rtol=1e-4, atol=1e-5)
    assert ours.tobytes() == real.tobytes()      # tflm_edu's float kernels are TFLM's


def test_ops_and_fusion():
    model = convert_sequential(mixed_model())
    graph = model.subgraphs[0]
    names = [model.op_name(op) for op in graph.operators]
    # BN and ReLU vanish into the convs; the Flatten before Dense is absorbed by FC
    assert names == ["CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "CONV_2D", "MAX_POOL_2D",
                     "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]
    acts = [op.builtin_options.fused_activation_function for op in graph.operators[:2]]
    assert acts == [Act.RELU6, Act.RELU]
    assert graph.operators[1].builtin_options.depth_multiplier == 2
    fc = graph.operators[6]
    assert graph.tensors[fc.inputs[1]].shape == (5, 24)         # [out, in]


def test_single_channel_conv_is_depthwise():
    model = convert_sequential(architectures.magic_wand())
    graph = model.subgraphs[0]
    first = graph.operators[0]
    assert model.op_name(first) == "DEPTHWISE_CONV_2D"
    assert first.builtin_options.depth_multiplier == 8
    assert graph.tensors[first.inputs[1]].shape == (1, 4, 3, 8)
    second = graph.operators[2]
    assert model.op_name(second) == "CONV_2D"
    assert graph.tensors[second.inputs[1]].shape == (16, 4, 1, 8)   # OHWI


def test_relu_without_producer_is_an_op():
    model = convert_sequential(Sequential([Reshape((4, 1, 1)), ReLU()], input_shape=(4,)))
    assert [model.op_name(op) for op in model.subgraphs[0].operators] == ["RESHAPE", "RELU"]


def test_bn_after_activation_is_refused():
    model = Sequential([Dense(3, activation="relu"), BatchNormalization()], input_shape=(2,))
    with pytest.raises(ModelError, match="BatchNormalization"):
        convert_sequential(model)


@pytest.mark.parametrize("build, reference", [
    (architectures.hello_world, "hello_world_float.tflite"),
    (architectures.magic_wand, "magic_wand.tflite"),
    (architectures.micro_speech_tiny_conv, "micro_speech_quantized.tflite"),
    (architectures.person_detection_mobilenet_v1, "person_detect.tflite")])
def test_same_graph_as_tensorflows_converter(build, reference, tmp_path):
    """Op by op - kind, output shape, parameter count, kernel, strides, padding, fused
    activation - what we write is what TensorFlow's converter wrote for TFLM's examples."""
    from conftest import reference_model
    from test_architectures import reference_ops, reference_options
    path = tmp_path / "converted.tflite"
    path.write_bytes(write_model(convert_sequential(build())))
    expected = reference_model(reference)
    assert reference_ops(path) == reference_ops(expected)
    assert reference_options(path) == reference_options(expected)
