"""The old name of :mod:`framediff.analysis.measure`, kept importable for one release."""

from .analysis.measure import *  # noqa: F403
from .analysis.measure import __all__  # noqa: F401
