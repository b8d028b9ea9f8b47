"""The fast path for a stream: one window per 20 ms chunk, in as few numpy calls as it takes.

fast_path.FastFrontend plans the pipeline's arithmetic once, and its batch workspace runs
it on many windows at a time, so each numpy call's fixed cost is shared by all of them.
A stream pays that cost every 20 ms for a single window, and there a call's fixed cost
(~0.3-0.5 us) outweighs its arithmetic: the time is the number of calls. So a stream has
its own layout, in which each step is one call on a contiguous array (a broadcast or a
strided view costs about a microsecond more) and no call only moves data:

* The audio goes into a ring buffer: one copy per chunk; the window is a view of it.
* kissfft's stages keep fast_path._Stage's digit layout (left stages, then right ones).
  Frames being one, every stage's data is a single contiguous run, so the twiddle
  products and roundings are calls on flat arrays.
* Rounding is floor(x + 1/2); a left stage's matrix adds the 1/2 itself (a row of ones
  in its input), so there only the floor is a call.
* One filter bank matrix for every shift (the auto-scale's 2**-s is one more call): with
  a bank per shift, frames of changing loudness keep evicting them from the cache.
* Spectral subtraction alternates between two buffers of rows [a, estimate, amplitude,
  1]: its product writes [leftover, new estimate, min_signal_remaining term, 1], the
  next frame's layout, so one floor makes the estimate and the cleaned signal's two
  terms, and the estimate is already where the next frame reads it.
* Methods where numpy's functions dispatch in Python first (a.dot, a.take): ~0.2 us each.

MicroSpeechFrontend.process runs this. tests/test_frontend_fast_paths.py and
tests/test_frontend_fast.py prove it equal to the stage modules and to TFLM.
"""
from __future__ import annotations

import numpy as np

from tflm_edu.frontend.fast_path import (BELOW_2_32, HALF, IMAG, Q15, RADIX, SQRT32_CAP,
                                         FastFrontend, full_scale_shift, reference_amplitudes)

RING_CHUNKS = 32   # chunks the audio ring holds before it wraps around (one extra copy)


class FastStream:
    """One stream's state - its recent audio and noise estimate - and its buffers.

    `push(chunk)` takes the next chunk (window_stride int16 samples) and returns the
    features of the window it completes, or None: SignalWindow and the auto-scale's
    shift (window), the FFT to the bank (fft; its calls are listed once as (function,
    arguments) pairs), square_root, and the rest (features).
    """

    def __init__(self, fast: FastFrontend):
        self.fast = fast
        self.num_channels = fast.num_channels
        self._plan_audio()
        self._plan_window()
        self._plan_fft()
        self._plan_split_and_bank()
        self._plan_noise()
        self.reset()

    def __repr__(self):
        return (f"FastStream({self.fast.window_size}-sample windows every {self.fast.stride}, "
                f"{self.pending} samples pending, {len(self.fft_calls) + 3} FFT calls)")

    # -- planning: the buffers, and the views the calls use

    def _plan_audio(self):
        """A ring of samples: a chunk is copied in once, and a window is a view of the
        last `held` samples (the chunks that end it)."""
        fast = self.fast
        stride = fast.stride
        self.held = -(-fast.window_size // stride) * stride
        keep = self.held - stride   # samples to carry to the front when the ring wraps
        self.ring = np.zeros(keep + RING_CHUNKS * stride)
        self.carry = (self.ring[:keep], self.ring[self.ring.size - keep:])
        # Where the next chunk goes -> (its slot, the window it completes).
        self.slots = {start: (self.ring[start:start + stride],
                              self.ring[start - keep:start - keep + fast.window_size])
                      for start in range(keep, self.ring.size - stride + 1, stride)}
        self.first_slot = keep

    def _plan_window(self):
        """SignalWindow into a zero-padded FFT input, then |windowed| and the guard values
        (FastFrontend._plan_guard): one array whose max decides the shift."""
        fast = self.fast
        self.weights = fast.window_weights[:fast.window_size]
        self.windowed = np.zeros(2 * fast.n)
        self.windowed_head = self.windowed[:fast.window_size]
        self.guard = np.zeros((RADIX ** 2 + 2, fast.n // 8))
        self.guard[RADIX ** 2] = fast.guard_bias
        self.magnitudes = self.guard[:RADIX ** 2].reshape(-1)
        self.guard_in, self.guard_out = self.guard[:-1], self.guard[-1]
        self.guard_flat = self.guard.reshape(-1)

    def _plan_fft(self):
        """The FFT's calls after stage 1's input. A left stage reads [X, 1j X, (1 + 1j)]
        (its matrix adds the 1/2 for the ones); a right stage's output gets its 1/2 by a
        call. Stage 1's input (the auto-scale) depends on the shift: see fft()."""
        fast = self.fast
        calls, previous = [], None
        for stage in fast.stages:
            rows = stage.rows
            if stage.left:
                x = np.zeros((2 * rows + 1, stage.cols), np.complex128)
                x[-1] = 1 + 1j
                data, turned = x[:rows].reshape(-1), x[rows:2 * rows].reshape(-1)
                out = np.zeros((rows, 2 * stage.cols))
                product = (stage.matrix.dot, (x.view(np.float64), out))
            else:
                x = np.zeros((rows, stage.matrix.shape[0] // 2), np.complex128)
                data, turned = x.reshape(-1), None
                out = np.zeros((rows, stage.matrix.shape[1]))
                product = (x.view(np.float64).dot, (stage.matrix, out))
            data_real = data.view(np.float64)
            if previous is None:
                self.first_input = data_real
            else:   # C_MUL by the twiddles, and its sround
                calls += [(np.multiply, (previous, stage.rotation.reshape(-1), data)),
                          (np.add, (data_real, HALF, data_real)),
                          (np.floor, (data_real, data_real))]
            if turned is not None:
                calls.append((np.multiply, (data, IMAG, turned)))
            calls.append(product)                  # the butterflies, the next C_FIXDIV
            out_flat = out.reshape(-1)
            if not stage.last:
                if not stage.left:
                    calls.append((np.add, (out_flat, HALF, out_flat)))
                calls.append((np.floor, (out_flat, out_flat)))
            previous = out_flat.view(np.complex128)
        self.fft_calls, self.last = calls, out_flat

    def _plan_split_and_bank(self):
        """kiss_fftr's split on rows [fpk, fpnk, tw, 1j] (fast_path's bin pairs), the
        energies in (form, bin) order, and the bank's columns in (parity, pair) order, as
        spectral subtraction pairs them."""
        fast = self.fast
        bins = len(fast.bins)
        self.split = np.zeros((4, bins), np.complex128)
        self.split[3] = 1j
        self.split_real = self.split.view(np.float64)
        self.difference = np.zeros(bins, np.complex128)
        self.difference_real = self.difference.view(np.float64)
        self.halves = np.zeros((2, 2 * bins))
        halves_flat = self.halves.reshape(-1)
        self.squares = (halves_flat[0::2], halves_flat[1::2])
        self.energy = np.zeros(2 * bins)
        self.channels = np.zeros(2 * fast.pairs)
        self.below_2_32 = np.zeros(2 * fast.pairs, bool)
        self.amp_scale = [np.array(2.0 ** -s) for s in range(16)]   # >> s

    def _plan_noise(self):
        """Two buffers of rows [a even, a odd, est even, est odd, amp even, amp odd, 1]
        over the channel pairs (see FastFrontend._plan_noise_reduction). The product maps
        the current buffer into the other in this row order: [what subtraction leaves
        (in the a rows: the unwrapped matrix ignores them), the new estimate, the
        min_signal_remaining term (then overwritten by the next amplitudes), 1]."""
        fast = self.fast
        pairs = fast.pairs
        self.noise = np.zeros((2, 7, pairs))
        self.noise[:, 6] = 1.0
        self.matrices = {}
        for name, matrix in [("unwrapped", fast.noise_matrix_unwrapped),
                             ("wrapped", fast.noise_matrix)]:
            # fast's rows: [R even, R odd, leftover even, odd, kept even, odd]
            m = np.zeros((7, 7))
            m[0:2], m[2:4], m[4:6], m[6, 6] = matrix[2:4], matrix[0:2], matrix[4:6], 1.0
            self.matrices[name] = m
        self.cleaned = np.zeros((2, pairs))
        self.snr = np.zeros((2, pairs))
        self.snr_by_channel = self.snr.T       # (pair, parity): channel order
        # Per parity: the current buffer, the following one (flat, as the floor takes
        # it), and the views: this frame's amplitudes, the next estimate, the two terms
        # of the cleaned signal.
        self.sides = [(self.noise[p], self.noise[1 - p], self.noise[1 - p].reshape(-1),
                       self.noise[p, 4:6].reshape(-1), self.noise[1 - p, 2:4],
                       self.noise[1 - p, 0:2], self.noise[1 - p, 4:6]) for p in (0, 1)]

    # -- state

    def reset(self) -> None:
        self.ring[:] = 0
        self.position = self.first_slot
        self.pending = 0
        self.parity = 0
        self.noise[:, :6] = 0

    @property
    def noise_estimate(self) -> np.ndarray:
        """The current estimate in channel order, as uint64."""
        estimate = self.noise[self.parity, 2:4].T.reshape(-1)[:self.num_channels]
        return estimate.astype(np.uint64)

    @noise_estimate.setter
    def noise_estimate(self, value: np.ndarray) -> None:
        padded = np.zeros(2 * self.fast.pairs)
        padded[:self.num_channels] = value
        self.noise[self.parity, 2:4] = padded.reshape(-1, 2).T

    # -- running

    def push(self, chunk: np.ndarray):
        """Append one chunk; when a window is complete, return its features."""
        fast = self.fast
        if self.position not in self.slots:   # the ring is full: carry the tail over
            np.copyto(*self.carry)
            self.position = self.first_slot
        slot, window = self.slots[self.position]
        slot[...] = chunk
        self.position += fast.stride
        self.pending = min(self.pending + fast.stride, self.held)
        if self.pending < fast.window_size:
            return None
        self.pending -= fast.stride
        shift = self.window(window)
        if shift is None:   # the stage modules' amplitudes, and the full matrix
            self.set_amplitudes(reference_amplitudes(fast.config, window), wrapped=True)
            return self.features(self.matrices["wrapped"])
        self.fft(shift)
        self.square_root(shift)
        return self.features(self.matrices["unwrapped"])   # safe: amplitudes below 2**21

    def window(self, samples: np.ndarray) -> int | None:
        """SignalWindow, (x * w) >> 12 (exact in float64); then the auto-scale's shift,
        or None where the guard turns the window down."""
        windowed = self.windowed_head
        np.multiply(samples, self.weights, windowed)
        np.floor(windowed, windowed)
        np.abs(self.windowed, self.magnitudes)
        self.fast.guard_weights.dot(self.guard_in, self.guard_out)
        top = float(np.maximum.reduce(self.guard_flat))
        if top < Q15 and top.is_integer():          # the peak, and the FFT is safe
            return max(15 - int(top).bit_length(), 0) if top else 0
        return full_scale_shift(self.fast, self.magnitudes, self.windowed)

    def fft(self, shift: int) -> None:
        """The fast FFT of the windowed samples, kiss_fftr's split, SignalEnergy and the
        bank, into the channels ((parity, pair) order)."""
        fast, add, floor, multiply = self.fast, np.add, np.floor, np.multiply
        data = self.first_input                          # << s, then C_FIXDIV(, 4)
        multiply(self.windowed, fast.first_scale[shift], data)
        add(data, HALF, data)
        floor(data, data)
        for call, args in self.fft_calls:
            call(*args)
        split_real, difference_real = self.split_real, self.difference_real
        fp = self.last.take(fast.gather)                # C_FIXDIV(, 2) of Z and conj Z
        add(fp, HALF, fp)
        floor(fp, split_real[0:2])                      # fpk, fpnk
        np.subtract(self.split[0], self.split[1], self.difference)
        multiply(self.difference, fast.split_twiddles, self.difference)   # C_MUL
        add(difference_real, HALF, difference_real)
        floor(difference_real, split_real[2])           # tw
        halves = self.halves
        fast.split_matrix.dot(split_real, halves)
        floor(halves, halves)                           # HALF_OF
        multiply(halves, halves, halves)
        add(*self.squares, self.energy)                 # re^2 + im^2
        self.energy.dot(fast.bank_matrix, self.channels)

    def square_root(self, shift: int) -> None:
        """FilterbankSqrt as the batch path's square_root (the cap below 2**32, the
        rounded root, >> s), into this frame's amplitudes."""
        channels, below_2_32 = self.channels, self.below_2_32
        np.less(channels, BELOW_2_32, below_2_32)
        np.minimum(channels, SQRT32_CAP, out=channels, where=below_2_32)
        np.sqrt(channels, channels)
        np.add(channels, HALF, channels)
        np.multiply(channels, self.amp_scale[shift], channels)
        np.floor(channels, self.sides[self.parity][3])

    def set_amplitudes(self, values: np.ndarray, wrapped: bool = False) -> None:
        """This frame's amplitudes, in channel order; `wrapped`: also the copy (a) that
        the full spectral-subtraction matrix reads."""
        current, amplitudes = self.sides[self.parity][0], self.sides[self.parity][3]
        padded = np.zeros(2 * self.fast.pairs)
        padded[:self.num_channels] = values
        amplitudes[:] = padded.reshape(-1, 2).T.reshape(-1)
        if wrapped:
            np.fmod(current[4:6], self.fast.wrap, out=current[0:2])

    def features(self, matrix: np.ndarray) -> np.ndarray:
        """Spectral subtraction (one product, one floor: the estimate lands where the
        next frame reads it), PCAN's gain by the estimate, and the step table from the
        SNR to the output; then the other buffer is current."""
        fast = self.fast
        current, following, following_flat, _, estimate, left, kept = self.sides[self.parity]
        matrix.dot(current, following)
        np.floor(following_flat, following_flat)
        np.maximum(left, kept, out=self.cleaned)
        self.parity = 1 - self.parity
        np.multiply(self.cleaned, fast.pcan_gains(estimate), self.snr)
        steps = fast.output_steps.searchsorted(self.snr_by_channel, side="right")
        features = fast.output_values.take(steps).reshape(-1)
        return features if features.size == self.num_channels else \
            features[:self.num_channels]
