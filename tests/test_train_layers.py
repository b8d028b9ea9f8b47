"""tflm_edu.train layers: gradients against finite differences, forward passes against oracles.

Three kinds of evidence, each with one helper and many one-line cases:
- gradient_errors: every layer's backward() against central differences of its forward(),
  in float64, over strides, SAME/VALID padding, dilations and depth multipliers;
- check_against_loops: convolutions against a direct, loop-by-loop reading of their definition;
- check_against_litert: each layer against the real TFLite op (LiteRT), which proves that the
  padding rule and the weight layouts are the ones a converted .tflite model will use.
"""
import numpy as np
import pytest

from tflm_edu.train import (AveragePool2D, BatchNormalization, Conv2D, Dense, DepthwiseConv2D,
                            Dropout, Flatten, GlobalAveragePool, MaxPool2D, ReLU, ReLU6, Reshape,
                            Softmax)
from tflm_edu.train.gradcheck import gradient_errors, numeric_gradient, relative_error
from tflm_edu.train.im2col import Padding1D, padding_1d
from tflm_edu.train.losses import CrossEntropy, MeanSquaredError

# ---- gradients -------------------------------------------------------------------------------
# gradient_errors (tflm_edu.train.gradcheck) builds the layer in float64 and compares backward()
# with central differences for the input and every weight; 1e-6 is about 1000x its round-off.

GRADIENT_CASES = [
    (Dense(3), (4,)),
    (Dense(3, activation="relu"), (5,)),
    (Conv2D(3, 3), (5, 5, 2)),
    (Conv2D(3, 3, strides=2, padding="same"), (6, 7, 2)),
    (Conv2D(2, (3, 2), strides=(2, 1), padding="same", dilation_rate=2), (7, 6, 3)),
    (Conv2D(2, 3, dilation_rate=(1, 2), padding="valid"), (5, 7, 2)),
    (Conv2D(4, 1, activation="relu6"), (3, 3, 5)),
    (Conv2D(2, (4, 3), strides=2, padding="same", use_bias=False), (9, 8, 1)),
    (DepthwiseConv2D(3, padding="same"), (5, 5, 3)),
    (DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=3), (6, 5, 2)),
    (DepthwiseConv2D((3, 2), dilation_rate=2, depth_multiplier=2), (7, 7, 2)),
    (DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=8, activation="relu"),
     (6, 6, 1)),
    (DepthwiseConv2D(3, strides=(1, 2), padding="same", use_bias=False), (4, 5, 2)),
    (MaxPool2D(3), (7, 6, 2)),
    (MaxPool2D((3, 1), padding="same"), (8, 1, 2)),
    (MaxPool2D(2, strides=1, padding="same"), (4, 5, 2)),
    (AveragePool2D(3), (6, 6, 2)),
    (AveragePool2D(2, padding="same"), (5, 5, 2)),
    (AveragePool2D(3, strides=1, padding="same"), (4, 4, 1)),
    (GlobalAveragePool(), (3, 4, 2)),
    (Flatten(), (3, 4, 2)),
    (Reshape((4, -1)), (3, 4, 2)),
    (ReLU(), (10,)),
    (ReLU6(), (10,)),
    (Softmax(), (5,)),
    (BatchNormalization(), (3, 3, 2)),
    (BatchNormalization(), (4,)),
]


@pytest.mark.parametrize("layer, input_shape", GRADIENT_CASES,
                         ids=[f"{layer!r}-{shape}" for layer, shape in GRADIENT_CASES])
def test_gradient(layer, input_shape):
    errors = gradient_errors(layer, input_shape)
    assert max(errors.values()) < 1e-6, errors


def test_gradient_of_batch_normalization_in_a_bigger_batch():
    errors = gradient_errors(BatchNormalization(), (2, 2, 3), batch=5)
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("loss, from_probabilities", [
    (CrossEntropy(from_logits=True), False), (CrossEntropy(from_logits=False), True),
    (MeanSquaredError(), False)], ids=["ce-logits", "ce-fused-softmax", "mse"])
def test_loss_gradient_with_respect_to_logits(loss, from_probabilities):
    """CrossEntropy.backward() is d loss / d logits, also when it was handed probabilities."""
    rng = np.random.default_rng(1)
    logits, labels = rng.standard_normal((4, 3)), np.array([0, 2, 1, 2])
    targets = labels if isinstance(loss, CrossEntropy) else rng.standard_normal((4, 3))
    softmax = Softmax()

    def value():
        return loss(softmax.forward(logits) if from_probabilities else logits, targets)

    value()
    analytic = loss.backward()
    picks, numeric = numeric_gradient(value, logits)
    assert relative_error(analytic.reshape(-1)[picks], numeric) < 1e-6


def test_dropout_scales_survivors_and_routes_the_gradient_through_them():
    layer = Dropout(0.25)
    layer.build((1000,), np.random.default_rng(0))
    x = np.ones((4, 1000), np.float32)
    y = layer.forward(x, training=True)
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.03
    np.testing.assert_array_equal(layer.backward(2 * x), 2 * y)
    np.testing.assert_array_equal(layer.forward(x, training=False), x)


def test_batch_normalization_inference_uses_the_moving_averages():
    """With momentum 0 the moving averages become this batch's statistics, so inference on the
    same batch reproduces training mode, and folded() is exactly that affine map."""
    rng = np.random.default_rng(0)
    layer = BatchNormalization(momentum=0.0)
    layer.build((3, 3, 4), rng)
    layer.gamma[:], layer.beta[:] = rng.uniform(0.5, 2, 4), rng.standard_normal(4)
    x = (5 + 3 * rng.standard_normal((8, 3, 3, 4))).astype(np.float32)
    trained = layer.forward(x, training=True)
    np.testing.assert_allclose(layer.forward(x), trained, atol=1e-5)
    np.testing.assert_allclose(layer.moving_mean, x.mean(axis=(0, 1, 2)), rtol=1e-5)
    scale, shift = layer.folded()
    np.testing.assert_allclose(x * scale + shift, trained, atol=1e-5)


def test_max_pool_gives_a_tied_window_gradient_to_one_input_only():
    layer = MaxPool2D(2)
    layer.build((2, 2, 1))
    layer.forward(np.ones((1, 2, 2, 1), np.float32))
    np.testing.assert_array_equal(layer.backward(np.ones((1, 1, 1, 1), np.float32)).ravel(),
                                  [1, 0, 0, 0])


# ---- padding and convolution definitions -----------------------------------------------------

@pytest.mark.parametrize("size, kernel, stride, dilation, padding, expected", [
    (6, 3, 2, 1, "same", (3, 0, 1)),       # the odd padding element goes after (bottom/right)
    (5, 3, 2, 1, "same", (3, 1, 1)),
    (49, 10, 2, 1, "same", (25, 4, 5)),    # micro_speech's conv: TensorFlow pads 4 on top, 5 below
    (40, 8, 2, 1, "same", (20, 3, 3)),
    (96, 3, 2, 1, "same", (48, 0, 1)),     # MobileNet's first conv
    (7, 3, 1, 2, "same", (7, 2, 2)),       # dilation 2: a 5-wide effective kernel
    (4, 4, 4, 1, "same", (1, 0, 0)),       # (out-1)*stride + k - in < 0: no padding at all
    (128, 3, 3, 1, "valid", (42, 0, 0)),   # magic_wand's first max pool
    (7, 3, 2, 2, "valid", (2, 0, 0)),
])
def test_padding_follows_tensorflow(size, kernel, stride, dilation, padding, expected):
    assert padding_1d(size, kernel, stride, dilation, padding) == Padding1D(*expected)


def test_valid_padding_refuses_a_kernel_larger_than_the_input():
    with pytest.raises(ValueError, match="does not fit"):
        Conv2D(1, 5).build((4, 4, 1))


def conv_by_loops(x, kernel, strides, dilation, padding, depthwise):
    """The definition, one output element at a time (TFLite's reference conv.h / depthwise_conv.h
    loops), with TensorFlow's padding offsets."""
    n, h, w, c = x.shape
    kh, kw = kernel.shape[:2]
    rows = padding_1d(h, kh, strides[0], dilation[0], padding)
    cols = padding_1d(w, kw, strides[1], dilation[1], padding)
    out_ch = c * kernel.shape[3] if depthwise else kernel.shape[3]
    out = np.zeros((n, rows.out, cols.out, out_ch))
    for b, oy, ox, o in np.ndindex(out.shape):
        for ky, kx in np.ndindex(kh, kw):
            iy = oy * strides[0] - rows.before + ky * dilation[0]
            ix = ox * strides[1] - cols.before + kx * dilation[1]
            if 0 <= iy < h and 0 <= ix < w:       # outside the input: a padding zero
                if depthwise:
                    ic, m = divmod(o, kernel.shape[3])
                    out[b, oy, ox, o] += x[b, iy, ix, ic] * kernel[ky, kx, ic, m]
                else:
                    out[b, oy, ox, o] += x[b, iy, ix, :] @ kernel[ky, kx, :, o]
    return out


CONV_CASES = [
    (Conv2D(2, (10, 8), strides=2, padding="same"), (13, 11, 1)),
    (Conv2D(3, 3, strides=(1, 2), padding="same", dilation_rate=(2, 1)), (6, 7, 2)),
    (Conv2D(2, (2, 3), strides=3, padding="valid"), (8, 9, 3)),
    (DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2), (7, 6, 3)),
    (DepthwiseConv2D((4, 3), padding="same", dilation_rate=2), (6, 6, 2)),
]


@pytest.mark.parametrize("layer, input_shape", CONV_CASES,
                         ids=[f"{layer!r}-{shape}" for layer, shape in CONV_CASES])
def test_conv_forward_matches_its_definition(layer, input_shape):
    rng = np.random.default_rng(2)
    layer.build(input_shape, rng)
    layer.bias[:] = 0
    x = rng.standard_normal((2, *input_shape)).astype(np.float32)
    expected = conv_by_loops(x, layer.kernel, layer.strides, layer.dilation_rate, layer.padding,
                             isinstance(layer, DepthwiseConv2D))
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-5, atol=1e-5)


# ---- the real TFLite ops as the oracle -------------------------------------------------------

def litert_op(op_name, options, x, constants, output_shape):
    """Run one float32 TFLite builtin op under LiteRT: input x plus constant tensors."""
    interpreter_module = pytest.importorskip("ai_edge_litert.interpreter",
                                             reason="LiteRT (extra 'verify') is not installed")
    from tflm_edu import schema as s
    from tflm_edu.schema.options import SPEC_BY_CLASS
    arrays = [np.asarray(c, np.float32) for c in constants]
    tensors = [s.Tensor(shape=x.shape, type=s.TensorType.FLOAT32, name="x")]
    tensors += [s.Tensor(shape=a.shape, type=s.TensorType.FLOAT32, buffer=i + 1, name=f"c{i}")
                for i, a in enumerate(arrays)]
    tensors += [s.Tensor(shape=output_shape, type=s.TensorType.FLOAT32, name="y")]
    op = s.Operator(0, tuple(range(len(tensors) - 1)), (len(tensors) - 1,), options,
                    SPEC_BY_CLASS[type(options)].union_type)
    model = s.Model(operator_codes=[s.OperatorCode(s.BuiltinOperator[op_name], version=2)],
                    subgraphs=[s.SubGraph(tensors, (0,), (len(tensors) - 1,), [op])],
                    buffers=[s.Buffer()] + [s.Buffer(a.tobytes()) for a in arrays])
    interpreter = interpreter_module.Interpreter(model_content=s.write_model(model))
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def tflite_op_of(layer):
    """(op name, options, constant inputs) of the TFLite op that computes `layer`."""
    from tflm_edu import schema as s
    act = s.ActivationFunctionType[(layer.activation or "none").upper()] \
        if hasattr(layer, "activation") else s.ActivationFunctionType.NONE
    pad = s.Padding[getattr(layer, "padding", "valid").upper()]
    if isinstance(layer, Dense):
        return "FULLY_CONNECTED", s.FullyConnectedOptions(act), [layer.kernel.T, layer.bias]
    if isinstance(layer, (MaxPool2D, AveragePool2D)):
        (sh, sw), (ph, pw) = layer.strides, layer.pool_size
        name = "MAX_POOL_2D" if isinstance(layer, MaxPool2D) else "AVERAGE_POOL_2D"
        return name, s.Pool2DOptions(pad, sw, sh, pw, ph), []
    (sh, sw), (dh, dw), (kh, kw) = layer.strides, layer.dilation_rate, layer.kernel_size
    if isinstance(layer, DepthwiseConv2D):              # (kh, kw, C, M) -> (1, kh, kw, C*M)
        options = s.DepthwiseConv2DOptions(pad, sw, sh, layer.depth_multiplier, act, dw, dh)
        return "DEPTHWISE_CONV_2D", options, [layer.kernel.reshape(1, kh, kw, -1), layer.bias]
    options = s.Conv2DOptions(pad, sw, sh, act, dw, dh)   # HWIO -> OHWI
    return "CONV_2D", options, [layer.kernel.transpose(3, 0, 1, 2), layer.bias]


LITERT_CASES = [
    (Conv2D(8, (10, 8), strides=2, padding="same", activation="relu"), (49, 40, 1)),
    (Conv2D(4, 3, strides=2, padding="same", activation="relu6"), (10, 9, 3)),
    (Conv2D(3, (3, 2), padding="same", dilation_rate=(2, 3)), (8, 9, 2)),
    (Conv2D(3, 3, strides=(2, 1), padding="valid"), (9, 7, 2)),
    (DepthwiseConv2D(3, strides=2, padding="same"), (9, 10, 4)),
    (DepthwiseConv2D(3, padding="same", depth_multiplier=3, dilation_rate=2), (7, 7, 2)),
    (DepthwiseConv2D((2, 3), strides=(1, 2), padding="valid", activation="relu"), (6, 9, 3)),
    (MaxPool2D(3), (128, 3, 8)),
    (MaxPool2D((3, 1), padding="same"), (43, 2, 4)),
    (AveragePool2D(3, strides=2, padding="same"), (8, 7, 3)),
    (AveragePool2D((2, 3), padding="valid"), (6, 9, 2)),
    (Dense(5, activation="relu"), (12,)),
]


@pytest.mark.parametrize("layer, input_shape", LITERT_CASES,
                         ids=[f"{layer!r}-{shape}" for layer, shape in LITERT_CASES])
def test_forward_matches_the_tflite_op(layer, input_shape):
    rng = np.random.default_rng(3)
    layer.build(input_shape, rng)
    for name in layer.params:                     # non-zero biases, so their layout is tested
        getattr(layer, name)[...] = rng.standard_normal(getattr(layer, name).shape)
    x = rng.standard_normal((1, *input_shape)).astype(np.float32)
    op_name, options, constants = tflite_op_of(layer)
    expected = litert_op(op_name, options, x, constants, (1, *layer.output_shape))
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-5, atol=1e-5)


# ---- how layers read -------------------------------------------------------------------------

@pytest.mark.parametrize("layer, text", [
    (Conv2D(8, (10, 8), strides=2, padding="same", activation="relu"),
     "Conv2D(8, kernel_size=(10, 8), strides=(2, 2), padding='same', activation='relu')"),
    (DepthwiseConv2D(3, padding="same", use_bias=False, dilation_rate=2),
     "DepthwiseConv2D(depth_multiplier=1, kernel_size=(3, 3), strides=(1, 1), padding='same', "
     "dilation_rate=(2, 2), use_bias=False, activation=None)"),
    (Dense(16, activation="relu"), "Dense(16, activation='relu')"),
    (MaxPool2D((3, 1), padding="same"),
     "MaxPool2D(pool_size=(3, 1), strides=(3, 1), padding='same')"),
    (BatchNormalization(), "BatchNormalization(momentum=0.99, epsilon=0.001)"),
    (Dropout(0.5), "Dropout(0.5)"), (Flatten(), "Flatten()"), (Reshape((2,)), "Reshape((2,))"),
])
def test_repr(layer, text):
    assert repr(layer) == text


def test_weights_use_keras_layouts():
    conv, depthwise, dense = Conv2D(8, (10, 8)), DepthwiseConv2D(3, depth_multiplier=2), Dense(4)
    conv.build((49, 40, 3)), depthwise.build((9, 9, 5)), dense.build((7,))
    assert conv.kernel.shape == (10, 8, 3, 8) and conv.bias.shape == (8,)
    assert depthwise.kernel.shape == (3, 3, 5, 2) and depthwise.output_shape == (7, 7, 10)
    assert dense.kernel.shape == (7, 4) and dense.kernel.dtype == np.float32


def test_unknown_activation_and_padding_are_refused():
    with pytest.raises(ValueError, match="activation must be one of"):
        Dense(3, activation="tanh")
    with pytest.raises(ValueError, match="padding must be 'same' or 'valid'"):
        Conv2D(3, 3, padding="full").build((5, 5, 1))
