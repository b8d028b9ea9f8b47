"""Where the small bundled samples live: the repository's top-level datasets/ folder.

The samples are not inside the Python package (they are data for learners to open
and listen to, and a wheel should stay small), so they are found beside it in a
clone. TFLM_EDU_DATASETS points elsewhere, e.g. for an installed package.
"""
from __future__ import annotations

import os
from pathlib import Path

from tflm_edu.datasets.errors import DatasetError

SPEECH = "speech_commands_synth"
MAGIC_WAND = "magic_wand_synth"
PERSON = "person_detection_synth"


def datasets_root() -> Path:
    """The datasets/ folder: $TFLM_EDU_DATASETS, else the clone's top-level datasets/."""
    override = os.environ.get("TFLM_EDU_DATASETS")
    return Path(override) if override else Path(__file__).resolve().parents[2] / "datasets"


def bundled(name: str) -> Path:
    """The folder of one bundled sample, with a clear error when it is not there."""
    path = datasets_root() / name
    if not path.is_dir():
        raise DatasetError(
            f"bundled sample {name!r} not found at {path}; run from a clone of the "
            "repository or set TFLM_EDU_DATASETS to its datasets/ folder")
    return path
