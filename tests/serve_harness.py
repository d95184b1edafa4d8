"""Runs `pthrun serve` for the tests and talks to it over loopback.

    model = test_model()                      # a 2-layer GPT-2 with the real vocabulary, made once
    with Server(model, "--slots", "4") as server:
        status, headers, body = server.request("POST", "/v1/completions", {"prompt": "Hi"})

Every request has a timeout; every server is stopped (SIGTERM, then SIGKILL) when the block ends.
Only 127.0.0.1 is ever contacted.
"""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time

PTHRUN = os.environ.get("PTHRUN", os.path.join(os.path.dirname(__file__), "..", "build", "pthrun"))
HOST = "127.0.0.1"
_model_dir = None


def test_model():
    """A random-weight gpt2-small of 2 layers and 256 positions: GPT-2's vocabulary, built in seconds."""
    global _model_dir
    if _model_dir is None:
        _model_dir = tempfile.TemporaryDirectory(prefix="pthrun-serve-")
    path = os.path.join(_model_dir.name, "gpt2-tiny.pth")
    if not os.path.exists(path):
        subprocess.run([PTHRUN, "init", "--config", "gpt2-small", "--layers", "2", "--context", "256", "-o", path],
                       check=True, capture_output=True, timeout=300)
    return path


class Server:
    def __init__(self, model, *args, env=None, ready=True):
        self.log = []
        self.proc = subprocess.Popen([PTHRUN, "serve", model, "--port", "0", *args], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, **(env or {})})
        self._listening = threading.Event()
        self.port = None
        threading.Thread(target=self._drain, daemon=True).start()
        if not self._listening.wait(60):
            self.kill()
            raise RuntimeError("pthrun serve did not start listening: " + "".join(self.log))
        if ready:
            self.wait_ready()

    def _drain(self):
        with self.proc.stderr:
            for line in self.proc.stderr:
                self.log.append(line)
                m = re.search(r"listening on http://[\d.]+:(\d+)", line)
                if m:
                    self.port = int(m.group(1))
                    self._listening.set()

    def wait_ready(self, seconds=120):
        deadline = time.time() + seconds
        while time.time() < deadline:
            status, _, _ = self.request("GET", "/health")
            if status == 200:
                return
            time.sleep(0.1)
        raise RuntimeError("pthrun serve never became ready: " + "".join(self.log))

    def request(self, method, path, body=None, headers=None, timeout=120):
        """(status, headers, body bytes); `body` is sent as JSON unless it is bytes."""
        conn = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            if body is not None and not isinstance(body, (bytes, bytearray)):
                body = json.dumps(body).encode()
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            conn.close()

    def json(self, method, path, body=None, headers=None):
        status, hdrs, data = self.request(method, path, body, headers)
        return status, json.loads(data)

    def metrics(self, headers=None):
        """{(name, labels as a frozenset of pairs): value} from /metrics."""
        status, _, data = self.request("GET", "/metrics", headers=headers)
        assert status == 200, data
        out = {}
        for line in data.decode().splitlines():
            m = re.match(r'^(\w+)(?:\{(.*)\})? (\S+)$', line)
            if m and not line.startswith("#"):
                labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
                out[(m.group(1), labels)] = float(m.group(3))
        return out

    def metric(self, name, **labels):
        return self.metrics().get((name, frozenset(labels.items())))

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc.wait()
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def bench_model():
    """gpt2-small with random weights, made once in the temporary directory: the benchmarks' model."""
    path = os.path.join(tempfile.gettempdir(), "pthrun-bench-gpt2-small.pth")
    if not os.path.exists(path):
        subprocess.run([PTHRUN, "init", "--config", "gpt2-small", "-o", path], check=True, capture_output=True)
    return path


def sse_data(response):
    """The data of each server-sent event of an http.client response, as bytes, as it arrives."""
    buffer = b""
    while True:
        chunk = response.read1(65536)
        if not chunk:
            return
        buffer += chunk
        while b"\n\n" in buffer:
            event, buffer = buffer.split(b"\n\n", 1)
            yield event[len(b"data: "):]


def open_stream(port, body):
    """A raw socket that has sent a streaming completion and read its first event."""
    s = socket.create_connection((HOST, port), timeout=30)
    data = json.dumps({**body, "stream": True}).encode()
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
              str(len(data)).encode() + b"\r\n\r\n" + data)
    seen, deadline = b"", time.time() + 60
    while b"data: " not in seen:
        chunk = s.recv(4096)
        if not chunk or time.time() > deadline:
            s.close()
            raise AssertionError("no event came: " + seen.decode(errors="replace"))
        seen += chunk
    return s


def wait_for(condition, seconds=30):
    """Polls until `condition()` holds; False when it did not within `seconds`."""
    deadline = time.time() + seconds
    while not condition():
        if time.time() > deadline:
            return False
        time.sleep(0.01)
    return True


def sse_events(raw):
    """The `data:` payloads of a server-sent event stream, as text."""
    return [event[len("data: "):] for event in raw.decode().split("\n\n") if event.startswith("data: ")]
