"""The one error a dataset loader raises on purpose.

A dataset folder is untrusted input, just like a .tflite file: a truncated WAV, a
stereo clip, an unreadable image or a malformed accelerometer line all surface as a
DatasetError whose message names the file (and the line, where there is one), so a
learner can go and look at it. An empty or wrongly laid out folder is an error too:
a silently empty dataset only fails much later, inside training.
"""


class DatasetError(ValueError):
    """A dataset file or folder is missing, malformed or laid out unexpectedly."""


def file_error(path, problem: str) -> DatasetError:
    """A DatasetError whose message starts with the offending file."""
    return DatasetError(f"{path}: {problem}")
