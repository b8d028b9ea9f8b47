"""The micro_speech audio frontend, rebuilt stage by stage from TFLM's signal library.

From 1 s of 16 kHz int16 audio to the 49 x 40 int8 features the micro_speech model reads,
byte-identical to what the real TFLM computes with audio_preprocessor_int8.tflite:

    micro_speech_features(samples)          # (49, 40) int8, from a fresh (reset) state
    fe = MicroSpeechFrontend()              # streaming: fe.process(next_320_samples)

One module per signal-library op, in pipeline order: window, fft (with kiss_fft),
energy, filter_bank, square_root, noise_reduction, pcan, log_scale; frontend.py wires
them together the way audio_preprocessor.py does. fast_path.py computes the same bytes
with a few numpy calls per batch of windows, fast_stream.py per 20 ms chunk, and they are
what runs by default (MicroSpeechFrontend(fast=False) runs the stage modules).
"""
from tflm_edu.frontend.frontend import (FeatureParams, FrontendConfig, MicroSpeechFrontend,
                                        log_features, micro_speech_features, prepare,
                                        to_float32, to_int8)

__all__ = ["micro_speech_features", "MicroSpeechFrontend", "FeatureParams", "FrontendConfig",
           "prepare", "log_features", "to_int8", "to_float32"]
