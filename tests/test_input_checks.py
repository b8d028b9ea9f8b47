"""errors.check_input: the one check every entry point applies to a user's input array."""
import numpy as np
import pytest

from tflm_edu.errors import InputError, check_input


def test_the_right_array_passes_unchanged():
    x = np.zeros((1, 4), np.int8)
    assert check_input(x, np.int8, (1, 4)) is not None
    assert check_input(x, np.int8, (1, 4)).shape == (1, 4)


@pytest.mark.parametrize("exact_shape", [True, False])
def test_a_wrong_dtype_is_named(exact_shape):
    with pytest.raises(InputError, match="input 0 must be int8, got float32"):
        check_input(np.zeros((1, 4), np.float32), np.int8, (1, 4), exact_shape=exact_shape)


def test_a_wrong_shape_is_named_when_the_shape_must_match():
    with pytest.raises(InputError, match=r"must have shape \[1, 4\], got \[4\]"):
        check_input(np.zeros(4, np.int8), np.int8, (1, 4))


def test_a_board_takes_any_shape_with_the_same_number_of_values():
    x = np.arange(6, dtype=np.int8).reshape(2, 3)
    out = check_input(x, np.int8, (1, 6), exact_shape=False)
    assert out.shape == (1, 6) and out.tobytes() == x.tobytes()
    with pytest.raises(InputError, match=r"needs 6 int8 values \(shape \[1, 6\]\), got 4"):
        check_input(np.zeros(4, np.int8), np.int8, (1, 6), exact_shape=False)
