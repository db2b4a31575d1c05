"""The old name of :mod:`framediff.analysis.align`, kept importable for one release."""

from .analysis.align import *  # noqa: F403
from .analysis.align import __all__  # noqa: F401
