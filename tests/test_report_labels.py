"""What reports and plots call things: an arena estimate names the model by its file (never the
converter's "TOCO Converted." description), and verify()'s latency axis says what the board's
counter measured (never "on-device latency" for Python time on this PC)."""
import matplotlib
import pytest

from conftest import reference_model
from tflm_edu.arena_size import estimate_arena_size
from tflm_edu.deploy.verify import Sample, VerifyReport, latency_measure
from tflm_edu.schema import load_model, write_model

matplotlib.use("Agg")


def test_the_estimate_names_the_model_by_its_file_not_its_description():
    path = reference_model("person_detect.tflite")
    model = load_model(path)
    assert model.description == "TOCO Converted."          # what a title must not show
    assert estimate_arena_size(path).model_name == "person_detect"
    assert estimate_arena_size(str(path)).model_name == "person_detect"
    assert estimate_arena_size(model).model_name == "model"
    assert estimate_arena_size(write_model(model)).model_name == "model"
    assert estimate_arena_size(model, name="vww").model_name == "vww"


def test_the_estimate_plot_and_report_carry_the_name():
    import matplotlib.pyplot as plt
    path = reference_model("person_detect.tflite")
    estimate = estimate_arena_size(load_model(path), "cortex-m")
    figure = estimate.plot()
    titles = [ax.get_title() for ax in figure.axes] + [figure._suptitle.get_text()
                                                       if figure._suptitle else ""]
    for text in titles + [estimate.table(), repr(estimate), estimate.to_json()]:
        assert "TOCO" not in text
    assert any(t.startswith("model on ") for t in titles)
    plt.close("all")


def _report(board, counter="microseconds", n=5, latency=525_846):
    return VerifyReport(board, [Sample(i, i != 2, int(i == 2), float(i == 2), latency + i)
                                for i in range(n)], counter=counter)


@pytest.mark.parametrize("board, counter, axis, sentence", [
    ("qemu-cortex-m4", "instructions", "QEMU virtual time (ms)", "instructions executed"),
    ("virtual", "microseconds", "Python time on this PC (ms)", "Python interpreter"),
    ("host", "microseconds", "TFLM time on this PC (ms)", "TFLM's C++"),
    ("nano33ble", "microseconds", "time on nano33ble (ms)", "nano33ble's own timer")])
def test_verify_plot_names_what_the_latency_measures(board, counter, axis, sentence):
    import matplotlib.pyplot as plt
    report = _report(board, counter)
    ax = report.plot()
    assert ax.get_ylabel() == axis and "on-device" not in ax.get_ylabel()
    assert sentence in report.measures() == latency_measure(board, counter)[0]
    ax.figure.canvas.draw()
    low, high = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if low <= t <= high]
    assert ticks and all(float(t).is_integer() for t in ticks)     # inputs are counted
    assert not ax.yaxis.get_offset_text().get_text()               # 525.846, not +5.258e2
    assert "differs from host" in [t.get_text() for t in ax.get_legend().get_texts()]
    plt.close("all")


def test_verify_records_the_boards_counter(dense_net_bytes):
    from tflm_edu.deploy import VirtualBoard
    from tflm_edu.deploy.verify import verify
    with VirtualBoard(dense_net_bytes) as virtual:
        report = verify(virtual.path, dense_net_bytes, n=3, timeout=0.5, progress=False)
    assert report.counter == "microseconds" and "Python" in report.measures()
