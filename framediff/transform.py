"""The old name of :mod:`framediff.analysis.transform`, kept importable for one release."""

from .analysis.transform import *  # noqa: F403
from .analysis.transform import __all__  # noqa: F401
