"""Predict the board: what TFLM's C++ executes on a Cortex-M core, op by op.

    from tflm_edu.profile import CostModel
    print(CostModel.load("cortex-m4", "cmsis_nn").predict("person_detect.tflite").table())

features.py    the loop counts of each op, read from the model
cost_model.py  one fitted formula per op, type and kernel routine; milliseconds per board
corpus.py      the one-op models the formulas are fitted to
measure.py     the profiling firmware that counts each op's instructions on emulated boards
cli.py         `tflm-edu profile`
"""
from tflm_edu.profile.cost_model import CostModel, Profile

__all__ = ["CostModel", "Profile"]
