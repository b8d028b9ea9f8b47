"""Layer-by-layer comparison against the real TFLM and LiteRT: zero differences on the
reference models, and the first divergent op found when one kernel's output is corrupted."""
import numpy as np
import pytest

from conftest import reference_model
from models import float_conv_net, int8_grouped_net
from tflm_edu import AllOpsResolver, InputError, MicroInterpreter, read_model
from tflm_edu.arena_size.examples import small_conv_net
from tflm_edu.compare import (Comparison, OracleUnavailableError, available_oracles,
                              compare_layers)

REFERENCE_MODELS = ["person_detect.tflite", "hello_world_float.tflite",
                    "hello_world_int8.tflite", "micro_speech_quantized.tflite",
                    "magic_wand.tflite"]
# LiteRT refuses person_detect: its biases carry quantized_dimension 3 on 1-D tensors,
# which TFLM ignores and LiteRT's checker rejects.
LITERT_MODELS = REFERENCE_MODELS[1:]


def _oracle(name):
    module = {"tflite-micro": "tflite_micro.python.tflite_micro.runtime",
              "litert": "ai_edge_litert.interpreter"}[name]
    pytest.importorskip(module, reason=f"the oracle {name} is not installed")
    return name


@pytest.mark.parametrize("name", REFERENCE_MODELS)
def test_reference_models_equal_tflite_micro(name):
    report = compare_layers(reference_model(name), oracle=_oracle("tflite-micro"))
    assert report.matches, report.table()
    assert len(report.rows) == len(read_model(reference_model(name).read_bytes())
                                   .subgraphs[0].operators)
    assert all(r.max_abs_diff == 0 and r.differing == 0 for r in report.rows)


@pytest.mark.parametrize("name", LITERT_MODELS)
def test_reference_models_equal_litert(name):
    report = compare_layers(reference_model(name), oracle=_oracle("litert"))
    assert report.matches, report.table()


@pytest.mark.parametrize("build", [small_conv_net, float_conv_net, int8_grouped_net])
@pytest.mark.parametrize("oracle", ["tflite-micro", "litert"])
def test_built_models(build, oracle):
    assert compare_layers(build(), oracle=_oracle(oracle)).matches


def _corrupting_interpreter(model, bad_op):
    """An interpreter whose after-op hook flips one byte of op `bad_op`'s output."""
    interpreter = MicroInterpreter(model, AllOpsResolver())
    interpreter.allocate_tensors()

    def flip(interp, event):
        if event.op_index == bad_op:
            event.outputs[0].view(np.uint8).ravel()[7] ^= 0x5A
    interpreter.add_hook(after=flip)
    return interpreter


@pytest.mark.parametrize("bad_op", [3, 12, 27])
def test_finds_the_first_divergent_op(bad_op):
    model = read_model(reference_model("person_detect.tflite").read_bytes())
    report = compare_layers(model, interpreter=_corrupting_interpreter(model, bad_op),
                            oracle=_oracle("tflite-micro"))
    assert report.first_divergent_op == bad_op
    assert all(r.equal for r in report.rows[:bad_op])
    bad = report.rows[bad_op]
    assert bad.differing == 1 and bad.max_abs_diff > 0
    assert "<- first divergence" in report.table()
    assert report.records()[bad_op]["differing"] == 1


def test_corruption_of_a_float_model_is_found_by_litert():
    model = float_conv_net()
    report = compare_layers(model, interpreter=_corrupting_interpreter(model, 1),
                            oracle=_oracle("litert"))
    assert report.first_divergent_op == 1 and not report.matches


def test_records_are_plain_dicts():
    report = compare_layers(small_conv_net(), oracle=_oracle("tflite-micro"))
    records = report.records()
    assert isinstance(records, list) and all(isinstance(r, dict) for r in records)
    assert set(records[0]) == {"op", "op_name", "tensor", "name", "shape", "dtype",
                               "max_abs_diff", "differing", "elements"}
    assert "every tensor is equal" in report.table()


def test_given_inputs_are_used_and_checked():
    _oracle("tflite-micro")
    x = np.full((1, 32, 32, 1), 17, np.int8)
    report = compare_layers(small_conv_net(), inputs=[x])
    assert report.matches
    with pytest.raises(InputError, match="needs 1024 int8"):
        compare_layers(small_conv_net(), inputs=[np.zeros(5, np.int8)])


def test_no_oracle_gives_a_clear_message(monkeypatch):
    import tflm_edu.compare as compare
    monkeypatch.setattr(compare, "available_oracles", lambda: [])
    with pytest.raises(OracleUnavailableError, match="pip install tflite-micro"):
        compare_layers(small_conv_net())
    with pytest.raises(OracleUnavailableError, match="pip install ai-edge-litert"):
        compare_layers(small_conv_net(), oracle="litert")
    with pytest.raises(InputError, match="unknown oracle"):
        compare_layers(small_conv_net(), oracle="tflite")


def test_litert_refusal_is_explained():
    _oracle("litert")
    with pytest.raises(OracleUnavailableError, match="oracle='tflite-micro'"):
        compare_layers(reference_model("person_detect.tflite"), oracle="litert")


def test_available_oracles_lists_installed():
    assert set(available_oracles()) <= {"tflite-micro", "litert"}
    assert isinstance(Comparison("x"), Comparison)
