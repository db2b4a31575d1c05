"""watch --mqtt against a real Mosquitto broker that each test starts (and kills, and starts again).

The watched source is the bundled samples/camera.mp4 (a coin slides in at 2.1 s and stays), or a clip or
an HTTP stream made here. A paho client in the test subscribes to PREFIX/# and records what arrives; the
events must be exactly the lines ``--events`` writes, in order. Skipped only when the mosquitto binary is
not installed (``apt-get install mosquitto``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from framediff.cli import main
from framediff.errors import OptionError
from framediff.watch import MqttPublisher
from framediff.watch.mqtt import MqttTarget

from .conftest import write_video
from .test_watch import FPS, DroppingStream, clip, events_of, scene

CAMERA = str(Path(__file__).resolve().parent.parent / "samples" / "camera.mp4")
MOSQUITTO = shutil.which("mosquitto") or next(
    (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.access(p, os.X_OK)), None
)
PASSWD = shutil.which("mosquitto_passwd")
needs_broker = pytest.mark.skipif(
    MOSQUITTO is None, reason="the mosquitto broker is not installed (apt-get install mosquitto)"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """A mosquitto process on 127.0.0.1, from a config file written here; can be killed and restarted."""

    def __init__(
        self,
        folder: Path,
        port: int | None = None,
        users: dict[str, str] | None = None,
        persist: bool = False,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.folder = folder
        lines = [f"listener {self.port} 127.0.0.1"]
        if users:
            pw = folder / "passwords"
            for i, (user, password) in enumerate(users.items()):
                args = [PASSWD, "-b", *(["-c"] if i == 0 else []), str(pw), user, password]
                subprocess.run(args, check=True, capture_output=True)
            lines += ["allow_anonymous false", f"password_file {pw}"]
        else:
            lines.append("allow_anonymous true")
        if persist:
            # Sessions (the test subscriber's subscription, messages queued for it) survive a restart.
            lines += ["persistence true", f"persistence_location {folder}/", "autosave_interval 1"]
        if tls:
            lines += [f"certfile {tls[0]}", f"keyfile {tls[1]}"]
        if os.geteuid() == 0:
            lines.append("user root")  # as root mosquitto would switch to a user who cannot read tmp_path
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        log = open(self.folder / "mosquitto.log", "ab")  # noqa: SIM115 - the process writes it
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        pytest.fail("mosquitto did not start: " + (self.folder / "mosquitto.log").read_text())

    def kill(self) -> None:
        """The broker dies at once (no goodbye to anyone)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        """A clean shutdown (persistent sessions are saved)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def broker(tmp_path: Path):
    if MOSQUITTO is None:
        pytest.skip("the mosquitto broker is not installed (apt-get install mosquitto)")
    b = Broker(tmp_path)
    yield b
    b.kill()


class Subscriber:
    """A paho client subscribed to PREFIX/# that records every message (and reconnects after an outage)."""

    def __init__(
        self,
        port: int,
        prefix: str,
        auth: tuple[str, str] | None = None,
        session: str | None = None,
        ca: Path | None = None,
    ) -> None:
        self.prefix = prefix
        self.messages: list[tuple[str, str, bool]] = []
        self.cond = threading.Condition()
        self.subscriptions = 0
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=session or f"test-{secrets.token_hex(4)}",
            clean_session=session is None,
        )
        if auth:
            c.username_pw_set(*auth)
        if ca:
            c.tls_set(ca_certs=str(ca))
        c.reconnect_delay_set(1, 1)
        c.on_connect = lambda client, u, flags, rc, p: client.subscribe(f"{prefix}/#", qos=1)
        c.on_subscribe = self._on_subscribe
        c.on_message = self._on_message
        c.connect_async("127.0.0.1", port)
        c.loop_start()
        self.client = c
        assert self.wait(lambda: self.subscriptions >= 1, 10), "the test subscriber could not subscribe"

    def _on_subscribe(self, *args: object) -> None:
        with self.cond:
            self.subscriptions += 1
            self.cond.notify_all()

    def _on_message(self, client: object, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self.cond:
            self.messages.append((msg.topic, msg.payload.decode(), bool(msg.retain)))
            self.cond.notify_all()

    def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(predicate, timeout)

    def events(self) -> list[dict]:
        with self.cond:
            return [json.loads(p) for t, p, _ in self.messages if t == f"{self.prefix}/events"]

    def states(self) -> list[str]:
        with self.cond:
            return [p for t, p, _ in self.messages if t == f"{self.prefix}/state"]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def retained_state(port: int, prefix: str, auth: tuple[str, str] | None = None) -> tuple[str, bool]:
    """What a subscriber arriving now is told on PREFIX/state: (payload, retained flag)."""
    sub = Subscriber(port, prefix, auth)
    try:
        assert sub.wait(lambda: bool(sub.states()), 5), "no retained state on the broker"
        with sub.cond:
            _, payload, retain = next(m for m in sub.messages if m[0] == f"{prefix}/state")
        return payload, retain
    finally:
        sub.close()


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(["watch", *args])
    out, err = capsys.readouterr()
    return int(e.value.code or 0), out, err


def watch_process(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "framediff", "watch", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# -- events and state -------------------------------------------------------------------------------------


def test_events_arrive_in_order_as_the_events_file_and_the_state_is_retained(
    broker: Broker, tmp_path: Path, capsys
) -> None:
    sub = Subscriber(broker.port, "home/cam1")
    ev = tmp_path / "ev.jsonl"
    url = f"mqtt://127.0.0.1:{broker.port}/home/cam1"
    code, _, err = run_cli([CAMERA, "--events", str(ev), "--mqtt", url], capsys)
    assert code == 0, err
    assert "--mqtt" not in err  # no warning: the broker was there all along
    written = events_of(ev)
    assert [e["event"] for e in written] == ["change_start", "change_end"]
    # The coin enters at frame 31-32 (samples/truth.json); the MQTT payloads are the events file's lines.
    assert 30 <= written[0]["frame"] <= 34
    assert sub.wait(lambda: "offline" in sub.states(), 5)
    assert sub.events() == written
    # The state: connected from the first frame, offline once every event is out; nothing else.
    assert sub.states() == ["connected", "offline"]
    with sub.cond:
        order = [(t.rsplit("/", 1)[1], p) for t, p, _ in sub.messages]
    assert order[0] == ("state", "connected") and order[-1] == ("state", "offline")
    sub.close()
    # A subscriber that comes later is told the state (retained); events are not retained.
    assert retained_state(broker.port, "home/cam1") == ("offline", True)
    late = Subscriber(broker.port, "home/cam1")
    time.sleep(0.5)
    assert late.events() == []
    late.close()


def test_state_follows_a_frozen_source(broker: Broker, tmp_path: Path, capsys) -> None:
    frames = scene(20) + [scene(1, seed=5)[0]] * 40  # the picture stops changing at frame 20
    path = clip(tmp_path / "frozen.mp4", frames)
    sub = Subscriber(broker.port, "cam")
    ev = tmp_path / "ev.jsonl"
    args = [path, "--events", str(ev), "--frozen-after", "1.5", "--mqtt", f"mqtt://127.0.0.1:{broker.port}/cam"]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    assert sub.wait(lambda: "offline" in sub.states(), 5)
    assert "source_frozen" in [e["event"] for e in events_of(ev)]
    assert sub.states() == ["connected", "frozen", "offline"]
    assert sub.events() == events_of(ev)
    sub.close()


def test_state_follows_a_stream_that_drops(broker: Broker, tmp_path: Path, capsys) -> None:
    frames = scene(90, photo="rocket", seed=4, present=lambda i: 50 <= i < 70)
    ts = Path(write_video(tmp_path / "cam.ts", frames, codec="libx264", rate=FPS))
    sub = Subscriber(broker.port, "cam")
    ev = tmp_path / "ev.jsonl"
    url = f"mqtt://127.0.0.1:{broker.port}/cam"
    with DroppingStream(ts.read_bytes(), cut=0.45) as server:
        args = [server.url, "--events", str(ev), "--reconnect-timeout", "1.5", "--mqtt", url]
        code, _, err = run_cli(args, capsys)
    # The stream is served twice, then never again: watch gives up (exit 2), and still says offline.
    assert code == 2 and "unreachable" in err
    assert sub.wait(lambda: "offline" in sub.states(), 5)
    kinds = [e["event"] for e in events_of(ev)]
    assert kinds[:2] == ["source_lost", "source_restored"] and "change_start" in kinds
    assert sub.events() == events_of(ev)
    assert sub.states() == ["connected", "lost", "connected", "lost", "offline"]
    sub.close()


# -- the last will ----------------------------------------------------------------------------------------


def test_last_will_is_offline_when_the_watch_is_killed(broker: Broker) -> None:
    sub = Subscriber(broker.port, "cam")
    proc = watch_process([CAMERA, "--realtime", "--mqtt", f"mqtt://127.0.0.1:{broker.port}/cam"])
    try:
        assert sub.wait(lambda: "connected" in sub.states(), 15), proc.stderr
        assert retained_state(broker.port, "cam") == ("connected", True)
        proc.send_signal(signal.SIGKILL)  # no goodbye: only the broker can say it
        proc.wait(10)
    finally:
        proc.kill()
    assert sub.wait(lambda: sub.states()[-1:] == ["offline"], 10), sub.states()
    assert sub.states() == ["connected", "offline"]
    assert retained_state(broker.port, "cam") == ("offline", True)
    sub.close()


# -- a broker that goes away ------------------------------------------------------------------------------


@needs_broker
def test_broker_killed_and_restarted_mid_watch(tmp_path: Path) -> None:
    b = Broker(tmp_path, persist=True)
    ev = tmp_path / "ev.jsonl"
    # A persistent session: the broker keeps the subscription and queues messages for the subscriber
    # across its own restart, so nothing is missed whichever of the two reconnects first.
    sub = Subscriber(b.port, "cam", session="framediff-test-sub")
    proc = watch_process([CAMERA, "--realtime", "--events", str(ev), "--mqtt", f"mqtt://127.0.0.1:{b.port}/cam"])
    try:
        assert sub.wait(lambda: any(e["event"] == "change_start" for e in sub.events()), 20)
        time.sleep(1.1)  # the broker's autosave has the session
        b.kill()
        time.sleep(1.0)
        b.start()  # same port, same config
        out, err = proc.communicate(timeout=40)
    finally:
        proc.kill()
        b.kill()
    # Neither stalled nor crashed: the watch ran at the clip's pace through the outage and ended normally.
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "watched 90 frames" in err
    written = events_of(ev)
    start, end = written
    assert end["event"] == "change_end" and end["frame"] == 89
    wall = time.mktime(time.strptime(end["wall"][:19], "%Y-%m-%dT%H:%M:%S")) - time.mktime(
        time.strptime(start["wall"][:19], "%Y-%m-%dT%H:%M:%S")
    )
    assert wall <= (end["time"] - start["time"]) + 2  # 3.8 s of video took about 3.8 s, outage or not
    # One warning for the outage, nothing undelivered.
    mqtt_lines = [line for line in err.splitlines() if "--mqtt" in line]
    assert len(mqtt_lines) == 1 and mqtt_lines[0].startswith("warning:"), err
    # The change_end came after the broker's return, and arrived; the state was said again after it.
    assert sub.wait(lambda: "offline" in sub.states(), 10), sub.states()
    assert sub.events() == written
    assert sub.states()[-1] == "offline" and "connected" in sub.states()
    sub.close()


@needs_broker
def test_queue_is_bounded_and_counts_drops_while_the_broker_is_down(tmp_path: Path) -> None:
    b = Broker(tmp_path, persist=True)
    sub = Subscriber(b.port, "q", session="framediff-test-queue")
    lines: list[str] = []
    pub = MqttPublisher(f"mqtt://127.0.0.1:{b.port}/q", max_queue=3, log=lines.append)
    try:
        pub.set_state("connected")
        assert sub.wait(lambda: sub.states() == ["connected"], 10)
        b.stop()
        deadline = time.monotonic() + 10
        while pub.connected and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not pub.connected
        t0 = time.monotonic()
        for i in range(10):
            pub.post({"event": "change_start", "frame": i})
        assert time.monotonic() - t0 < 1.0  # posting never waits for the broker
        assert pub.dropped == 7
        b.start()
        # The three newest events arrive, in order, once the broker is back.
        assert sub.wait(lambda: len(sub.events()) >= 3, 30), sub.messages
        assert [e["frame"] for e in sub.events()] == [7, 8, 9]
    finally:
        pub.close(timeout=5)
        sub.close()
        b.kill()
    assert pub.sent == 3
    assert sum("lost the connection" in line or "cannot reach" in line for line in lines) == 1, lines
    assert any("7 events dropped" in line for line in lines), lines


def test_broker_that_is_never_there_does_not_stop_the_watch(tmp_path: Path, capsys) -> None:
    ev = tmp_path / "ev.jsonl"
    url = f"mqtt://127.0.0.1:{free_port()}/cam"  # nothing listens: connections are refused
    code, _, err = run_cli([CAMERA, "--events", str(ev), "--mqtt", url], capsys)
    assert code == 0, err
    assert [e["event"] for e in events_of(ev)] == ["change_start", "change_end"]
    warnings = [line for line in err.splitlines() if "--mqtt" in line]
    assert len(warnings) == 2 and "cannot reach the broker" in warnings[0], err
    assert "2 events not delivered" in warnings[1] and "Traceback" not in err


# -- users and passwords ----------------------------------------------------------------------------------


@needs_broker
@pytest.mark.skipif(PASSWD is None, reason="mosquitto_passwd is not installed")
def test_user_and_password_and_the_password_is_never_printed(tmp_path: Path, capsys) -> None:
    secret = "s3cr@t:pw"  # percent-encoded in the URL
    b = Broker(tmp_path, users={"cam": secret})
    try:
        sub = Subscriber(b.port, "cam", auth=("cam", secret))
        ev = tmp_path / "ev.jsonl"
        url = f"mqtt://cam:s3cr%40t%3Apw@127.0.0.1:{b.port}/cam"
        code, out, err = run_cli([CAMERA, "--events", str(ev), "--mqtt", url], capsys)
        assert code == 0 and "--mqtt" not in err, err
        assert sub.wait(lambda: "offline" in sub.states(), 5)
        assert sub.events() == events_of(ev)
        sub.close()
        # A wrong password: one warning naming the broker, the password masked, the watch goes on.
        url = f"mqtt://cam:wrong-{secret}@127.0.0.1:{b.port}/cam"
        code, out, err = run_cli([CAMERA, "--events", str(ev), "--mqtt", url], capsys)
        assert code == 0, err
        refused = [line for line in err.splitlines() if "refused" in line]
        assert len(refused) == 1 and f"mqtt://cam:***@127.0.0.1:{b.port}/cam" in refused[0], err
        assert "wrong" not in out + err and "s3cr" not in out + err
    finally:
        b.kill()


@needs_broker
@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_mqtts_checks_the_broker_certificate(tmp_path: Path, capsys, monkeypatch) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    b = Broker(tmp_path, tls=(cert, key))
    try:
        ev = tmp_path / "ev.jsonl"
        url = f"mqtts://127.0.0.1:{b.port}/cam"
        # Not trusted (a self-signed certificate): nothing is sent, one warning says why it may be.
        code, _, err = run_cli([CAMERA, "--events", str(ev), "--mqtt", url], capsys)
        assert code == 0, err
        assert "certificate is not trusted" in err
        # Trusted through the system's usual variable: delivered over TLS.
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        sub = Subscriber(b.port, "cam", ca=cert)
        code, _, err = run_cli([CAMERA, "--events", str(ev), "--mqtt", url], capsys)
        assert code == 0 and "--mqtt" not in err, err
        assert sub.wait(lambda: "offline" in sub.states(), 5)
        assert sub.events() == events_of(ev) and sub.states() == ["connected", "offline"]
        sub.close()
    finally:
        b.kill()


# -- bad input --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://host/cam", "not an mqtt:// or mqtts:// URL"),
        ("mqtt:///cam", "not an mqtt:// or mqtts:// URL"),
        ("mqtt://user:hunter2@host:99999/cam", "not a valid URL"),
        ("mqtt://user:hunter2@host:x/cam", "not a valid URL"),
        ("mqtt://host/cam/#", "cannot hold '#'"),
        ("mqtt://host/cam/+/x", "not a plain topic"),
        ("mqtt://host/a b", "not an mqtt:// or mqtts:// URL"),
        ("mqtt://user:hunter2 @host/cam", "not an mqtt:// or mqtts:// URL"),
    ],
)
def test_bad_urls_are_one_error_line_with_the_password_masked(
    url: str, says: str, tmp_path: Path, capsys
) -> None:
    ev = tmp_path / "ev.jsonl"
    code, out, err = run_cli([CAMERA, "--events", str(ev), "--mqtt", url], capsys)
    assert code == 2 and err.startswith("Error: ") and len(err.strip().splitlines()) == 1, err
    assert says in err and "hunter2" not in err
    assert not ev.exists()  # refused before anything was written


def test_url_parts() -> None:
    t = MqttTarget.parse("mqtts://me:p%40ss@broker.lan/home/cam1/")
    assert (t.host, t.port, t.prefix, t.username, t.password, t.tls) == (
        "broker.lan", 8883, "home/cam1", "me", "p@ss", True,
    )
    assert t.events_topic == "home/cam1/events" and t.state_topic == "home/cam1/state"
    assert t.masked() == "mqtts://me:***@broker.lan:8883/home/cam1"
    plain = MqttTarget.parse("mqtt://10.0.0.5")
    assert (plain.port, plain.prefix, plain.username) == (1883, "framediff", None)
    assert plain.masked() == "mqtt://10.0.0.5:1883/framediff"
    with pytest.raises(OptionError):
        MqttTarget.parse("mqtt://host:0x/cam")


def test_without_paho_mqtt_one_error_says_how_to_install_it(tmp_path: Path) -> None:
    # A real run of the CLI in an interpreter where paho cannot be imported (as when it is not installed).
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'paho' or name.startswith('paho.'):\n"
        "            raise ImportError('No module named ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from framediff.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    ev = tmp_path / "ev.jsonl"
    run = subprocess.run(
        [sys.executable, "-c", code, "watch", CAMERA, "--events", str(ev), "--mqtt", "mqtt://127.0.0.1/cam"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip() == (
        "Error: --mqtt needs the paho-mqtt package (pip install 'framediff[mqtt]')"
    ), run.stderr
    assert not ev.exists()


def test_mqtt_url_from_the_settings_file(broker: Broker, tmp_path: Path, capsys) -> None:
    config = tmp_path / "cam.json"
    config.write_text(json.dumps({"mqtt": f"mqtt://127.0.0.1:{broker.port}/yard", "min_frames": 2}))
    sub = Subscriber(broker.port, "yard")
    ev = tmp_path / "ev.jsonl"
    code, _, err = run_cli([CAMERA, "--events", str(ev), "--config", str(config)], capsys)
    assert code == 0, err
    assert sub.wait(lambda: "offline" in sub.states(), 5)
    assert sub.events() == events_of(ev) and len(sub.events()) == 2
    sub.close()
