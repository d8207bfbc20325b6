"""A real local HTTP server that records requests and answers with scripted statuses."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class RecordingServer:
    def __init__(self):
        self.requests: list[dict] = []
        self.statuses: list[int] = []  # popped per request; 200 when empty
        self.delay_seconds = 0.0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                server.requests.append(server.record(self.path, dict(self.headers), body))
                if server.delay_seconds:
                    time.sleep(server.delay_seconds)
                status = server.statuses.pop(0) if server.statuses else 200
                payload = json.dumps(server.answer(status)).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def record(self, path: str, headers: dict, body: bytes) -> dict:
        """What ``requests`` keeps of a request."""
        return {"method": "POST", "path": path, "headers": headers, "body": body}

    def answer(self, status: int) -> dict:
        """The JSON body answered with ``status``."""
        return {"ok": 200 <= status < 300}

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def json_bodies(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests]
