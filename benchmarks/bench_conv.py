"""CONV_2D and DEPTHWISE_CONV_2D of person_detect, one layer at a time, tflm_edu beside TFLM.

Each conv and depthwise conv of person_detect.tflite (MobileNet v1 0.25, int8) is cut out
into a one-op model with its real weights and quantization, then invoked through tflm_edu's
MicroInterpreter and through the real TFLM; the table shows the best of a few repeats of
each, per layer and in total, and checks that the outputs are byte-identical.

    python benchmarks/bench_conv.py [--repeats 50]

Target: the 28 layers together well under 2x TFLM's time (TFLM's reference kernels run
the whole model in about 7 ms on this host). Timings include each runtime's per-invoke
overhead (Python calls into TFLM, numpy's per-call costs in tflm_edu).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from tflm_edu.interpreter import MicroInterpreter
from tflm_edu.op_resolver import AllOpsResolver
from tflm_edu.schema import read_model, write_model
from tflm_edu.schema.builder import ModelBuilder
from tflm_edu.schema.model import tensor_data

MODEL = (Path(__file__).resolve().parents[2] / "shared" / "reference" / "models"
         / "person_detect.tflite")
CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")


def single_op_models(model):
    """(name, one-op model bytes, input shape) for every conv-like op of `model`."""
    sg = model.subgraphs[0]
    for index, op in enumerate(sg.operators):
        code = model.operator_codes[op.opcode_index]
        if code.name not in CONV_OPS:
            continue
        b = ModelBuilder()
        remap = {}
        for i in op.inputs:
            if i < 0:
                continue
            t = sg.tensors[i]
            data = tensor_data(model, t)
            if data is None:
                remap[i] = b.add_input(t.shape, t.dtype, quant=t.quantization)
            else:
                remap[i] = b.add_tensor(t.shape, t.dtype, data=np.asarray(data),
                                        quant=t.quantization)
        out = sg.tensors[op.outputs[0]]
        o = b.add_tensor(out.shape, out.dtype, quant=out.quantization)
        b.add_operator(code.builtin_code, [remap.get(i, -1) for i in op.inputs], [o],
                       op.builtin_options, version=code.version)
        b.mark_output(o)
        shape = sg.tensors[op.inputs[0]].shape
        filter_shape = sg.tensors[op.inputs[1]].shape
        yield (f"{index:2d} {code.name:17s} {'x'.join(map(str, shape[1:]))} "
               f"* {'x'.join(map(str, filter_shape))}", write_model(b.build()), shape)


def best_time(function, repeats: int) -> float:
    function()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    if not MODEL.is_file():
        raise SystemExit(f"person_detect.tflite not found at {MODEL}")
    from tflite_micro.python.tflite_micro import runtime

    rng = np.random.default_rng(0)
    total_ours = total_tflm = 0.0
    print(f"{'layer':52s} {'tflm_edu ms':>11s} {'TFLM ms':>8s} {'ratio':>6s}  same bytes")
    for name, model_bytes, shape in single_op_models(read_model(MODEL.read_bytes())):
        x = rng.integers(-128, 128, shape).astype(np.int8)
        ours = MicroInterpreter(read_model(model_bytes), AllOpsResolver(), None)
        ours.allocate_tensors()
        ours.input(0).data[...] = x
        theirs = runtime.Interpreter.from_bytes(model_bytes, arena_size=2_000_000)
        theirs.set_input(x, 0)
        t_ours = best_time(ours.invoke, args.repeats)
        t_tflm = best_time(theirs.invoke, args.repeats)
        same = np.array_equal(ours.output(0).data.reshape(-1),
                              np.asarray(theirs.get_output(0)).reshape(-1))
        total_ours += t_ours
        total_tflm += t_tflm
        print(f"{name:52s} {t_ours * 1e3:11.3f} {t_tflm * 1e3:8.3f} {t_ours / t_tflm:6.2f}  "
              f"{'yes' if same else 'NO'}")
    print(f"{'total':52s} {total_ours * 1e3:11.3f} {total_tflm * 1e3:8.3f} "
          f"{total_ours / total_tflm:6.2f}")


if __name__ == "__main__":
    main()
