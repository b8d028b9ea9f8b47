"""SignalPCAN: per-channel automatic gain control, dividing each channel by a power of its
noise estimate (looked up in a gain table).

Mirrors signal/micro/kernels/pcan.cc (PcanInit, PcanPrepare, PcanEval); the arithmetic is
tflm_edu.frontend.pcan.apply_pcan (signal/src/pcan_argc_fixed.cc:
ApplyPcanAutoGainControlFixed, WideDynamicFunction, PcanShrink).

Inputs: 0 the channels (uint32 [channels]), 1 the noise estimate (uint32, as
SignalFilterBankSpectralSubtraction outputs it), 2 the gain table (int16, 125 entries as
the op's Python wrapper builds it). Output: uint32 [channels]. Option `snr_shift`
(entry 0). The op itself keeps no state.

Eval copies the input into the output (as many bytes as the output holds) and then
rewrites the input's number of channels in place. TFLM checks none of the sizes; tflm_edu
refuses an output whose size differs from the input's, a noise estimate shorter than the
input, an snr_shift outside 0..63 (a uint64 shift), and - at Eval, where the noise values
are known - a noise value whose octave lies past the end of the gain table.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tflm_edu.errors import ModelError
from tflm_edu.frontend.bits import bit_length
from tflm_edu.frontend.pcan import apply_pcan
from tflm_edu.kernels.kernel_api import Registration, ensure
from tflm_edu.kernels.op_spec import ArenaRecipe, OpSpec, inputs_then_output
from tflm_edu.kernels.signal_common import ensure_io, ensure_tensor, get_tensors, options
from tflm_edu.memory.layout import c_struct, m
from tflm_edu.schema.enums import BuiltinOperator as Op, TensorType

INPUT, NOISE_ESTIMATE, GAIN_LUT = 0, 1, 2
OUTPUT = 0
SNR_SHIFT_INDEX = 0  # 'snr_shift'


@dataclass
class TfLitePcanParams:
    snr_shift: int = 0


def init(context, node):
    snr_shift = options(node).element_as_int32(SNR_SHIFT_INDEX, "snr_shift")
    ensure(0 <= snr_shift < 64, f"SignalPCAN's snr_shift is {snr_shift}: a uint64 shift "
                                f"must be 0..63")
    return TfLitePcanParams(snr_shift)


def prepare(context, node):
    ensure_io(node, 3, 1)
    (input, noise_estimate, gain_lut), (output,) = get_tensors(context, node)
    ensure_tensor(input, 1, TensorType.UINT32, "the input")
    ensure_tensor(noise_estimate, 1, TensorType.UINT32, "the noise estimate")
    ensure_tensor(gain_lut, 1, TensorType.INT16, "the gain table")
    ensure_tensor(output, 1, TensorType.UINT32, "the output")
    ensure(output.shape[0] == input.shape[0],
           f"SignalPCAN's output holds {output.shape[0]} values and its input "
           f"{input.shape[0]}: TFLM copies the output's size from the input and rewrites the "
           f"input's count in the output")
    ensure(noise_estimate.shape[0] >= input.shape[0],
           f"SignalPCAN's noise estimate ({noise_estimate.shape[0]} values) is shorter "
           f"than its input ({input.shape[0]})")
    ensure(gain_lut.shape[0] >= 3, "SignalPCAN's gain table needs at least 3 entries")


def check_gain_table(noise: np.ndarray, lut_size: int) -> None:
    """WideDynamicFunction reads lut[x] for x <= 2, else entries 4 * octave - 6 .. + 2."""
    big = noise[noise > 2]
    if big.size:
        last = 4 * int(bit_length(big.max())) - 4
        if last >= lut_size:
            raise ModelError(f"SignalPCAN: noise estimate {int(big.max())} reads gain table "
                             f"entry {last} of {lut_size}: TFLM reads out of bounds")


def eval(context, node):
    params: TfLitePcanParams = node.user_data
    input = context.get_input(node, INPUT)
    noise = context.get_input(node, NOISE_ESTIMATE).data[:input.shape[0]]
    gain_lut = context.get_input(node, GAIN_LUT).data
    check_gain_table(noise, gain_lut.shape[0])
    output = context.get_output(node, OUTPUT)
    output.data[...] = apply_pcan(input.data, noise, gain_lut, params.snr_shift)


def register_pcan():
    return Registration("SignalPCAN", prepare=prepare, eval=eval, init=init)


c_struct("TfLitePcanParams", "signal/micro/kernels/pcan.cc", m("snr_shift", "int"))

SPEC = OpSpec(Op.CUSTOM, register_pcan, None, (TensorType.UINT32,), None,
              ArenaRecipe(None, "TfLitePcanParams", inputs_then_output(3)),
              custom_name="SignalPCAN")
