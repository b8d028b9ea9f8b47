"""Reference kernels: TFLM's reference loops, one output element at a time, in plain Python.

TFLM keeps two families of kernels: tensorflow/lite/micro/kernels/ (whose Eval calls the
plain loops of tensorflow/lite/kernels/internal/reference/) and kernels/cmsis_nn/ (the
same ops, fast on Arm). Both share the Prepare arithmetic (conv_common.cc, ...). tflm_edu
does the same: tflm_edu/kernels/*.py are the fast numpy kernels that run by default, and
this package holds the loops a learner reads beside the C++ - same names, same order,
scalar Python, slow. Each module here reuses its fast kernel's init, prepare and OpData
and supplies only another eval, so the two families compute from the very same numbers
(and tests/test_kernel_reference.py proves they write the same bytes).

Select the family with the resolver: AllOpsResolver(kernels="reference"),
MicroMutableOpResolver(kernels="reference"), Interpreter.from_file(path,
kernels="reference"). Which ops have a reference eval is listed in
tflm_edu.op_resolver.REFERENCE_OPS; the others run their optimized eval.

Tracing: every reference module has eval_at(context, node, index, tracer), the value eval()
writes at one output element, computed by the same loop body. Along the way the body tells
`tracer` what it does (tflm_edu.explain records it; NO_TRACE ignores it):

    tracer.tap(input_index, filter_index, input_value, filter_value, term)
        one term of the sum (for MAX_POOL_2D: the running max; pooling has no filter,
        filter_index and filter_value are None)
    tracer.outside(input_index)
        a filter position outside the image: skipped, as the C++ `continue`s
    tracer.step(name, value, **operands)
        the value after one step of the tail: "acc" / "total" (the sum) or "max", then
        "bias", "MultiplyByQuantizedMultiplier", "output_offset", "average", "clamp"
"""
from __future__ import annotations


class NoTrace:
    """The tracer eval() passes: it ignores everything, so the loops need no `if`."""

    def tap(self, input_index, filter_index, input_value, filter_value, term):
        pass

    def outside(self, input_index):
        pass

    def step(self, name, value, **operands):
        pass


NO_TRACE = NoTrace()
