"""framediff: are these two frames the same, and if not, where do they differ?

The public API::

    from framediff import compare, compare_pairs, open_source, Deduplicator, Watcher, find_duplicates, Index
"""

__version__ = "0.1.0"

from .analysis.regions import Region  # noqa: E402
from .compare import CompareOptions, Comparison, compare, compare_pairs  # noqa: E402
from .errors import FramediffError, InputError, OptionError, OutputError, SourceError  # noqa: E402
from .media.frames import Frame, FrameSource  # noqa: E402
from .media.sources import open_source  # noqa: E402
from .options import AnalysisOptions  # noqa: E402

# The watch names load with their package on first use: every ``framediff`` command imports this module,
# and only ``watch`` needs them (start-up counts in every short run).
_WATCH = ("ChangeDetector", "Watcher", "WatchOptions", "WatchState")
# Likewise the collection names (they bring FAISS and SQLite), and dedup's (its outputs bring the encoder,
# the plot and, through them, urllib and XML: a third of the package's own import time, which every
# short ``compare`` run would pay).
_COLLECTION = ("find_duplicates", "DupesOptions", "DuplicateReport", "Index")
_DEDUP = ("Decision", "Deduplicator", "DedupResult", "dedup_video")


def __getattr__(name: str) -> object:
    """Load the watch, dedup and collection names on first use (PEP 562)."""
    if name in _WATCH:
        from . import watch

        return getattr(watch, name)
    if name in _DEDUP:
        from . import dedup

        return getattr(dedup, name)
    if name in _COLLECTION:
        from .collection import dupes, index, report

        if name == "Index":
            return index.Index
        return getattr(dupes, name, None) or getattr(report, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names, the lazily loaded ones included before they are loaded."""
    return sorted(set(globals()) | set(_WATCH) | set(_COLLECTION) | set(_DEDUP))


__all__ = [
    "__version__",
    "AnalysisOptions",
    "CompareOptions",
    "Comparison",
    "compare",
    "compare_pairs",
    "Decision",
    "DedupResult",
    "Deduplicator",
    "dedup_video",
    "Frame",
    "FrameSource",
    "FramediffError",
    "InputError",
    "OptionError",
    "OutputError",
    "Region",
    "SourceError",
    "open_source",
    "ChangeDetector",
    "Watcher",
    "WatchOptions",
    "WatchState",
    "find_duplicates",
    "DupesOptions",
    "DuplicateReport",
    "Index",
]
