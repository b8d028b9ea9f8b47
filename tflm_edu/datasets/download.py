"""Fetch a full dataset into a folder you choose - for learners with a network.

Nothing in tflm_edu calls this on its own: tests and notebooks use the bundled
samples in datasets/. Offline, download() fails with one line saying what to fetch
by hand and where to put it. Archives are unpacked with tarfile's 'data' filter,
which refuses absolute paths and links out of the target folder.
"""
from __future__ import annotations

import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tflm_edu.datasets.errors import DatasetError


@dataclass(frozen=True)
class Source:
    url: str
    size: str
    unpacks_to: str  # the folder to hand to the loader, relative to dest
    loader: str


SOURCES = {
    # Speech Commands v2 (Warden 2018), CC BY 4.0; the archive has no top folder.
    "speech_commands": Source(
        "https://storage.googleapis.com/download.tensorflow.org/data/speech_commands_v0.02.tar.gz",
        "2.3 GB", "speech_commands", "SpeechCommands(folder)"),
    # magic_wand's recordings, as the example's train/README linked them.
    "magic_wand": Source(
        "https://storage.googleapis.com/download.tensorflow.org/models/tflite/magic_wand/data.tar.gz",
        "a few MB", "magic_wand", "load_magic_wand(folder)"),
    # Visual Wake Words as MLPerf Tiny packs it: 96x96 RGB, folders person/ and non_person/.
    "visual_wake_words": Source(
        "https://www.silabs.com/public/files/github/machine_learning/benchmarks/datasets/"
        "vw_coco2014_96.tar.gz",
        "235 MB", "visual_wake_words/vw_coco2014_96", "load_person_detection(folder)"),
}


def _offline_message(name: str, source: Source, dest: Path, reason) -> str:
    archive = source.url.rsplit("/", 1)[-1]
    return (f"cannot download {name} ({reason}): fetch {source.url} by hand and unpack "
            f"{archive} into {dest / name} (then use {dest / source.unpacks_to})")


def download(name: str, dest, progress: bool = True) -> Path:
    """Download and unpack one of SOURCES into dest/<name>/; returns the loader's folder."""
    if name not in SOURCES:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(SOURCES)}")
    source, dest = SOURCES[name], Path(dest)
    target = dest / name
    target.mkdir(parents=True, exist_ok=True)
    archive = target / source.url.rsplit("/", 1)[-1]
    if not archive.exists():
        partial = archive.with_suffix(archive.suffix + ".part")
        try:
            _fetch(source.url, partial, progress)
        except (urllib.error.URLError, OSError) as e:
            partial.unlink(missing_ok=True)
            raise DatasetError(_offline_message(name, source, dest, getattr(e, "reason", e))) from None
        partial.rename(archive)
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    return dest / source.unpacks_to


def _fetch(url: str, path: Path, progress: bool) -> None:
    """Stream url to path, with a tqdm bar when progress is wanted."""
    with urllib.request.urlopen(url, timeout=30) as response, open(path, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0)
        bar = None
        if progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=total or None, unit="B", unit_scale=True, desc=path.name)
        while chunk := response.read(1 << 20):
            out.write(chunk)
            if bar is not None:
                bar.update(len(chunk))
        if bar is not None:
            bar.close()
