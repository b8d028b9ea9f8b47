"""tflm_edu.train.Sequential: learning known problems, determinism, the fused Softmax gradient,
optimizers and schedules against hand computations, weights on disk, and clear errors."""
import numpy as np
import pytest

from tflm_edu.train import (SGD, Adam, BatchNormalization, Conv2D, CosineDecay, CrossEntropy,
                            Dense, Dropout, ExponentialDecay, Flatten, ReLU, Sequential, Softmax,
                            StepDecay, micro_speech_tiny_conv)

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
XOR_Y = np.array([0, 1, 1, 0])


def xor_model(seed=0, softmax=False):
    layers = [Dense(8, activation="relu"), Dense(2)] + ([Softmax()] if softmax else [])
    return Sequential(layers, input_shape=(2,), seed=seed)


def blobs(n=200, seed=0):
    """Two Gaussian blobs 4 standard deviations apart, shuffled."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.standard_normal((n, 2)) + np.where(y[:, None] == 1, 2.0, -2.0)
    return x.astype(np.float32), y


def test_learns_xor_to_100_percent():
    model = xor_model()
    model.compile(optimizer=Adam(0.05), loss="cross_entropy")
    history = model.fit(XOR_X, XOR_Y, epochs=150, batch_size=4, verbose=0)
    assert history["accuracy"][-1] == 1.0
    assert (model.predict(XOR_X).argmax(axis=1) == XOR_Y).all()
    assert history["loss"][-1] < 0.05


def test_learns_separable_blobs_with_a_conv_batchnorm_dropout_model():
    """Every layer family in one model: 2-D points reshaped to 1x2 'images'."""
    x, y = blobs()
    model = Sequential([Conv2D(4, (1, 2), padding="same", use_bias=False), BatchNormalization(),
                        ReLU(), Dropout(0.1), Flatten(), Dense(2), Softmax()],
                       input_shape=(1, 2, 1), seed=0)
    model.compile(optimizer=SGD(0.1, momentum=0.9), loss="cross_entropy")
    history = model.fit(x.reshape(-1, 1, 2, 1), y, epochs=10, batch_size=16,
                        validation_split=0.25, verbose=0)
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 10 for v in history.values())
    assert history["val_accuracy"][-1] >= 0.98
    assert history["loss"][-1] < history["loss"][0]


def test_regression_reports_mean_absolute_error():
    x = np.linspace(-1, 1, 64, dtype=np.float32)[:, None]
    model = Sequential([Dense(1)], input_shape=(1,), seed=0)
    model.compile(optimizer=SGD(0.3), loss="mse")
    history = model.fit(x, 3 * x + 1, epochs=100, batch_size=64, verbose=0)
    assert set(history) == {"loss", "mae"} and history["mae"][-1] < 1e-3
    np.testing.assert_allclose([model.layers[0].kernel[0, 0], model.layers[0].bias[0]], [3, 1],
                               atol=1e-3)


def test_training_is_deterministic_for_a_seed():
    x, y = blobs()

    def trained(model_seed, fit_seed):
        model = Sequential([Dense(8, activation="relu"), Dropout(0.3), Dense(2)],
                           input_shape=(2,), seed=model_seed)
        model.compile(optimizer=Adam(0.01), loss="cross_entropy")
        model.fit(x, y, epochs=2, batch_size=32, seed=fit_seed, verbose=0)
        return model.get_weights()

    first, again = trained(0, 0), trained(0, 0)
    assert all(np.array_equal(first[k], again[k]) for k in first)
    for other in (trained(1, 0), trained(0, 1)):
        assert not np.array_equal(first["dense/kernel"], other["dense/kernel"])


def test_fused_softmax_cross_entropy_trains_exactly_like_logits():
    """A model ending in Softmax (probabilities) takes the same steps as the same model
    trained on logits: the fused gradient is (p - y) / batch either way."""
    with_softmax, logits_only = xor_model(softmax=True), xor_model()
    with_softmax.compile(optimizer=SGD(0.5), loss="cross_entropy")
    logits_only.compile(optimizer=SGD(0.5), loss="cross_entropy")
    assert repr(with_softmax.loss) == "CrossEntropy(from_logits=False)"
    for _ in range(5):
        loss_p, _ = with_softmax.train_step(XOR_X, XOR_Y)
        loss_l, _ = logits_only.train_step(XOR_X, XOR_Y)
        assert loss_p == pytest.approx(loss_l, rel=1e-5)
    np.testing.assert_allclose(with_softmax.layers[0].kernel, logits_only.layers[0].kernel,
                               rtol=1e-5)


def test_one_hot_labels_train_like_class_indices():
    a, b = xor_model(), xor_model()
    a.compile(optimizer=SGD(0.5), loss="cross_entropy")
    b.compile(optimizer=SGD(0.5), loss="cross_entropy")
    a.train_step(XOR_X, XOR_Y)
    b.train_step(XOR_X, np.eye(2, dtype=np.float32)[XOR_Y])
    np.testing.assert_array_equal(a.layers[0].kernel, b.layers[0].kernel)


def test_early_stopping_stops_after_patience_and_restores_the_best_weights():
    """The validation labels are the training labels flipped, so val_loss only grows as the
    model learns: the first epoch is the best, training stops `patience` epochs after it and
    the model returns to the weights it had then."""
    x, y = blobs(64)
    model = xor_model()
    model.compile(optimizer=SGD(0.1), loss="cross_entropy")
    snapshots = []
    history = model.fit(x, y, epochs=20, validation_data=(x, 1 - y), patience=3, verbose=0,
                        callbacks=[lambda epoch, h: snapshots.append(model.get_weights())])
    assert history.epochs == 4 and np.argmin(history["val_loss"]) == 0
    assert all(np.array_equal(value, snapshots[0][key])
               for key, value in model.get_weights().items())
    assert not np.array_equal(snapshots[0]["dense/kernel"], snapshots[-1]["dense/kernel"])


def test_callbacks_see_every_epoch_and_can_stop_training():
    seen = []

    def callback(epoch, history):
        seen.append((epoch, history.epochs))
        return epoch == 2                # a truthy return value stops training

    model = xor_model()
    model.compile(optimizer=Adam(0.01), loss="cross_entropy")
    model.fit(XOR_X, XOR_Y, epochs=10, verbose=0, callbacks=[callback])
    assert seen == [(0, 1), (1, 2), (2, 3)]


def test_evaluate_and_predict_in_batches():
    x, y = blobs(50)
    model = xor_model()
    model.compile(optimizer=Adam(0.01), loss="cross_entropy")
    np.testing.assert_allclose(model.predict(x, batch_size=7), model.forward(x), rtol=1e-6)
    result = model.evaluate(x, y, batch_size=7)
    assert set(result) == {"loss", "accuracy"}
    assert result["accuracy"] == (model.forward(x).argmax(1) == y).mean()


def bn_model(seed):
    return Sequential([Conv2D(3, 3, padding="same", use_bias=False), BatchNormalization(),
                       ReLU(), Flatten(), Dense(2)], input_shape=(4, 4, 1), seed=seed)


def test_save_and_load_weights_including_batch_norm_statistics(tmp_path):
    probe = np.random.default_rng(0).standard_normal((6, 4, 4, 1)).astype(np.float32)
    model = bn_model(seed=1)
    model.compile(optimizer=SGD(0.1), loss="cross_entropy")
    model.train_step(probe, np.array([0, 1, 0, 1, 1, 0]))   # moves the moving averages
    model.save_weights(tmp_path / "weights.npz")
    other = bn_model(seed=2)
    other.load_weights(tmp_path / "weights.npz")
    np.testing.assert_array_equal(other.layers[1].moving_var, model.layers[1].moving_var)
    np.testing.assert_array_equal(other.predict(probe), model.predict(probe))
    with pytest.raises(ValueError, match="weights do not match this model"):
        micro_speech_tiny_conv().load_weights(tmp_path / "weights.npz")


# ---- optimizers and schedules against hand computation ---------------------------------------

def step(optimizer, value, grad, name="dense/kernel"):
    value = np.array(value, np.float32)
    optimizer.step([(name, value, np.array(grad, np.float32))])
    return value


def test_sgd_with_momentum():
    opt, w = SGD(0.1, momentum=0.9), np.array([1.0], np.float32)
    for _ in range(2):
        opt.step([("w", w, np.array([1.0], np.float32))])
    # v1 = -0.1, w1 = 0.9; v2 = 0.9 * -0.1 - 0.1 = -0.19, w2 = 0.71
    np.testing.assert_allclose(w, [0.71], rtol=1e-6)


def test_adam_first_step_is_the_learning_rate_against_the_gradient_sign():
    np.testing.assert_allclose(step(Adam(0.01), [1.0, 1.0], [3.0, -1e-3]), [0.99, 1.01], rtol=1e-4)


def test_weight_decay_applies_to_kernels_only():
    opt = SGD(0.1, weight_decay=0.5)
    np.testing.assert_allclose(step(opt, [2.0], [0.0], "dense/kernel"), [1.9])   # 2 - 0.1*0.5*2
    np.testing.assert_allclose(step(opt, [2.0], [0.0], "dense/bias"), [2.0])


@pytest.mark.parametrize("schedule, step_, expected", [
    (StepDecay(0.1, factor=0.5, every=10), 25, 0.025),
    (ExponentialDecay(1.0, rate=0.5, decay_steps=10), 20, 0.25),
    (CosineDecay(1.0, decay_steps=100), 50, 0.5),
    (CosineDecay(1.0, decay_steps=100, final=0.1), 500, 0.1),
])
def test_schedules(schedule, step_, expected):
    assert schedule(step_) == pytest.approx(expected)


def test_optimizer_follows_its_schedule_step_by_step():
    opt = SGD(StepDecay(1.0, factor=0.1, every=1))
    w = np.array([0.0], np.float32)
    for _ in range(3):
        opt.step([("w", w, np.array([1.0], np.float32))])
    np.testing.assert_allclose(w, [-1.11], rtol=1e-6)           # 1 + 0.1 + 0.01


# ---- description and errors ------------------------------------------------------------------

def test_summary_table():
    lines = []
    micro_speech_tiny_conv().summary(print_fn=lines.append)
    conv_row = next(line for line in lines if line.startswith("conv2d (Conv2D)"))
    assert conv_row.split()[2:] == ["(25,", "20,", "8)", "648", "320,000", "16,000"]
    total = next(line for line in lines if line.startswith("total"))
    assert total.split() == ["total", "16,652", "336,000", "48,032"]


def test_layer_names_are_unique_like_keras():
    model = Sequential([Dense(4), Dense(4), BatchNormalization(), Dense(2)], input_shape=(3,))
    assert [layer.name for layer in model.layers] == ["dense", "dense_1", "batch_normalization",
                                                      "dense_2"]


def test_wrong_input_shape_is_a_one_line_value_error():
    model = micro_speech_tiny_conv()
    with pytest.raises(ValueError) as error:
        model.predict(np.zeros((2, 49, 40), np.float32))
    assert str(error.value) == \
        "x has shape (2, 49, 40) but this model takes (batch, 49, 40, 1) arrays"


def test_mismatched_labels_and_uncompiled_models_are_refused():
    model = xor_model()
    with pytest.raises(ValueError, match="call model.compile"):
        model.fit(XOR_X, XOR_Y)
    model.compile(optimizer=SGD(0.1), loss="cross_entropy")
    with pytest.raises(ValueError, match="x has 4 samples but y has 3"):
        model.fit(XOR_X, XOR_Y[:3])
    with pytest.raises(ValueError, match=r"labels must be class indices in \[0, 2\)"):
        model.fit(XOR_X, XOR_Y + 1, verbose=0)


def test_softmax_applied_twice_or_never_is_refused():
    with pytest.raises(ValueError, match="does not fit a model that ends in Softmax"):
        xor_model(softmax=True).compile(SGD(0.1), CrossEntropy(from_logits=True))
    with pytest.raises(ValueError, match="does not end in Softmax"):
        xor_model().compile(SGD(0.1), CrossEntropy(from_logits=False))
    with pytest.raises(ValueError, match="loss must be one of"):
        xor_model().compile(SGD(0.1), "hinge")


def test_history_reads_as_a_trend():
    model = xor_model()
    model.compile(optimizer=Adam(0.05), loss="cross_entropy")
    history = model.fit(XOR_X, XOR_Y, epochs=3, batch_size=4, verbose=0)
    assert repr(history).startswith("History(3 epochs: loss ")
    assert isinstance(history, dict) and len(history["loss"]) == 3


def test_history_plot_shows_loss_and_accuracy_for_training_and_validation():
    from tflm_edu.train.sequential import History
    history = History()
    for epoch in range(5):
        history.append({"loss": 1 / (epoch + 1), "accuracy": epoch / 5,
                        "val_loss": 1.5 / (epoch + 1), "val_accuracy": epoch / 6})
    fig = history.plot()
    assert [a.get_title() for a in fig.axes] == ["loss", "accuracy"]
    for axis in fig.axes:
        assert sorted(t.get_text() for t in axis.get_legend().get_texts()) == \
            ["training", "validation"]
        assert all(len(line.get_xdata()) == 5 for line in axis.lines)
