"""MQTT output of ``watch``: events on ``PREFIX/events``, the watch's state retained on ``PREFIX/state``.

This is how Home Assistant, Node-RED and Frigate users wire cameras: every event goes out as the same JSON
object ``--events`` writes, and the state (``connected``, ``frozen``, ``lost``, then ``offline`` at the
end) stays on the broker as a retained message, so a subscriber that arrives later still learns it. The
broker is told to publish ``offline`` itself (the last will) when the watch dies without saying goodbye.

A broker that is down or slow never stalls the watch: events wait in a bounded queue (the oldest are
dropped and counted when it is full) while the client reconnects in the background with backoff, and one
warning is printed per outage, not one per event. The client is paho-mqtt, an optional extra
(``pip install 'framediff[mqtt]'``).
"""

from __future__ import annotations

import json
import re
import secrets
import sys
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import OptionError
from ..redact import mask_password

if TYPE_CHECKING:
    from ..media.frames import Frame
    from .detector import FrameResult
    from .watcher import Watcher

__all__ = ["MqttTarget", "MqttPublisher", "STATE_OF_EVENT", "require_paho"]

INSTALL_HINT = "pip install 'framediff[mqtt]'"

# The state each source event leads to; the first analysed frame sets ``connected``.
STATE_OF_EVENT = {
    "source_lost": "lost",
    "source_restored": "connected",
    "source_frozen": "frozen",
    "source_unfrozen": "connected",
}


def require_paho(label: str = "mqtt") -> Any:
    """Import paho-mqtt's client module, or raise :class:`OptionError` saying how to install it (naming
    the setting that needs it as ``label``).

    Returns:
        The ``paho.mqtt.client`` module.

    Raises:
        OptionError: when paho-mqtt (2.0 or later) is not installed.
    """
    try:
        import paho.mqtt.client as mqtt_client
        from paho.mqtt.enums import CallbackAPIVersion  # noqa: F401 - paho-mqtt 2.0 and later only
    except ImportError:
        raise OptionError(f"{label} needs the paho-mqtt package", INSTALL_HINT) from None
    return mqtt_client


@dataclass(frozen=True)
class MqttTarget:
    """Where to publish: a parsed ``mqtt://[user:pass@]host[:port]/topic/prefix`` URL.

    Attributes:
        host: Broker host name or address.
        port: Broker port (1883, or 8883 for ``mqtts://``).
        prefix: Topic prefix (``framediff`` when the URL has no path).
        username: User name, or ``None``.
        password: Password, or ``None``; never shown (see :meth:`masked`).
        tls: Whether to connect with TLS (``mqtts://``), checking the broker's certificate.
    """

    host: str
    port: int
    prefix: str
    username: str | None = None
    password: str | None = None
    tls: bool = False

    @classmethod
    def parse(cls, url: str, label: str = "mqtt") -> MqttTarget:
        """Parse an ``mqtt://`` or ``mqtts://`` URL.

        User and password may be percent-encoded (``p%40ss`` for ``p@ss``).

        Args:
            url: The URL.
            label: How messages name the URL (a command line: ``--mqtt``).

        Returns:
            The target.

        Raises:
            OptionError: when the URL is not an MQTT URL with a host, its port is not a number, or its
                topic prefix holds MQTT wildcards (``+``, ``#``).
        """
        shown = mask_password(url)
        if "@" in shown and ":***@" not in shown:  # user info too malformed to parse: hide all of it
            shown = re.sub(r"://[^@]*@", "://***@", shown)
        example = f"e.g. {label} mqtt://user:pass@broker:1883/home/cam1"
        try:
            parts = urllib.parse.urlsplit(url)
            port = parts.port
            host = parts.hostname
        except ValueError:
            raise OptionError(f"{label} {shown!r} is not a valid URL", example) from None
        if parts.scheme not in ("mqtt", "mqtts") or not host or any(c.isspace() for c in url):
            raise OptionError(f"{label} {shown!r} is not an mqtt:// or mqtts:// URL with a host", example)
        if parts.query or "#" in url:
            raise OptionError(
                f"{label} {shown!r}: the topic prefix cannot hold '#' or '?'", "give a plain topic prefix"
            )
        prefix = urllib.parse.unquote(parts.path).strip("/") or "framediff"
        if "+" in prefix or "\0" in prefix or "//" in prefix:
            raise OptionError(
                f"{label} {shown!r}: the topic prefix {prefix!r} is not a plain topic",
                "no '+' and no empty levels, e.g. /home/cam1",
            )
        tls = parts.scheme == "mqtts"
        return cls(
            host=host,
            port=port or (8883 if tls else 1883),
            prefix=prefix,
            username=urllib.parse.unquote(parts.username) if parts.username is not None else None,
            password=urllib.parse.unquote(parts.password) if parts.password is not None else None,
            tls=tls,
        )

    @property
    def events_topic(self) -> str:
        """``PREFIX/events``."""
        return f"{self.prefix}/events"

    @property
    def state_topic(self) -> str:
        """``PREFIX/state``."""
        return f"{self.prefix}/state"

    def masked(self) -> str:
        """The URL for messages: the password, if any, shown as ``***``."""
        user = ""
        if self.username is not None:
            user = urllib.parse.quote(self.username, safe="")
            user += ":***@" if self.password is not None else "@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{host}:{self.port}/{self.prefix}"


class MqttPublisher:
    """Publishes events to ``PREFIX/events`` and the watch's state, retained, to ``PREFIX/state``.

    Both go out with QoS 1, one message at a time, so a subscriber sees events in the order they
    happened. The connection (and each reconnection, with backoff from 1 to 30 s) is made on paho's own
    thread and publishing on another: :meth:`post` and :meth:`set_state` only queue and return at once.
    After each (re)connection the current state is published again, as a broker that restarted may have
    lost it. The broker publishes ``offline`` on ``PREFIX/state`` (retained) when the connection dies
    without a goodbye (the process was killed, the network went away): that is the last will.

    Example::

        mq = MqttPublisher("mqtt://broker/home/cam1")
        mq.attach(watcher)   # events and states of a Watcher
        watcher.run()
        mq.close()           # delivers what is queued, then publishes "offline"

    Args:
        url: ``mqtt://[user:pass@]host[:port]/topic/prefix`` (``mqtts://`` for TLS).
        max_queue: Events waiting at most while the broker is unreachable or slow.
        keepalive: Seconds between keep-alive pings (the broker declares the watch dead after 1.5 times
            this without news, and publishes the last will).
        timeout: Seconds to wait for a connection to open.
        log: Where warnings go (one line each); stderr by default.
        label: How messages and warnings name the URL (a command line: ``--mqtt``).

    Raises:
        OptionError: when the URL is not a usable MQTT URL, or paho-mqtt is not installed.

    Attributes:
        sent: Events the broker acknowledged.
        dropped: Events dropped because the queue was full.
    """

    RECONNECT_MIN = 1
    RECONNECT_MAX = 30

    def __init__(
        self,
        url: str,
        *,
        max_queue: int = 256,
        keepalive: int = 30,
        timeout: float = 5.0,
        log: Any = None,
        label: str = "mqtt",
    ) -> None:
        self.label = label  # how messages name the broker's URL (a command line: --mqtt)
        self.target = MqttTarget.parse(url, label)
        mqtt = require_paho(label)
        from paho.mqtt.enums import CallbackAPIVersion

        self.shown = self.target.masked()
        self.sent = 0
        self.dropped = 0
        self.failures = 0
        self._log = log or (lambda text: print(text, file=sys.stderr, flush=True))
        self._max = max(1, int(max_queue))
        self._queue: deque[str] = deque()
        self._cond = threading.Condition()
        self._connected = False
        self._state: str | None = None
        self._state_dirty = False
        self._busy: str | None = None  # "event" or "state": handed to paho, not yet acknowledged
        self._acked: set[int] = set()
        self._closing = False
        self._finished = False
        self._warned = False  # one warning per outage
        self._first_frame = True

        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"framediff-{secrets.token_hex(4)}",
            protocol=mqtt.MQTTv311,
        )
        if self.target.username is not None:
            client.username_pw_set(self.target.username, self.target.password)
        if self.target.tls:
            client.tls_set()  # the system's certificate authorities (or $SSL_CERT_FILE); hostname checked
        client.will_set(self.target.state_topic, "offline", qos=1, retain=True)
        client.reconnect_delay_set(self.RECONNECT_MIN, self.RECONNECT_MAX)
        client.connect_timeout = float(timeout)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self._client = client
        client.connect_async(self.target.host, self.target.port, keepalive=int(keepalive))
        client.loop_start()  # paho's thread connects, and reconnects after an outage (retrying the first)
        self._thread = threading.Thread(target=self._run, name="framediff-mqtt", daemon=True)
        self._thread.start()

    # -- what the watch calls -------------------------------------------------------------------------

    def attach(self, watcher: Watcher) -> None:
        """Publish every event of ``watcher`` and follow its state (``connected`` from the first frame).

        Args:
            watcher: The watcher; its events are published as :meth:`Event.to_dict` gives them.
        """
        watcher.on_frame(self.frame)
        watcher.on_event(lambda event, frame: self.post(event.to_dict()))

    def frame(self, result: FrameResult | None = None, frame: Frame | None = None) -> None:
        """Note an analysed frame: the first one sets the state to ``connected``."""
        if self._first_frame:
            self._first_frame = False
            self.set_state("connected")

    def post(self, event: dict[str, Any]) -> None:
        """Queue one event for ``PREFIX/events`` (returns at once); a source event also sets the state.

        Args:
            event: The event as ``--events`` writes it.
        """
        body = json.dumps(event)
        with self._cond:
            if len(self._queue) >= self._max:
                self._queue.popleft()  # the newest events matter most to whoever reads them later
                self.dropped += 1
            self._queue.append(body)
            self._cond.notify_all()
        state = STATE_OF_EVENT.get(str(event.get("event")))
        if state is not None:
            self.set_state(state)

    def set_state(self, state: str) -> None:
        """Set the retained state (``connected``, ``frozen``, ``lost``, ``offline``); returns at once."""
        with self._cond:
            if state != self._state:
                self._state = state
                self._state_dirty = True
                self._cond.notify_all()

    @property
    def state(self) -> str | None:
        """The last state set."""
        return self._state

    @property
    def connected(self) -> bool:
        """Whether the broker connection is up now."""
        return self._connected

    # -- paho's callbacks (on paho's thread) ---------------------------------------------------------

    def _warn(self, what: str) -> None:
        """One warning per outage: the next one only after a successful connection."""
        with self._cond:
            if self._warned or self._closing:
                return
            self._warned = True
        self._log(
            f"warning: {self.label} {self.shown}: {what}; retrying in the background "
            f"(up to {self._max} events wait, older ones are dropped)"
        )

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self._warn(f"the broker refused the connection ({reason}; check the user and password)")
            return
        with self._cond:
            self._connected = True
            self._warned = False
            # A broker that restarted may have lost the retained state: say it again.
            self._state_dirty = self._state is not None
            self._cond.notify_all()

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        # paho does not say why; with TLS an untrusted certificate fails the same way as a closed port.
        self._warn("cannot reach the broker" + (", or its certificate is not trusted" if self.target.tls else ""))

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        with self._cond:
            self._connected = False
            self._cond.notify_all()
        self._warn("lost the connection to the broker")

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        with self._cond:
            self._acked.add(mid)
            self._cond.notify_all()

    # -- the publishing thread -----------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._finished and not (self._connected and (self._state_dirty or self._queue)):
                    self._cond.wait()
                if self._finished:
                    return
                if self._state_dirty:
                    topic, payload, retain = self.target.state_topic, str(self._state), True
                    self._state_dirty = False
                else:
                    topic, payload, retain = self.target.events_topic, self._queue.popleft(), False
                self._busy = "state" if retain else "event"
            info = self._client.publish(topic, payload, qos=1, retain=retain)
            # From here paho owns the message: if the connection drops before the broker acknowledges
            # it, paho sends it again after reconnecting, whatever ``info.rc`` says. So wait for the
            # acknowledgement, however long the outage lasts, and never hand it over twice.
            with self._cond:
                while info.mid not in self._acked and not self._finished:
                    self._cond.wait()
                delivered = info.mid in self._acked
                self._acked.discard(info.mid)
                self._busy = None
                if delivered and not retain:
                    self.sent += 1
                self._cond.notify_all()

    def _wait_idle(self, deadline: float) -> None:
        """Wait until everything queued is acknowledged, or until ``deadline`` (``time.monotonic()``)."""
        with self._cond:
            while (self._queue or self._state_dirty or self._busy) and not self._finished:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._cond.wait(left)

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued, publish ``offline``, disconnect (waiting ``timeout`` seconds at most).

        Events still undelivered then (the broker stayed unreachable) and events dropped from a full
        queue are reported in one warning each.

        Args:
            timeout: Seconds to wait for the broker in all.
        """
        deadline = time.monotonic() + timeout
        self._wait_idle(deadline)
        self.set_state("offline")  # after the last event: whoever sees "offline" has seen every event
        self._wait_idle(deadline)
        with self._cond:
            self._closing = True
            undelivered = len(self._queue) + (self._busy == "event")
            self._finished = True
            self._cond.notify_all()
        # A clean goodbye: the broker drops the last will, and the retained "offline" above stays.
        self._client.disconnect()
        # loop_stop() joins paho's thread, which may sit in a connection attempt for its timeout.
        stopper = threading.Thread(target=self._client.loop_stop, daemon=True)
        stopper.start()
        stopper.join(max(0.1, deadline - time.monotonic()) + 1.0)
        self._thread.join(1.0)
        self.failures += undelivered
        if undelivered:
            self._log(
                f"warning: {self.label} {self.shown}: {undelivered} events not delivered (the broker was unreachable)"
            )
        if self.dropped:
            self._log(
                f"warning: {self.label} {self.shown}: {self.dropped} events dropped while the broker was "
                f"unreachable (the queue holds {self._max})"
            )
