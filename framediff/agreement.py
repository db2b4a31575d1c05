"""The old name of :mod:`framediff.analysis.agreement`, kept importable for one release."""

from .analysis.agreement import *  # noqa: F403
from .analysis.agreement import __all__  # noqa: F401
