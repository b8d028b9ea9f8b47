"""SignalEnergy: the power re^2 + im^2 of each FFT bin in a band.

Mirrors signal/micro/kernels/energy.cc (EnergyInit, EnergyPrepare, EnergyEval); the
arithmetic is tflm_edu.frontend.energy.spectrum_to_energy (signal/src/energy.cc).

Input 0: the spectrum, int16 [2 * bins] (re, im interleaved, as SignalRfft writes it).
Output 0: uint32 [bins]. Custom options `end_index` (entry 0) and `start_index` (entry 1):
only the bins start_index .. end_index - 1 are written. The others keep whatever the
output's memory held before - in the arena, some other tensor's bytes; that is why the
micro_speech preprocessor follows the op with a slice and a concatenation of zeros.

TFLM does not check the band against the tensors; tflm_edu refuses a band that reaches
past the spectrum or the output (or starts below 0).
"""
from __future__ import annotations

from dataclasses import dataclass

from tflm_edu.frontend.energy import spectrum_to_energy
from tflm_edu.kernels.kernel_api import Registration, ensure
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, inputs_then_output
from tflm_edu.kernels.signal_common import ensure_io, ensure_tensor, get_tensors, options
from tflm_edu.memory.layout import c_struct, m
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType

INPUT, OUTPUT = 0, 0
END_INDEX_INDEX, START_INDEX_INDEX = 0, 1  # 'end_index', 'start_index'


@dataclass
class TFLMSignalEnergyParams:
    end_index: int = 0
    start_index: int = 0


def init(context, node):
    opts = options(node)
    return TFLMSignalEnergyParams(opts.element_as_int32(END_INDEX_INDEX, "end_index"),
                                  opts.element_as_int32(START_INDEX_INDEX, "start_index"))


def prepare(context, node):
    ensure_io(node, 1, 1)
    (input,), (output,) = get_tensors(context, node)
    ensure_tensor(input, 1, TensorType.INT16, "the spectrum")
    ensure_tensor(output, 1, TensorType.UINT32, "the output")
    params: TFLMSignalEnergyParams = node.user_data
    if params.start_index < params.end_index:   # otherwise Eval's loop does nothing
        ensure(params.start_index >= 0, f"SignalEnergy's start_index is "
                                        f"{params.start_index}: TFLM reads before the spectrum")
        ensure(params.end_index <= input.shape[0] // 2,
               f"SignalEnergy's end_index {params.end_index} is past the spectrum's "
               f"{input.shape[0] // 2} bins")
        ensure(params.end_index <= output.shape[0],
               f"SignalEnergy's end_index {params.end_index} is past the output's "
               f"{output.shape[0]} values")


def eval(context, node):
    params: TFLMSignalEnergyParams = node.user_data
    if params.start_index >= params.end_index:
        return
    input, output = context.get_input(node, INPUT), context.get_output(node, OUTPUT)
    band = slice(params.start_index, params.end_index)
    spectrum = input.data[:2 * params.end_index]
    output.data[band] = spectrum_to_energy(spectrum, params.start_index,
                                           params.end_index)[band]


def register_energy():
    return Registration("SignalEnergy", prepare=prepare, eval=eval, init=init)


c_struct("TFLMSignalEnergyParams", "signal/micro/kernels/energy.cc",
         m("end_index", "int32"), m("start_index", "int32"))

SPEC = OpSpec(Op.CUSTOM, register_energy, None, (TensorType.INT16,), None,
              ArenaRecipe(None, "TFLMSignalEnergyParams", inputs_then_output(1)),
              custom_name="SignalEnergy")
