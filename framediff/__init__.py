"""framediff: are these two frames the same, and if not, where do they differ?

The public API::

    from framediff import compare, compare_pairs, open_source, Deduplicator, Watcher
"""

__version__ = "0.1.0"

from .compare import CompareOptions, Comparison, compare, compare_pairs  # noqa: E402
from .dedup import Decision, Deduplicator, DedupResult, dedup_video  # noqa: E402
from .errors import FramediffError, InputError, OptionError, OutputError, SourceError  # noqa: E402
from .options import AnalysisOptions  # noqa: E402
from .regions import Region  # noqa: E402
from .sources import Frame, FrameSource, open_source  # noqa: E402
from .watch import ChangeDetector, Watcher, WatchOptions, WatchState  # noqa: E402

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
]
