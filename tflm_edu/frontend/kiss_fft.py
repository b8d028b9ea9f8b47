"""kissfft's real FFT and its inverse, butterfly for butterfly, as TFLM runs them.

Mirrors kissfft v130 (kiss_fft.c: kf_bfly2, kf_bfly3, kf_bfly4, kf_bfly5, kf_work,
kf_factor, kiss_fft_alloc; tools/kiss_fftr.c: kiss_fftr_alloc, kiss_fftr, kiss_fftri; the
macros of _kiss_fft_guts.h). TFLM compiles that one source three times, each in its own
namespace (signal/src/kiss_fft_wrappers/kiss_fft_{int16,int32,float}.cc):

  FIXED_POINT=16  int16 Q15 samples, products in int32, twiddles scaled by 32767
  FIXED_POINT=32  int32 Q31 samples, products in int64, twiddles scaled by 2**31 - 1
  float           float32 samples and twiddles, no scaling at all

and signal/src/rfft_*.cc / irfft_*.cc call kiss_fftr / kiss_fftri of the matching one.
Each build is one `Arithmetic` below (FixedPoint(16), FixedPoint(32), Float32): the
butterflies are written once, over the handful of macros (C_MUL, C_FIXDIV, S_MUL,
HALF_OF, ...) that differ between builds.

Why a library FFT will not do: in fixed point every butterfly divides its inputs by the
radix first (so the values cannot overflow), multiplies by rounded twiddles and rounds
after every product; in float every addition and product rounds to float32 in kissfft's
order. Those roundings are the result. Here each stage is vectorised instead: all the
butterflies of one stage are independent, so they run as numpy operations over a
(2, frames, groups, radix, m) view, in the C code's order of operations within each.

A complex array is one array with a leading axis of 2: [0] the real parts, [1] the
imaginary ones. numpy's int16 / int32 additions wrap just like C storing an int sum into
a `kiss_fft_scalar`; IEEE float32 operations round exactly as the C float operations do.

Which lengths run: kissfft has butterflies for radix 2, 3, 4 and 5; any other prime
factor goes to kf_bfly_generic, whose scratch comes from KISS_FFT_TMP_ALLOC - which
TFLM's copy patches to return NULL, so TFLM crashes there (a half length of 1 gets the
"radix 1" generic butterfly too). So the real FFT length must be 2 * N with N >= 2 and
N a product of 2s, 3s and 5s: `unsupported_length` says why any other length fails.
"""
from __future__ import annotations

import math

import numpy as np

FAST_RADICES = (2, 3, 4, 5)


# ----------------------------------------------------------------------------- arithmetic


class FixedPoint:
    """kissfft built with FIXED_POINT=bits: Q(bits-1) scalars, products twice as wide."""

    def __init__(self, bits: int):
        self.bits = bits
        self.dtype = np.dtype(np.int16 if bits == 16 else np.int32)   # kiss_fft_scalar
        self.product = np.dtype(np.int32 if bits == 16 else np.int64)  # SAMPPROD
        self.fracbits = bits - 1
        self.samp_max = (1 << (bits - 1)) - 1   # twiddles are scaled by it, not by 2**15

    def __repr__(self):
        return f"FixedPoint({self.bits})"

    def sround(self, product):
        """Round a Q(2 * fracbits) product back to Q(fracbits), stored as the scalar."""
        return ((product + (1 << (self.fracbits - 1))) >> self.fracbits).astype(self.dtype)

    def fixdiv(self, c, divisor: int):
        """C_FIXDIV: divide by multiplying with the constant SAMP_MAX / divisor."""
        return self.sround(c.astype(self.product) * self.product.type(self.samp_max // divisor))

    def cmul(self, a, twiddles):
        """C_MUL: a times the twiddles, each part rounded once. `twiddles` comes from
        twiddle_operands: (br, (-bi, bi)), so that (ar + i ai)(br + i bi) is a * br plus
        a with its parts swapped times (-bi, bi) - exact in the product type."""
        real, signed_imag = twiddles
        a = a.astype(self.product)
        return self.sround(a * real + a[::-1] * signed_imag)

    def scale(self, c, s):
        """S_MUL and C_MULBYSCALAR: c times one twiddle component, rounded."""
        return self.sround(c.astype(self.product) * s)

    def half_of(self, x):
        """HALF_OF: an arithmetic shift of the C int sum, stored back as the scalar."""
        return (x >> 1).astype(self.dtype)

    def promote(self, x):
        """C's integer promotion: an int16 takes part in a sum as an int (no wrap)."""
        return x.astype(np.int32) if self.bits == 16 else x

    def cexp(self, phases):
        """kf_cexp: floor(0.5 + SAMP_MAX * cos / sin(phase)), all in double."""
        re = [math.floor(0.5 + self.samp_max * math.cos(p)) for p in phases]
        im = [math.floor(0.5 + self.samp_max * math.sin(p)) for p in phases]
        return np.array([re, im], dtype=self.dtype)


class Float32:
    """kissfft built for float: C_FIXDIV does nothing, HALF_OF multiplies by 0.5f."""

    dtype = product = np.dtype(np.float32)
    bits = 32

    def __repr__(self):
        return "Float32()"

    def fixdiv(self, c, divisor: int):
        return c

    def cmul(self, a, twiddles):
        """C_MUL: ar*br - ai*bi and ar*bi + ai*br, each product and sum a float32
        rounding; adding (-bi) * ai is bit-for-bit subtracting bi * ai."""
        real, signed_imag = twiddles
        return a * real + a[::-1] * signed_imag

    def scale(self, c, s):
        return c * s

    def half_of(self, x):
        return x * np.float32(0.5)

    def promote(self, x):
        return x

    def cexp(self, phases):
        """kf_cexp: (float) cos(phase) and (float) sin(phase), the phase in double."""
        return np.array([[math.cos(p) for p in phases], [math.sin(p) for p in phases]],
                        dtype=np.float64).astype(np.float32)


ARITHMETIC = {np.dtype(np.int16): FixedPoint(16), np.dtype(np.int32): FixedPoint(32),
              np.dtype(np.float32): Float32()}


def arithmetic_for(dtype) -> FixedPoint | Float32:
    """The kissfft build TFLM uses for samples of `dtype` (int16, int32 or float32)."""
    try:
        return ARITHMETIC[np.dtype(dtype)]
    except KeyError:
        raise ValueError(f"TFLM builds kissfft for int16, int32 and float32, not "
                         f"{np.dtype(dtype).name}") from None


def twiddle_operands(arith, twiddles, ndim: int):
    """(br, (-bi, bi)) of (2, ..., m) twiddles in the product type, shaped to broadcast
    over the ndim-D arrays they multiply (whose trailing axes match the twiddles' own)."""
    twiddles = twiddles.astype(arith.product)
    signed_imag = np.stack([-twiddles[1], twiddles[1]])
    return twiddles[0], signed_imag.reshape((2,) + (1,) * (ndim - twiddles.ndim)
                                            + twiddles.shape[1:])


# ----------------------------------------------------------------------------- factoring


def factor(n: int) -> list[tuple[int, int]]:
    """kf_factor: split n into radices, fours first, then a two, then odd primes.

    Returns (p, m) per stage with p * m equal to the previous stage's m (n for the first):
    256 gives [(4, 64), (4, 16), (4, 4), (4, 1)]. Once p passes floor(sqrt(n)) the rest
    of n is taken as one (prime) radix; n = 1 gives the radix 1, [(1, 1)].
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


def unsupported_length(fft_length: int) -> str | None:
    """Why TFLM's kissfft cannot run a real FFT of this length, or None when it can."""
    if fft_length < 4:
        return f"kissfft's real FFT needs an even length of at least 4, got {fft_length}"
    if fft_length % 2:
        return (f"kissfft's real FFT needs an even length, got {fft_length} "
                f"(kiss_fftr_alloc fails and TFLM would run on an unset state)")
    radices = [p for p, _ in factor(fft_length // 2)]
    slow = [p for p in radices if p not in FAST_RADICES]
    if slow:
        return (f"half of fft_length {fft_length} needs radix {slow[0]}: kissfft's generic "
                f"butterfly gets its scratch from a malloc that TFLM patches to return NULL "
                f"(TFLM crashes); lengths 2 * 2^a 3^b 5^c run")
    return None


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


# ----------------------------------------------------------------------------- butterflies
# Each takes f0 (the first block of every butterfly, already divided by p) and `rotated`
# (the other p - 1 blocks, divided and multiplied by their twiddles: the C_FIXDIV and
# C_MUL lines every kf_bfly starts with), and returns the p output blocks.


def _bfly2(a, f0, rotated, stage):
    """kf_bfly2: Fout2 = Fout - t, Fout += t."""
    t = rotated[..., 0, :]
    return [f0 + t, f0 - t]


def _bfly3(a, f0, rotated, stage):
    """kf_bfly3, in kissfft's order: epi3 is the twiddle a third of the way round."""
    s1, s2 = rotated[..., 0, :], rotated[..., 1, :]
    s3, s0 = s1 + s2, s1 - s2
    fm = f0 - a.half_of(s3)
    s0 = a.scale(s0, stage.epi3_imag)
    f0 = f0 + s3
    fm2 = np.stack([fm[0] + s0[1], fm[1] - s0[0]])
    fm = np.stack([fm[0] - s0[1], fm[1] + s0[0]])
    return [f0, fm, fm2]


def _bfly4(a, f0, rotated, stage):
    """kf_bfly4, in kissfft's order; the inverse transform turns the other way round."""
    s0, s1, s2 = rotated[..., 0, :], rotated[..., 1, :], rotated[..., 2, :]
    s5 = f0 - s1
    f0 = f0 + s1
    s3, s4 = s0 + s2, s0 - s2
    fm2 = f0 - s3
    f0 = f0 + s3
    plus = np.stack([s5[0] + s4[1], s5[1] - s4[0]])   # s5 - i s4
    minus = np.stack([s5[0] - s4[1], s5[1] + s4[0]])  # s5 + i s4
    return [f0, minus, fm2, plus] if stage.inverse else [f0, plus, fm2, minus]


def _bfly5(a, f0, rotated, stage):
    """kf_bfly5, in kissfft's order: ya and yb are the twiddles 1/5 and 2/5 round."""
    (yar, yai), (ybr, ybi) = stage.ya, stage.yb
    s1, s2, s3, s4 = (rotated[..., q, :] for q in range(4))
    s7, s10 = s1 + s4, s1 - s4
    s8, s9 = s2 + s3, s2 - s3
    out0 = f0 + (s7 + s8)
    s5 = f0 + a.scale(s7, yar) + a.scale(s8, ybr)
    s6 = np.stack([a.scale(s10[1], yai) + a.scale(s9[1], ybi),
                   -a.scale(s10[0], yai) - a.scale(s9[0], ybi)])
    s11 = f0 + a.scale(s7, ybr) + a.scale(s8, yar)
    s12 = np.stack([-a.scale(s10[1], ybi) + a.scale(s9[1], yai),
                    a.scale(s10[0], ybi) - a.scale(s9[0], yai)])
    return [out0, s5 - s6, s11 + s12, s11 - s12, s5 + s6]


BUTTERFLIES = {2: _bfly2, 3: _bfly3, 4: _bfly4, 5: _bfly5}


class _Stage:
    """One stage of kf_work: radix p, sub-length m, its twiddle operands and constants."""

    def __init__(self, arith, twiddles, p: int, m: int, fstride: int, inverse: bool):
        self.p, self.m, self.inverse = p, m, inverse
        # Element q of butterfly k is multiplied by twiddle q * k * fstride, where fstride
        # is the product of the radices of the outer stages.
        q, k = np.arange(1, p)[:, None], np.arange(m)
        self.twiddles = twiddle_operands(arith, twiddles[:, q * k * fstride], 5)
        if p == 3:
            self.epi3_imag = twiddles[1, fstride * m].astype(arith.product)
        if p == 5:
            self.ya = twiddles[:, fstride * m].astype(arith.product)
            self.yb = twiddles[:, 2 * fstride * m].astype(arith.product)
        self.butterfly = BUTTERFLIES[p]

    def __call__(self, arith, c):
        """All the radix-p butterflies of the stage over a (2, frames, groups, p, m) view."""
        shape = c.shape
        c = arith.fixdiv(c.reshape(2, shape[1], -1, self.p, self.m), self.p)
        rotated = arith.cmul(c[:, :, :, 1:, :], self.twiddles)
        outputs = self.butterfly(arith, c[:, :, :, 0, :], rotated, self)
        return np.stack(outputs, axis=3).reshape(shape)


# ----------------------------------------------------------------------------- kiss_fftr


class KissFftr:
    """A kiss_fftr_cfg: the real FFT (or, inverse=True, the inverse real FFT) of
    `fft_length` samples of `dtype` (int16, int32 or float32) with kissfft's arithmetic.

    kiss_fftr packs the real input into fft_length / 2 complex numbers (even samples as
    real parts, odd as imaginary), runs a complex FFT of that half length, then untangles
    the two interleaved spectra with the "super twiddles"; kiss_fftri runs the same steps
    backwards. In fixed point the forward transform is scaled by 1 / fft_length (every
    stage divides by its radix, the split by 2) and the inverse by 1 / 2 overall; in float
    neither is scaled, so the inverse returns fft_length / 2 times the signal.
    """

    def __init__(self, fft_length: int, dtype=np.int16, inverse: bool = False):
        why = unsupported_length(fft_length)
        if why:
            raise ValueError(why)
        self.arith = arithmetic_for(dtype)
        self.dtype = self.arith.dtype
        self.fft_length, self.inverse = fft_length, inverse
        self.nfft = n = fft_length // 2
        self.stages = factor(n)
        self.input_order = _input_order(self.stages)
        sign = -1 if inverse else 1   # kiss_fft_alloc: `if (st->inverse) phase *= -1`
        # The C code forms each phase in double, then rounds cos / sin to the scalar.
        self.twiddles = self.arith.cexp([sign * (-2 * math.pi * i / n) for i in range(n)])
        self.super_twiddles = self.arith.cexp(
            [sign * (-math.pi * ((i + 1) / n + 0.5)) for i in range(n // 2)])
        self._split_twiddles = twiddle_operands(self.arith, self.super_twiddles, 3)
        self._plan = self._stage_plan()

    def _stage_plan(self) -> list[_Stage]:
        """The stages in execution order: kf_work runs the innermost (last factor) first."""
        plan, fstride = [], 1
        for p, m in self.stages:
            plan.append(_Stage(self.arith, self.twiddles, p, m, fstride, self.inverse))
            fstride *= p
        return plan[::-1]

    def __repr__(self):
        radices = "x".join(str(p) for p, _ in self.stages)
        kind = "inverse " if self.inverse else ""
        return (f"KissFftr({kind}fft_length={self.fft_length}, {self.dtype.name}, "
                f"complex stages {radices})")

    def complex_fft(self, c: np.ndarray) -> np.ndarray:
        """kiss_fft on (2, frames, nfft): permute, then the stages' butterflies bottom-up."""
        c = c[:, :, self.input_order]
        for stage in self._plan:
            c = stage(self.arith, c)
        return c

    # -- kiss_fftr

    def _split(self, z: np.ndarray) -> np.ndarray:
        """The kiss_fftr post-pass: separate the spectra of the even and odd samples.

        With Z = FFT(even + i odd) and w the super twiddles, bin k of the real signal's
        spectrum is ((Z[k] + conj Z[n-k]) + (Z[k] - conj Z[n-k]) * w[k-1]) / 2, each half
        of Z first divided by 2 in fixed point (C_FIXDIV), the sum halved last (HALF_OF).
        """
        a, n = self.arith, self.nfft
        out = np.zeros((2, z.shape[1], n + 1), dtype=self.dtype)
        dc = a.fixdiv(z[:, :, 0], 2)
        out[0, :, 0], out[0, :, n] = dc[0] + dc[1], dc[0] - dc[1]
        k = np.arange(1, n // 2 + 1)
        fpk = a.fixdiv(z[:, :, k], 2)
        fpnk = a.fixdiv(np.stack([z[0][:, n - k], -z[1][:, n - k]]), 2)  # conj Z[n - k]
        f1k = a.promote(fpk + fpnk)          # stored as a kiss_fft_cpx, then promoted
        tw = a.promote(a.cmul(fpk - fpnk, self._split_twiddles))
        # When n is even, bin n/2 is written twice in the C loop; the second write (the
        # n - k form) stays, as here.
        out[:, :, k] = a.half_of(f1k + tw)
        out[0][:, n - k] = a.half_of(f1k[0] - tw[0])
        out[1][:, n - k] = a.half_of(tw[1] - f1k[1])
        return out

    def fftr(self, timedata: np.ndarray) -> np.ndarray:
        """kiss_fftr: (frames, fft_length) -> (frames, fft_length/2 + 1, 2) [re, im] bins."""
        if self.inverse:
            raise ValueError("kiss_fftr needs a forward state (kissfft returns doing nothing)")
        x = np.asarray(timedata, dtype=self.dtype).reshape(-1, self.fft_length)
        packed = np.stack([x[:, 0::2], x[:, 1::2]])  # even samples real, odd imaginary
        return self._split(self.complex_fft(packed)).transpose(1, 2, 0)

    # -- kiss_fftri

    def _merge(self, f: np.ndarray) -> np.ndarray:
        """The kiss_fftri pre-pass: rebuild Z = FFT(even + i odd) from the real spectrum,
        (2, frames, >= n + 1) -> (2, frames, n); the imaginary parts of bins 0 and n are
        never read."""
        a, n = self.arith, self.nfft
        z = np.empty((2, f.shape[1], n), dtype=self.dtype)
        z[:, :, 0] = a.fixdiv(np.stack([f[0][:, 0] + f[0][:, n], f[0][:, 0] - f[0][:, n]]), 2)
        k = np.arange(1, n // 2 + 1)
        fk = a.fixdiv(f[:, :, k], 2)
        fnkc = a.fixdiv(np.stack([f[0][:, n - k], -f[1][:, n - k]]), 2)  # conj F[n - k]
        fek = fk + fnkc
        fok = a.cmul(fk - fnkc, self._split_twiddles)
        z[:, :, k] = fek + fok
        low = fek - fok     # written second: for even n, bin n/2 keeps this form
        z[0][:, n - k] = low[0]
        z[1][:, n - k] = low[1] * np.array(-1, dtype=self.dtype)   # `.i *= -1`
        return z

    def fftri(self, freqdata: np.ndarray) -> np.ndarray:
        """kiss_fftri: (frames, >= fft_length/2 + 1, 2) [re, im] bins -> (frames,
        fft_length) samples (unscaled in float: see the class docstring)."""
        if not self.inverse:
            raise ValueError("kiss_fftri needs an inverse state (kissfft returns doing nothing)")
        f = np.asarray(freqdata, dtype=self.dtype)
        f = f.reshape(f.shape[0], -1, 2).transpose(2, 0, 1)
        z = self.complex_fft(self._merge(f))
        return z.transpose(1, 2, 0).reshape(-1, self.fft_length)  # (re, im) = (even, odd)

    def __call__(self, data: np.ndarray) -> np.ndarray:
        """The transform in this state's direction (kiss_fftri if inverse else kiss_fftr)."""
        return self.fftri(data) if self.inverse else self.fftr(data)


class KissFftr16(KissFftr):
    """The forward int16 real FFT (the micro_speech preprocessor's)."""

    def __init__(self, fft_length: int):
        super().__init__(fft_length, np.int16)
