"""The old name of :mod:`framediff.analysis.prepare`, kept importable for one release."""

from .analysis.prepare import *  # noqa: F403
from .analysis.prepare import __all__  # noqa: F401
