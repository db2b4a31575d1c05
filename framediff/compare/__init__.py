"""Spot the difference between two images: ``compare(a, b) -> Comparison``; many pairs, folders of
pairs, and the pictures a comparison is drawn as.

- :mod:`.core`: :func:`compare` and :func:`compare_pairs`, the analysis step by step;
- :mod:`.options`, :mod:`.result`: :class:`CompareOptions` and :class:`Comparison`;
- :mod:`.inputs`: reading a pair (side by side, reduced JPEGs, one picture split in two);
- :mod:`.difference`: the change maps and global scores (functions on arrays);
- :mod:`.outputs`, :mod:`.files`: the output pictures, and comparing files and folders as the command does.
"""

from .core import compare, compare_pairs
from .inputs import split_image
from .options import CompareOptions
from .result import RELATIONS, Comparison

__all__ = ["compare", "compare_pairs", "Comparison", "CompareOptions", "split_image", "RELATIONS"]
