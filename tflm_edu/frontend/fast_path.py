"""The frontend's fast path: the stage modules' integer arithmetic in a few numpy calls.

The stage modules (window.py ... log_scale.py) mirror TFLM's C code function by function;
they are what a reader holds beside the C++ and what trace() runs. This module computes the
very same bytes, fast: FastFrontend plans the pipeline once (matrices, twiddles, tables),
and its workspace (_Frames) runs a batch of windows as a fixed list of calls on
preallocated buffers, frames as the innermost axis so that every call streams through
long contiguous runs. A stream (one window per chunk, where each call's fixed cost is what
counts) has its own layout on the same plan: fast_stream.FastStream.
tests/test_frontend_fast.py and tests/test_frontend_fast_paths.py prove the paths equal,
and equal to TFLM, on random, loud, clipping and silent audio.

The tricks, each explained where it is used:

* float64 holds every integer of the pipeline exactly (all stay below 2**49), and a BLAS
  product of such integers is exact; floor() is C's arithmetic right shift, and kissfft's
  rounding sround(x) = (x + 2**14) >> 15 is floor(x / 2**15 + 1/2).
* Each radix-4 stage of kissfft (kf_bfly4 over all butterflies) is one small matrix
  product, with the next C_FIXDIV's factor folded in, in a digit order where each stage
  reads the previous stage's output as it lies (_BatchStage for a batch, _Stage for a
  stream). A batch's last stage leaves the spectrum in natural order.
* kissfft stores every intermediate in int16. A bound checked per frame proves no store
  can overflow, so no wrap-around needs emulating (_plan_guard); the rare frame outside
  it (contrived full-scale input) takes the stage modules instead.
* Spectral subtraction's new estimate, what it leaves of the signal and its floor are
  linear in (signal, old estimate) up to one floor each: one product per frame.
* PCAN's gain depends on the noise estimate only through its bit length and the 10 bits
  below its leading one, which a float64 holds in its top bits: a table lookup
  (gain_key). PCAN's shrink, the log and the int8 (or float32) rescale together are a
  step function of the SNR with a few hundred steps: one binary search (searchsorted)
  over precomputed step positions replaces them.
"""
from __future__ import annotations

import math
import threading

import numpy as np

from tflm_edu.frontend.fft import kiss_fftr16, max_abs16
from tflm_edu.frontend.kiss_fft import factor
from tflm_edu.frontend.log_scale import (LOG_COEFF, LOG_SCALE_LOG2, LOG_SEGMENTS_LOG2,
                                         filter_bank_log, log2_fraction)
from tflm_edu.frontend.pcan import pcan_shrink, wide_dynamic_function

RADIX = 4
Q15 = 1 << 15
SAMP_MAX = Q15 - 1      # kissfft's int16 twiddles and C_FIXDIV constants are scaled by it
INT16_MARGIN = 64       # headroom kept below 32767 for the roundings of the FFT stages
MAX_EXACT = 1 << 49     # the rounded square root below is exact for channel sums up to here
SQRT32_LIMIT = 65535 ** 2 + 65535   # Sqrt32 will not round up past 65535: x above this...
UINT32 = 1 << 32                    # ...and below 2**32 gets 65535, not 65536
# Scalars as 0-d arrays: numpy converts a Python float for every call (~0.2 us).
HALF, IMAG = np.array(0.5), np.array(1j)
BELOW_2_32, SQRT32_CAP = np.array(float(UINT32)), np.array(float(SQRT32_LIMIT))


# ----------------------------------------------------------------------------- planning

def unsupported_reason(config, output_dtype=np.int8) -> str | None:
    """Why the fast path cannot run this configuration (the stage modules then run), or None."""
    p, bank, nr = config.params, config.filter_bank, config.spectral_subtraction
    n = config.fft_length // 2
    if any(radix != RADIX for radix, _ in factor(n)) or n < RADIX ** 2:
        return f"fft_length {config.fft_length} is not 2 * 4**k with k >= 2"
    if p.window_size > config.fft_length or p.window_stride > p.window_size:
        return "the window must fit the FFT and windows must overlap or touch"
    if int(np.abs(config.window_weights.astype(np.int64)).max()) > 1 << p.window_scaling_bits:
        return "window weights above 1.0 could saturate SignalWindow's int16 output"
    if bank.start_index < 1 or bank.end_index > n:
        return "the filter bank reads the DC or Nyquist bin"
    matrix = config.filter_bank_matrix
    if matrix.min() < 0 or 2 ** 31 * int(matrix.sum(axis=1).max()) >= MAX_EXACT:
        return "filter bank weights negative or too large for exact float64 sums"
    if nr.clamping or nr.smoothing + nr.one_minus_smoothing != 1 << nr.spectral_subtraction_bits \
            or nr.alternate_smoothing + nr.alternate_one_minus_smoothing \
            != 1 << nr.spectral_subtraction_bits:
        return "spectral subtraction with clamping or coefficients not summing to 1.0"
    if np.dtype(output_dtype) not in (np.dtype(np.int8), np.dtype(np.float32)):
        return "output is int8 or float32"
    if not _log_pieces_are_monotone(config):
        return "Log32 is not monotone within its table segments for these options"
    return None


def _log_pieces_are_monotone(config) -> bool:
    """Log32 reads the bit length of x and a Q16 fraction below its leading one, which
    never decrease together as x grows; it then adds an interpolated table correction
    that jumps (down, too) where a new table segment starts. Between those starts it must
    increase, and the final uint32 products must not wrap; then the output stages are a
    non-decreasing function of the SNR on each segment (see _log_steps)."""
    fractions = np.arange(1 << LOG_SCALE_LOG2, dtype=np.uint64)
    log2 = log2_fraction(fractions + np.uint64(1 << LOG_SCALE_LOG2),
                         np.full(fractions.shape, LOG_SCALE_LOG2))
    segment_starts = np.arange(1, fractions.size) % (1 << (LOG_SCALE_LOG2 - LOG_SEGMENTS_LOG2))
    rises = (np.diff(log2) >= 0) | (segment_starts == 0)
    loge_max = (LOG_COEFF * (33 << LOG_SCALE_LOG2)) >> LOG_SCALE_LOG2
    shrink_max = int(pcan_shrink(np.array([UINT32 - 1], np.uint64))[0])
    return bool(rises.all() and config.log_output_scale * loge_max < UINT32
                and shrink_max << config.correction_bits < UINT32)


def gain_key(x: np.ndarray) -> np.ndarray:
    """Where pcan_gains finds the gain of x (float64 integers below 2**32).

    WideDynamicFunction reads x's bit length and the 10 bits below its leading one (all
    of x below 2**11). A float64 keeps exactly those in its 11 exponent bits and the top
    10 of its mantissa: its bits >> 42, a number E * 1024 + m with E = 1023 + bit length
    - 1 (0 for x = 0). Modulo GAIN_FOLD = 44 * 1024 these stay distinct: E runs over 32
    consecutive values, none of them a multiple of 44. (np.take(mode="wrap") folds.)"""
    return np.right_shift(x.view(np.int64), GAIN_SHIFT) % GAIN_FOLD


GAIN_SHIFT = 52 - 10
GAIN_FOLD = 44 * 1024


# ----------------------------------------------------------------------------- FFT planning

def butterfly() -> np.ndarray:
    """kf_bfly4, forward: output j of a radix-4 butterfly is sum_q (-i)**(j q) input q."""
    return np.array([[(-1j) ** (j * q) for q in range(RADIX)] for j in range(RADIX)])


def real_right_matrix(z: np.ndarray) -> np.ndarray:
    """The real matrix that, multiplying a complex array's float64 view (re, im
    interleaved) from the right, multiplies the complex array by `z` from the right."""
    real = np.zeros((z.shape[0], 2, z.shape[1], 2))
    real[:, 0, :, 0], real[:, 1, :, 0] = z.real, -z.imag
    real[:, 0, :, 1], real[:, 1, :, 1] = z.imag, z.real
    return real.reshape(2 * z.shape[0], 2 * z.shape[1])


def digits(index: np.ndarray, levels: int) -> list[np.ndarray]:
    """Base-4 digits of each index, most significant first."""
    return [(index >> (2 * (levels - 1 - d))) & 3 for d in range(levels)]


class _Stage:
    """One radix-4 stage of kf_work, planned on data kept in this layout (per frame):

        digits (j_1, ..., j_{s-1}, q, c_{L-s-1}, ..., c_0), most significant first,

    where c is the natural index of the packed complex input, q = c_{L-s} the digit this
    stage's butterflies combine, and j_t the output digit stage t put in place of
    c_{L-t}. Stage 1 therefore reads the input in natural order, and every stage writes
    its output in the next stage's layout: no permutation is ever copied. This is the
    stream's layout (fast_stream.FastStream); a batch uses _BatchStage's.

    A stage is one matrix product. "left": the rows are the 4**s digits up to q, so the
    butterflies are kron(I, B) from the left; "right": the columns are q and the digits
    after it, so they are kron(B, I) from the right. Whichever matrix is smaller is used.
    The product also applies the next C_FIXDIV's factor (times 8191 / 2**15); a left
    product adds its + 1/2 too, from a row of ones in its input.
    """

    def __init__(self, s: int, levels: int, twiddles: np.ndarray, scale: float, last: bool):
        n = RADIX ** levels
        self.s, self.last = s, last
        self.left = not last and RADIX ** s <= RADIX ** (levels - s + 1)
        # Twiddle of each element: kissfft's q * k * fstride, k the butterfly's position
        # sum_t j_t 4**(t-1) and fstride 4**(L-s); kf_bfly4 leaves input q = 0 alone.
        d = digits(np.arange(n), levels)
        q, k = d[s - 1], sum(d[t - 1] * RADIX ** (t - 1) for t in range(1, s))
        rotation = np.where(q == 0, 1.0, twiddles[q * k * RADIX ** (levels - s)])
        self.rotation = rotation.reshape(RADIX ** (s - 1), RADIX, RADIX ** (levels - s))
        b = butterfly() * scale
        # Complex BLAS is slow at these sizes: products are real, on float64 views of
        # the complex arrays (re, im interleaved).
        if self.left:
            self.rows, self.cols = RADIX ** s, RADIX ** (levels - s)
            kron = np.kron(np.eye(RADIX ** (s - 1)), b)
            # kron @ X = Re(kron) @ X + Im(kron) @ (1j X): the input holds X, 1j X and a
            # row of (1 + 1j), whose coefficient 1/2 adds the + 1/2 to re and im.
            self.matrix = np.hstack([kron.real, kron.imag, np.full((self.rows, 1), 0.5)])
        else:
            self.rows, self.cols = RADIX ** (s - 1), RADIX ** (levels - s + 1)
            kron = np.kron(b, np.eye(RADIX ** (levels - s))).T
            if last:   # kiss_fftr's split also wants conj(Z): Re(1j * Z) is -Im(Z)
                kron = np.hstack([kron, 1j * kron])
            self.matrix = real_right_matrix(kron)

    def __repr__(self):
        side = "left" if self.left else "right"
        return f"_Stage({self.s}, {side}, {self.matrix.shape[0]}x{self.matrix.shape[1]})"


class _BatchStage:
    """One radix-4 stage of kf_work for a batch (_Frames), on data kept as

        digits (q, j_{s-1}, ..., j_1, c_{L-s-1}, ..., c_0, frame), q = c_{L-s} first,

    so the butterflies are a single 4 x 4 product from the left whatever the stage: the
    real 4 x 9 matrix [Re(B), Im(B), 1/2] on rows [X, 1j X, (1 + 1j)], with the next
    C_FIXDIV's factor in B (as _Stage's left stages). The twiddle of an element is
    kissfft's q * k * fstride, k = sum_t j_t 4**(t-1), which here is the index of the
    j digits as they stand: `rotation` is (4, 4**(s-1), 1). The last stage also gives
    1j Z (4 more rows): kiss_fftr's conj(Z[n - k]) takes its imaginary part from it."""

    def __init__(self, s: int, levels: int, twiddles: np.ndarray, scale: float):
        self.s, self.last = s, s == levels
        q, k = np.arange(RADIX)[:, None], np.arange(RADIX ** (s - 1))[None, :]
        self.rotation = np.where(q == 0, 1.0, twiddles[q * k * RADIX ** (levels - s)])[..., None]
        b = butterfly() * scale
        blocks = [b, 1j * b] if self.last else [b]
        self.matrix = np.vstack([np.hstack([m.real, m.imag, np.full((RADIX, 1), 0.5)])
                                 for m in blocks])

    def __repr__(self):
        return f"_BatchStage({self.s}, {self.matrix.shape[0]}x{self.matrix.shape[1]})"


# ----------------------------------------------------------------------------- the plan

class FastFrontend:
    """The micro_speech pipeline, window to int8 (or float32) features, planned once.

    `features(windows, noise_estimate)` runs a batch of windows; `FastStream(plan)` holds
    a stream's state and `push(chunk)` runs one 20 ms chunk. Both give exactly what
    MicroSpeechFrontend's stage-module path gives. The plan itself never changes after
    __init__ and can be shared; batch scratch buffers are kept per thread.
    """

    def __init__(self, config, output_dtype=np.int8):
        why = unsupported_reason(config, output_dtype)
        if why:
            raise ValueError(why)
        self.config, self.output_dtype = config, np.dtype(output_dtype)
        p = config.params
        self.window_size, self.stride = p.window_size, p.window_stride
        self.num_channels = p.filter_bank_number_of_channels
        self.pairs = (self.num_channels + 1) // 2   # channels go in (even, odd) pairs
        self._plan_fft(config)
        self._plan_split_and_bank(config)
        self._plan_noise_reduction(config)
        self._plan_pcan_and_log(config)
        self._scratch = threading.local()

    def __repr__(self):
        return (f"FastFrontend({self.stages}, {len(self.bins)} bin pairs, "
                f"{self.gain_breaks.size + 1} gain segments, {self.output_steps.size + 1} "
                f"output steps, {self.output_dtype})")

    def _plan_fft(self, config):
        p, n = config.params, config.fft_length // 2
        self.n, self.levels = n, len(factor(n))
        self.window_weights = np.zeros(2 * n)
        self.window_weights[:p.window_size] = config.window_weights / (1 << p.window_scaling_bits)
        # C_FIXDIV(c, 4) and C_FIXDIV(c, 2): round(c * (SAMP_MAX // divisor) / 2**15).
        fixdiv4, fixdiv2 = (SAMP_MAX // 4) / Q15, (SAMP_MAX // 2) / Q15
        # The auto-scale's << s and stage 1's C_FIXDIV are one multiply (then + 1/2, floor).
        self.first_scale = [np.array(fixdiv4 * 2.0 ** s) for s in range(16)]
        self.fixdiv4 = fixdiv4
        state = kiss_fftr16(config.fft_length)
        twiddles = (state.twiddles[0] + 1j * state.twiddles[1]) / Q15
        self.stages = [_Stage(s, self.levels, twiddles, fixdiv2 if s == self.levels else fixdiv4,
                              s == self.levels) for s in range(1, self.levels + 1)]
        self.batch_stages = [_BatchStage(s, self.levels, twiddles,
                                         fixdiv2 if s == self.levels else fixdiv4)
                             for s in range(1, self.levels + 1)]
        self.super_twiddles = (state.super_twiddles[0] + 1j * state.super_twiddles[1]) / Q15
        self._plan_guard()

    def _plan_guard(self):
        """When can no int16 store in kissfft overflow? Then floats need not emulate the
        wrap-around. And how to check that, and find the auto-scale's peak, in one max.

        Each stage divides by 4 (C_FIXDIV) then adds 4 rotated values (|C_MUL(a, tw)| <=
        |a| + 0.71), so after stage s a value is at most the mean |z| of the 4**s inputs
        it sums plus ~6 per stage of rounding; the split adds ~3. Stage 1 adds 4 values of
        at most 8191 and cannot overflow; every later value is within the mean of one of
        stage 2's 16-input groups (the inputs with equal c mod n/16), and |z| <= |re| +
        |im|: safe when each group's sum of |re| + |im| after the 2**s auto-scale stays
        16 * 64 below 16 * 32767. A peak of 32768 (-32768 where the window is 1.0) is
        MaxAbs16's order-dependent quirk: such frames go to the stage modules too. Safe
        frames also keep every amplitude below 2**21 (the fixed-point FFT nearly keeps
        Parseval's sum of squares, and the bank's weights are at most 1.0), which the
        streaming path relies on (no uint32 wrap of amp << 10).

        The check: view |windowed| as 16 rows of n/8 samples (sample 2c + t = row * n/8 +
        column); each group is two columns, so each column's sum times 2**s must stay
        below half the limit. As 2**s <= 2**15 / (peak + 1), that holds when
        v = sum * c - 1 + 2**-11 <= peak with c >= 2**15 / (half the limit), a multiple of
        2**-10: then v is never an integer, while the peak is. So the max over |windowed|
        and the v's is the peak exactly when it is an integer below 32768, and then the
        frame is safe; otherwise (a v won, or the quirk) it goes to the stage modules."""
        limit = RADIX ** 2 * (SAMP_MAX - INT16_MARGIN) / 2
        c = math.ceil(Q15 / limit * 1024) / 1024
        self.guard_weights = np.append(np.full(RADIX ** 2, c), 1.0)
        self.guard_bias = -1 + 2.0 ** -11
        # With shift 0, |windowed| <= 32768 * w: if the column sums of that bound stay
        # within the limit, every frame the auto-scale leaves alone (already at full
        # scale) is safe, whatever the one-max check said (full_scale_shift).
        bound = (Q15 * self.window_weights).reshape(RADIX ** 2, -1).sum(axis=0)
        self.full_scale_is_safe = bool(bound.max() <= limit)

    def _plan_split_and_bank(self, config):
        """kiss_fftr's split pairs bin k with bin n - k; list the pairs the filter bank's
        band needs (one run of k), where a stream's last stage leaves them (a batch's
        leaves them in natural order), and the bank over their energies."""
        n, bank, levels = self.n, config.filter_bank, self.levels
        band = range(bank.start_index, bank.end_index)
        bins = sorted({b for b in band if b < n // 2} | {n - b for b in band if b >= n // 2})
        self.bins = k = np.array(bins)
        if np.any(np.diff(k) != 1):   # [start, n/2) and (n - end, n/2] overlap or touch
            raise AssertionError("the bank's bins are not one run")

        def flat(freq, block, part):
            """Where a stream's last stage's float64 output holds (re or im, `part`) of
            Z[freq] (block 0) or of 1j * Z[freq] (block 1). Frequency f has the digits
            f = sum_t j_t 4**(t-1); the output rows are (j_1, ..., j_{L-1}), then columns
            (block, j_L)."""
            j = [(freq >> (2 * t)) & 3 for t in range(levels)]
            row = sum(j[t] * RADIX ** (levels - 2 - t) for t in range(levels - 1))
            return ((row * 2 + block) * RADIX + j[levels - 1]) * 2 + part
        # [fpk re, fpk im] and [fpnk re, fpnk im] with fpnk = conj(Z[n - k]) (to be halved).
        self.gather = np.stack([np.stack([flat(k, 0, 0), flat(k, 0, 1)], axis=1).reshape(-1),
                                np.stack([flat(n - k, 0, 0), flat(n - k, 1, 0)],
                                         axis=1).reshape(-1)])
        self.split_twiddles = self.super_twiddles[k - 1]
        # Rows [fpk, fpnk, tw, 1j] -> [(f1k + tw) / 2, (f1k - tw + 1j) / 2], f1k = fpk + fpnk.
        # Bin k is the first's floor (HALF_OF). Bin n - k is conj(f1k - tw) / 2 rounded down:
        # its imaginary part is floor(-x / 2) = -floor((x + 1) / 2), same square.
        self.split_matrix = np.array([[0.5, 0.5, 0.5, 0.0], [0.5, 0.5, -0.5, 0.5]])
        # The bank over the energies (form, pair); bin n/2 is written twice by kiss_fftr
        # and the second (the n - k form) stays. Channel columns are in (parity, pair)
        # order, as spectral subtraction pairs them.
        weights = config.filter_bank_matrix.astype(np.float64)
        bank_rows = np.zeros((2, k.size, 2 * self.pairs))
        column = (np.arange(self.num_channels) % 2) * self.pairs + np.arange(self.num_channels) // 2
        for form, freq, use in [(0, k, k < n // 2), (1, n - k, np.ones(k.size, bool))]:
            use &= (freq >= bank.start_index) & (freq < bank.end_index)
            bank_rows[form, np.flatnonzero(use)[:, None], column] = weights[:, freq[use]].T
        self.bank_matrix = bank_rows.reshape(-1, 2 * self.pairs)

    def _plan_noise_reduction(self, config):
        """One product per frame gives, per channel (even and odd channels smooth with
        different coefficients): the new estimate before its floor, what subtraction
        leaves of the signal (/ 2**smoothing_bits, see below), and the floor of
        min_signal_remaining.

        With S = signal << smoothing_bits (uint32) and e' = floor(R) the new estimate, the
        C code keeps max((S - min(e', S)) >> bits, signal * min_remaining >> 14). S - e' is
        ceil(S - R), and S - R is a multiple of 2**-14, so the first term is
        floor((S - R + 1 - 2**-14) / 2**bits): linear in (S, old estimate) before one
        floor, like the second; and max(floor(u), floor(v)) = floor(max(u, v)).
        Inputs per channel pair: rows [a even, a odd, est even, est odd, amp even, amp
        odd, 1], with a = amp mod 2**(32 - bits) so that S = a << bits wraps as in C.
        """
        nr = config.spectral_subtraction
        one, shift = float(1 << nr.spectral_subtraction_bits), float(1 << nr.smoothing_bits)
        self.wrap = np.array(float(1 << (32 - nr.smoothing_bits)))
        matrix = np.zeros((6, 7))
        for parity, (smooth, keep) in enumerate([(nr.smoothing, nr.one_minus_smoothing),
                                                 (nr.alternate_smoothing,
                                                  nr.alternate_one_minus_smoothing)]):
            a, est, amp = parity, 2 + parity, 4 + parity
            matrix[parity, a], matrix[parity, est] = shift * smooth / one, keep / one  # R
            matrix[2 + parity, a] = 1 - smooth / one                      # (S - R) / 2**bits
            matrix[2 + parity, est] = -keep / one / shift
            matrix[2 + parity, 6] = (1 - 1 / one) / shift
            matrix[4 + parity, amp] = nr.min_signal_remaining / one     # amp * 819 / 2**14
        self.noise_matrix = matrix
        # When no amplitude reaches 2**(32 - bits), a = amp: fold the a columns into amp's.
        self.noise_matrix_unwrapped = matrix.copy()
        self.noise_matrix_unwrapped[:, 4:6] += matrix[:, 0:2]
        self.noise_matrix_unwrapped[:, 0:2] = 0

    def _plan_pcan_and_log(self, config):
        """Gain segments of WideDynamicFunction, and the output's steps in the SNR."""
        # The gain reads x's bit length and the 10 bits below its leading one, and x <= 2
        # directly: constant on runs of 2**(bit length - 11) values (single values < 2**11).
        starts = [np.arange(3)] + [np.arange(max(1 << (e - 1), 3), 1 << e, 1 << max(0, e - 11))
                                   for e in range(2, 33)]
        starts = np.concatenate(starts).astype(np.uint64)
        gains = wide_dynamic_function(starts, config.pcan_lut).astype(np.float64)
        keep = np.concatenate([[True], gains[1:] != gains[:-1]])
        self.gain_breaks = starts[keep][1:].astype(np.float64)
        # snr = (signal * gain) >> snr_shift: pre-divide the gains, and let the steps
        # (integers) do the floor.
        self.gains = gains[keep] / float(1 << config.snr_shift)
        # The same as a table read by pcan_gains: one entry per run (their starts).
        keys = gain_key(starts.astype(np.float64))
        if np.unique(keys).size != keys.size:
            raise AssertionError("two gain runs share a table entry")
        self.gain_table = np.zeros(GAIN_FOLD)
        self.gain_table[keys] = gains / float(1 << config.snr_shift)
        # The largest SNR before its uint32 wrap: amp <= round(sqrt(2**31 * row sum)).
        amp_max = math.isqrt(2 ** 31 * int(config.filter_bank_matrix.sum(axis=1).max())) + 1
        snr_max = amp_max * int(gains.max()) >> config.snr_shift
        with np.errstate(over="ignore"):
            steps, logs = _log_steps(config)
        values = self._rescale(logs)
        changes = np.concatenate([[True], values[1:] != values[:-1]])
        steps, values = steps[changes], values[changes]
        periods = snr_max // UINT32 + 1   # the uint32 SNR wraps: repeat the steps
        self.snr_limit = periods * UINT32   # products cleaned * gain stay below this
        self.output_steps = np.concatenate(
            [steps[1:]] + [steps + float(r * UINT32) for r in range(1, periods)])
        self.output_values = np.tile(values, periods)

    def pcan_gains(self, estimates: np.ndarray) -> np.ndarray:
        """WideDynamicFunction(estimate) / 2**snr_shift for float64 estimates below 2**32
        (integers), by table: see gain_key."""
        return self.gain_table.take(np.right_shift(estimates.view(np.int64), GAIN_SHIFT),
                                    mode="wrap")

    def _rescale(self, logs: np.ndarray) -> np.ndarray:
        """The model's tail after SignalFilterBankLog: to int8, or to float32."""
        from tflm_edu.frontend.frontend import to_float32, to_int8
        if self.output_dtype == np.int8:
            return to_int8(logs)
        return to_float32(logs, self.config.params.legacy_output_scaling)

    # -- running a batch

    def workspace(self, frames: int) -> "_Frames":
        """Buffers for a batch of `frames` windows, reused by later batches (of this
        thread: two threads must not share them)."""
        cache = self._scratch.__dict__.setdefault("workspaces", {})
        if frames not in cache:
            if len(cache) >= 4:
                cache.clear()
            cache[frames] = _Frames(self, frames)
        return cache[frames]

    def features(self, windows: np.ndarray, noise_estimate: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
        """(frames, window_size) int16 windows and the noise estimate before them ->
        (frames, channels) features and the noise estimate after the last frame."""
        ws = self.workspace(len(windows))
        top = ws.window(windows)
        safe = (top == np.floor(top)) & (top < Q15)
        # MostSignificantBit32 of the peak is frexp's exponent; 0 has none (shift 0).
        shifts = np.where(top > 0, np.maximum(15 - np.frexp(top)[1], 0), 0)
        for row in np.flatnonzero(~safe):
            shift = ws.full_scale_shift(row)
            if shift is not None:
                shifts[row], safe[row] = shift, True
        ws.fft(shifts)
        for row in np.flatnonzero(~safe):
            ws.set_amplitudes(row, reference_amplitudes(self.config, windows[row]))
        ws.set_estimate(noise_estimate)
        np.fmod(ws.amplitudes, self.wrap, out=ws.wrapped)
        return ws.features(self.noise_matrix), ws.estimate(len(windows))


def full_scale_shift(fast: FastFrontend, magnitudes: np.ndarray, windowed: np.ndarray
                     ) -> int | None:
    """For a window the one-max check turned down (its |windowed| and windowed samples):
    shift 0 when the auto-scale leaves it alone (it is at full scale already) and such
    windows are always safe (see FastFrontend._plan_guard); else None (the stage modules
    take it). A peak of 32768 is MaxAbs16's quirk: its result comes from TFLM's
    order-dependent loop."""
    if not fast.full_scale_is_safe:
        return None
    peak = int(magnitudes.max())
    if peak >= Q15:
        peak = int(max_abs16(windowed[:fast.window_size].astype(np.int16)[None])[0])
    shift = max(15 - peak.bit_length(), 0) if peak > 0 else 0
    return shift if shift == 0 else None


def reference_amplitudes(config, window: np.ndarray) -> np.ndarray:
    """The stage modules' window -> square root half, for a frame the fast FFT skips."""
    from tflm_edu.frontend.frontend import channel_amplitudes
    return channel_amplitudes(config, window[None].astype(np.int16),
                              lambda *_: None)[0].astype(np.float64)


# ----------------------------------------------------------------------------- running

class _Frames:
    """The buffers for a batch of `frames` windows, and every view of them the steps use
    (made here once: per batch the steps are plain numpy calls).

    The frames are the innermost axis of every FFT array, so each call works on long
    contiguous runs whatever the stage. Stage s's input keeps the digits (q, j_{s-1},
    ..., j_1, c_{L-s-1}, ..., c_0, frame) with q = c_{L-s} first: its butterflies are one
    4 x 9 product from the left on [X, 1j X, (1 + 1j)] (see _BatchStage), which writes
    (j_s, ..., j_1, c..., frame); the next stage's twiddle product reads that with its q
    moved to the front. After the last stage the digits are (j_L, ..., j_1): natural
    frequency order, so kiss_fftr's bins k and n - k are two slices (n - k reversed).
    From the amplitudes on, arrays have frames first again (the noise estimate's
    recursion goes frame by frame)."""

    def __init__(self, fast: FastFrontend, frames: int):
        self.fast, self.frames = fast, frames
        n, pairs = fast.n, fast.pairs
        k0, k1 = int(fast.bins[0]), int(fast.bins[-1])
        bins = k1 - k0 + 1
        # SignalWindow's output, frames first (an even number of samples: z_c pairs them);
        # then per frame |windowed| zero padded to the FFT's 2n samples, as 16 rows of n/8
        # samples, a row of constants and the guard values (see FastFrontend._plan_guard):
        # one max gives the peak, or "unsafe".
        self.width = fast.window_size + fast.window_size % 2
        self.windowed = np.zeros((frames, self.width))
        self.guard = np.zeros((frames, RADIX ** 2 + 2, n // 8))
        self.guard[:, RADIX ** 2] = fast.guard_bias
        self.magnitudes = self.guard[:, :RADIX ** 2]
        self.magnitudes_head = self.magnitudes.reshape(frames, -1)[:, :self.width]   # a view
        self.guard_product = (self.guard[:, :-1], self.guard[:, -1])
        self.guard_flat = self.guard.reshape(frames, -1)
        # Every stage's input [X, 1j X, ones] and output share two buffers.
        self.x = np.zeros((2 * RADIX + 1, n // RADIX * frames), np.complex128)
        self.x[-1] = 1 + 1j
        self.x_real = self.x.view(np.float64)
        self.data, self.turned = self.x[:RADIX], self.x[RADIX:2 * RADIX]
        self.data_real = self.data.view(np.float64)
        self.out = np.zeros((2 * RADIX, n // RADIX * frames), np.complex128)
        self.out_real = self.out.view(np.float64)
        self.steps = []
        for stage in fast.batch_stages:
            rows = RADIX ** (stage.s - 1)
            rest = n // RADIX // rows * frames
            previous = self.out[:RADIX].reshape(rows, RADIX, rest).transpose(1, 0, 2) \
                if stage.s > 1 else None
            self.steps.append((stage, previous, self.data.reshape(RADIX, rows, rest),
                               self.out_real[:stage.matrix.shape[0]]))
        # kiss_fftr's split on rows [fpk, fpnk, tw, 1j], each (bins, frames) complex.
        z = self.out_real[:RADIX].reshape(n, frames, 2)           # Z, natural order
        turned_z = self.out_real[RADIX:].reshape(n, frames, 2)    # 1j Z
        self.split = np.zeros((4, bins, frames), np.complex128)
        self.split[3] = 1j
        self.split_real = self.split.view(np.float64).reshape(4, bins, frames, 2)
        mirror = slice(n - k0, n - k1 - 1, -1)                    # rows n - k
        # fpnk = conj(Z[n - k]): its real part is Re Z, its imaginary part Re(1j Z).
        self.gathers = [(z[k0:k1 + 1], self.split_real[0]),
                        (z[mirror, :, 0], self.split_real[1, ..., 0]),
                        (turned_z[mirror, :, 0], self.split_real[1, ..., 1])]
        self.difference = np.zeros((bins, frames), np.complex128)
        self.difference_real = self.difference.view(np.float64).reshape(bins, frames, 2)
        self.split_twiddles = fast.split_twiddles[:, None]
        self.split_lhs = self.split_real.reshape(4, -1)
        self.halves = np.zeros((2, bins, frames, 2))
        self.halves_flat = self.halves.reshape(2, -1)
        self.energy = np.zeros((2, bins, frames))
        self.bank = np.ascontiguousarray(fast.bank_matrix.T)     # (parity, pair) x (form, bin)
        self.channels = np.zeros((2 * pairs, frames))
        self.below_2_32 = np.zeros(self.channels.shape, bool)
        # Spectral subtraction inputs: frame f's rows [a, est, amp, 1] (see
        # _plan_noise_reduction) are noise[f]; its new estimate goes to noise[f + 1].
        self.noise = np.zeros((frames + 1, 7, pairs))
        self.noise[:, 6] = 1.0
        self.noise_out = np.zeros((frames, 6, pairs))
        self.amplitudes, self.wrapped = self.noise[:frames, 4:6], self.noise[:frames, 0:2]
        self.amplitudes_by_channel = self.amplitudes.transpose(1, 2, 0)   # (2, pairs, frames)
        self.recursion = [(self.noise[f], self.noise_out[f], self.noise_out[f, 0:2],
                           self.noise[f + 1, 2:4]) for f in range(frames)]
        self.estimates = self.noise[1:, 2:4]
        self.left, self.kept = self.noise_out[:, 2:4], self.noise_out[:, 4:6]
        self.cleaned = np.zeros((frames, 2, pairs))
        self.snr = np.zeros((frames, 2 * pairs))          # channel order
        self.snr_by_parity = self.snr.reshape(frames, pairs, 2).transpose(0, 2, 1)

    def set_estimate(self, estimate: np.ndarray) -> None:
        """Set the noise estimate before the first frame (channel order)."""
        self.noise[0, 2:4] = self._pairs(estimate)

    def estimate(self, frame: int) -> np.ndarray:
        """The noise estimate after `frame` frames, in channel order, as uint64."""
        return self.noise[frame, 2:4].T.reshape(-1)[:self.fast.num_channels].astype(np.uint64)

    def set_amplitudes(self, frame: int, amplitudes: np.ndarray) -> None:
        self.amplitudes[frame] = self._pairs(amplitudes)

    def channel_amplitudes(self, frame: int) -> np.ndarray:
        """Frame `frame`'s amplitudes in channel order."""
        return self.amplitudes[frame].T.reshape(-1)[:self.fast.num_channels]

    def _pairs(self, channels: np.ndarray) -> np.ndarray:
        padded = np.zeros(2 * self.fast.pairs)
        padded[:self.fast.num_channels] = channels
        return padded.reshape(-1, 2).T

    # -- SignalWindow, and SignalFftAutoScale's peak

    def window(self, samples: np.ndarray) -> np.ndarray:
        """SignalWindow, (x * w) >> 12 (exact in float64), from (frames, window_size)
        samples; then per frame the largest of |windowed| and the guard values (see
        FastFrontend._plan_guard)."""
        fast, windowed = self.fast, self.windowed
        head = windowed if self.width == fast.window_size else windowed[:, :fast.window_size]
        np.multiply(samples, fast.window_weights[:fast.window_size], head)
        np.floor(windowed, windowed)
        np.abs(windowed, self.magnitudes_head)
        lhs, out = self.guard_product
        np.matmul(fast.guard_weights, lhs, out=out)
        return np.maximum.reduce(self.guard_flat, axis=1)

    def full_scale_shift(self, frame: int) -> int | None:
        return full_scale_shift(self.fast, self.magnitudes[frame], self.windowed[frame])

    # -- SignalFftAutoScale, SignalRfft (kissfft), SignalEnergy, SignalFilterBank,
    #    SignalFilterBankSquareRoot

    def fft(self, shifts: np.ndarray) -> None:
        """From the windowed frames to the channel amplitudes, each frame with its
        auto-scale shift."""
        multiply, add, floor = np.multiply, np.add, np.floor
        data, data_real = self.data, self.data_real
        scale = np.exp2(shifts)[None, :]
        first_scale = np.repeat(self.fast.fixdiv4 * scale, 2, axis=1)   # for re and im
        by_frame = data.reshape(-1, self.frames)
        np.copyto(by_frame[:self.width // 2], self.windowed.view(np.complex128).T)
        by_frame[self.width // 2:] = 0                     # the FFT's zero padding
        multiply(data_real.reshape(-1, 2 * self.frames), first_scale,
                 data_real.reshape(-1, 2 * self.frames))   # << s, then C_FIXDIV(, 4)
        add(data_real, HALF, data_real)
        floor(data_real, data_real)
        for stage, previous, target, out_real in self.steps:
            if previous is not None:
                multiply(previous, stage.rotation, target)      # C_MUL by the twiddles
                add(data_real, HALF, data_real)
                floor(data_real, data_real)                     # its sround
            multiply(data, IMAG, self.turned)
            stage.matrix.dot(self.x_real, out_real)             # butterflies, C_FIXDIV
            if not stage.last:
                floor(out_real, out_real)
        self.split_and_bank()
        self.square_root(1 / scale)

    def split_and_bank(self) -> None:
        """kiss_fftr's split into the real signal's bins, SignalEnergy, SignalFilterBank."""
        floor, add = np.floor, np.add
        for source, target in self.gathers:                     # C_FIXDIV(, 2): fpk, fpnk
            floor(source, target)
        difference, difference_real = self.difference, self.difference_real
        np.subtract(self.split[0], self.split[1], difference)
        np.multiply(difference, self.split_twiddles, difference)   # C_MUL
        add(difference_real, HALF, difference_real)
        floor(difference_real, self.split_real[2])               # tw
        halves = self.halves
        self.fast.split_matrix.dot(self.split_lhs, self.halves_flat)
        floor(halves, halves)                                    # HALF_OF
        np.multiply(halves, halves, halves)
        add(halves[..., 0], halves[..., 1], self.energy)         # re^2 + im^2
        self.bank.dot(self.energy.reshape(-1, self.frames), self.channels)

    def square_root(self, amp_scale: np.ndarray) -> None:
        """FilterbankSqrt on the channels, `amp_scale` = 2**-s per frame, (1, frames):
        round(sqrt(x)) >> s. Sqrt32 (x < 2**32) cannot round up past
        65535, so x in (65535**2 + 65535, 2**32) is lowered to a value rounding to 65535.

        np.sqrt is correctly rounded, and for integers x < 2**49 no square root lies
        within its rounding error of a half-integer: floor(sqrt(x) + 1/2) is the nearest
        integer exactly (tests: every rounding edge up to 2**48). Times 2**-s, floor: >> s."""
        channels = self.channels
        np.less(channels, BELOW_2_32, self.below_2_32)
        np.minimum(channels, SQRT32_CAP, out=channels, where=self.below_2_32)
        np.sqrt(channels, channels)
        np.add(channels, HALF, channels)
        np.multiply(channels, amp_scale, channels)
        np.floor(channels.reshape(self.amplitudes_by_channel.shape), self.amplitudes_by_channel)

    # -- SignalFilterBankSpectralSubtraction, SignalPCAN, SignalFilterBankLog, output

    def features(self, matrix: np.ndarray) -> np.ndarray:
        """From the amplitudes (and the estimate before the first frame) to the features.
        `matrix`: fast.noise_matrix, or noise_matrix_unwrapped when no a was needed."""
        fast = self.fast
        dot, floor = matrix.dot, np.floor
        for inputs, out, estimate, new_estimate in self.recursion:  # frame after frame
            dot(inputs, out)
            floor(estimate, new_estimate)
        cleaned = self.cleaned
        np.maximum(self.left, self.kept, out=cleaned)
        floor(cleaned, cleaned)
        np.multiply(cleaned, fast.pcan_gains(self.estimates), self.snr_by_parity)
        steps = fast.output_steps.searchsorted(self.snr, side="right")
        return fast.output_values.take(steps[:, :fast.num_channels])


# ----------------------------------------------------------------------------- step tables

def _log_of_snr(config, snr: np.ndarray) -> np.ndarray:
    """The stage modules from the SNR on: PCAN's shrink, then SignalFilterBankLog."""
    return filter_bank_log(pcan_shrink(snr), config.log_output_scale,
                           config.correction_bits).astype(np.int64)


def _first_at_least(func, targets, low, high) -> np.ndarray:
    """Per element: the smallest integer x in [low, high] with func(x) >= target, where
    func is non-decreasing on that range and func(high) >= target (bisection, vectorised)."""
    low, high = np.array(low, np.uint64), np.array(high, np.uint64)
    found = func(low) >= targets
    high = np.where(found, low, high)
    while np.any(high - low > 1):
        mid = low + (high - low) // np.uint64(2)
        above = func(mid) >= targets
        high, low = np.where(above, mid, high), np.where(above, low, mid)
    return high


def _log_steps(config) -> tuple[np.ndarray, np.ndarray]:
    """SignalFilterBankLog(shrink(snr)) as a step function of the uint32 SNR: the first
    SNR of each step (starting with 0) and its log value.

    Log32 is monotone between its table-segment starts (see _log_pieces_are_monotone):
    list those starts in the log's input z = shrink << correction_bits, map each to the
    first SNR reaching it (shrink is non-decreasing), then bisect every change of value
    inside each piece."""
    shift, top = np.uint64(config.correction_bits), np.uint64(UINT32 - 1)
    z_starts = [np.array([0, 2])] + [
        (1 << e) + np.arange(0, 1 << e, 1 << max(0, e - LOG_SEGMENTS_LOG2))
        for e in range(1, 32)]
    z_starts = np.concatenate(z_starts).astype(np.uint64)

    def log_input(snr):
        return pcan_shrink(snr) << shift
    z_starts = z_starts[z_starts <= log_input(np.array([top]))[0]]
    starts = np.unique(_first_at_least(log_input, z_starts, 0, top))
    ends = np.append(starts[1:] - np.uint64(1), top)
    first, last = _log_of_snr(config, starts), _log_of_snr(config, ends)
    if np.any(last < first):
        raise AssertionError("the log is not monotone within a table segment")
    # One bisection per value change inside a piece.
    piece = np.repeat(np.arange(starts.size), last - first)
    targets = np.concatenate([np.arange(a + 1, b + 1) for a, b in zip(first, last)]
                             + [np.zeros(0, np.int64)])
    inner = _first_at_least(lambda x: _log_of_snr(config, x), targets,
                            starts[piece], ends[piece])
    steps = np.unique(np.concatenate([starts, inner]))
    return steps.astype(np.float64), _log_of_snr(config, steps)
