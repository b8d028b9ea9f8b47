"""Stage 4, SignalEnergy: the power |X[k]|^2 of each FFT bin the filter bank will read.

Mirrors signal/src/energy.cc (SpectrumToEnergy) and signal/micro/kernels/energy.cc, plus
the CAST / STRIDED_SLICE / CONCATENATION / CAST builtins that audio_preprocessor.py adds
after the op: SignalEnergy only writes bins start_index..end_index-1 and leaves the rest of
its output buffer as it was, so the model explicitly zeroes the other bins.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.frontend.bits import as_uint32


def spectrum_to_energy(spectrum: np.ndarray, start_index: int, end_index: int) -> np.ndarray:
    """re^2 + im^2 per bin, as uint32 (held in uint64), zero outside [start, end).

    `spectrum` is (..., 2 * bins) int16 interleaved re, im as SignalRfft writes it. The C
    code sums two int32 squares: at most 2 * 32768^2 = 2^31, which overflows int32 only
    for re = im = -32768 and then lands, as uint32, on the right value 2^31 anyway.
    """
    spectrum = np.asarray(spectrum, dtype=np.int64)
    re, im = spectrum[..., 0::2], spectrum[..., 1::2]
    energy = np.zeros(re.shape, dtype=np.uint64)
    band = slice(start_index, end_index)
    energy[..., band] = as_uint32((re[..., band] ** 2 + im[..., band] ** 2).astype(np.uint64))
    return energy
