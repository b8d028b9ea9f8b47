"""The bundled samples in datasets/ and the offline behaviour of download()."""
import hashlib
import importlib
import io
import tarfile
import urllib.error
from pathlib import Path

import pytest

from tflm_edu.datasets import (DatasetError, bundled, datasets_root, download, load_magic_wand,
                               load_person_detection, person_split)

# The package exports the function download(); the module of the same name is this:
download_module = importlib.import_module("tflm_edu.datasets.download")
from tflm_edu.datasets.speech_commands import SpeechCommands, read_wav

BUNDLES = ("speech_commands_synth", "magic_wand_synth", "person_detection_synth")
REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"


def test_datasets_folder_stays_small():
    files = [f for f in datasets_root().rglob("*") if f.is_file()]
    assert sum(f.stat().st_size for f in files) < 8 * 2**20


@pytest.mark.parametrize("name", BUNDLES)
def test_every_bundle_has_a_readme_with_license_and_source(name):
    text = (bundled(name) / "README.md").read_text().lower()
    assert "license" in text and "full dataset" in text and "make_" in text


def test_no_reference_file_was_copied_into_the_repository():
    if not REFERENCE.is_dir():
        pytest.skip("../shared/reference not available")
    reference = {hashlib.sha256(f.read_bytes()).digest() for f in REFERENCE.rglob("*") if f.is_file()}
    ours = {hashlib.sha256(f.read_bytes()).digest() for f in datasets_root().rglob("*") if f.is_file()}
    assert not reference & ours


def test_speech_bundle_is_a_speech_commands_folder():
    data = SpeechCommands(bundled("speech_commands_synth"))
    assert data.split == "lists"
    assert all(data.label_counts(mode)["yes"] > 0 for mode in ("training", "validation", "testing"))
    assert len(data.background_data) >= 4
    for f in sorted(bundled("speech_commands_synth").glob("*/*.wav"))[::17]:
        assert len(read_wav(f)) >= 16000


def test_magic_wand_bundle_in_the_original_format():
    recordings = load_magic_wand(bundled("magic_wand_synth"))
    counts = {g: sum(r.gesture == g for r in recordings) for g in ("wing", "ring", "slope")}
    assert counts == {"wing": 15, "ring": 15, "slope": 15}
    split = person_split(recordings, {"train": ("synth1", "synth2", "negative1"), "valid": ("synth3",),
                                      "test": ("negative2",)})
    assert len(split["train"]) > len(split["valid"]) > 0


def test_person_bundle_folder_and_label_file_agree():
    root = bundled("person_detection_synth")
    a, la = load_person_detection(root)
    b, lb = load_person_detection(root / "labels.csv")
    assert a.shape == (24, 96, 96) and sorted(la.tolist()) == sorted(lb.tolist()) == [0] * 12 + [1] * 12


def test_a_missing_bundle_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("TFLM_EDU_DATASETS", str(tmp_path))
    with pytest.raises(DatasetError, match="TFLM_EDU_DATASETS"):
        bundled("speech_commands_synth")


# --- download(), never touching the network ----------------------------------------------

def test_offline_download_is_one_clear_line(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise urllib.error.URLError("Temporary failure in name resolution")
    monkeypatch.setattr(download_module.urllib.request, "urlopen", no_network)
    with pytest.raises(DatasetError) as info:
        download("magic_wand", tmp_path, progress=False)
    message = str(info.value)
    assert "\n" not in message and "by hand" in message
    assert "data.tar.gz" in message and str(tmp_path / "magic_wand") in message
    assert not list((tmp_path / "magic_wand").iterdir())  # no half-written archive left


def test_download_unpacks_into_the_named_folder(tmp_path, monkeypatch):
    def fake_fetch(url, path, progress):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            info = tarfile.TarInfo("vw_coco2014_96/person/readme.txt")
            info.size = 2
            tar.addfile(info, io.BytesIO(b"hi"))
        path.write_bytes(buffer.getvalue())
    monkeypatch.setattr(download_module, "_fetch", fake_fetch)
    folder = download("visual_wake_words", tmp_path, progress=False)
    assert folder == tmp_path / "visual_wake_words" / "vw_coco2014_96"
    assert (folder / "person" / "readme.txt").read_text() == "hi"


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match="speech_commands"):
        download("imagenet", "/nonexistent")
