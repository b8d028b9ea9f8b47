"""Make datasets/speech_commands_synth/: spoken keywords from eSpeak NG, in Speech Commands layout.

Run once by a maintainer (the clips are committed; nothing runs this at run time):

    apt-get install espeak-ng
    python datasets/make_speech_bundle.py

Each "speaker" is one eSpeak NG accent + voice variant; each says every keyword
twice (two takes at different speed and pitch) and a few unknown words once. A
clip is trimmed of silence, resampled from eSpeak's 22050 Hz to 16 kHz, given a
random peak level and centred in one second of 16-bit mono - the format of Speech
Commands. Files are named <speaker hash>_nohash_<take>.wav, so the Speech Commands
split (which_set) keeps every speaker in one set. The background noise clips are
computed (white, pink, brown noise, mains hum, babble of other words).

Deterministic: the same eSpeak NG version gives byte-identical files.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
from tflm_edu.datasets.speech_commands import which_set, write_wav  # noqa: E402

OUT = ROOT / "speech_commands_synth"
RATE = 16000
KEYWORDS = ("yes", "no")
UNKNOWN = ("up", "down", "left", "right", "on", "off", "stop", "go")
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
           "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
            "klatt", "klatt2", "klatt3", "Andy", "Annie", "Gene", "Lee", "Mike", "adam",
            "anika", "aunty", "belinda", "david", "linda", "max", "paul", "steph", "travis")
SPEAKERS = 20          # x 2 takes = 40 clips per keyword
UNKNOWN_PER_WORD = 5   # 8 words x 5 = 40 unknown clips
NOISE_SECONDS = 3


def speak(text: str, voice: str, speed: int, pitch: int) -> tuple[np.ndarray, int]:
    """eSpeak NG's rendering of text as float samples and their rate."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "out.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch),
                        "-w", str(path), text], check=True, capture_output=True)
        with wave.open(str(path)) as w:
            rate, raw = w.getframerate(), w.readframes(w.getnframes())
    return np.frombuffer(raw, "<i2").astype(np.float64) / 32768.0, rate


def trim(x: np.ndarray, threshold: float = 0.02) -> np.ndarray:
    """Cut the leading and trailing silence eSpeak adds."""
    loud = np.flatnonzero(np.abs(x) > threshold * np.abs(x).max())
    return x[loud[0]:loud[-1] + 1]


def resample(x: np.ndarray, rate: int, new_rate: int = RATE) -> np.ndarray:
    """Band-limited resampling by the FFT (zero padding around it tames edge ringing)."""
    pad = rate // 50
    x = np.pad(x, pad)
    n = int(round(len(x) * new_rate / rate))
    spectrum = np.fft.rfft(x)[: n // 2 + 1]
    y = np.fft.irfft(spectrum, n) * n / len(x)
    cut = int(round(pad * new_rate / rate))
    return y[cut:len(y) - cut]


def one_second(x: np.ndarray, peak: float) -> np.ndarray:
    """Scale to the given peak and centre in one second of int16."""
    x = x[:RATE] * peak / (np.abs(x).max() + 1e-12)
    out = np.zeros(RATE)
    start = (RATE - len(x)) // 2
    out[start:start + len(x)] = x
    return np.round(out * 32767).astype(np.int16)


def clip(word: str, voice: str, rng) -> np.ndarray:
    samples, rate = speak(word, voice, int(rng.integers(110, 200)), int(rng.integers(20, 80)))
    return one_second(resample(trim(samples), rate), rng.uniform(0.25, 0.9))


def speaker_id(voice: str, index: int) -> str:
    """An 8-hex-digit name for a voice that which_set() puts where we want it.

    Twenty speakers are too few for a 10% hash split to be reliably non-empty, so
    the name is searched for: speakers 0 and 10 land in validation, 1 and 11 in
    testing, the rest in training - which_set() itself then reproduces the split.
    """
    target = {0: "validation", 1: "testing"}.get(index % 10, "training")
    for salt in range(10000):
        name = hashlib.sha1(f"{voice}/{salt}".encode()).hexdigest()[:8]
        if which_set(f"{name}_nohash_0.wav", 10, 10) == target:
            return name
    raise RuntimeError("no name found")


def make_words(rng) -> list[str]:
    """All keyword and unknown clips; returns their 'word/file.wav' names."""
    names = []
    accents = [ACCENTS[i % len(ACCENTS)] for i in range(SPEAKERS)]
    variants = rng.permutation(VARIANTS)[:SPEAKERS]
    voices = [f"{a}+{v}" for a, v in zip(accents, variants)]
    ids = {voice: speaker_id(voice, i) for i, voice in enumerate(voices)}
    for word in KEYWORDS:
        for voice in voices:
            for take in range(2):
                names.append(save(word, ids[voice], take, clip(word, voice, rng)))
    for word in UNKNOWN:
        for voice in rng.permutation(voices)[:UNKNOWN_PER_WORD]:
            names.append(save(word, ids[voice], 0, clip(word, voice, rng)))
    return names


def save(word: str, speaker: str, take: int, samples: np.ndarray) -> str:
    name = f"{word}/{speaker}_nohash_{take}.wav"
    (OUT / word).mkdir(parents=True, exist_ok=True)
    write_wav(OUT / name, samples)
    return name


def coloured_noise(rng, n: int, exponent: float) -> np.ndarray:
    """Noise whose power falls as 1/f**exponent: 0 white, 1 pink, 2 brown."""
    spectrum = np.fft.rfft(rng.normal(0, 1, n))
    f = np.maximum(np.fft.rfftfreq(n, 1 / RATE), 20.0)
    return np.fft.irfft(spectrum / f ** (exponent / 2), n)


def babble(rng, n: int) -> np.ndarray:
    """Many unknown words by many voices, overlapping: speech-like noise."""
    out = np.zeros(n)
    for _ in range(24):
        voice = f"{rng.choice(ACCENTS)}+{rng.choice(VARIANTS)}"
        word = resample(trim(speak(str(rng.choice(UNKNOWN)), voice, 170, 50)[0]), 22050)
        start = int(rng.integers(0, n - len(word)))
        out[start:start + len(word)] += word * rng.uniform(0.3, 1.0)
    return out


def make_noise(rng) -> None:
    n = NOISE_SECONDS * RATE
    t = np.arange(n) / RATE
    noises = {
        "white_noise": rng.normal(0, 1, n),
        "pink_noise": coloured_noise(rng, n, 1.0),
        "brown_noise": coloured_noise(rng, n, 2.0),
        "mains_hum": sum(np.sin(2 * np.pi * 50 * k * t + rng.uniform(0, 6)) / k for k in (1, 2, 3, 5))
        + 0.05 * rng.normal(0, 1, n),
        "babble": babble(rng, n),
    }
    folder = OUT / "_background_noise_"
    folder.mkdir(parents=True, exist_ok=True)
    for name, x in noises.items():
        x = x / np.abs(x).max() * 0.5
        write_wav(folder / f"{name}.wav", np.round(x * 32767).astype(np.int16))


def write_lists(names: list[str]) -> None:
    """validation_list.txt / testing_list.txt as Speech Commands ships them (10% / 10%)."""
    for which in ("validation", "testing"):
        chosen = [n for n in names if which_set(n, 10, 10) == which]
        (OUT / f"{which}_list.txt").write_text("".join(f"{n}\n" for n in chosen))


def main() -> None:
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng not found: apt-get install espeak-ng")
    for child in OUT.iterdir() if OUT.exists() else []:
        if child.is_dir():
            shutil.rmtree(child)
    rng = np.random.default_rng(20240611)
    names = make_words(rng)
    make_noise(rng)
    write_lists(names)
    print(f"wrote {len(names)} clips and noise to {OUT}")


if __name__ == "__main__":
    main()
