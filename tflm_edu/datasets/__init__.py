"""Datasets for the three TFLM examples: loaders, synthetic stand-ins, input pipelines.

    micro_speech      speech_commands   Speech Commands folders (input_data.py's split and augmentation)
                      synthetic_speech  bundled eSpeak NG keywords, augmented by seed
    magic_wand        magic_wand        the per-person accelerometer recordings (data_prepare.py & co.)
                      synthetic_gestures  wing / ring / slope / negative traces from wand physics
    person_detection  person_detection  Visual Wake Words folders or label files
                      synthetic_scenes  drawn scenes with and without people
    pipelines         sensor -> model input for magic_wand and person_detection
    download          the full datasets, for learners with a network

Every loader raises DatasetError, naming the file, for data it cannot use.
"""
from tflm_edu.datasets.bundled import bundled, datasets_root
from tflm_edu.datasets.download import SOURCES, download
from tflm_edu.datasets.errors import DatasetError
from tflm_edu.datasets.magic_wand import (Recording, augment_data, generate_negative_data,
                                          load_magic_wand, make_windows, pad, person_split,
                                          plot_augmentations, read_recording_file, time_wrapping)
from tflm_edu.datasets.person_detection import (list_vww_folder, load_person_detection,
                                                load_tflm_test_image, read_image, read_label_file)
from tflm_edu.datasets.pipelines import (camera_input, plot_camera_pipeline, plot_int8_conventions,
                                         plot_wand_pipeline, sliding_windows, to_gray96, to_int8,
                                         wand_input)
from tflm_edu.datasets.speech_commands import (SpeechCommands, prepare_words_list, read_wav,
                                               which_set, write_wav)
from tflm_edu.datasets.synthetic_gestures import make_gesture_dataset
from tflm_edu.datasets.synthetic_gestures import plot_samples as plot_gesture_samples
from tflm_edu.datasets.synthetic_scenes import make_scene, make_scene_dataset
from tflm_edu.datasets.synthetic_scenes import plot_samples as plot_scene_samples
from tflm_edu.datasets.synthetic_speech import bundled_speech, make_speech_dataset
from tflm_edu.datasets.synthetic_speech import plot_samples as plot_speech_samples

__all__ = [
    "DatasetError", "bundled", "datasets_root", "download", "SOURCES",
    "SpeechCommands", "which_set", "prepare_words_list", "read_wav", "write_wav",
    "Recording", "load_magic_wand", "read_recording_file", "generate_negative_data",
    "person_split", "augment_data", "time_wrapping", "pad", "make_windows", "plot_augmentations",
    "load_person_detection", "list_vww_folder", "read_label_file", "read_image",
    "load_tflm_test_image",
    "wand_input", "sliding_windows", "plot_wand_pipeline",
    "camera_input", "to_gray96", "to_int8", "plot_camera_pipeline", "plot_int8_conventions",
    "bundled_speech", "make_speech_dataset", "plot_speech_samples",
    "make_gesture_dataset", "plot_gesture_samples",
    "make_scene", "make_scene_dataset", "plot_scene_samples",
]
