"""Stage 5, SignalFilterBank: pool the FFT energies into 40 triangular mel-spaced channels.

Mirrors signal/src/filter_bank.cc (FilterbankAccumulateChannels) and
signal/micro/kernels/filter_bank.cc for the arithmetic, and the weight generator
_init_filter_bank_weights() / calc_start_end_indices() in
python/tflite_micro/signal/ops/filter_bank_ops.py (with FreqToMel of
python/tflite_micro/signal/utils/freq_to_mel_wrapper.cc) for the constants, which the
generator stored in the .tflite as five int16 tensors.

How the bank works: channel c's triangle rises from the centre of channel c-1 to its own
centre, then falls to the centre of channel c+1. Each FFT bin between two centres feeds
two neighbours: `weight` (in Q12) to the channel whose centre lies above it, and
`unweight` = 1 - weight to the one below. TFLM walks the bins once per band, keeping two
running sums; because the sums are exact integers, one dense (channels x bins) matrix
gives the same numbers. The C code multiplies each int16 weight by a uint64 energy and
adds in uint64, that is modulo 2**64; an int64 numpy matrix product wraps the same way,
so it is exact even for the negative weights a hand-made bank may hold.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

FILTER_BANK_WEIGHT_SCALING_BITS = 12


def freq_to_mel(freq: float) -> np.float32:
    """1127 * ln(1 + freq / 700) in float32, as TFLM's FreqToMel computes it.

    The C code divides and multiplies in float and calls log1pf. Taking log1p in double
    and rounding it once to float32 gives the same float32 for every value the
    micro_speech generator needs (tests compare the resulting tables with the model's).
    """
    ratio = np.float32(freq) / np.float32(700.0)
    return np.float32(1127.0) * np.float32(math.log1p(float(ratio)))


def _center_mel_freqs(count: int, lower_hz: float, upper_hz: float) -> np.ndarray:
    """`count` mel values evenly spaced above freq_to_mel(lower_hz), all in float32."""
    mel_lower, mel_upper = freq_to_mel(lower_hz), freq_to_mel(upper_hz)
    spacing = (mel_upper - mel_lower) / np.float32(count)
    return mel_lower + spacing * np.arange(1, count + 1, dtype=np.float32)


def _channel_bins(centers, start_index: int, hz_per_bin: float):
    """First pass: the first FFT bin of each channel and how many bins it takes.

    A bin belongs to the first channel whose centre is at or above the bin's mel value,
    so the bins are dealt out in order and each channel starts where the last one ended.
    """
    starts, widths, freq_index = [], [], start_index
    for center in centers:
        first = freq_index
        while freq_to_mel(freq_index * hz_per_bin) <= center:
            freq_index += 1
        starts.append(first)
        widths.append(freq_index - first)
    return starts, widths


def _padded_layout(starts, widths, index_alignment: int, block: int):
    """Where each channel reads: a start bin rounded down to the alignment, and a width
    padded up to whole blocks (the padding carries zero weights), plus where its weights
    begin in the weights array. Empty channels all point at one shared block of zeros,
    which is put first, so every earlier channel's weights move up by one block.
    """
    count = len(starts)
    freq_starts, weight_starts, padded = (np.zeros(count, np.int16) for _ in range(3))
    next_weight, zeros_added = 0, False
    for chan, (start, width) in enumerate(zip(starts, widths)):
        if width == 0:
            freq_starts[chan], weight_starts[chan], padded[chan] = 0, 0, block
            if not zeros_added:
                zeros_added = True
                weight_starts[:chan] += block
                next_weight += block
            continue
        aligned = start // index_alignment * index_alignment
        width_from_aligned = start - aligned + width
        padded[chan] = ((width_from_aligned - 1) // block + 1) * block
        freq_starts[chan], weight_starts[chan] = aligned, next_weight
        next_weight += int(padded[chan])
    return freq_starts, weight_starts, padded, next_weight


def _quantize_weight(weight: np.float32, scaling_bits: int) -> tuple[int, int]:
    """A float32 weight in [0, 1] -> (weight, 1 - weight) in Q`scaling_bits`, truncated."""
    one = np.float32(1 << scaling_bits)
    return int(weight * one), int((np.float32(1.0) - weight) * one)


@dataclass(frozen=True, eq=False)
class FilterBankConfig:
    """The op's five constant tensors plus the FFT bin range the bank reads.

    Each array has num_channels + 1 entries: entry 0 is an extra channel below the first
    whose only job is to provide the falling half of channel 1 (its own sum is dropped).
    """
    num_channels: int
    start_index: int
    end_index: int
    weights: np.ndarray
    unweights: np.ndarray
    channel_frequency_starts: np.ndarray
    channel_weight_starts: np.ndarray
    channel_widths: np.ndarray

    def __repr__(self):
        return (f"FilterBankConfig({self.num_channels} channels over FFT bins "
                f"{self.start_index}..{self.end_index - 1}, {self.weights.size} weights)")

    def matrix(self, spectrum_size: int) -> np.ndarray:
        """The bank as a dense int64 (num_channels, spectrum_size) matrix.

        Output channel c (op output c) is channel c+1's weights plus channel c's unweights,
        exactly the two running sums of FilterbankAccumulateChannels.
        """
        rows = np.zeros((self.num_channels + 1, spectrum_size), dtype=np.int64)
        for chan in range(self.num_channels + 1):
            width = int(self.channel_widths[chan])
            bins = int(self.channel_frequency_starts[chan]) + np.arange(width)
            taps = int(self.channel_weight_starts[chan]) + np.arange(width)
            if bins.size and bins[-1] >= spectrum_size:
                raise ValueError(f"channel {chan} reads bin {bins[-1]} of {spectrum_size}")
            np.add.at(rows[chan], bins, self.weights[taps])
            if chan < self.num_channels:
                np.add.at(rows[chan + 1], bins, self.unweights[taps])
        return rows[1:]


def _channel_weights(centers, mel_low, starts, widths, layout, hz_per_bin, scaling_bits):
    """Second pass: each bin's (weight, unweight), placed at its padded slot."""
    freq_starts, weight_starts, _, num_weights = layout
    weights, unweights = np.zeros(num_weights, np.int16), np.zeros(num_weights, np.int16)
    for chan, center in enumerate(centers):
        below = np.float32(mel_low) if chan == 0 else centers[chan - 1]
        span = np.float32(center - below)
        first_slot = int(weight_starts[chan]) + starts[chan] - int(freq_starts[chan])
        for j in range(widths[chan]):
            distance = np.float32(center - freq_to_mel((starts[chan] + j) * hz_per_bin))
            weights[first_slot + j], unweights[first_slot + j] = _quantize_weight(
                distance / span, scaling_bits)
    return weights, unweights


def init_filter_bank(spectrum_size: int, sample_rate: int, num_channels: int,
                     lower_band_limit: float, upper_band_limit: float, alignment: int = 4,
                     channel_block_size: int = 4,
                     scaling_bits: int = FILTER_BANK_WEIGHT_SCALING_BITS) -> FilterBankConfig:
    """Build the filter bank the generator builds (alignment in bytes of int16 weights)."""
    index_alignment = max(alignment // np.dtype(np.int16).itemsize, 1)
    centers = _center_mel_freqs(num_channels + 1, lower_band_limit, upper_band_limit)
    # As in the HTK toolkit, the bins span DC..Nyquist over spectrum_size - 1 steps, and
    # the first bin used is the one just above the lower band limit.
    hz_per_bin = (sample_rate / 2) / (spectrum_size - 1)
    start_index = round(1 + lower_band_limit / hz_per_bin)
    starts, widths = _channel_bins(centers, start_index, hz_per_bin)
    layout = _padded_layout(starts, widths, index_alignment, channel_block_size)
    weights, unweights = _channel_weights(centers, freq_to_mel(lower_band_limit), starts,
                                          widths, layout, hz_per_bin, scaling_bits)
    end_index = max(s + w for s, w in zip(starts, widths))
    if end_index >= spectrum_size:
        raise ValueError("the upper band limit lies beyond the spectrum")
    return FilterBankConfig(num_channels, start_index, end_index, weights, unweights,
                            layout[0], layout[1], layout[2])


def filter_bank(energy: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(..., bins) uint32 energies -> (..., channels) uint64 channel sums, exactly
    (modulo 2**64, as the C code's uint64 accumulators)."""
    sums = np.asarray(energy).astype(np.int64) @ matrix.astype(np.int64).T
    return sums.view(np.uint64)
