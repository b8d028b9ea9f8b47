"""The errors a deployment can raise: every one is a DeployError, so `except DeployError`
catches a flaky cable, a stuck board and a board running the wrong model alike."""


class DeployError(Exception):
    """Talking to a board, or building its firmware, failed."""


class PortError(DeployError):
    """The serial port cannot be opened (missing, busy, or no permission)."""


class BoardTimeout(DeployError, TimeoutError):
    """The board did not answer within the timeout, after every retry."""


class ModelMismatch(DeployError):
    """The board runs a different model (its SHA-256 is not the one expected)."""


class ProtocolError(DeployError):
    """The board answered, but not in a way protocol v1 allows (wrong version, bad reply)."""


class BoardError(DeployError):
    """The board answered with an ERROR frame."""

    def __init__(self, code: int, message: str):
        from tflm_edu.deploy.protocol import ERROR_NAMES
        self.code = code
        self.name = ERROR_NAMES.get(code, f"error {code}")
        super().__init__(f"board error {self.name}: {message}")


class ToolMissing(DeployError):
    """A build or flash tool (arduino-cli, platformio) is not installed."""
