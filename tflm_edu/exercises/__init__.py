"""Exercises that check themselves: one module per notebook (nb01.py for
01_hello_world.ipynb, ...), each with check_...() functions.

A notebook exercise is three cells: the question (markdown), a starter cell the learner
fills in - the answer starts as `...` - ending in a check call, and a solution cell that
is collapsed (hidden) by default. A check never raises: it returns a Verdict, which the
notebook shows as a line that says right, not yet (with a hint), or not answered yet.

Checks compute the expected answer from the learner's own objects (their interpreter, their
model, their data), never from numbers typed into the check: a rerun with other data or
another seed still checks correctly.
"""
from tflm_edu.exercises.core import NOT_ANSWERED, Verdict, answered, compare, verdict

__all__ = ["Verdict", "verdict", "answered", "compare", "NOT_ANSWERED"]
