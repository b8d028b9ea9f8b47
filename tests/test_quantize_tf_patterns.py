"""The float models TensorFlow's converter writes, quantized: byte-identical in tflm_edu and
the real TFLM, loaded and run by LiteRT, and close to the float model (SQNR floors).

The models are built with tflm_edu's ModelBuilder in the op patterns, options and tensor
sharing that TensorFlow 2.21's TFLiteConverter emits for Keras models (seen in its output;
no TensorFlow file is kept here):

- Flatten / Reshape with a dynamic batch: SHAPE -> STRIDED_SLICE (begin [0], end and
  strides one shared [1] tensor, shrink_axis_mask 1) -> PACK(batch, dims..., axis 0)
  -> RESHAPE (no options), which the quantizer constant-folds;
- a residual block: CONV_2D(relu) -> CONV_2D -> ADD(conv, skip, relu fused), MEAN for the
  global average pool, FULLY_CONNECTED without bias (-1), SOFTMAX; both convolutions
  read one shared all-zero bias tensor, as TensorFlow dedups equal constants;
- two branches joined by CONCATENATION (axis -1), then MAX_POOL_2D and a Flatten;
- two inputs (listed b, a - TensorFlow's order), a TANH branch concatenated with a ReLU
  branch (TFLM's CONCATENATION needs one scale: the TANH output is requantized), LOGISTIC.

LiteRT and TFLM disagree in one place, whoever wrote the model (TensorFlow's own int8 and
16x8 files included): FULLY_CONNECTED's requantization. TFLM's MultiplyByQuantizedMultiplier
rounds twice (int8: a rounding doubling high multiply, then a rounding shift; int16x8: the
Q31 multiplier is first rounded to Q15), LiteRT's FULLY_CONNECTED once; a value lying
within a rounding step of a half comes out one step apart (measured on TensorFlow 2.21's own
files: 1 in 500 int8 outputs, 1 in 13 int16 outputs). check_runtimes() therefore compares
every op output: tflm_edu against TFLM byte for byte, and LiteRT against TFLM byte for byte
for every op whose inputs agree - except that FULLY_CONNECTED may be one step apart.
"""
import numpy as np
import pytest

from tflm_edu.cli import main
from tflm_edu.convert.fold import fold_constants, prune_unused
from tflm_edu.convert.quantize import quantize_model
from tflm_edu.convert.report import quantization_report, sqnr_db, worst_layer
from tflm_edu.errors import InputError
from tflm_edu.quantization import affine_dequantize, affine_quantize
from tflm_edu.runtime import Interpreter, InterpreterConfig
from tflm_edu.schema import BuiltinOperator as Op, TensorType, load_model, write_model
from tflm_edu.schema import options as o
from tflm_edu.schema.builder import ModelBuilder
from tflm_edu.schema.enums import ActivationFunctionType as Act, Padding
from tflm_edu.schema.model import SignatureDef, TensorMap, tensor_data

tflm = pytest.importorskip("tflite_micro.python.tflite_micro.runtime",
                           reason="the real TFLM (pip install tflite-micro) is the oracle")
litert = pytest.importorskip("ai_edge_litert.interpreter",
                             reason="LiteRT (pip install ai-edge-litert) is the oracle")

F32 = np.float32


# ----------------------------------------------------------------------------- the patterns


class TFGraph:
    """A ModelBuilder with the layers TensorFlow's converter writes, as it writes them."""

    def __init__(self, seed: int):
        self.b = ModelBuilder(description="MLIR Converted.")
        self.rng = np.random.default_rng(seed)

    def shape(self, i):
        return self.b.tensors[i].shape

    def op(self, code, inputs, shape, name, options=None, dtype=F32):
        out = self.b.add_tensor(shape, dtype, name)
        self.b.add_operator(code, inputs, [out], options)
        return out

    def const(self, shape, data, name, dtype=np.int32):
        return self.b.add_tensor(shape, dtype, name, np.asarray(data))

    def weights(self, shape, fan_in, name):
        return self.const(shape, self.rng.normal(0, np.sqrt(2 / fan_in), shape), name, F32)

    def conv(self, x, depth, kernel, name, act=Act.NONE, bias=None, padding=Padding.SAME):
        n, h, w, c = self.shape(x)
        filters = self.weights((depth, kernel, kernel, c), kernel * kernel * c,
                               f"{name}/convolution")
        if bias is None:
            bias = self.const((depth,), self.rng.normal(0, 0.1, depth), f"{name}/bias", F32)
        if padding == Padding.VALID:
            h, w = h - kernel + 1, w - kernel + 1
        return self.op(Op.CONV_2D, [x, filters, bias], (n, h, w, depth), f"{name}/Conv2D",
                       o.Conv2DOptions(padding=padding, stride_w=1, stride_h=1,
                                       fused_activation_function=act))

    def dense(self, x, units, name, act=Act.NONE, bias=False):
        n, k = self.shape(x)
        w = self.weights((units, k), k, f"{name}/MatMul")
        b = self.const((units,), self.rng.normal(0, 0.1, units), f"{name}/bias", F32) \
            if bias else -1                        # TF drops a Keras Dense's zero bias
        return self.op(Op.FULLY_CONNECTED, [x, w, b], (n, units), f"{name}/MatMul1",
                       o.FullyConnectedOptions(fused_activation_function=act))

    def reshape(self, x, new_shape, name):
        """Keras Reshape/Flatten with a dynamic batch: the batch is read at run time."""
        shape = self.op(Op.SHAPE, [x], (len(self.shape(x)),), f"{name}/Shape",
                        o.ShapeOptions(out_type=TensorType.INT32), np.int32)
        begin = self.const((1,), [0], f"{name}/strided_slice/stack")
        one = self.const((1,), [1], "arith.constant")          # end and strides: one tensor
        batch = self.op(Op.STRIDED_SLICE, [shape, begin, one, one], (), f"{name}/strided_slice",
                        o.StridedSliceOptions(shrink_axis_mask=1), np.int32)
        dims = [self.const((), d, f"{name}/Reshape/shape/{k + 1}")
                for k, d in enumerate(new_shape[1:])]
        packed = self.op(Op.PACK, [batch, *dims], (len(new_shape),), f"{name}/Reshape/shape",
                         o.PackOptions(values_count=len(new_shape), axis=0), np.int32)
        return self.op(Op.RESHAPE, [x, packed], new_shape, f"{name}/Reshape")

    def build(self, outputs):
        for i in outputs:
            self.b.mark_output(i)
        return self.b.build()


def flatten_model():
    """Conv2D(relu) -> Flatten -> Dense: the SHAPE chain after an activation."""
    g = TFGraph(1)
    x = g.b.add_input((1, 8, 8, 3), F32, "serving_default_x:0")
    h = g.conv(x, 4, 3, "conv2d", Act.RELU, padding=Padding.VALID)
    h = g.reshape(h, (1, 144), "flatten")
    return g.build([g.dense(h, 5, "dense")])


def reshape_model():
    """Reshape((4, 4, 1)) -> Conv2D -> Reshape((32,)): the SHAPE chain on the graph input."""
    g = TFGraph(2)
    x = g.b.add_input((1, 16), F32, "serving_default_x:0")
    h = g.reshape(x, (1, 4, 4, 1), "reshape")
    h = g.conv(h, 2, 3, "conv2d")
    return g.build([g.reshape(h, (1, 32), "reshape_1")])


def residual_model():
    """conv(relu) -> conv -> ADD with the skip (relu) -> MEAN -> Dense -> softmax."""
    g = TFGraph(3)
    x = g.b.add_input((1, 8, 8, 4), F32, "serving_default_x:0")
    zeros = g.const((4,), np.zeros(4), "arith.constant", F32)   # both convs' bias
    h = g.conv(x, 4, 3, "conv2d", Act.RELU, bias=zeros)
    h = g.conv(h, 4, 3, "conv2d_1", bias=zeros)
    h = g.op(Op.ADD, [h, x], (1, 8, 8, 4), "add", o.AddOptions(fused_activation_function=Act.RELU))
    axes = g.const((2,), [1, 2], "global_average_pooling2d/Mean/reduction_indices")
    h = g.op(Op.MEAN, [h, axes], (1, 4), "global_average_pooling2d/Mean",
             o.ReducerOptions(keep_dims=False))
    h = g.dense(h, 3, "dense")
    return g.build([g.op(Op.SOFTMAX, [h], (1, 3), "softmax", o.SoftmaxOptions(beta=1.0))])


def concat_model():
    """Two branches (1x1 relu, 3x3) -> Concatenate -> MaxPool -> Flatten -> Dense."""
    g = TFGraph(4)
    x = g.b.add_input((1, 8, 8, 3), F32, "serving_default_x:0")
    a = g.conv(x, 4, 1, "conv2d", Act.RELU)
    c = g.conv(x, 2, 3, "conv2d_1")
    h = g.op(Op.CONCATENATION, [a, c], (1, 8, 8, 6), "concatenate/concat",
             o.ConcatenationOptions(axis=-1))
    h = g.op(Op.MAX_POOL_2D, [h], (1, 4, 4, 6), "max_pooling2d/MaxPool2d",
             o.Pool2DOptions(padding=Padding.VALID, stride_w=2, stride_h=2, filter_width=2,
                             filter_height=2))
    h = g.reshape(h, (1, 96), "flatten")
    return g.build([g.dense(h, 3, "dense", bias=True)])


def two_input_model():
    """Inputs b (1, 6) and a (1, 10): Dense(relu) on a, Dense -> tanh on b, concatenated,
    Dense -> sigmoid."""
    g = TFGraph(5)
    b = g.b.add_input((1, 6), F32, "serving_default_b:0")
    a = g.b.add_input((1, 10), F32, "serving_default_a:0")
    ha = g.dense(a, 8, "dense", Act.RELU)
    hb = g.op(Op.TANH, [g.dense(b, 4, "dense_1")], (1, 4), "dense_1/Tanh")
    h = g.op(Op.CONCATENATION, [ha, hb], (1, 12), "concatenate/concat",
             o.ConcatenationOptions(axis=-1))
    h = g.dense(h, 2, "dense_2")
    y = g.op(Op.LOGISTIC, [h], (1, 2), "StatefulPartitionedCall:0")
    model = g.build([y])
    model.signature_defs = [SignatureDef(inputs=(TensorMap("a", a), TensorMap("b", b)),
                                         outputs=(TensorMap("output_0", y),),
                                         signature_key="serving_default")]
    return model


MODELS = {"flatten": flatten_model, "reshape": reshape_model, "residual": residual_model,
          "concat": concat_model, "two_inputs": two_input_model}


def samples(model, n, seed):
    """n samples per graph input, without the batch axis, uniform in [-2, 2]: bounded, so
    that 32 calibration samples cover the range the test samples take (a test value
    beyond the calibrated range is clipped, and clipping would drown the rounding error
    these tests measure)."""
    rng = np.random.default_rng(seed)
    graph = model.subgraphs[0]
    return [rng.uniform(-2, 2, (n, *graph.tensors[i].shape[1:])).astype(F32)
            for i in graph.inputs]


# ----------------------------------------------------------------------------- the oracles


def _litert(data):
    lite = litert.Interpreter(model_content=data, experimental_preserve_all_tensors=True,
                              experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF)
    lite.allocate_tensors()
    return lite


def run_all_tensors(data, inputs):
    """Every op output after one invoke, in tflm_edu, TFLM and LiteRT (reference kernels)."""
    ours = Interpreter.from_bytes(data, intrepreter_config=InterpreterConfig.kPreserveAllTensors)
    real = tflm.Interpreter.from_bytes(
        data, arena_size=2_000_000, intrepreter_config=tflm.InterpreterConfig.kPreserveAllTensors)
    lite = _litert(data)
    for k, x in enumerate(inputs):
        ours.set_input(x, k)
        real.set_input(x, k)
        lite.set_tensor(lite.get_input_details()[k]["index"], x)
    ours.invoke()
    real.invoke()
    lite.invoke()
    return ({i: ours.GetTensor(i)["tensor_data"] for i in _op_outputs(data)},
            {i: real.GetTensor(i, 0)["tensor_data"] for i in _op_outputs(data)},
            {i: lite.get_tensor(i) for i in _op_outputs(data)})


def _op_outputs(data):
    from tflm_edu.schema import read_model
    return [i for op in read_model(data).subgraphs[0].operators for i in op.outputs]


def check_runtimes(quantized, inputs) -> int:
    """tflm_edu == TFLM for every op output; LiteRT == TFLM for every op whose inputs agree,
    but FULLY_CONNECTED, which may be one step apart (see the module docstring). Returns
    the number of FULLY_CONNECTED outputs that were."""
    data = write_model(quantized)
    ours, real, lite = run_all_tensors(data, inputs)
    for i in ours:
        assert ours[i].tobytes() == real[i].tobytes(), f"tensor {i}: tflm_edu vs TFLM"
    graph, rounded = quantized.subgraphs[0], 0
    agree = set(graph.inputs) | {i for i, t in enumerate(graph.tensors)
                                 if tensor_data(quantized, t) is not None}
    for op in graph.operators:
        if not all(i < 0 or i in agree for i in op.inputs):
            continue                               # fed a FULLY_CONNECTED rounding
        out = op.outputs[0]
        if lite[out].tobytes() == real[out].tobytes():
            agree.add(out)
            continue
        assert quantized.op_name(op) == "FULLY_CONNECTED", \
            f"{quantized.op_name(op)} output {out}: LiteRT {lite[out]} vs TFLM {real[out]}"
        assert np.abs(lite[out].astype(np.int64) - real[out]).max() == 1
        rounded += int(np.sum(lite[out] != real[out]))
    return rounded


def quantized_inputs(quantized, xs):
    """Float samples as the quantized model's inputs take them (quantized when integer)."""
    graph, out = quantized.subgraphs[0], []
    for i, x in zip(graph.inputs, xs):
        t = graph.tensors[i]
        q = t.quantization
        out.append(x[None] if t.type == TensorType.FLOAT32 else
                   affine_quantize(x[None], q.scale[0], q.zero_point[0], t.dtype))
    return out


def output_sqnr(float_model, quantized, test) -> float:
    """SQNR (dB) of the quantized model's output against the float model's, on `test`."""
    f_run, q_run = Interpreter(float_model), Interpreter(quantized)
    t = quantized.subgraphs[0].tensors[quantized.subgraphs[0].outputs[0]]
    signal, noisy = [], []
    for n in range(len(test[0])):
        xs = [x[n] for x in test]
        for k, (x, q) in enumerate(zip(xs, quantized_inputs(quantized, xs))):
            f_run.set_input(x[None], k)
            q_run.set_input(q, k)
        f_run.invoke()
        q_run.invoke()
        y = q_run.get_output(0)
        signal.append(f_run.get_output(0))
        noisy.append(y if t.type == TensorType.FLOAT32 else
                     affine_dequantize(y, t.quantization.scale[0], t.quantization.zero_point[0]))
    return sqnr_db(np.concatenate(signal), np.concatenate(noisy))


# ----------------------------------------------------------------------------- folding


def test_folding_turns_the_shape_chain_into_a_constant():
    model = flatten_model()
    folded = fold_constants(model)
    graph = folded.subgraphs[0]
    assert [folded.op_name(op) for op in graph.operators] == \
        ["CONV_2D", "RESHAPE", "FULLY_CONNECTED"]
    assert [c.name for c in folded.operator_codes] == ["CONV_2D", "RESHAPE", "FULLY_CONNECTED"]
    shape = graph.tensors[graph.operators[1].inputs[1]]
    assert shape.type == TensorType.INT32 and tensor_data(folded, shape).tolist() == [1, 144]
    # the chain's tensors and buffers are gone; everything left is used
    gone = {t.name for t in model.subgraphs[0].tensors} - {t.name for t in graph.tensors}
    assert gone == {"flatten/Shape", "flatten/strided_slice/stack", "arith.constant",
                    "flatten/strided_slice", "flatten/Reshape/shape/1"}
    used = {i for op in graph.operators for i in op.inputs + op.outputs if i >= 0}
    assert used == set(range(len(graph.tensors)))
    referenced = {0} | {t.buffer for t in graph.tensors} | {m.buffer for m in folded.metadata}
    assert referenced == set(range(len(folded.buffers)))
    assert prune_unused(folded) == folded
    # and it computes what the unfolded model computes in the real TFLM, bit for bit
    x = samples(model, 1, 0)[0]
    ours = Interpreter(folded)
    ours.set_input(x, 0)
    ours.invoke()
    real = tflm.Interpreter.from_bytes(write_model(model))
    real.set_input(x, 0)
    real.invoke()
    assert ours.get_output(0).tobytes() == real.get_output(0).tobytes()


def test_folding_reads_the_static_shape_of_a_graph_input():
    folded = fold_constants(reshape_model())
    graph = folded.subgraphs[0]
    assert [folded.op_name(op) for op in graph.operators] == ["RESHAPE", "CONV_2D", "RESHAPE"]
    assert [tensor_data(folded, graph.tensors[op.inputs[1]]).tolist()
            for op in graph.operators if folded.op_name(op) == "RESHAPE"] == \
        [[1, 4, 4, 1], [1, 32]]


def test_folding_evaluates_any_op_of_constants_with_its_kernel():
    """Not only shapes: an op whose inputs are all constants is computed once (here a
    float ADD of two constants, the way a graph may scale a learned bias)."""
    g = TFGraph(6)
    x = g.b.add_input((1, 3), F32, "x")
    c1 = g.const((3,), [0.1, 0.2, 0.3], "c1", F32)
    c2 = g.const((3,), [1.0, -2.0, 0.5], "c2", F32)
    c = g.op(Op.ADD, [c1, c2], (3,), "c", o.AddOptions())
    model = g.build([g.op(Op.ADD, [x, c], (1, 3), "y", o.AddOptions())])
    folded = fold_constants(model)
    graph = folded.subgraphs[0]
    assert _ops(folded) == ["ADD"] and len(graph.tensors) == 3
    assert tensor_data(folded, graph.tensors[graph.operators[0].inputs[1]]).tobytes() == \
        (np.float32([0.1, 0.2, 0.3]) + np.float32([1.0, -2.0, 0.5])).tobytes()


def test_a_model_without_shape_ops_folds_to_itself():
    model = residual_model()
    assert fold_constants(model) == model


# ----------------------------------------------------------------------------- the models

# SQNR of the model output against the float model, in dB, on 8 seeded samples after
# calibration on 32 others from the same distribution. Measured (int8 / int16x8):
# flatten 41.0 / 42.7, reshape 40.0 / 47.9, residual 49.1 / 58.6, concat 37.1 / 41.4,
# two_inputs 49.0 / 51.7. The floors sit 3 dB below. (int16x8 gains least where int8
# weights, not activations, carry most of the error: the 144-input FULLY_CONNECTED.)
SQNR_FLOOR = {("flatten", "int8"): 38, ("flatten", "int16x8"): 39,
              ("reshape", "int8"): 37, ("reshape", "int16x8"): 44,
              ("residual", "int8"): 46, ("residual", "int16x8"): 55,
              ("concat", "int8"): 34, ("concat", "int16x8"): 38,
              ("two_inputs", "int8"): 46, ("two_inputs", "int16x8"): 48}


@pytest.fixture(scope="module")
def quantized_models():
    """Every pattern model quantized in both modes, with integer and float I/O."""
    out = {}
    for name, make in MODELS.items():
        model = make()
        calibration = samples(model, 32, 1)
        for mode in ("int8", "int16x8"):
            for io in (None, "float32"):
                out[name, mode, io] = quantize_model(model, calibration, mode=mode,
                                                     io_type=io, progress=False)
    return out


@pytest.mark.parametrize("io", [None, "float32"], ids=["integer_io", "float_io"])
@pytest.mark.parametrize("mode", ["int8", "int16x8"])
@pytest.mark.parametrize("name", list(MODELS))
def test_quantized_models_run_the_same_in_tflm_edu_tflm_and_litert(quantized_models, name,
                                                                   mode, io):
    quantized = quantized_models[name, mode, io]
    test = samples(MODELS[name](), 4, 2)
    for n in range(len(test[0])):
        check_runtimes(quantized, quantized_inputs(quantized, [x[n] for x in test]))


@pytest.mark.parametrize("mode", ["int8", "int16x8"])
@pytest.mark.parametrize("name", list(MODELS))
def test_sqnr_against_the_float_model(quantized_models, name, mode):
    model = MODELS[name]()
    measured = output_sqnr(model, quantized_models[name, mode, None], samples(model, 8, 3))
    assert measured >= SQNR_FLOOR[name, mode], f"{name} {mode}: {measured:.1f} dB"


def test_int16x8_is_closer_to_float_than_int8(quantized_models):
    for name in MODELS:
        model = MODELS[name]()
        test = samples(model, 8, 3)
        int8 = output_sqnr(model, quantized_models[name, "int8", None], test)
        int16 = output_sqnr(model, quantized_models[name, "int16x8", None], test)
        assert int16 > int8 + 1, f"{name}: int8 {int8:.1f} dB, int16x8 {int16:.1f} dB"


# ----------------------------------------------------------------------------- the structure


def _tensor(model, name):
    return next(t for t in model.subgraphs[0].tensors if t.name == name)


def _ops(model):
    return [model.op_name(op) for op in model.subgraphs[0].operators]


def test_shape_chains_are_folded_away(quantized_models):
    for (name, mode, io), quantized in quantized_models.items():
        assert not {"SHAPE", "STRIDED_SLICE", "PACK"} & set(_ops(quantized)), name


def test_per_channel_parameters_are_valid_for_litert(quantized_models):
    """LiteRT refuses a per-channel tensor whose quantized_dimension is not one of its
    axes ("quantized_dimension must be in range [0, rank)"), and an op version its
    resolver does not register; TFLM reads neither. One scale per channel, on that axis."""
    for quantized in quantized_models.values():
        for t in quantized.subgraphs[0].tensors:
            q = t.quantization
            if q is not None and q.per_channel:
                assert 0 <= q.quantized_dimension < len(t.shape)
                assert len(q.scale) == len(q.zero_point) == t.shape[q.quantized_dimension]


def test_a_shared_bias_becomes_one_tensor_per_input_scale(quantized_models):
    """Both convs of the residual block read one zero bias; their input scales differ,
    so each gets its own bias tensor: the kernels add the bias to the accumulator as it
    is, so its scale must be the op's input scale x weight scale (a zero bias hides a
    wrong scale; TensorFlow dedups any equal constants, zero or not)."""
    quantized = quantized_models["residual", "int8", None]
    graph = quantized.subgraphs[0]
    convs = [op for op in graph.operators if quantized.op_name(op) == "CONV_2D"]
    biases = [graph.tensors[op.inputs[2]] for op in convs]
    assert biases[0] is not biases[1] and biases[0].name == biases[1].name == "arith.constant"
    for op, bias in zip(convs, biases):
        x, w = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]]
        np.testing.assert_allclose(bias.quantization.scale, np.float32(x.quantization.scale[0])
                                   * np.float32(w.quantization.scale), rtol=1e-6)
    assert graph.tensors[convs[0].inputs[0]].quantization != \
        graph.tensors[convs[1].inputs[0]].quantization


def test_concatenation_shares_one_scale_with_its_producers(quantized_models):
    """TFLM's int8 CONCATENATION copies bytes: the inputs must already be on the output's
    scale. The convs producing them take the concatenation's parameters, calibrated on
    the union of the branches' ranges - the ReLU branch's zero point is not -128."""
    for mode in ("int8", "int16x8"):
        quantized = quantized_models["concat", mode, None]
        q = _tensor(quantized, "concatenate/concat").quantization
        assert _tensor(quantized, "conv2d/Conv2D").quantization == q
        assert _tensor(quantized, "conv2d_1/Conv2D").quantization == q
        assert _tensor(quantized, "max_pooling2d/MaxPool2d").quantization == q
        assert q.zero_point[0] == (0 if mode == "int16x8" else q.zero_point[0])
    assert _tensor(quantized_models["concat", "int8", None], "concatenate/concat") \
        .quantization.zero_point[0] > -128


def test_a_fixed_scale_input_of_concatenation_is_requantized(quantized_models):
    """TANH's output scale is fixed (1/128 int8, 1/32768 int16), so it cannot take the
    concatenation's: a QUANTIZE op requantizes it, as TensorFlow's converter does."""
    for mode, fixed in (("int8", (1 / 128, 0)), ("int16x8", (1 / 32768, 0))):
        quantized = quantized_models["two_inputs", mode, None]
        assert _ops(quantized) == ["FULLY_CONNECTED", "FULLY_CONNECTED", "TANH", "QUANTIZE",
                                   "CONCATENATION", "FULLY_CONNECTED", "LOGISTIC"]
        tanh = _tensor(quantized, "dense_1/Tanh").quantization
        requantized = _tensor(quantized, "dense_1/Tanh_requantized").quantization
        assert (tanh.scale[0], tanh.zero_point[0]) == pytest.approx(fixed)
        assert requantized == _tensor(quantized, "concatenate/concat").quantization
        assert requantized == _tensor(quantized, "dense/MatMul1").quantization


def test_the_int16x8_model_follows_tflite_16x8(quantized_models):
    quantized = quantized_models["residual", "int16x8", None]
    graph = quantized.subgraphs[0]
    activations = [t for t in graph.tensors if tensor_data(quantized, t) is None]
    assert {t.type for t in activations} == {TensorType.INT16}
    assert {t.quantization.zero_point[0] for t in activations} == {0}     # symmetric
    for op in graph.operators:
        name = quantized.op_name(op)
        if name in ("CONV_2D", "FULLY_CONNECTED"):
            assert graph.tensors[op.inputs[1]].type == TensorType.INT8
            if op.inputs[2] >= 0:
                assert graph.tensors[op.inputs[2]].type == TensorType.INT64
        if name == "ADD":      # the general-scale int16 kernel, not the power-of-two one
            assert op.builtin_options.pot_scale_int16 is False
    assert _tensor(quantized, "softmax").quantization.scale == (1 / 32768,)
    versions = {c.name: c.version for c in quantized.operator_codes}
    assert versions == {"CONV_2D": 4, "ADD": 3, "MEAN": 3, "FULLY_CONNECTED": 7, "SOFTMAX": 3}


# ----------------------------------------------------------------------------- several inputs


def test_two_inputs_take_a_list_or_a_dict():
    model = two_input_model()
    b, a = samples(model, 16, 4)
    by_list = quantize_model(model, [b, a], progress=False)
    by_name = quantize_model(model, {"serving_default_a:0": a, "serving_default_b:0": b},
                             progress=False)
    by_keras_name = quantize_model(model, {"a": a, "b": b}, progress=False)   # the signature's
    assert write_model(by_list) == write_model(by_name) == write_model(by_keras_name)
    signature = by_list.signature_defs[0]
    assert [(m.name, by_list.subgraphs[0].tensors[m.tensor_index].name)
            for m in signature.inputs] == [("a", "serving_default_a:0"),
                                           ("b", "serving_default_b:0")]
    swapped = quantize_model(model, {"serving_default_a:0": b[:, :4].repeat(3, 1)[:, :10],
                                     "serving_default_b:0": a[:, :6] * 3}, progress=False)
    assert write_model(swapped) != write_model(by_list)
    with pytest.raises(InputError, match="2 input"):
        quantize_model(model, b, progress=False)
    with pytest.raises(InputError, match="no array for input"):
        quantize_model(model, {"serving_default_a:0": a}, progress=False)
    with pytest.raises(InputError, match="same number of calibration samples"):
        quantize_model(model, [b, a[:5]], progress=False)


def test_cli_quantizes_a_two_input_model(tmp_path, capsys):
    model = two_input_model()
    path = tmp_path / "two_inputs.tflite"
    path.write_bytes(write_model(model))
    b, a = samples(model, 16, 4)
    np.save(tmp_path / "b.npy", b)
    np.save(tmp_path / "a.npy", a)
    np.savez(tmp_path / "ab.npz", **{"serving_default_a:0": a, "serving_default_b:0": b})
    out_list, out_npz = tmp_path / "list.tflite", tmp_path / "npz.tflite"
    assert main(["quantize", str(path), "--calibration", str(tmp_path / "b.npy"),
                 "--calibration", str(tmp_path / "a.npy"), "-o", str(out_list)]) == 0
    assert main(["quantize", str(path), "--calibration", str(tmp_path / "ab.npz"),
                 "-o", str(out_npz)]) == 0
    assert out_list.read_bytes() == out_npz.read_bytes()
    assert out_list.read_bytes() == write_model(quantize_model(model, [b, a], progress=False))
    capsys.readouterr()
    assert main(["quantize", str(path), "--calibration", str(tmp_path / "a.npy"),
                 "--calibration", str(tmp_path / "b.npy"), "-o", str(out_list)]) == 2
    assert "calibration data has shape [16, 10] for input 'serving_default_b:0'" in \
        capsys.readouterr().err


def test_cli_int16x8_with_a_report(tmp_path, capsys):
    model = residual_model()
    path = tmp_path / "residual.tflite"
    path.write_bytes(write_model(model))
    np.save(tmp_path / "cal.npy", samples(model, 16, 1)[0])
    out = tmp_path / "int16x8.tflite"
    assert main(["quantize", str(path), "--calibration", str(tmp_path / "cal.npy"),
                 "-o", str(out), "--mode", "int16x8", "--report"]) == 0
    text = capsys.readouterr().out
    assert "int16x8, int16 inputs/outputs" in text
    assert "per layer (float vs int16x8" in text and text.splitlines()[2].endswith("int8")
    assert "worst layer: #" in text and "suggestion:" in text
    quantized = load_model(out)
    assert quantized.subgraphs[0].tensors[quantized.subgraphs[0].inputs[0]].type == \
        TensorType.INT16
    assert main(["quantize", str(path), "--calibration", str(tmp_path / "cal.npy"),
                 "-o", str(out), "--mode", "int16x8", "--io", "int8"]) == 2


def test_report_compares_int16x8_with_int8(quantized_models):
    model = residual_model()
    calibration = samples(model, 8, 1)
    report = quantization_report(model, quantized_models["residual", "int16x8", None],
                                 calibration, compare_with=quantized_models["residual", "int8",
                                                                            None])
    assert (report.mode, report.compare_mode) == ("int16x8", "int8")
    int16 = {layer.tensor: layer.sqnr_db for layer in report.layers}
    int8 = {layer.tensor: layer.sqnr_db for layer in report.compare_layers}
    assert int16.keys() == int8.keys()
    assert all(int16[name] > int8[name] for name in int16), (int16, int8)
    assert worst_layer(report.layers) is report.worst
