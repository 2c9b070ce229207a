#!/usr/bin/env python3
"""deploy/nginx/streamgate.conf (the configuration docs/deploy.md gives) in front of the real
streamgate: TLS with a throwaway certificate, the WebSocket upgrade, SSE events arriving while the
stream still runs, X-Forwarded-For believed from nginx only, and the HTTP → HTTPS redirect.
Everything listens on loopback; the client connects from 127.0.0.2, so its address differs from
nginx's (127.0.0.1) and only a forwarded address can name it.

usage: nginx_test.py STREAMGATE_BIN SOURCE_DIR
"""
import base64
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sgtest import Failure, Server, check, free_port, read_sse_events, run, temp_dir  # noqa: E402

HOST = "chat.example.com"
CLIENT_ADDR = "127.0.0.2"
SPOOFED = "203.0.113.9"


def nginx_config(source_dir, work, sg_port, http_port, https_port):
    """The documented file with only its ports and certificate paths changed; each change must apply once."""
    text = open(os.path.join(source_dir, "deploy/nginx/streamgate.conf")).read()
    changes = [("server 127.0.0.1:8080;", f"server 127.0.0.1:{sg_port};"),
               ("listen 80;", f"listen 127.0.0.1:{http_port};"),
               ("    listen [::]:80;\n", ""),
               ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
               ("    listen [::]:443 ssl http2;\n", ""),
               (f"/etc/letsencrypt/live/{HOST}/fullchain.pem", f"{work}/cert.pem"),
               (f"/etc/letsencrypt/live/{HOST}/privkey.pem", f"{work}/key.pem")]
    for old, new in changes:
        check(text.count(old) == 1, f"deploy/nginx/streamgate.conf no longer has {old!r} exactly once")
        text = text.replace(old, new)
    open(os.path.join(work, "streamgate.conf"), "w").write(text)
    temp = " ".join(f"{k}_temp_path {work}/{k};" for k in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"])
    open(os.path.join(work, "nginx.conf"), "w").write(f"""
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 256; }}
http {{
    access_log {work}/access.log;
    {temp}
    include {work}/streamgate.conf;
}}
""")


def doc_matches(source_dir):
    """docs/deploy.md shows deploy/nginx/streamgate.conf as it is, and names only series /metrics has."""
    doc = open(os.path.join(source_dir, "docs/deploy.md")).read()
    conf = open(os.path.join(source_dir, "deploy/nginx/streamgate.conf")).read()
    check(f"```nginx\n{conf}```" in doc, "docs/deploy.md does not show deploy/nginx/streamgate.conf as it is")
    section = doc[doc.index("## Metrics to alert on"):]
    section = section[:section.index("\n## ")]
    series = set(re.findall(r"\b(streamgate_[a-z_]+)", section))
    check(len(series) >= 8, f"the metrics section names few series: {series}")
    return series


def connect(port, deadline_s=10.0):
    """A TCP connection from CLIENT_ADDR; retried until nginx listens (it has no readiness signal)."""
    deadline = time.monotonic() + deadline_s
    while True:
        s = socket.socket()
        s.settimeout(10)
        s.bind((CLIENT_ADDR, 0))
        try:
            s.connect(("127.0.0.1", port))
            return s
        except ConnectionRefusedError:
            s.close()
            check(time.monotonic() < deadline, f"nothing listens on {port}")
            time.sleep(0.05)


class TLSConnection(http.client.HTTPSConnection):
    """HTTPS to nginx from CLIENT_ADDR, verifying the throwaway certificate for HOST."""

    def __init__(self, port, cafile):
        ctx = ssl.create_default_context(cafile=cafile)
        super().__init__(HOST, port, context=ctx, timeout=10)
        self.real_port = port

    def connect(self):
        self.sock = self._context.wrap_socket(connect(self.real_port), server_hostname=HOST)


class WebSocket:
    """Just enough of RFC 6455 for the test: a client handshake, masked text frames out, frames in."""

    def __init__(self, sock, path, headers):
        self.sock = sock
        self.buf = b""
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: {HOST}", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"] + [f"{k}: {v}" for k, v in headers.items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        self.response = head.decode()
        check(self.response.startswith("HTTP/1.1 101"), f"no upgrade: {self.response}")

    def _fill(self):
        data = self.sock.recv(65536)
        check(data, "the WebSocket connection closed")
        self.buf += data

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, obj):
        payload = json.dumps(obj).encode()
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack("!H", n))
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def read(self):
        b0, b1 = self._take(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._take(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._take(8))[0]
        payload = self._take(n)
        check(b0 & 0x0F == 1, f"expected a text frame, got opcode {b0 & 0x0F}")
        return json.loads(payload)


def main():
    bin_path, source_dir = sys.argv[1], sys.argv[2]
    work = temp_dir("sg-nginx-")
    server = nginx = None
    try:
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{work}/key.pem", "-out", f"{work}/cert.pem", "-days", "2", "-subj", f"/CN={HOST}",
             "-addext", f"subjectAltName=DNS:{HOST}"])
        admin_key = base64.b16encode(os.urandom(16)).decode()
        env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMGATE_")}
        env["STREAMGATE_ADMIN_KEY"] = admin_key
        # The flags docs/deploy.md gives for one node behind nginx. The demo's first token comes 1.5 s
        # after the start, so the events before it are few bytes that a buffering proxy would hold.
        server = Server([bin_path, "--listen", "127.0.0.1:0", "--data-dir", f"{work}/data", "--web-root", "",
                         "--threads", "1", "--allowed-hosts", f"{HOST},127.0.0.1", "--trusted-proxies", "127.0.0.1/32,::1/128",
                         "--demo-ttft-ms", "1500", "--demo-tokens-per-second", "200"], env=env)
        # Every series the alerting section names is one the server exports.
        c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        c.request("GET", "/metrics")
        exported = c.getresponse().read().decode()
        c.close()
        missing = [m for m in doc_matches(source_dir) if not re.search(rf"^(# TYPE )?{m}[{{ ]", exported, re.M)]
        check(not missing, f"docs/deploy.md names series /metrics lacks: {missing}")

        http_port, https_port = free_port(), free_port()
        nginx_config(source_dir, work, server.port, http_port, https_port)
        nginx_cmd = ["nginx", "-p", work, "-c", f"{work}/nginx.conf", "-e", "stderr"]
        run(nginx_cmd + ["-t"])
        nginx = subprocess.Popen(nginx_cmd, stdout=subprocess.DEVNULL, stderr=open(f"{work}/nginx.err", "w"))

        def direct(method, path):
            """A request straight to streamgate (not through nginx), as the operator's admin calls are."""
            c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            c.request(method, path, headers={"Host": HOST, "X-Admin-Key": admin_key})
            r = c.getresponse()
            body = r.read()
            c.close()
            return r.status, json.loads(body) if body else None

        # HTTP → HTTPS.
        plain = connect(http_port)
        plain.sendall(f"GET /healthz HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := plain.recv(4096):
            answer += chunk
        plain.close()
        check(answer.startswith(b"HTTP/1.1 301") and f"Location: https://{HOST}/healthz".encode() in answer,
              f"port 80 does not redirect: {answer[:200]}")

        # HTTPS, the certificate verified for HOST.
        c = TLSConnection(https_port, f"{work}/cert.pem")
        c.request("GET", "/healthz")
        r = c.getresponse()
        check(r.status == 200 and json.loads(r.read()) == {"status": "ok"}, f"/healthz through nginx: {r.status}")
        check("max-age" in (r.getheader("Strict-Transport-Security") or ""), "no HSTS header")
        c.close()

        # WebSocket through nginx; the client also claims to be someone else in its own X-Forwarded-For.
        tls = ssl.create_default_context(cafile=f"{work}/cert.pem")
        ws = WebSocket(tls.wrap_socket(connect(https_port), server_hostname=HOST), "/ws",
                       {"X-Forwarded-For": SPOOFED, "User-Agent": "deploy-test"})
        hello = ws.read()
        check(hello["type"] == "connected", f"first frame: {hello}")
        ws.send({"action": "stream", "projectId": "deploy", "userInput": "through nginx"})
        types = []
        while not types or types[-1] not in ("stream_complete", "error"):
            types.append(ws.read()["type"])
        check(types[0] == "stream_start" and types[-1] == "stream_complete" and "stream_chunk" in types,
              f"WebSocket stream through nginx: {types}")
        status, conn = direct("GET", f"/@connections/{hello['connectionId']}")
        check(status == 200, f"/@connections answered {status}")
        source = conn["identity"]["sourceIp"]
        check(source == CLIENT_ADDR, f"sourceIp {source}: expected the client {CLIENT_ADDR} (nginx is 127.0.0.1, "
              f"{SPOOFED} is what the client claimed)")
        ws.sock.close()

        # SSE through nginx: stream_start must arrive before the first token exists (it is a few hundred
        # bytes; a proxy that buffers would wait for a full buffer, i.e. for many tokens), and the
        # first chunk while the stream still runs.
        c = TLSConnection(https_port, f"{work}/cert.pem")
        c.request("POST", "/v1/streams", json.dumps({"projectId": "deploy", "userInput": "sse through nginx"}),
                  {"Accept": "text/event-stream", "Content-Type": "application/json"})
        r = c.getresponse()
        check(r.status == 200, f"POST /v1/streams through nginx answered {r.status}")
        check(r.getheader("Content-Type", "").startswith("text/event-stream"), "not an event stream")
        cookie = r.getheader("Set-Cookie") or ""
        check(cookie == "" or "Secure" in cookie, f"identity cookie without Secure behind TLS: {cookie}")
        states = []

        def on_event(ev):
            etype, data = ev
            if etype in ("stream_start", "stream_chunk") and len(states) < 2:
                status, info = direct("GET", f"/v1/streams/{data['streamId']}")
                states.append((etype, status, info and info.get("state"), len(info and info.get("text") or "")))

        events = read_sse_events(r, "stream_complete", on_event)
        c.close()
        chunks = sum(1 for t, _ in events if t == "stream_chunk")
        check(len(states) == 2 and states[0] == ("stream_start", 200, "running", 0)
              and states[1][:3] == ("stream_chunk", 200, "running"),
              f"SSE events were held back by the proxy: (event, status, state, text so far) on arrival: {states}")
        check(chunks >= 5, f"only {chunks} chunks")
        print(f"ok: redirect, TLS, WebSocket stream of {len(types)} events, sourceIp {source}, "
              f"SSE {chunks} chunks with the first events seen while running: {states}")
        return 0
    except Failure as e:
        print(f"FAIL: {e}")
        if server:
            print("streamgate log tail:", server.lines[-8:])
        if os.path.exists(f"{work}/nginx.err"):
            print("nginx:", open(f"{work}/nginx.err").read()[-2000:])
        return 1
    finally:
        if nginx:
            nginx.terminate()
            try:
                nginx.wait(10)
            except subprocess.TimeoutExpired:
                nginx.kill()
                nginx.wait()
        if server:
            server.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
