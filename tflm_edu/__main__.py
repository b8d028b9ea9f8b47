"""`python -m tflm_edu ...`: the tflm-edu command line, without the console script."""
import sys

from tflm_edu.cli import main

sys.exit(main())
