"""``framediff watch --serve``: a live view of a watch in the browser.

- :class:`LiveView` observes a :class:`~framediff.watch.Watcher` (latest frame, events, snapshots, area
  edits) without slowing it down;
- :class:`LiveServer` serves it: the page, an MJPEG live picture, and a JSON API;
- :func:`load_settings` / :func:`save_settings` (from :mod:`framediff.watch.settings`) read and write the
  areas file of ``--config``.

Example::

    from framediff.serve import LiveServer, LiveView
    from framediff.watch import Watcher

    watcher = Watcher("rtsp://cam/live")
    server = LiveServer(LiveView(watcher), ("127.0.0.1", 8080))
    server.start()
    try:
        watcher.run()
    finally:
        server.close()
"""

from ..watch.settings import AreaSettings, load_settings, save_settings
from .live import LiveView
from .server import LiveServer, is_loopback, parse_address

__all__ = [
    "AreaSettings",
    "LiveServer",
    "LiveView",
    "is_loopback",
    "load_settings",
    "parse_address",
    "save_settings",
]
