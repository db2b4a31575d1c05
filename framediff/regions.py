"""The old name of :mod:`framediff.analysis.regions`, kept importable for one release."""

from .analysis.regions import *  # noqa: F403
from .analysis.regions import __all__  # noqa: F401
