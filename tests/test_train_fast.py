"""The fast paths of tflm_edu.train: each one against the plain definition or a gradient check.

- Conv2D's three layouts ("pointwise", "rows", "taps", the last built a few samples at a time)
  and DepthwiseConv2D's stride phases: gradients by central differences (float64) and forward
  passes against a loop-by-loop convolution, on the shapes of the example models;
- wide-row per-channel arithmetic (vector.py) in BatchNormalization and conv biases, with the
  rows spanning several positions and samples; BatchNormalization's one-pass variance and its
  two-pass fallback when a channel's mean is large against its spread;
- the optimizers' one flat update over all parameters against one update per parameter;
- fit()'s BLAS thread pinning (threadpoolctl), restored afterwards.
"""
import platform

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from tflm_edu.train import (SGD, Adam, AveragePool2D, BatchNormalization, Conv2D, Dense,
                            DepthwiseConv2D, Dropout, Flatten, ReLU, ReLU6, Sequential, Softmax,
                            allocator, conv, im2col, vector)
from tflm_edu.train.gradcheck import gradient_errors, numeric_gradient, relative_error
from tflm_edu.train.threads import blas_limits, blas_threads

from test_train_layers import conv_by_loops


@pytest.fixture
def short_rows(monkeypatch):
    """Rows of 8+ values instead of 8192, so that tiny test arrays span many rows."""
    monkeypatch.setattr(vector, "MIN_ROW", 8)
    vector.row_length.cache_clear()
    yield
    vector.row_length.cache_clear()


@pytest.fixture
def tiny_chunks(monkeypatch):
    """The "taps" layout built one sample at a time."""
    monkeypatch.setattr(conv, "CHUNK_BYTES", 1)


def layout(layer, input_shape):
    layer.build(input_shape, np.random.default_rng(0))
    return layer.layout


# ---- Conv2D layouts ----------------------------------------------------------------------------

CONV_CASES = [   # (layer, input shape, the layout it gets)
    (Conv2D(3, (4, 3), strides=2, padding="same"), (9, 8, 1), "taps"),       # tiny_conv-like
    (Conv2D(2, 3, strides=2, padding="same", use_bias=False), (8, 7, 1), "taps"),  # MobileNet's
    (Conv2D(2, (4, 3), padding="same", activation="relu"), (7, 3, 1), "taps"),     # magic_wand's
    (Conv2D(3, (4, 1), padding="same", activation="relu"), (6, 1, 4), "taps"),
    (Conv2D(2, (3, 2), strides=(2, 1), dilation_rate=2, padding="same"), (8, 7, 2), "taps"),
    (Conv2D(2, 3, strides=(1, 3), padding="valid"), (6, 8, 3), "taps"),
    (Conv2D(2, 3, strides=2, padding="same"), (6, 5, 12), "rows"),
    (Conv2D(3, 1, activation="relu6"), (3, 4, 5), "pointwise"),
    (Conv2D(3, 1, strides=2), (5, 4, 2), "taps"),
]
CONV_IDS = [f"{layer!r}-{shape}" for layer, shape, _ in CONV_CASES]


@pytest.mark.parametrize("layer, input_shape, expected", CONV_CASES, ids=CONV_IDS)
def test_conv_layout_is_chosen_by_shape(layer, input_shape, expected):
    assert layout(layer, input_shape) == expected


@pytest.mark.parametrize("layer, input_shape, expected", CONV_CASES, ids=CONV_IDS)
def test_conv_gradients_in_each_layout(layer, input_shape, expected, tiny_chunks):
    errors = gradient_errors(layer, input_shape, batch=3)
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("force", ["rows", "taps"])
@pytest.mark.parametrize("layer, input_shape, expected", CONV_CASES[:6], ids=CONV_IDS[:6])
def test_conv_layouts_agree_with_the_definition(layer, input_shape, expected, force):
    """Every layout computes the same convolution (each forced onto the same layers)."""
    rng = np.random.default_rng(2)
    layer.build(input_shape, rng)
    layer.layout = force
    if layer.use_bias:
        layer.bias[:] = rng.standard_normal(layer.bias.shape)
    x = rng.standard_normal((3, *input_shape)).astype(np.float32)
    expected_y = conv_by_loops(x, layer.kernel, layer.strides, layer.dilation_rate,
                               layer.padding, depthwise=False)
    if layer.use_bias:
        expected_y += layer.bias
    if layer.act:
        expected_y = layer.act.forward(expected_y)
    np.testing.assert_allclose(layer.forward(x), expected_y, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("samples", [1, 2, 5])
def test_taps_layout_in_chunks_matches_one_chunk(monkeypatch, samples):
    """Building the tap rows a few samples at a time (here 2 + 2 + 1 of 5, ...) changes
    nothing but the order of the sums."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 13, 11, 1)).astype(np.float32)
    grad = rng.standard_normal((5, 7, 6, 4)).astype(np.float32)
    results = []
    for chunk in (samples, 5):
        layer = Conv2D(4, (10, 8), strides=2, padding="same")
        layer.build((13, 11, 1), np.random.default_rng(0))
        rows_per_sample = len(layer.plan.tap_order) * 7 * layer.plan.shape[1] * x.itemsize
        monkeypatch.setattr(conv, "CHUNK_BYTES", chunk * rows_per_sample)
        y = layer.forward(x, training=True)
        results.append((y, layer.backward(grad), layer.grads["kernel"], layer.grads["bias"]))
    for one, other in zip(*results):
        np.testing.assert_allclose(one, other, rtol=1e-5, atol=1e-5)


# ---- DepthwiseConv2D through the stride phases -----------------------------------------------

DEPTHWISE_CASES = [
    (DepthwiseConv2D(3, strides=2, padding="same", use_bias=False), (7, 8, 3)),   # MobileNet
    (DepthwiseConv2D(3, strides=2, padding="same", use_bias=False), (6, 6, 2)),
    (DepthwiseConv2D(3, padding="same", use_bias=False), (4, 4, 16)),
    (DepthwiseConv2D((3, 2), strides=(2, 3), padding="valid"), (8, 9, 2)),
    (DepthwiseConv2D(3, strides=2, dilation_rate=2, padding="same"), (7, 7, 2)),
    (DepthwiseConv2D(1, strides=2, padding="valid", depth_multiplier=2), (5, 4, 2)),  # no taps
    (DepthwiseConv2D((2, 3), strides=(3, 1), dilation_rate=(2, 1), padding="same",
                     depth_multiplier=3, activation="relu6"), (8, 5, 2)),              # in 2 phases
]
DEPTHWISE_IDS = [f"{layer!r}-{shape}" for layer, shape in DEPTHWISE_CASES]


@pytest.mark.parametrize("layer, input_shape", DEPTHWISE_CASES, ids=DEPTHWISE_IDS)
def test_depthwise_gradients_through_the_phases(layer, input_shape):
    errors = gradient_errors(layer, input_shape, batch=3)
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("layer, input_shape", DEPTHWISE_CASES, ids=DEPTHWISE_IDS)
def test_depthwise_matches_its_definition(layer, input_shape):
    rng = np.random.default_rng(4)
    layer.build(input_shape, rng)
    x = rng.standard_normal((3, *input_shape)).astype(np.float32)
    expected = conv_by_loops(x, layer.kernel, layer.strides, layer.dilation_rate, layer.padding,
                             depthwise=True)
    if layer.use_bias:
        layer.bias[:] = rng.standard_normal(layer.bias.shape)
        expected += layer.bias
    if layer.act:
        expected = layer.act.forward(expected)
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("strides, dilation, padding", [
    ((1, 1), (1, 1), "same"), ((2, 2), (1, 1), "same"), ((2, 3), (2, 1), "valid"),
    ((3, 2), (1, 2), "same")])
def test_phases_hold_every_input_value_once(strides, dilation, padding):
    """to_phases then from_phases gives the input back; what the phases add is zeros (written
    by to_phases itself: here over NaN)."""
    g = im2col.geometry((9, 10), (3, 3), strides, dilation, padding)
    plan = im2col.phase_plan(g, (9, 10))
    x = np.random.default_rng(5).standard_normal((2, 9, 10, 3))
    phases = im2col.to_phases(x, plan, np.full((*plan.strides, 2, *plan.shape, 3), np.nan))
    assert np.isclose(phases.sum(), x.sum()) and np.count_nonzero(phases) == x.size
    channel_major = im2col.to_phases(x.transpose(3, 0, 1, 2), plan,
                                     np.full((*plan.strides, 3, 2, *plan.shape), np.nan), (2, 3))
    np.testing.assert_array_equal(channel_major, phases.transpose(0, 1, 5, 2, 3, 4))
    np.testing.assert_array_equal(im2col.from_phases(phases, plan, np.empty_like(x)), x)
    assert sorted(plan.tap_order) == list(range(9))


@pytest.mark.parametrize("strides, dilation, padding", [
    ((1, 1), (1, 1), "same"), ((2, 2), (1, 1), "same"), ((2, 3), (2, 1), "valid"),
    ((3, 2), (1, 2), "same")])
def test_phases_reuse_a_zeroed_buffer(strides, dilation, padding):
    """Written over zeros with zero_padding=False, again and again (a layer's work buffer),
    the phases hold what a fresh to_phases writes over NaN."""
    g = im2col.geometry((9, 10), (3, 3), strides, dilation, padding)
    plan = im2col.phase_plan(g, (9, 10))
    rng = np.random.default_rng(5)
    buffer = np.zeros((*plan.strides, 2, *plan.shape, 3))
    for _ in range(2):
        x = rng.standard_normal((2, 9, 10, 3))
        reused = im2col.to_phases(x, plan, buffer, zero_padding=False)
        fresh = im2col.to_phases(x, plan, np.full(buffer.shape, np.nan))
        np.testing.assert_array_equal(reused, fresh)
    np.testing.assert_array_equal(im2col.from_phases(reused, plan, np.empty_like(x)), x)


@pytest.mark.parametrize("make, input_shape", [
    (lambda: DepthwiseConv2D(3, strides=2, padding="same", use_bias=False), (7, 8, 3)),
    (lambda: DepthwiseConv2D(3, padding="same", depth_multiplier=2), (5, 4, 2)),
    (lambda: Conv2D(3, 3, strides=2, padding="same"), (9, 8, 1))])       # the "taps" layout
def test_work_buffers_carry_nothing_from_one_step_to_the_next(make, input_shape):
    """A layer that reuses its padded work buffers, through batches of other sizes and an
    inference pass in between, computes what a fresh layer computes for each batch."""
    rng = np.random.default_rng(11)
    kept = make()
    kept.build(input_shape, np.random.default_rng(0))
    for batch, training in [(3, True), (2, True), (4, False), (3, True)]:
        x = 10 * rng.standard_normal((batch, *input_shape)).astype(np.float32)
        fresh = make()
        fresh.build(input_shape, np.random.default_rng(0))
        y = kept.forward(x, training)
        np.testing.assert_array_equal(y, fresh.forward(x, training))
        if training:
            grad = rng.standard_normal(y.shape).astype(np.float32)
            np.testing.assert_array_equal(kept.backward(grad), fresh.backward(grad))
            for name, value in kept.grads.items():
                np.testing.assert_array_equal(value, fresh.grads[name], err_msg=name)
    assert len(kept._work_buffers["phases"]) == 2          # the last two shapes, no more


def overwriting_model(seed=0):
    """Every layer kind that writes over its input or gradient inside a training step."""
    return Sequential([Conv2D(4, 3, padding="same", use_bias=False), BatchNormalization(),
                       ReLU6(), DepthwiseConv2D(3, padding="same", activation="relu6"),
                       BatchNormalization(), ReLU(), Dropout(0.3),
                       DepthwiseConv2D(3, strides=2, padding="same"), AveragePool2D(3),
                       Flatten(), Dense(5, activation="relu"), Dense(3), Softmax()],
                      input_shape=(6, 6, 1), seed=seed)


def test_a_training_step_that_overwrites_arrays_computes_the_same_numbers():
    """train_step (overwriting arrays nobody reads again) and the same step spelt out by hand
    (where nothing is overwritten) leave bit-identical weights."""
    rng = np.random.default_rng(12)
    x, y = rng.standard_normal((8, 6, 6, 1)).astype(np.float32), rng.integers(0, 3, 8)
    fast, plain = overwriting_model(), overwriting_model()
    for model in (fast, plain):
        model.compile(optimizer=Adam(0.01), loss="cross_entropy")
    assert [layer.input_private for layer in fast.layers][:4] == [False, True, True, True]
    for _ in range(3):
        fast.train_step(x, y)
        out = plain.forward(x, training=True)
        plain.loss(out, y)
        grad = plain.loss.backward()
        for layer in reversed(plain._backward_layers):
            grad = layer.backward(grad)
        plain.optimizer.step(plain.parameters())
    for key, value in fast.get_weights().items():
        np.testing.assert_array_equal(value, plain.get_weights()[key], err_msg=key)


def test_layers_called_by_hand_never_overwrite_what_they_are_given():
    model = overwriting_model()
    rng = np.random.default_rng(13)
    x = rng.standard_normal((4, 6, 6, 1)).astype(np.float32)
    for layer in model.layers:
        given = x.copy()
        y = layer.forward(x, training=True)
        np.testing.assert_array_equal(x, given, err_msg=layer.name)
        grad = rng.standard_normal(y.shape).astype(np.float32)
        sent = grad.copy()
        layer.backward(grad)
        np.testing.assert_array_equal(grad, sent, err_msg=layer.name)
        x = y


def test_keep_freed_memory_is_set_once():
    """glibc's malloc thresholds are fixed by the first training step (allocator.py); the
    answer stays the same, and it is True wherever numpy allocates through glibc."""
    first = allocator.keep_freed_memory()
    assert allocator.keep_freed_memory() is first
    libc = platform.libc_ver()[0]
    assert first == (libc == "glibc") or libc == ""


# ---- wide rows --------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(32, 48, 48, 8), (32, 6, 6, 128), (7, 3, 3, 5), (3, 1, 1, 4),
                                   (64, 16), (5, 13, 17, 3)])
def test_row_length_lines_rows_up_with_channel_zero(shape):
    length = vector.row_length(shape)
    assert length % shape[-1] == 0 and np.prod(shape) % length == 0
    whole = int(np.prod(shape))
    assert length >= min(vector.MIN_ROW, whole) or length == shape[-1] * np.prod(shape[1:-1])


def test_tile_and_items():
    v = np.arange(3, dtype=np.float32)
    np.testing.assert_array_equal(vector.tile(v, 12), np.tile(v, 4))
    x = np.arange(24, dtype=np.float32).reshape(2, 4, 3)
    pixels = vector.items(x)
    assert pixels.shape == (2, 4)
    out = np.zeros_like(x)
    vector.items(out)[:, ::2] = pixels[:, ::2]
    np.testing.assert_array_equal(out[:, ::2], x[:, ::2])
    assert not out[:, 1::2].any()
    with pytest.raises(ValueError):             # a view past the array is refused
        vector.strided(x, 20, (2, 3), (12, 4))


@pytest.mark.parametrize("layer, input_shape", [
    (BatchNormalization(), (3, 4, 2)), (BatchNormalization(), (2, 3, 8)),
    (BatchNormalization(), (6,)), (Conv2D(3, 1), (3, 2, 2)),
    (DepthwiseConv2D(3, padding="same"), (4, 3, 2))])
def test_per_channel_arithmetic_on_rows_spanning_positions_and_samples(layer, input_shape,
                                                                       short_rows):
    errors = gradient_errors(layer, input_shape, batch=5)
    assert max(errors.values()) < 1e-6, errors


def test_batch_normalization_on_wide_rows_matches_the_textbook(short_rows):
    rng = np.random.default_rng(6)
    layer = BatchNormalization(momentum=0.5)
    layer.build((4, 5, 3), rng)
    layer.gamma[:], layer.beta[:] = rng.uniform(0.5, 2, 3), rng.standard_normal(3)
    x = (2 + 3 * rng.standard_normal((6, 4, 5, 3))).astype(np.float32)
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    expected = (x - mean) / np.sqrt(var + layer.epsilon) * layer.gamma + layer.beta
    np.testing.assert_allclose(layer.forward(x, training=True), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(layer.moving_mean, 0.5 * mean, rtol=1e-5)
    np.testing.assert_allclose(layer.moving_var, 0.5 + 0.5 * var, rtol=1e-5)
    np.testing.assert_allclose(layer.x_hat, (x - mean) / np.sqrt(var + layer.epsilon),
                               rtol=1e-4, atol=1e-4)
    folded = layer.forward(x, training=False)
    scale, shift = layer.folded()
    np.testing.assert_allclose(folded, x * scale + shift, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("offset", [0.0, 2.0, 1000.0])
def test_batch_normalization_variance_holds_for_large_means(offset):
    """One pass (E[x^2] - mean^2) while the mean is small against the spread, two passes when
    it is not: float32 statistics stay within 1e-4 of the float64 textbook either way."""
    rng = np.random.default_rng(9)
    layer = BatchNormalization(momentum=0.0)
    layer.build((5, 4, 3), rng)
    x64 = offset + rng.standard_normal((16, 5, 4, 3)) * np.array([1.0, 0.1, 3.0])
    y = layer.forward(x64.astype(np.float32), training=True)
    mean, var = x64.mean(axis=(0, 1, 2)), x64.var(axis=(0, 1, 2))
    np.testing.assert_allclose(layer.moving_var, var, rtol=1e-4)
    np.testing.assert_allclose(y, (x64 - mean) / np.sqrt(var + layer.epsilon), atol=2e-3)


@pytest.mark.parametrize("offset", [5.0, 300.0])
def test_batch_normalization_gradient_with_a_large_mean(offset):
    rng = np.random.default_rng(10)
    layer = BatchNormalization()
    layer.build((3, 2, 4), rng)
    layer.gamma, layer.beta = rng.uniform(0.5, 2, 4), rng.standard_normal(4)
    layer.moving_mean, layer.moving_var = layer.moving_mean.astype(float), \
        layer.moving_var.astype(float)
    x = offset + rng.standard_normal((5, 3, 2, 4))
    r = rng.standard_normal(x.shape)

    def loss():
        return float((layer.forward(x, training=True) * r).sum())

    loss()
    analytic = {"x": layer.backward(r), **layer.grads}
    for name, array in [("x", x), ("gamma", layer.gamma), ("beta", layer.beta)]:
        picks, numeric = numeric_gradient(loss, array)
        assert relative_error(analytic[name].reshape(-1)[picks], numeric) < 1e-5, name


# ---- the optimizers' flat update --------------------------------------------------------------

def per_parameter(optimizer):
    """The same optimizer made to update one parameter at a time (the plain path)."""
    optimizer.elementwise = False
    return optimizer


def small_model(seed=0):
    return Sequential([Conv2D(4, 3, padding="same", use_bias=False), BatchNormalization(),
                       ReLU6(), DepthwiseConv2D(3, strides=2, padding="same"), Flatten(),
                       Dense(3), Softmax()], input_shape=(6, 6, 1), seed=seed)


@pytest.mark.parametrize("make", [lambda: Adam(0.01), lambda: SGD(0.1, momentum=0.9),
                                  lambda: SGD(0.1), lambda: Adam(0.01, weight_decay=0.1)])
def test_flat_update_equals_one_update_per_parameter(make):
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((8, 6, 6, 1)).astype(np.float32), rng.integers(0, 3, 8)
    flat, plain = small_model(), small_model()
    flat.compile(optimizer=make(), loss="cross_entropy")
    plain.compile(optimizer=per_parameter(make()), loss="cross_entropy")
    for _ in range(4):
        flat.train_step(x, y)
        plain.train_step(x, y)
    for key, value in flat.get_weights().items():
        np.testing.assert_allclose(value, plain.get_weights()[key], rtol=1e-5, atol=1e-6,
                                   err_msg=key)
    # The per-name state is a view of the flat state, so it reads as before.
    name, _, _ = flat.parameters()[0]
    kind = "m" if isinstance(flat.optimizer, Adam) else "velocity"
    if (name, kind) in plain.optimizer.slots:
        np.testing.assert_allclose(flat.optimizer.slots[(name, kind)],
                                   plain.optimizer.slots[(name, kind)], rtol=1e-5, atol=1e-7)


def test_flat_update_keeps_state_made_one_parameter_at_a_time():
    a, b = np.ones(3, np.float32), np.ones(2, np.float32)
    grad_a, grad_b = np.full(3, 0.5, np.float32), np.full(2, -1.0, np.float32)
    opt, ref = Adam(0.1), per_parameter(Adam(0.1))
    a2, b2 = a.copy(), b.copy()
    opt.step([("a", a, grad_a)])                 # one parameter: the per-parameter path
    ref.step([("a", a2, grad_a)])
    for _ in range(3):
        opt.step([("a", a, grad_a), ("b", b, grad_b)])     # then the flat path
        ref.step([("a", a2, grad_a), ("b", b2, grad_b)])
    np.testing.assert_allclose(a, a2, rtol=1e-6)
    np.testing.assert_allclose(b, b2, rtol=1e-6)


# ---- BLAS threads ------------------------------------------------------------------------------

def blas_thread_counts():
    return {info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}


def test_fit_pins_blas_threads_and_restores_them():
    if not blas_thread_counts():
        pytest.fail("threadpoolctl finds no BLAS library under numpy")
    model = small_model()
    model.compile(optimizer=Adam(0.01), loss="cross_entropy")
    x = np.random.default_rng(8).standard_normal((8, 6, 6, 1)).astype(np.float32)
    y = np.arange(8) % 3
    before, seen = blas_thread_counts(), []
    model.fit(x, y, epochs=1, verbose=0, callbacks=[lambda e, h: seen.append(blas_thread_counts())])
    assert seen == [{blas_threads(model)}] and blas_threads(model) == 1
    assert blas_thread_counts() == before
    model.fit(x, y, epochs=1, verbose=0, blas_threads=2,
              callbacks=[lambda e, h: seen.append(blas_thread_counts())])
    assert seen[-1] == {2} and blas_thread_counts() == before
    with blas_limits(1):
        assert blas_thread_counts() == {1}
    with pytest.raises(ValueError, match="1 or more"):
        with blas_limits(0):
            pass
