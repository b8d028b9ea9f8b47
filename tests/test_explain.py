"""explain(): the step-by-step value of one output element equals the interpreter's, for
every explained op, at random positions, on person_detect and on small built models."""
import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from conftest import reference_model  # noqa: E402
from models import float_conv_net, int8_grouped_net  # noqa: E402
from tflm_edu import InputError  # noqa: E402
from tflm_edu.arena_size.examples import small_conv_net  # noqa: E402
from tflm_edu.explain import EXPLAINED_OPS, explain  # noqa: E402
from tflm_edu.viz import allocated_interpreter  # noqa: E402


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
