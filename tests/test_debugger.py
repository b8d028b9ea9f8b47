"""StepDebugger: the state logic and the widget callbacks, driven without a browser."""
import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from conftest import reference_model  # noqa: E402
from tflm_edu import AllOpsResolver, InputError, MicroInterpreter, read_model  # noqa: E402
from tflm_edu.arena_size import live_bytes_per_step  # noqa: E402
from tflm_edu.arena_size.examples import small_conv_net  # noqa: E402
from tflm_edu.debugger import StepDebugger  # noqa: E402
from tflm_edu.memory.arena import align_up  # noqa: E402


def _interpreter(model):
    interpreter = MicroInterpreter(model, AllOpsResolver())
    interpreter.allocate_tensors()
    x = interpreter.input(0)
    x.data[...] = np.random.default_rng(0).integers(-128, 128, x.shape).astype(x.dtype)
    return interpreter


def _expected_output(model, x):
    interpreter = MicroInterpreter(model, AllOpsResolver())
    interpreter.allocate_tensors()
    interpreter.input(0).data[...] = x
    interpreter.invoke()
    return interpreter.output(0).data.copy()


def test_step_advances_one_op_and_highlights_it():
    debugger = StepDebugger(_interpreter(small_conv_net()))
    assert debugger.current_op is None and debugger.highlighted_index == -1
    assert debugger.next_op == 0
    event = debugger.step()
    assert event.op_index == 0 and debugger.current_op == 0 and debugger.highlighted_index == 0
    debugger.step()
    assert debugger.highlighted_index == 1 and debugger.next_op == 2


def test_full_run_gives_invoke_output_and_stops():
    model = small_conv_net()
    debugger = StepDebugger(_interpreter(model))
    x = debugger.saved_inputs[0]
    while debugger.step() is not None:
        pass
    assert debugger.finished and debugger.current_op == 6
    np.testing.assert_array_equal(debugger.interpreter.output(0).data,
                                  _expected_output(model, x))
    assert debugger.step() is None  # stepping past the end does nothing


def test_reset_restores_the_input_the_arena_reused():
    model = read_model(reference_model("person_detect.tflite").read_bytes())
    debugger = StepDebugger(_interpreter(model), show_tensors=False)
    x = debugger.saved_inputs[0].copy()
    debugger.run_to(30)
    first = debugger.interpreter.output(0).data.copy()
    # The plan hands the input's bytes to later tensors: after a full run they are gone.
    assert not np.array_equal(debugger.interpreter.input(0).data, x)
    debugger.reset()
    assert debugger.current_op is None
    np.testing.assert_array_equal(debugger.interpreter.input(0).data, x)
    debugger.run_to(30)
    np.testing.assert_array_equal(debugger.interpreter.output(0).data, first)
    np.testing.assert_array_equal(first, _expected_output(model, x))


def test_run_to_backwards_resets_first():
    debugger = StepDebugger(_interpreter(small_conv_net()))
    debugger.run_to(4)
    assert debugger.current_op == 4
    debugger.run_to(1)
    assert debugger.current_op == 1
    with pytest.raises(InputError, match="does not exist"):
        debugger.run_to(7)


def test_widget_callbacks_drive_the_state():
    debugger = StepDebugger(_interpreter(small_conv_net()))
    widget = debugger.widget()
    assert "tflm-step-debugger" in widget._dom_classes
    debugger.step_button.click()
    debugger.step_button.click()
    assert debugger.current_op == 1
    assert "data-op='1' style='background" in debugger.op_list.value
    assert "tflm-op-current" in debugger.op_list.value
    debugger.run_to_input.value = 5
    debugger.run_to_button.click()
    assert debugger.current_op == 5 and "op 5 of 6 ran: FULLY_CONNECTED" in debugger.status.value
    assert debugger.tensor_image.value[:4] == b"\x89PNG"  # the tensor views were drawn
    debugger.run_to_input.value = 6
    debugger.run_to_button.click()
    assert debugger.step_button.disabled  # finished
    debugger.reset_button.click()
    assert debugger.current_op is None and not debugger.step_button.disabled
    assert debugger.tensor_image.value == b""


def test_arena_bar_shows_live_buffers_and_what_the_op_writes():
    interpreter = _interpreter(small_conv_net())
    debugger = StepDebugger(interpreter)
    live = live_bytes_per_step(interpreter.buffers)
    for op in range(len(interpreter.nodes)):
        debugger.step()
        buffers = debugger.live_buffers()
        assert sum(align_up(b.bytes) for b, _ in buffers) == live[op + 1]
        written = [b.tensor_index for b, w in buffers if w]
        assert written == list(interpreter.nodes[op].outputs)
        svg = debugger.arena_bar_svg()
        assert svg.count("fill='#c44e52'") == len(written)
        assert svg.count("<rect") == 1 + len(buffers)


def test_op_list_renders_a_window_on_a_big_model():
    model = read_model(reference_model("person_detect.tflite").read_bytes())
    debugger = StepDebugger(_interpreter(model), show_tensors=False)
    debugger.run_to(20)
    html = debugger.op_list_html()
    assert "data-op='20'" in html and "data-op='0'" not in html and "ops above" in html
    assert html.count("data-op=") == 23  # ops 8 to 30: 12 above the current one, 10 below


def test_tensor_views_are_capped():
    model = read_model(reference_model("person_detect.tflite").read_bytes())
    debugger = StepDebugger(_interpreter(model))
    debugger.step()
    assert debugger.shown_tensors() == [("in", 88), ("out", 34)]  # weights and bias skipped
    panes = [ax for ax in debugger.tensor_figure().axes if ax.get_title()]
    assert len(panes) == 2


def test_set_input_checks_shape_and_resets():
    debugger = StepDebugger(_interpreter(small_conv_net()))
    debugger.step()
    with pytest.raises(InputError, match="needs shape"):
        debugger.set_input(np.zeros((1, 3), np.int8))
    debugger.set_input(np.ones((1, 32, 32, 1), np.int8))
    assert debugger.current_op is None
    assert (debugger.interpreter.input(0).data == 1).all()


def test_explain_the_current_op():
    debugger = StepDebugger(_interpreter(small_conv_net()))
    with pytest.raises(InputError, match="step"):
        debugger.explain(0)
    debugger.step()
    e = debugger.explain((0, 3, 4, 5))
    assert e.value == debugger.interpreter.tensors[debugger.interpreter.nodes[0].outputs[0]] \
        .data[0, 3, 4, 5]
