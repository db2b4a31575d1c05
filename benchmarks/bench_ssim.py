"""Time framediff's SSIM against scikit-image's on a 1080p and a 4K grey pair, in one run.

Each pair is a real photo from ``skimage.data`` upscaled to the frame size, and a distorted copy (sensor
noise, slight blur, brighter). Both implementations run on the same pair, interleaved, ``--repeat`` times;
the median time of each is printed with their ratio and how far apart their results are.

Usage::

    python benchmarks/bench_ssim.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import cv2
import numpy as np
import skimage
import skimage.data
from skimage.metrics import structural_similarity

from framediff.analysis.measure import ssim, ssim_map

SIZES = {"1080p": (1920, 1080), "4K": (3840, 2160)}


def make_pair(size: tuple[int, int], photo: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A grey photo upscaled to ``size`` and a distorted copy of it.

    Args:
        size: ``(width, height)``.
        photo: Name of a ``skimage.data`` photo.
        seed: Seed for the noise.

    Returns:
        The two uint8 grey frames.
    """
    image = getattr(skimage.data, photo)()
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    a = cv2.resize(grey, size, interpolation=cv2.INTER_CUBIC)
    rng = np.random.default_rng(seed)
    b = cv2.GaussianBlur(a, (0, 0), 0.8).astype(np.float32) * 1.05 + 6.0
    b += rng.normal(0.0, 4.0, b.shape).astype(np.float32)
    return a, np.clip(np.rint(b), 0, 255).astype(np.uint8)


def time_ms(fn: Callable[..., object], *args: object, **kwargs: object) -> float:
    """Wall time of one call ``fn(*args, **kwargs)`` in milliseconds."""
    t0 = time.perf_counter()
    fn(*args, **kwargs)
    return (time.perf_counter() - t0) * 1000.0


def main() -> None:
    """Run the benchmark and print one line per frame size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per implementation (default 7)")
    args = parser.parse_args()
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, opencv {cv2.__version__} "
        f"({cv2.getNumThreads()} threads), scikit-image {skimage.__version__}, {os.cpu_count()} CPUs"
    )
    print(f"median of {args.repeat} runs each, win_size 7, data_range 255, uint8 grey pairs")
    print(f"{'size':6s} {'pixels':>10s} {'framediff ms':>13s} {'skimage ms':>11s} {'speed-up':>9s} "
          f"{'|mean diff|':>12s} {'max |map diff|':>15s}")  # fmt: skip
    for (label, size), photo in zip(SIZES.items(), ("astronaut", "coffee"), strict=True):
        a, b = make_pair(size, photo, seed=len(label))
        # Warm up both (allocations, OpenCV thread pool, scipy imports) outside the timed runs.
        ssim(a, b)
        structural_similarity(a, b, data_range=255)
        ours: list[float] = []
        theirs: list[float] = []
        for _ in range(args.repeat):  # interleaved, so both see the same machine load
            ours.append(time_ms(ssim, a, b))
            theirs.append(time_ms(structural_similarity, a, b, data_range=255))
        t_ours, t_theirs = statistics.median(ours), statistics.median(theirs)
        ref_mean, ref_map = structural_similarity(a, b, data_range=255, full=True)
        mean_diff = abs(ssim(a, b) - ref_mean)
        map_diff = float(np.abs(ssim_map(a, b) - ref_map).max())
        print(
            f"{label:6s} {a.size:>10d} {t_ours:>13.1f} {t_theirs:>11.1f} {t_theirs / t_ours:>8.2f}x "
            f"{mean_diff:>12.2e} {map_diff:>15.2e}   (SSIM {ref_mean:.4f}, photo {photo})"
        )


if __name__ == "__main__":
    main()
