"""The int16 fixed-point kissfft real FFT, butterfly for butterfly, as TFLM runs it.

Mirrors kissfft v130 built with FIXED_POINT=16 (kiss_fft.c: kf_work, kf_bfly2, kf_bfly4,
kf_factor, kiss_fft_alloc; tools/kiss_fftr.c: kiss_fftr_alloc, kiss_fftr; the macros of
_kiss_fft_guts.h), which TFLM wraps in signal/src/kiss_fft_wrappers/kiss_fft_int16.cc and
calls from signal/src/rfft_int16.cc for the SignalRfft op.

Why a float FFT will not do: every butterfly divides its inputs by the radix first (so
the int16 values cannot overflow), multiplies by Q15 twiddles and rounds to int16 after
every product. Those roundings are part of the result. Here each stage is vectorised
instead: all butterflies of one stage are independent, so they run as numpy operations
over a (2, frames, groups, radix, m) view.

A complex array is one int16 array with a leading axis of 2: [0] the real parts, [1] the
imaginary ones, so each kissfft macro is one or two numpy operations. numpy's int16
additions wrap just like C storing an int sum into a `kiss_fft_scalar`; products are
formed in int32 (the SAMPPROD type), where a Q15 x Q15 dot product of two terms fits.
"""
from __future__ import annotations

import math

import numpy as np

SAMP_MAX = 32767  # the largest Q15 value: twiddles are scaled by it, not by 32768
FRACBITS = 15


def _sround(product):
    """Round an int32 Q30 product back to Q15 (add half, shift), stored as int16."""
    return ((product + (1 << (FRACBITS - 1))) >> FRACBITS).astype(np.int16)


def _fixdiv(c, divisor):
    """C_FIXDIV: divide by multiplying with the Q15 constant SAMP_MAX / divisor."""
    return _sround(c.astype(np.int32) * np.int32(SAMP_MAX // divisor))


def _cmul(a, b):
    """C_MUL: a times the Q15 twiddles b, each part rounded once to int16.

    (ar + i ai)(br + i bi) = (ar br - ai bi) + i (ai br + ar bi): multiply a by br, and
    a with its parts swapped by (-bi, bi), then add. `b` comes from _twiddle_operands.
    """
    real, signed_imag = b
    a = a.astype(np.int32)
    return _sround(a * real + a[::-1] * signed_imag)


def _twiddle_operands(twiddles, ndim: int):
    """(br, (-bi, bi)) of (2, ..., m) int32 twiddles, shaped to broadcast over the ndim-D
    arrays they multiply (whose trailing axes match the twiddles' own)."""
    real = twiddles[0]
    signed_imag = np.stack([-twiddles[1], twiddles[1]])
    return real, signed_imag.reshape((2,) + (1,) * (ndim - twiddles.ndim) + twiddles.shape[1:])


def _times_minus_i(c):
    """c * -i = (c.im, -c.re): the forward radix-4 butterfly's quarter turn."""
    return np.stack([c[1], -c[0]])


def _cexp(phases):
    """kf_cexp in fixed point: floor(0.5 + 32767 * cos/sin(phase)) for each phase."""
    re = [math.floor(0.5 + SAMP_MAX * math.cos(p)) for p in phases]
    im = [math.floor(0.5 + SAMP_MAX * math.sin(p)) for p in phases]
    return np.array([re, im], dtype=np.int32)


def _factor(n: int) -> list[tuple[int, int]]:
    """kf_factor: split n into radices, fours first, then a two, then odd primes.

    Returns (p, m) per stage with p * m equal to the previous stage's m (n for the first):
    256 gives [(4, 64), (4, 16), (4, 4), (4, 1)].
    """
    stages, p = [], 4
    floor_sqrt = math.floor(math.sqrt(n))
    while True:
        while n % p:
            p = {4: 2, 2: 3}.get(p, p + 2)
            if p > floor_sqrt:
                p = n
        n //= p
        stages.append((p, n))
        if n <= 1:
            return stages


def _input_order(stages) -> np.ndarray:
    """Which input index kf_work copies into each output slot before any butterfly.

    kf_work recurses: a length p*m transform first runs p transforms of length m on the
    inputs decimated by p, each written to a contiguous block of m outputs. Following the
    same recursion over indices gives the (mixed-radix digit-reversal) permutation.
    """
    def work(first: int, stride: int, level: int) -> list[int]:
        p, m = stages[level]
        if m == 1:
            return [first + stride * j for j in range(p)]
        order = []
        for k in range(p):
            order += work(first + stride * k, stride * p, level + 1)
        return order
    return np.array(work(0, 1, 0), dtype=np.intp)


def _bfly2(f0, rotated):
    """kf_bfly2 (forward): f0 and the other (divided, twiddled) half-block."""
    t = rotated[..., 0, :]
    return [f0 + t, f0 - t]


def _bfly4(f0, rotated):
    """kf_bfly4 (forward), in kissfft's order of operations: f0 is the first
    quarter-block, `rotated` the other three, already divided by 4 and twiddled."""
    s0, s1, s2 = rotated[..., 0, :], rotated[..., 1, :], rotated[..., 2, :]
    s5 = f0 - s1
    f0 = f0 + s1
    s3, s4 = s0 + s2, _times_minus_i(s0 - s2)
    return [f0 + s3, s5 + s4, f0 - s3, s5 - s4]


class KissFftr16:
    """A real FFT of `fft_length` int16 samples with kissfft's fixed-point arithmetic.

    kiss_fftr packs the real input into fft_length / 2 complex numbers (even samples as
    real parts, odd as imaginary), runs a complex FFT of that half length, then untangles
    the two interleaved spectra with the "super twiddles". The output is scaled by
    1 / fft_length overall (every stage divides by its radix, the split by 2).
    """

    def __init__(self, fft_length: int):
        if fft_length % 2 or fft_length < 4:
            raise ValueError(f"kissfft's real FFT needs an even length >= 4, got {fft_length}")
        self.fft_length = fft_length
        self.nfft = n = fft_length // 2
        self.stages = _factor(n)
        if any(p not in (2, 4) for p, _ in self.stages):
            raise NotImplementedError(f"only radix 2 and 4 are rebuilt here; {n} has {self.stages}")
        self.input_order = _input_order(self.stages)
        # The C code forms each phase as -2*pi*i / nfft in double, then rounds cos/sin.
        self.twiddles = _cexp([-2 * math.pi * i / n for i in range(n)])
        self.super_twiddles = _cexp([-math.pi * ((i + 1) / n + 0.5) for i in range(n // 2)])
        self._plan = self._stage_plan()
        self._split_twiddles = _twiddle_operands(self.super_twiddles, 3)

    def _stage_plan(self):
        """(p, m, twiddle operands) per stage, in execution order (innermost first).

        A stage with stride fstride multiplies the q-th element of butterfly k by twiddle
        q * k * fstride, where fstride is the product of the radices of the outer stages.
        """
        plan, fstride = [], 1
        for p, m in self.stages:
            q, k = np.arange(1, p)[:, None], np.arange(m)
            plan.append((p, m, _twiddle_operands(self.twiddles[:, q * k * fstride], 5)))
            fstride *= p
        return plan[::-1]

    def __repr__(self):
        radices = "x".join(str(p) for p, _ in self.stages)
        return f"KissFftr16(fft_length={self.fft_length}, complex stages {radices})"

    def _stage(self, c, p: int, m: int, twiddles):
        """All the radix-p butterflies of one stage, over a (2, frames, groups, p, m) view.

        Every butterfly starts by dividing its p inputs by p and multiplying inputs 1..p-1
        by their twiddles; both happen here for the whole stage in one go.
        """
        shape = c.shape
        c = _fixdiv(c.reshape(2, shape[1], -1, p, m), p)
        rotated = _cmul(c[:, :, :, 1:, :], twiddles)
        butterfly = _bfly4 if p == 4 else _bfly2
        return np.stack(butterfly(c[:, :, :, 0, :], rotated), axis=3).reshape(shape)

    def complex_fft(self, c: np.ndarray) -> np.ndarray:
        """kiss_fft on (2, frames, nfft): permute, then the stages' butterflies bottom-up."""
        c = c[:, :, self.input_order]
        for p, m, twiddles in self._plan:
            c = self._stage(c, p, m, twiddles)
        return c

    def _split(self, z: np.ndarray) -> np.ndarray:
        """The kiss_fftr post-pass: separate the spectra of the even and odd samples.

        With Z = FFT(even + i odd) and w the super twiddles, bin k of the real signal's
        spectrum is ((Z[k] + conj Z[n-k]) + (Z[k] - conj Z[n-k]) * w[k-1]) / 4; the C code
        halves Z[k] and conj Z[n-k] first (rounded, C_FIXDIV) and the sum last (floored).
        """
        n = self.nfft
        out = np.zeros((2, z.shape[1], n + 1), dtype=np.int16)
        dc = _fixdiv(z[:, :, 0], 2)
        out[0, :, 0], out[0, :, n] = dc[0] + dc[1], dc[0] - dc[1]
        k = np.arange(1, n // 2 + 1)
        fpk = _fixdiv(z[:, :, k], 2)
        fpnk = _fixdiv(np.stack([z[0][:, n - k], -z[1][:, n - k]]), 2)  # conj Z[n - k]
        f1k = (fpk + fpnk).astype(np.int32)
        tw = _cmul(fpk - fpnk, self._split_twiddles)
        # HALF_OF is an arithmetic shift of the int sum (no int16 wrap before it). Bin n/2
        # is written twice in the C loop; the second write (the n - k form) stays, as here.
        out[:, :, k] = ((f1k + tw) >> 1).astype(np.int16)
        out[0][:, n - k] = ((f1k[0] - tw[0]) >> 1).astype(np.int16)
        out[1][:, n - k] = ((tw[1] - f1k[1]) >> 1).astype(np.int16)
        return out

    def __call__(self, timedata: np.ndarray) -> np.ndarray:
        """(frames, fft_length) int16 -> (frames, fft_length/2 + 1, 2) int16 [re, im] bins."""
        x = np.asarray(timedata, dtype=np.int16).reshape(-1, self.fft_length)
        packed = np.stack([x[:, 0::2], x[:, 1::2]])  # even samples real, odd imaginary
        return self._split(self.complex_fft(packed)).transpose(1, 2, 0)
