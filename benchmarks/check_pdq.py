"""Check framediff's PDQ against Meta's reference hashes, and time it.

Reads ``../shared/pdq-reference`` (``expected.json``: file -> the reference Python hasher's hex; the
``dih`` files are one photo in its 8 rotations and mirrorings) and prints, per file, the Hamming distance
between framediff's hash and the reference's, with the picture decoded by OpenCV (framediff's reader) and by
Pillow (the reference's); then the dihedral check (the 8 forms of the original against the reference hashes
of the 8 transformed files, for ``pdq_dihedral`` and for the reference's coefficient shortcut); then the
time per picture on a 1600 px photo and a 512 px one. With ``--photos DIR`` it also measures how far the
fast shrink (``exact=False``) moves the hashes of the pictures over 512 px in DIR.

Usage::

    python benchmarks/check_pdq.py [--ref ../shared/pdq-reference] [--repeat 30] [--photos /tmp/photos]

Exit status 1 when a file is more than ``--tolerance`` bits (default 10) from the reference.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import skimage.data
from PIL import Image

from framediff.collection import pdq
from framediff.media.images import read_image

ROOT = Path(__file__).resolve().parent.parent
# The reference set beside the clone (../shared); a helper's worktree under wt/ finds it one level further up.
REFERENCE = next(
    (p for p in (ROOT.parent / "shared" / "pdq-reference", ROOT.parent.parent / "shared" / "pdq-reference") if p.is_dir()),
    ROOT.parent / "shared" / "pdq-reference",
)
DIHEDRAL_FILES = (
    "original",
    "rotate-90",
    "rotate-180",
    "rotate-270",
    "flipx",
    "flipy",
    "flip-plus-1",
    "flip-minus-1",
)  # the reference's file names for pdq.DIHEDRAL_NAMES, in order


try:  # Meta's C++ hasher through its Python binding: an oracle for shrink="none" when it is built here
    import pdqhash
except ImportError:
    pdqhash = None


def _cpp_hash(image: np.ndarray) -> np.ndarray:
    """The C++ reference's hash of a BGR picture, as a (32,) array (it returns 256 bits, first bit first)."""
    bits, _ = pdqhash.compute(np.ascontiguousarray(cv2.cvtColor(image[:, :, :3], cv2.COLOR_BGR2RGB)))
    return np.packbits(bits.astype(np.uint8))


def _pillow_bgr(path: Path) -> np.ndarray:
    """The picture as the reference hasher decodes it (Pillow, converted to RGB), in BGR order."""
    with Image.open(path) as im:
        return np.ascontiguousarray(np.asarray(im.convert("RGB"))[:, :, ::-1])


def _ms(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``fn`` in milliseconds, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def check_files(ref: Path, tolerance: int) -> bool:
    """Print each reference file's distances; True when all are within ``tolerance``."""
    expected = json.loads((ref / "expected.json").read_text())["hashes"]
    print("bits from the reference Python hasher's hash (decoded by OpenCV / by Pillow); shrink='none' vs C++")
    print(f"{'file':46} {'size':>10} {'opencv':>6} {'pillow':>6} {'quality':>7} {'none/C++':>8}")
    ok = True
    for name, hex_ in expected.items():
        path = ref / "images" / name
        want = pdq.from_hex(hex_)
        image = read_image(path)
        h_cv, quality = pdq.pdq_hash(image)
        h_pil, _ = pdq.pdq_hash(_pillow_bgr(path))
        d_cv, d_pil = pdq.hamming(h_cv, want), pdq.hamming(h_pil, want)
        ok &= max(d_cv, d_pil) <= tolerance
        size = f"{image.shape[1]}x{image.shape[0]}"
        cpp = "-"
        if pdqhash is not None:
            cpp = str(pdq.hamming(pdq.pdq_hash(image, shrink="none")[0], _cpp_hash(image)))
        print(f"{name:46} {size:>10} {d_cv:6d} {d_pil:6d} {quality:7d} {cpp:>8}")
    return ok


def check_dihedral(ref: Path) -> None:
    """Print the dihedral forms of the original against the reference hashes of the transformed files."""
    expected = json.loads((ref / "expected.json").read_text())["hashes"]
    names = [f"reg-test-input__dih__bridge-{k + 1}-{form}.jpg" for k, form in enumerate(DIHEDRAL_FILES)]
    image = read_image(ref / "images" / names[0])
    for shrink in ("reference", "fast"):
        hashes, _ = pdq.pdq_dihedral(image, shrink=shrink)
        got = [pdq.hamming(hashes[k], pdq.from_hex(expected[n])) for k, n in enumerate(names)]
        print(f"pdq_dihedral(shrink={shrink!r}) vs the 8 files' reference hashes: {got}")
    coeffs, _ = pdq.pdq_coefficients(image)
    shortcut = pdq.hash_from_coefficients(pdq.dihedral_coefficients(coeffs))
    got = [pdq.hamming(shortcut[k], pdq.from_hex(expected[n])) for k, n in enumerate(names)]
    print(f"coefficient shortcut (the reference's dihedral) vs the same:      {got}")


def time_hashing(ref: Path, repeat: int) -> None:
    """Print the time per picture, decoding excluded, on a 1600 px photo and a 512 px one."""
    path = ref / "images" / "reg-test-input__dih__bridge-1-original.jpg"
    big = read_image(path)
    small = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    print(f"\nms per picture (median of {repeat}; decoding not included): pdq_hash / pdq_dihedral per shrink")
    header = "".join(f"{f'{fn} {s}':>16}" for s in pdq.SHRINKS for fn in ("hash", "dih"))
    print(f"{'picture':22}{header}{'C++ hash':>10}{'decode':>8}")
    for label, image in ((f"{big.shape[1]}x{big.shape[0]} bridge", big), ("512x512 astronaut", small)):
        cells = [
            _ms(lambda im=image, s=s, fn=fn: fn(im, shrink=s), repeat)
            for s in pdq.SHRINKS
            for fn in (pdq.pdq_hash, pdq.pdq_dihedral)
        ]
        cpp = f"{_ms(lambda im=image: _cpp_hash(im), repeat):10.2f}" if pdqhash is not None else f"{'-':>10}"
        decode = f"{_ms(lambda: read_image(path), repeat):8.2f}" if image is big else f"{'-':>8}"
        print(f"{label:22}" + "".join(f"{c:16.2f}" for c in cells) + cpp + decode)


def check_photos(photos: Path) -> None:
    """Print, over the pictures in ``photos``: how far shrink="fast" moves the hashes of those over 512 px,
    and how shrink="none" compares with the C++ hasher."""
    fast_d, t_ref, t_fast, cpp_d, flat = [], 0.0, 0.0, [], 0
    for path in sorted(photos.iterdir()):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None or min(image.shape[:2]) < pdq.MIN_HASHABLE_DIM:
            continue
        if pdqhash is not None:
            full, quality = pdq.pdq_hash(image, shrink="none")
            if quality == 0:
                flat += 1  # one colour: every coefficient is rounding noise, the bits mean nothing
            else:
                cpp_d.append(pdq.hamming(full, _cpp_hash(image)))
        if max(image.shape[:2]) <= pdq.REFERENCE_SIDE:
            continue
        t0 = time.perf_counter()
        exact, _ = pdq.pdq_hash(image)
        t1 = time.perf_counter()
        fast, _ = pdq.pdq_hash(image, shrink="fast")
        t2 = time.perf_counter()
        t_ref, t_fast = t_ref + t1 - t0, t_fast + t2 - t1
        fast_d.append(pdq.hamming(exact, fast))
    if fast_d:
        d, n = np.array(fast_d), len(fast_d)
        print(
            f"\nshrink 'fast' vs 'reference' on {n} pictures over 512 px in {photos}: mean {d.mean():.2f} bits, "
            f"90% <= {np.percentile(d, 90):.0f}, 99% <= {np.percentile(d, 99):.0f}, max {d.max()}; "
            f"{1000 * t_ref / n:.2f} ms vs {1000 * t_fast / n:.2f} ms per picture"
        )
    if cpp_d:
        d = np.array(cpp_d)
        print(
            f"shrink 'none' vs Meta's C++ on {len(d)} pictures: {int((d == 0).sum())} identical, "
            f"max {d.max()} bits ({flat} one-colour pictures left out)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ref", type=Path, default=REFERENCE)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--tolerance", type=int, default=10, help="bits from the reference allowed per file")
    parser.add_argument("--photos", type=Path, help="a folder of pictures to measure the shrinks on")
    args = parser.parse_args()
    ok = check_files(args.ref, args.tolerance)
    print()
    check_dihedral(args.ref)
    time_hashing(args.ref, args.repeat)
    if args.photos:
        check_photos(args.photos)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
