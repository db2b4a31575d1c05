"""Local cameras (``0``, ``/dev/video0``) read through OpenCV."""

from __future__ import annotations

import time
from collections.abc import Iterator

import cv2

from ..errors import SourceError
from .frames import Frame, FrameSource

__all__ = ["CameraSource"]


class CameraSource(FrameSource):
    """A local camera (``0`` or ``/dev/video0``) through OpenCV; times are seconds since opening."""

    live = True

    def __init__(self, spec: str, *, gray: bool = False) -> None:
        super().__init__()
        self.spec = spec
        self.gray = gray
        device: int | str = int(spec) if spec.isdigit() else spec
        self.cap = cv2.VideoCapture(device)
        if not self.cap.isOpened():
            raise SourceError(f"cannot open camera {spec}", "check that it is connected and not in use")
        w, h = int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.size = (w, h) if w else None
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and fps > 0 else None

    def __iter__(self) -> Iterator[Frame]:
        t0 = time.monotonic()
        index = 0
        while True:
            ok, image = self.cap.read()
            if not ok or image is None:
                raise SourceError(f"camera {self.spec} stopped delivering frames", "check the device")
            if self.gray:
                image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
            yield Frame(index, time.monotonic() - t0, image)
            index += 1

    def close(self) -> None:
        self.cap.release()
