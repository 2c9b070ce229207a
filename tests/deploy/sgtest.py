"""Helpers of the deployment tests: a streamgate process with a notify socket, deadlines everywhere."""
import json
import os
import re
import select
import socket
import subprocess
import tempfile
import threading
import time


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NotifySocket:
    """A unix datagram socket standing in for the service manager's NOTIFY_SOCKET."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages = []

    def wait_for(self, line, timeout=20.0):
        """Reads datagrams until one holds `line` (e.g. READY=1); returns that datagram's lines."""
        deadline = time.monotonic() + timeout
        while True:
            for m in self.messages:
                if line in m:
                    self.messages.remove(m)
                    return m
            left = deadline - time.monotonic()
            check(left > 0, f"no {line} on the notify socket within {timeout} s (got {self.messages})")
            ready, _, _ = select.select([self.sock], [], [], left)
            if ready:
                self.messages.append(self.sock.recv(4096).decode().split("\n"))

    def close(self):
        self.sock.close()


class Server:
    """streamgate started with `args`; its stderr (JSON lines) is collected and the bound port read
    from the "listening" line."""

    def __init__(self, argv, env=None, cwd=None):
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=env, cwd=cwd)
        self.lines = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        line = self.wait_log(lambda o: o.get("msg") == "listening")
        self.port = int(line["port"])
        keys = [o for o in self.lines if "adminKey" in o]
        self.admin_key = keys[0]["adminKey"] if keys else None

    def _read(self):
        for raw in self.proc.stderr:
            try:
                obj = json.loads(raw)
            except ValueError:
                obj = {"raw": raw.decode(errors="replace")}
            with self.cond:
                self.lines.append(obj)
                self.cond.notify_all()
        with self.cond:
            self.lines.append({"exited": True})
            self.cond.notify_all()

    def wait_log(self, pred, timeout=20.0):
        def match():
            return next((o for o in self.lines if "exited" in o or pred(o)), None)

        with self.cond:
            check(self.cond.wait_for(lambda: match() is not None, timeout),
                  f"log line not seen within {timeout} s: {self.lines[-5:]}")
            found = match()
            check("exited" not in found, f"streamgate exited: {self.lines[-10:]}")
            return found

    def stop(self, timeout=20.0):
        """SIGTERM, then the exit code."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise Failure("streamgate did not stop on SIGTERM")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def read_sse_events(resp, until_type, on_event=None):
    """Reads an SSE response (a file-like object) event by event until an event of `until_type`;
    returns the events as (type, JSON) pairs. `on_event` runs on each as it arrives."""
    events, etype, data = [], None, []
    while True:
        line = resp.readline()
        check(line, f"the SSE response ended before {until_type}: {events}")
        line = line.decode().rstrip("\r\n")
        if line.startswith("event:"):
            etype = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and etype:
            ev = (etype, json.loads("\n".join(data)))
            events.append(ev)
            if on_event:
                on_event(ev)
            if etype == until_type:
                return events
            etype, data = None, []


def temp_dir(prefix):
    return tempfile.mkdtemp(prefix=prefix, dir="/tmp")


def run(argv, **kw):
    """Runs a command with a deadline; returns its stdout, fails with its stderr."""
    r = subprocess.run(argv, capture_output=True, text=True, timeout=kw.pop("timeout", 300), **kw)
    check(r.returncode == 0, f"{' '.join(argv)} exited {r.returncode}: {r.stderr[-2000:]} {r.stdout[-2000:]}")
    return r.stdout


def pattern_count(text, pattern):
    return len(re.findall(pattern, text, flags=re.M))
