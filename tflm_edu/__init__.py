"""tflm_edu: TensorFlow Lite for Microcontrollers, retold in readable, bit-exact Python."""
from tflm_edu.errors import ModelError

__all__ = ["ModelError"]
__version__ = "0.1.0"
