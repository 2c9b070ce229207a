#!/usr/bin/env python3
"""A minimal backend behind streamgate, Python standard library only: a streaming /generate (NDJSON),
a $connect that checks a header, a $disconnect, and a custom `subscribe` action that answers and then
pushes a message to the client through streamgate's @connections API.

    PORT=9000 STREAMGATE_URL=http://127.0.0.1:8080 STREAMGATE_ADMIN_KEY=dev-admin-key python3 server.py
"""
import json
import os
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(os.environ.get("PORT", "9000"))
STREAMGATE_URL = os.environ.get("STREAMGATE_URL", "http://127.0.0.1:8080")
ADMIN_KEY = os.environ.get("STREAMGATE_ADMIN_KEY", "dev-admin-key")
DEMO_TOKEN = os.environ.get("DEMO_TOKEN", "letmein")
TOKEN_DELAY = float(os.environ.get("TOKEN_DELAY_MS", "40")) / 1000


def push(connection_id, message):
    """POST /@connections/{id}: streamgate sends the body to that client as one frame."""
    req = urllib.request.Request(
        f"{STREAMGATE_URL}/@connections/{urllib.parse.quote(connection_id)}",
        data=json.dumps(message).encode(),
        headers={"x-admin-key": ADMIN_KEY, "content-type": "application/json"},
        method="POST",
    )
    try:
        urllib.request.urlopen(req, timeout=5).read()
    except OSError as e:
        print(f"push failed: {e}", file=sys.stderr)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and chunked streaming for /generate

    def log_message(self, fmt, *args):
        pass

    def read_json(self):
        n = int(self.headers.get("content-length") or 0)
        return json.loads(self.rfile.read(n) or b"{}")

    def send_json(self, status, body=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def generate(self):
        """streamgate's streaming backend contract, answered as NDJSON."""
        body = self.read_json()
        self.send_response(200)
        self.send_header("content-type", "application/x-ndjson")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        line = lambda o: self.chunk((json.dumps(o) + "\n").encode())
        words = f'You asked: "{body.get("userInput", "")}". Here is a streamed answer from the Python backend.'.split(" ")
        try:
            line({"type": "progress", "stage": "generating", "step": "Looking things up...", "progress": 50})
            for i, w in enumerate(words):
                line({"type": "delta", "content": w if i == len(words) - 1 else w + " "})
                if TOKEN_DELAY:
                    time.sleep(TOKEN_DELAY)
            line({"type": "usage", "inputTokens": len(body.get("userInput", "").split()), "outputTokens": len(words)})
            self.wfile.write(b"0\r\n\r\n")  # the end of the body ends the stream
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # a client's cancel closed the request: stop generating

    def connect(self):
        """Let in only clients that send the demo header; keep who they are as the context."""
        body = self.read_json()
        if body.get("headers", {}).get("x-demo-token") != DEMO_TOKEN:
            return self.send_json(401, {"message": "send X-Demo-Token"})
        user = body.get("query", {}).get("user", "guest")
        self.send_json(200, {"context": {"user": user, "connectedVia": "python"}})

    def disconnect(self):
        body = self.read_json()
        print(f"disconnected {body.get('connectionId')} with close code {body.get('closeCode')}", file=sys.stderr)
        self.send_json(204)

    def subscribe(self):
        """The custom action: the answer is one frame to the client; then a push through @connections."""
        msg = self.read_json()
        connection_id = self.headers.get("x-streamgate-connection-id", "")
        context = json.loads(self.headers.get("x-streamgate-context") or "{}")
        room = msg.get("room", "lobby")
        self.send_json(200, {"type": "subscribed", "room": room, "user": context.get("user")})
        message = {"type": "room_message", "room": room, "text": f"welcome, {context.get('user')}"}
        threading.Timer(0.05, push, args=(connection_id, message)).start()

    def do_POST(self):
        routes = {"/generate": self.generate, "/connect": self.connect, "/disconnect": self.disconnect,
                  "/subscribe": self.subscribe}
        handler = routes.get(urllib.parse.urlsplit(self.path).path)
        if not handler:
            return self.send_json(404, {"message": "not found"})
        try:
            handler()
        except ValueError as e:
            self.send_json(400, {"message": str(e)})


def main():
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    server.daemon_threads = True
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    print(f"backend-python listening on http://127.0.0.1:{server.server_address[1]}", file=sys.stderr)
    if "--exit-with-stdin" in sys.argv:  # tests: stop when the parent goes away
        threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
