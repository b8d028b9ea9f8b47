"""explain(): the step-by-step value of one output element equals the interpreter's, for
every explained op, at random positions, on person_detect and on small built models."""
import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from conftest import reference_model  # noqa: E402
from tflm_edu import InputError  # noqa: E402
from tflm_edu.arena_size.examples import small_conv_net  # noqa: E402
from tflm_edu.explain import EXPLAINED_OPS, explain  # noqa: E402
from tflm_edu.viz import allocated_interpreter  # noqa: E402
from tflm_edu.schema import options as o  # noqa: E402
from tflm_edu.schema.builder import ModelBuilder, quantization  # noqa: E402
from tflm_edu.schema.enums import ActivationFunctionType as Act  # noqa: E402
from tflm_edu.schema.enums import BuiltinOperator as Op  # noqa: E402
from tflm_edu.schema.enums import Padding  # noqa: E402


# Small ModelBuilder models (also used by test_viz and test_compare): shapes that exercise
# padding, dilation, strides, groups and depth multipliers in few bytes.

def float_conv_net(seed: int = 0):
    """CONV_2D (dilated, SAME, RELU) -> DEPTHWISE_CONV_2D (x2, stride 2) ->
    AVERAGE_POOL_2D (SAME, ragged border) -> RESHAPE -> FULLY_CONNECTED, all float32."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder(description="float_conv_net")
    x = b.add_input((1, 9, 9, 2), np.float32)

    def const(shape):
        return b.add_tensor(shape, np.float32, data=rng.normal(size=shape).astype(np.float32))

    y = b.add_tensor((1, 9, 9, 4), np.float32)
    b.add_operator(Op.CONV_2D, [x, const((4, 3, 3, 2)), const((4,))], [y],
                   o.Conv2DOptions(Padding.SAME, 1, 1, Act.RELU, 2, 2), version=2)
    z = b.add_tensor((1, 5, 5, 8), np.float32)
    b.add_operator(Op.DEPTHWISE_CONV_2D, [y, const((1, 3, 3, 8)), const((8,))], [z],
                   o.DepthwiseConv2DOptions(Padding.SAME, 2, 2, 2), version=2)
    p = b.add_tensor((1, 3, 3, 8), np.float32)
    b.add_operator(Op.AVERAGE_POOL_2D, [z], [p], o.Pool2DOptions(Padding.SAME, 2, 2, 2, 2))
    shape = b.add_tensor((2,), np.int32, data=[1, 72])
    flat = b.add_tensor((1, 72), np.float32)
    b.add_operator(Op.RESHAPE, [p, shape], [flat], o.ReshapeOptions(new_shape=(1, 72)))
    out = b.add_tensor((1, 5), np.float32)
    b.add_operator(Op.FULLY_CONNECTED, [flat, const((5, 72)), const((5,))], [out],
                   o.FullyConnectedOptions())
    b.mark_output(out)
    return b.build()


def int8_grouped_net(seed: int = 0):
    """An int8 grouped CONV_2D (2 groups, asymmetric output zero point, RELU6) and a
    DEPTHWISE_CONV_2D with depth_multiplier 2: the index arithmetic small_conv_net lacks."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder(description="int8_grouped_net")
    x = b.add_input((1, 7, 7, 4), np.int8, quant=quantization(0.02, 5))
    scales = rng.uniform(0.005, 0.02, 6)
    w = b.add_tensor((6, 3, 3, 2), np.int8, data=rng.integers(-127, 128, (6, 3, 3, 2)),
                     quant=quantization(scales, 0, 0))
    bias = b.add_tensor((6,), np.int32, data=rng.integers(-500, 500, 6),
                        quant=quantization(0.02 * scales, 0))
    y = b.add_tensor((1, 4, 4, 6), np.int8, quant=quantization(0.03, -7))
    b.add_operator(Op.CONV_2D, [x, w, bias], [y],
                   o.Conv2DOptions(Padding.SAME, 2, 2, Act.RELU6), version=6)
    scales = rng.uniform(0.005, 0.02, 12)
    w2 = b.add_tensor((1, 3, 3, 12), np.int8, data=rng.integers(-127, 128, (1, 3, 3, 12)),
                      quant=quantization(scales, 0, 3))
    bias2 = b.add_tensor((12,), np.int32, data=rng.integers(-500, 500, 12),
                         quant=quantization(0.03 * scales, 0))
    z = b.add_tensor((1, 2, 2, 12), np.int8, quant=quantization(0.05, 3))
    b.add_operator(Op.DEPTHWISE_CONV_2D, [y, w2, bias2], [z],
                   o.DepthwiseConv2DOptions(Padding.VALID, 1, 1, 2), version=3)
    b.mark_output(z)
    return b.build()


def _with_random_input(model, seed=0):
    interpreter = allocated_interpreter(model)
    x = interpreter.input(0)
    rng = np.random.default_rng(seed)
    x.data[...] = (rng.integers(-128, 128, x.shape) if x.data.dtype == np.int8
                   else rng.normal(size=x.shape)).astype(x.data.dtype)
    return interpreter


def _check_random_positions(interpreter, per_op, seed=0):
    """For each explained op: run the model to it, and compare at `per_op` random output
    positions with an independent run's output (invoke on the same input)."""
    rng = np.random.default_rng(seed)
    x = interpreter.input(0).data.copy()
    # The expected values: every op output of a full run, copied as each op finishes.
    expected = {e.op_index: np.array(e.outputs[0]) for e in interpreter.steps()}
    interpreter.input(0).data[...] = x
    checked = 0
    for node in interpreter.nodes:
        if node.op_name not in EXPLAINED_OPS:
            continue
        size = expected[node.index].size
        for flat in rng.choice(size, min(per_op, size), replace=False):
            e = explain(interpreter, node.index, int(flat))
            want = expected[node.index].ravel()[flat]
            assert e.value == want, f"op {node.index} {node.op_name} element {flat}:\n{e.text()}"
            assert e.matches
            checked += 1
    return checked


def test_person_detect_every_op_at_random_positions():
    interpreter = _with_random_input(reference_model("person_detect.tflite"))
    # 29 explained ops; op 28 (CONV_2D to 1x1x1x2) has only 2 elements
    assert _check_random_positions(interpreter, per_op=4) == 28 * 4 + 2


@pytest.mark.parametrize("name", ["hello_world_int8.tflite", "hello_world_float.tflite",
                                  "magic_wand.tflite", "micro_speech_quantized.tflite"])
def test_reference_models(name):
    assert _check_random_positions(_with_random_input(reference_model(name)), per_op=5) > 0


@pytest.mark.parametrize("build", [small_conv_net, float_conv_net, int8_grouped_net])
def test_built_models_every_element(build):
    interpreter = _with_random_input(build(), seed=3)
    assert _check_random_positions(interpreter, per_op=500) > 0


def test_steps_are_the_kernel_pipeline():
    interpreter = _with_random_input(small_conv_net())
    e = explain(interpreter, 0, (0, 5, 7, 2))
    names = [s[0] for s in e.steps]
    assert names == ["sum of products", "+ bias", "x multiplier, shift", "+ output offset",
                     "clamp"]
    data = interpreter.nodes[0].user_data
    assert str(int(data.per_channel_output_multiplier[2])) in e.steps[2][2]
    # the sum really is the sum of the listed taps
    assert e.steps[0][1] == sum(t.product for t in e.taps)
    assert len(e.taps) == 9 and e.window[3:5] == (3, 3)


def test_padding_taps_are_listed_and_skipped():
    interpreter = _with_random_input(small_conv_net())
    e = explain(interpreter, 0, (0, 0, 0, 0))  # SAME, stride 2: the corner reads padding?
    inside = [t for t in e.taps if t.input_index is not None]
    assert all(0 <= t.input_index[1] < 32 and 0 <= t.input_index[2] < 32 for t in inside)
    assert "matches" in e.text()


def test_plot_and_text():
    interpreter = _with_random_input(small_conv_net())
    for op, index in ((0, 5), (1, 17), (3, 3), (5, 1)):
        e = explain(interpreter, op, index)
        fig = e.plot()
        fig.canvas.draw()
        assert e.op_name in e.text() and repr(e).startswith("Explanation(")
        matplotlib.pyplot.close(fig)


def test_errors_say_what_to_do():
    interpreter = _with_random_input(small_conv_net())
    with pytest.raises(InputError, match="explain\\(\\) knows"):
        explain(interpreter, 6, 0)  # SOFTMAX
    with pytest.raises(InputError, match="does not exist"):
        explain(interpreter, 9, 0)
    with pytest.raises(InputError, match="outside the output shape"):
        explain(interpreter, 0, (0, 16, 0, 0))
    with pytest.raises(InputError, match="has 2048 elements"):
        explain(interpreter, 0, 2048)


def test_a_wrong_multiplier_is_caught():
    """The check can fail: a corrupted OpData makes explain disagree with nothing but
    itself, so compare against a clean interpreter's output."""
    interpreter = _with_random_input(small_conv_net())
    x = interpreter.input(0).data.copy()
    expected = {e.op_index: np.array(e.outputs[0]) for e in interpreter.steps()}
    interpreter.input(0).data[...] = x
    interpreter.nodes[0].user_data.per_channel_output_shift = \
        interpreter.nodes[0].user_data.per_channel_output_shift + 1
    values = [explain(interpreter, 0, k).value for k in range(0, 2048, 97)]
    assert values != [expected[0].ravel()[k] for k in range(0, 2048, 97)]
