"""tflm_edu.evaluate: accuracy, confusion matrices, running a .tflite over a test set."""
import numpy as np
import pytest

import tflm_edu
from tflm_edu.errors import InputError
from tflm_edu.evaluate import (accuracy, as_model_inputs, class_indices, confusion_matrix,
                               dequantize_output, fast_mode, plot_confusion_matrix, quantize_input,
                               recall_per_class, run_model)


def test_fast_mode_reads_the_environment(monkeypatch):
    monkeypatch.setenv("TFLM_EDU_FAST", "1")
    assert fast_mode() is True
    for value in ("0", "", "yes"):
        monkeypatch.setenv("TFLM_EDU_FAST", value)
        assert fast_mode() is False
    monkeypatch.delenv("TFLM_EDU_FAST")
    assert fast_mode() is False


def test_accuracy_from_labels_and_from_scores():
    y = np.array([0, 1, 2, 2])
    assert accuracy(y, [0, 1, 1, 2]) == 0.75
    scores = np.array([[9, 0, 0], [0, 5, 1], [3, 4, -1], [-128, -128, 127]], np.int8)
    assert accuracy(y, scores) == 0.75
    assert class_indices(scores).tolist() == [0, 1, 1, 2]


def test_confusion_matrix_rows_are_truth_columns_are_predictions():
    cm = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], n_classes=4)
    expected = np.zeros((4, 4), np.int64)
    expected[0, 0] = expected[0, 1] = expected[1, 1] = expected[2, 0] = 1
    expected[2, 2] = 2
    np.testing.assert_array_equal(cm, expected)
    assert cm.sum() == 6
    recall = recall_per_class(cm)
    np.testing.assert_allclose(recall[:3], [0.5, 1.0, 2 / 3])
    assert np.isnan(recall[3])          # no examples of class 3


def test_confusion_matrix_agrees_with_a_plain_loop():
    rng = np.random.default_rng(0)
    t, p = rng.integers(0, 5, 300), rng.integers(0, 5, 300)
    loop = np.zeros((5, 5), np.int64)
    for a, b in zip(t, p):
        loop[a, b] += 1
    np.testing.assert_array_equal(confusion_matrix(t, p, 5), loop)
    assert accuracy(t, p) == pytest.approx(np.trace(loop) / 300)


@pytest.mark.parametrize("t, p, n, message", [
    ([0, 1], [0], 2, "2 true labels but 1 predictions"),
    ([], [], 2, "empty"),
    ([0, 3], [0, 1], 3, "outside 0..2"),
    ([0, 1], [0.5, 1], 2, "whole numbers"),
    (np.zeros((2, 2, 2)), [0, 1], 2, "shape"),
])
def test_bad_inputs_say_what_is_wrong(t, p, n, message):
    with pytest.raises(InputError, match=message):
        confusion_matrix(t, p, n)


def test_plot_confusion_matrix_writes_every_count():
    cm = np.array([[5, 1], [2, 7]])
    fig = plot_confusion_matrix(cm, ["no_person", "person"])
    ax = fig.axes[0]
    assert sorted(t.get_text() for t in ax.texts) == ["1", "2", "5", "7"]
    assert "80.0%" in ax.get_title() and "15 examples" in ax.get_title()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["no_person", "person"]
    with pytest.raises(InputError, match="3 labels must be 3x3"):
        plot_confusion_matrix(cm, ["a", "b", "c"])


def _details(dtype, scale=None, zero_point=None):
    params = {"scales": np.array([] if scale is None else [scale], np.float32),
              "zero_points": np.array([] if zero_point is None else [zero_point], np.int32)}
    return {"dtype": dtype, "quantization_parameters": params}


def test_quantize_and_dequantize_use_scale_and_zero_point():
    d = _details(np.int8, 0.5, -3)
    q = quantize_input(np.array([0.0, 1.0, 1.25, 100.0, -100.0], np.float32), d)
    assert q.dtype == np.int8 and q.tolist() == [-3, -1, 0, 127, -128]   # 2.5 rounds away from 0
    np.testing.assert_array_equal(dequantize_output(np.array([-3, 1], np.int8), d), [0.0, 2.0])
    ints = np.array([4, -4], np.int8)                       # already integers: untouched
    assert quantize_input(ints, d).tolist() == [4, -4]
    with pytest.raises(InputError, match="do not fit the model's int8 input"):
        quantize_input(np.array([0, 255], np.uint8), d)         # pixels need to_int8 first
    with pytest.raises(InputError, match="no quantization scale"):
        quantize_input(np.array([0.5], np.float32), _details(np.int8))


def _sine_model_bytes():
    """A 1 -> 1 FULLY_CONNECTED int8 model: out = in * 2 (scale 1, zero points 0)."""
    from models import one_op_model, tensor
    from tflm_edu.schema import options as opts
    from tflm_edu.schema.builder import quantization
    from tflm_edu.schema.enums import BuiltinOperator
    model = one_op_model(BuiltinOperator.FULLY_CONNECTED, [
        tensor([1, 1], np.int8, quant=quantization(1.0, 0), name="x"),
        tensor([1, 1], np.int8, np.array([[2]], np.int8), quantization(1.0, 0), "w"), -1,
    ], opts.FullyConnectedOptions(), tensor([1, 1], np.int8, quant=quantization(1.0, 0), name="y"))
    return tflm_edu.write_model(model)


def test_run_model_matches_one_invoke_at_a_time():
    interpreter = tflm_edu.Interpreter.from_bytes(_sine_model_bytes())
    x = np.array([[1.0], [3.0], [-5.0], [100.0]], np.float32)     # quantized with scale 1
    out = run_model(interpreter, x, progress=False)
    assert out.dtype == np.int8 and out[:, 0].tolist() == [2, 6, -10, 127]
    with pytest.raises(InputError, match="takes 1"):
        run_model(interpreter, np.zeros((2, 3), np.float32), progress=False)
    inputs = as_model_inputs(x, interpreter.get_input_details(0))
    assert inputs.shape == (4, 1, 1) and inputs.dtype == np.int8
    assert inputs[:, 0, 0].tolist() == [1, 3, -5, 100]


def test_run_model_gives_what_the_real_tflm_gives():
    from conftest import reference_model
    runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
    path = reference_model("hello_world_int8.tflite")
    x = np.linspace(0, 2 * np.pi, 40, dtype=np.float32)[:, None]
    ours = run_model(tflm_edu.Interpreter.from_file(path), x, progress=False)
    theirs = run_model(runtime.Interpreter.from_bytes(path.read_bytes()), x, progress=False)
    np.testing.assert_array_equal(ours, theirs)
    sine = run_model(tflm_edu.Interpreter.from_file(path), x, progress=False, dequantize=True)
    assert np.abs(sine[:, 0] - np.sin(x[:, 0])).max() < 0.2     # quantized both ways correctly
