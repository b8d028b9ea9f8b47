"""Quantization-aware training (tflm_edu.train.qat): the fake-quant forward pass is the
quantizer's arithmetic, its gradients are the straight-through estimator's, batch norm is
folded before the weights are rounded, and the int8 model of a fine-tuned QAT model runs to
the same bytes in tflm_edu and the real TFLM and agrees with the fake-quant forward pass op
by op to one output step."""
import numpy as np
import pytest

from models import gap_model, mixed_model, randomize_bn
from tflm_edu.convert.converter import convert_sequential
from tflm_edu.convert.quantize import (asymmetric_params, quantize_bias, quantize_model,
                                       symmetric_weights)
from tflm_edu.datasets import make_gesture_dataset
from tflm_edu.errors import ModelError
from tflm_edu.evaluate import as_model_inputs, run_model
from tflm_edu.quantization import affine_dequantize, affine_quantize
from tflm_edu.runtime import Interpreter
from tflm_edu.schema import tensor_data, write_model
from tflm_edu.train import (Adam, BatchNormalization, Conv2D, Dense, DepthwiseConv2D, Dropout,
                            Flatten, MaxPool2D, ReLU, ReLU6, Sequential, Softmax,
                            architectures, qat)
from tflm_edu.train.gradcheck import numeric_gradient, relative_error

tflm = pytest.importorskip("tflite_micro.python.tflite_micro.runtime",
                           reason="the real TFLM (pip install tflite-micro) is the oracle")


def samples(model, n=24, seed=0):
    return np.random.default_rng(seed).standard_normal((n, *model.input_shape)).astype(np.float32)


def models():
    return {"mixed": randomize_bn(mixed_model()), "gap": gap_model(), "bn": bn_model(),
            "magic_wand": architectures.magic_wand(),
            "person_small": randomize_bn(architectures.person_detection_mobilenet_v1(
                input_shape=(32, 32, 1)))}


# ---------------------------------------------------------------------------- the arithmetic

@pytest.mark.parametrize("lo, hi", [(-1.3, 4.2), (0.3, 2.0), (-5.0, -1.0), (0.0, 6.0),
                                    (-0.01, 100.0)])
def test_fake_quant_is_quantize_then_dequantize_exactly(lo, hi):
    scale, zero_point = asymmetric_params(lo, hi)
    x = np.random.default_rng(0).uniform(2 * min(lo, 0) - 1, 2 * max(hi, 0) + 1, 5000)
    x = np.concatenate([x, scale * (np.arange(-140, 140) + 0.5 - zero_point)]).astype(np.float32)
    expected = affine_dequantize(affine_quantize(x, scale, zero_point), scale, zero_point)
    assert qat.fake_quant(x, scale, zero_point).tobytes() == expected.tobytes()
    # The input layer, its range set, computes exactly that.
    layer = qat.QuantizeInput()
    layer.range.set(lo, hi)
    assert layer.forward(x[:, None]).tobytes() == expected[:, None].tobytes()


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_fake_quant_weights_and_bias_are_the_quantizers(axis):
    rng = np.random.default_rng(1)
    w = (rng.standard_normal((6, 5)) * rng.uniform(0.01, 3, 5)).astype(np.float32)
    w_q, scales = qat.fake_quant_weights(w, axis)
    q, expected_scales = symmetric_weights(w, axis)
    assert np.array_equal(scales, expected_scales)
    np.testing.assert_array_equal(np.rint(w_q / (scales if axis == 1 else
                                                 scales[:, None] if axis == 0 else scales)), q)
    b = rng.standard_normal(5).astype(np.float32)
    b_q = qat.fake_quant_bias(b, 0.02, np.full(5, 0.003, np.float32))
    q_b, s_b = quantize_bias(b, 0.02, np.full(5, 0.003, np.float32))
    np.testing.assert_array_equal(np.rint(b_q / s_b), q_b)


def test_straight_through_gradient_passes_inside_the_range_only():
    layer = qat.QuantizeInput()
    layer.range.set(-1.0, 3.0)
    scale, zero_point = layer.output_params()
    lo, hi = scale * (-128 - zero_point), scale * (127 - zero_point)     # int8 -128 and 127
    x = np.array([[lo - 0.1], [lo], [0.5], [hi], [hi + 1e-3], [10.0]], np.float32)
    layer.forward(x)
    assert layer.backward(np.ones_like(x)).ravel().tolist() == [0, 1, 1, 1, 0, 0]


def test_ranges_move_by_moving_average_and_freeze_in_evaluation():
    model = Sequential([Dense(3)], input_shape=(2,))
    q = qat.quantize_aware(model, momentum=0.9)
    x = np.array([[1.0, 2.0], [3.0, 0.5]], np.float32)
    q.forward(x, training=True)                       # the first batch starts the average
    assert q.layers[0].input_range.tolist() == [0.0, 3.0]           # widened to include 0
    q.forward(np.array([[-2.0, 1.0]], np.float32), training=True)
    np.testing.assert_allclose(q.layers[0].input_range, [0.9 * 0 + 0.1 * -2, 0.9 * 3 + 0.1 * 1])
    before = {k: v.copy() for k, v in q.get_weights().items()}
    q.predict(10 * x)                                 # evaluation: the ranges stay frozen
    assert all(np.array_equal(before[k], v) for k, v in q.get_weights().items())


def test_without_a_range_the_error_says_what_to_do():
    q = qat.quantize_aware(Sequential([Dense(3)], input_shape=(2,)))
    with pytest.raises(ModelError, match="calibration_data"):
        q.predict(np.zeros((1, 2), np.float32))


# ---------------------------------------------------------------------------- gradients

def clip_only(y, scale, zero_point):
    """The straight-through estimator's surrogate of fake_quant: the clamp without rounding
    (d/dy is 1 inside the representable range, 0 outside - the STE's gradient)."""
    return np.clip(y, *qat.representable(scale, zero_point))


def test_gradients_are_finite_differences_of_the_straight_through_surrogate(monkeypatch):
    """With rounding taken out (weights and biases as they are, activations only clamped to
    their ranges), the QAT model is differentiable, and its backward pass - through the
    clamps, the fused activations, the batch-norm fold into kernel, bias, gamma and beta -
    must match central differences of its forward pass in every weight and in the input."""
    model = randomize_bn(mixed_model())
    x = samples(model, 3)
    q = qat.quantize_aware(model, x)
    for moving in q._ranges_by_tensor().values():      # narrow ranges: some values clip
        moving.values *= 0.7
    for layer in q.float_model.layers:
        for name in layer.params + layer.state:
            setattr(layer, name, getattr(layer, name).astype(np.float64))
    monkeypatch.setattr(qat, "fake_quant", clip_only)
    monkeypatch.setattr(qat, "fake_quant_weights", lambda w, axis: (w, np.ones(1)))
    monkeypatch.setattr(qat, "fake_quant_bias", lambda b, input_scale, weight_scales: b)
    x = x.astype(np.float64)
    q.layers[0].input_grad = q.float_model.layers[0].input_grad = True
    r = np.random.default_rng(1).standard_normal((len(x), *q.output_shape))

    def loss():
        return float((q.forward(x) * r).sum())

    loss()
    grad = r
    for layer in reversed(q.layers):
        grad = layer.backward(grad)
    picks, numeric = numeric_gradient(loss, x)
    checked = {"x": relative_error(grad.ravel()[picks], numeric)}
    for op in q.ops():
        for name in op.params:
            picks, numeric = numeric_gradient(loss, getattr(op, name), max_entries=40)
            checked[f"{op.name}/{name}"] = relative_error(op.grads[name].ravel()[picks], numeric)
    assert {"conv2d/gamma", "conv2d/kernel", "depthwise_conv2d/beta", "dense/kernel",
            "conv2d_1/bias"} <= set(checked)
    assert max(checked.values()) < 1e-6, checked


# ---------------------------------------------------------------------------- batch norm

def bn_model():
    """Batch norm after each kind of linear layer: conv, depthwise and (per-tensor) dense."""
    return randomize_bn(Sequential([
        Conv2D(4, 3, use_bias=False), BatchNormalization(), ReLU6(),
        DepthwiseConv2D(3, depth_multiplier=2), BatchNormalization(), ReLU(), Flatten(),
        Dense(6), BatchNormalization(), ReLU(), Dense(3)], input_shape=(8, 8, 2), seed=2))


def test_batch_norm_is_folded_before_the_weights_are_rounded():
    model = bn_model()
    x = samples(model)
    q = qat.quantize_aware(model, x)
    float_model, int8_model = q.converted(), q.int8_model()
    by_name = {t.name: t for t in int8_model.subgraphs[0].tensors}
    folded_ops = [op for op in q.ops() if op.bn is not None]
    assert len(folded_ops) == 3
    for op in folded_ops:
        graph_op = float_model.subgraphs[0].operators[q.ops().index(op)]
        w_t, b_t = (float_model.subgraphs[0].tensors[i] for i in graph_op.inputs[1:3])
        kernel, bias = op.folded()
        # the converter's folded float weights, to the last bit (in its OHWI / 1HWC layout)
        assert np.array_equal(tensor_data(float_model, w_t), _tflite_layout(op, kernel))
        assert bias.tobytes() == tensor_data(float_model, b_t).tobytes()
        # and the int8 weights and int32 biases QAT trains with are the int8 model's
        kernel_q, bias_q, scales = op.quantized_weights()
        int8_w = tensor_data(int8_model, by_name[w_t.name])
        assert np.array_equal(np.rint(_tflite_layout(op, kernel_q / _channel(op, scales))),
                              int8_w)
        int8_b = tensor_data(int8_model, by_name[b_t.name])
        assert np.array_equal(np.rint(bias_q / by_name[b_t.name].quantization.scale), int8_b)
    # Rounding the unfolded kernel, then folding: per output channel the fold's scale
    # commutes with the rounding, but with one scale for the whole Dense kernel it does not.
    dense = folded_ops[-1]
    kernel_q, _, scales = dense.quantized_weights()
    unfolded_q, _ = qat.fake_quant_weights(dense.linear.kernel, None)
    wrong = unfolded_q * dense.bn.folded()[0]
    assert not np.array_equal(np.rint(wrong / scales), np.rint(kernel_q / scales))


def _channel(op, scales):
    """Weight scales broadcast over the Keras kernel (one scale: per tensor)."""
    return scales if scales.size == 1 else scales.reshape(op._channels())


def _tflite_layout(op, kernel):
    """A Keras kernel as the converter writes it: Conv2D OHWI, DepthwiseConv2D 1HW(C*M),
    Dense [out, in]."""
    if op.code.name == "CONV_2D":
        return kernel.transpose(3, 0, 1, 2)
    if kernel.ndim == 4:
        return kernel.reshape(1, *kernel.shape[:2], -1)
    return kernel.T


def test_refuses_a_batch_norm_it_cannot_fold():
    model = Sequential([Conv2D(2, 3), Dropout(0.1), BatchNormalization(), Flatten(), Dense(2)],
                       input_shape=(5, 5, 1))
    with pytest.raises(ModelError, match="folds BatchNormalization"):
        qat.quantize_aware(model)


# ---------------------------------------------------------------------------- the int8 model

@pytest.mark.parametrize("name", list(models()))
@pytest.mark.parametrize("per_channel_fc", [False, True])
def test_before_fine_tuning_the_qat_model_is_the_ptq_model(name, per_channel_fc):
    """Ranges started from calibration_data are calibrate()'s min/max: the same int8 model,
    byte for byte, as post-training quantization."""
    model = models()[name]
    x = samples(model)
    ptq = write_model(quantize_model(convert_sequential(model), x, progress=False,
                                     per_channel_fc=per_channel_fc))
    q = qat.quantize_aware(model, x, per_channel_fc=per_channel_fc)
    assert write_model(q.int8_model()) == ptq


def fine_tuned(model, x, y, epochs=3):
    q = qat.quantize_aware(model, x[:100])
    q.compile(Adam(5e-4), loss="cross_entropy")
    q.fit(x, y, epochs=epochs, batch_size=8, verbose=0)
    return q


@pytest.mark.parametrize("name", ["mixed", "gap", "bn", "magic_wand", "person_small"])
def test_fine_tuned_int8_model_runs_the_same_in_tflm_and_matches_the_fake_quant(name):
    model = models()[name]
    x = samples(model, 24)
    y = np.arange(len(x)) % model.output_shape[-1]
    q = fine_tuned(model, x, y)
    assert write_model(q.int8_model()) != write_model(
        quantize_model(convert_sequential(model), x, progress=False))     # it did train
    data = write_model(q.int8_model())
    ours = Interpreter.from_bytes(data)
    real = tflm.Interpreter.from_bytes(data, arena_size=2_000_000)
    inputs = as_model_inputs(x, ours.get_input_details(0))
    assert np.array_equal(run_model(ours, inputs, progress=False),
                          run_model(real, inputs, progress=False))
    # Op by op, from the same int8 input: at most one step apart. Ops with weights rarely
    # (the Q31 requantization rounds a value within float error of a half step otherwise);
    # the average pools at every exact half (the integer average rounds it away from zero
    # in the zero-point-shifted codes, the float one in real values).
    agreement = qat.op_agreement(q, q.int8_model(), x[:8])
    assert all(a.max_steps <= 1 for a in agreement), agreement
    weighted = [a for a, op in zip(agreement, q.ops()) if op.linear is not None]
    assert all(a.differing < 0.01 for a in weighted), agreement


def test_end_to_end_the_int8_model_gives_the_fake_quant_answers():
    """Over a whole trained model the one-step differences can move later ops a little
    (a logit one step off moves a softmax output several): most outputs are equal, every
    answer is the same."""
    x_train, y_train = make_gesture_dataset(50, seed=0)
    x_test, _ = make_gesture_dataset(50, seed=2)
    x_train, x_test = x_train[..., None] / 1000, x_test[..., None] / 1000
    model = architectures.magic_wand(seed=0)
    model.compile(Adam(0.002))
    model.fit(x_train, y_train, epochs=20, batch_size=32, verbose=0)
    q = fine_tuned(model, x_train, y_train)
    int8_out = run_model(Interpreter(q.int8_model()), x_test, progress=False, dequantize=True)
    fake = q.predict(x_test)
    assert np.array_equal(int8_out.argmax(axis=1), fake.argmax(axis=1))
    assert np.mean(int8_out == fake) > 0.9
    assert np.abs(int8_out - fake).max() <= 8 / 256                 # 8 output steps


def test_qat_recovers_what_an_outlier_channel_costs_ptq():
    """hello_world with one hidden channel 32x wider (the same float function): PTQ's
    per-tensor scales round the rest away, and a short QAT fine-tune wins it back."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 2 * np.pi, (600, 1)).astype(np.float32)
    y = (np.sin(x) + 0.1 * rng.standard_normal(x.shape)).astype(np.float32)
    model = architectures.hello_world(seed=0)
    model.compile(Adam(0.005), loss="mse")
    model.fit(x[:500], y[:500], epochs=300, batch_size=64, verbose=0)
    before = model.predict(x[500:])
    qat.outlier_channel(model, 1, channel=0, factor=32)
    assert np.array_equal(model.predict(x[500:]), before)          # the same float model

    def mse(int8_model):
        out = run_model(Interpreter(int8_model), x[500:], progress=False, dequantize=True)
        return float(np.mean((out - y[500:]) ** 2))

    float_mse = float(np.mean((before - y[500:]) ** 2))
    ptq_mse = mse(quantize_model(convert_sequential(model), x[:200], progress=False))
    q = qat.quantize_aware(model, x[:200])
    q.compile(Adam(1e-3), loss="mse")
    q.fit(x[:500], y[:500], epochs=20, batch_size=64, verbose=0)
    assert ptq_mse > 10 * float_mse
    assert mse(q.int8_model()) < 1.5 * float_mse


def test_fit_validation_and_early_stopping_work_through_qat():
    model = architectures.magic_wand()
    x = samples(model, 32)
    y = np.arange(32) % 4
    q = qat.quantize_aware(model, x)
    q.compile(Adam(1e-3))
    history = q.fit(x, y, epochs=3, batch_size=8, validation_split=0.25, patience=1, verbose=0)
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history)
    assert "quantize_input/input_range" in q.get_weights()
    assert model.layers[0].kernel is not q.float_model.layers[0].kernel      # a copy
    text = []
    q.summary(print_fn=text.append)
    assert any(line.startswith("conv2d (QuantOp)") for line in text)
    assert repr(q).startswith("QATSequential")


def test_outlier_channel_keeps_the_float_function():
    model = Sequential([Conv2D(4, 3, activation="relu"), MaxPool2D(2), Dropout(0.2), Flatten(),
                        Dense(3), Softmax()], input_shape=(8, 8, 2), seed=1)
    x = samples(model)
    before = model.predict(x)
    qat.outlier_channel(model, 0, channel=2, factor=64)
    assert np.array_equal(model.predict(x), before)      # a power of two: bit for bit
    assert np.abs(model.layers[0].kernel[..., 2]).max() > \
        20 * np.abs(model.layers[0].kernel[..., :2]).max()
    with pytest.raises(ValueError, match="ReLU"):
        qat.outlier_channel(Sequential([Dense(4, activation="relu6"), Dense(2)],
                                       input_shape=(3,)), 0, 0)


def test_softmax_output_is_float_while_training_and_int8_in_evaluation():
    model = Sequential([Dense(3), Softmax()], input_shape=(2,), seed=0)
    x = samples(model, 8)
    q = qat.quantize_aware(model, x)
    trained, evaluated = q.forward(x, training=True), q.forward(x)
    np.testing.assert_allclose(trained.sum(axis=1), 1, rtol=1e-6)
    assert np.array_equal(evaluated * 256, np.rint(evaluated * 256))   # steps of 1/256
    assert not np.array_equal(trained * 256, np.rint(trained * 256))
