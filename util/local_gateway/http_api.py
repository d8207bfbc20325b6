"""The HTTP side of the local run: API Gateway's HTTP API (payload format 2.0 events in, the
function's answer mapped back to HTTP) and the local server: /webhook, /outbox (and the providers'
send paths, outbox.py) and /."""

from __future__ import annotations

import base64
import json
import re
import sys
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

from .config import DEFAULT_PORT
from .outbox import Outbox, provider_of_path
from .timeline import Timeline, mask_digits

MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit; post_message enforces its own
# Content types an HTTP API passes to Lambda as text; any other body arrives base64-encoded
# (e.g. form posts such as Twilio's), and post_message decodes it.
TEXT_TYPES = re.compile(r"^(text/.*|application/(json|xml|javascript)|application/[\w.+-]+\+(json|xml))$")
# Connections the kernel queues before the server accepts them (listen(2)'s backlog). The
# socketserver default, 5, reset connections when a few dozen webhooks arrived at once (issue 11).
LISTEN_BACKLOG = 1024


def api_gateway_event(method: str, target: str, headers: list[tuple[str, str]], body: bytes, *,
                      source_ip: str, protocol: str = "HTTP/1.1", port: int = DEFAULT_PORT,
                      now: float | None = None) -> dict:
    """The payload-format-2.0 event an HTTP API route `METHOD /path` with a Lambda proxy integration sends."""
    now = time.time() if now is None else now
    url = urlsplit(target)
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        name = name.lower()
        if name == "cookie":
            cookies += [c.strip() for c in value.split(";") if c.strip()]
            continue
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    joined.setdefault("x-forwarded-for", source_ip)
    joined.setdefault("x-forwarded-port", str(port))
    joined.setdefault("x-forwarded-proto", "http")
    trace = f"Root=1-{int(now):08x}-{uuid.uuid4().hex[:24]}"
    joined.setdefault("x-amzn-trace-id", trace)
    query: dict[str, str] = {}
    for key, value in parse_qsl(url.query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value
    domain = joined.get("host", f"127.0.0.1:{port}").split(":")[0]
    route_key = f"{method} {url.path}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": url.path,
        "rawQueryString": url.query,
        "headers": joined,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = {
        "accountId": "123456789012",
        "apiId": "local",
        "domainName": domain,
        "domainPrefix": domain.split(".")[0],
        "http": {
            "method": method,
            "path": url.path,
            "protocol": protocol,
            "sourceIp": source_ip,
            "userAgent": joined.get("user-agent", ""),
        },
        "requestId": base64.b32encode(uuid.uuid4().bytes[:10]).decode().rstrip("=").lower(),
        "routeKey": route_key,
        "stage": "$default",
        "time": datetime.fromtimestamp(now, timezone.utc).strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now * 1000),
    }
    content_type = joined.get("content-type", "").split(";")[0].strip().lower()
    if body:
        text = None
        if TEXT_TYPES.match(content_type):
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        event["body"] = text if text is not None else base64.b64encode(body).decode()
        event["isBase64Encoded"] = text is None
    else:
        event["isBase64Encoded"] = False
    return event


def http_response(result: Any) -> tuple[int, dict[str, str], bytes]:
    """Map a Lambda result to the HTTP answer, as an HTTP API does for payload format 2.0."""
    if not (isinstance(result, dict) and "statusCode" in result):
        return 200, {"Content-Type": "application/json"}, json.dumps(result).encode()
    headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    return int(result["statusCode"]), headers, data


class GatewayServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the client went away; nothing to report
        super().handle_error(request, client_address)
    webhook: Callable[[dict, Any], Any]
    webhook_context: Any
    outbox: Outbox
    timeline: Timeline
    info: dict


class RequestHandler(BaseHTTPRequestHandler):
    server: GatewayServer
    protocol_version = "HTTP/1.1"
    server_version = "debouncer-local"

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_PUT(self):
        self.route("PUT")

    def do_DELETE(self):
        self.route("DELETE")

    def do_PATCH(self):
        self.route("PATCH")

    def log_message(self, format, *args):  # noqa: A002 - the timeline reports what matters
        pass

    def route(self, method: str) -> None:
        path = urlsplit(self.path).path
        try:
            body = self.read_body()
        except ValueError as exc:
            self.reply(413 if "large" in str(exc) else 400, {"message": str(exc)})
            return
        if path == "/webhook" and method in ("GET", "POST"):
            self.webhook(method, body)
        elif path == "/outbox" and method == "GET":
            self.reply(200, self.server.outbox.items())
        elif path == "/outbox" and method == "DELETE":
            self.reply(200, {"deleted": self.server.outbox.clear()})
        elif method == "POST" and (path == "/outbox" or path.startswith("/outbox/")):
            self.outbox_post(path[len("/outbox"):] or "/", body)
        elif method == "POST" and provider_of_path(path):  # a provider's API base pointed at this server
            self.outbox_post(path, body)
        elif path == "/" and method == "GET":
            self.reply(200, self.server.info)
        else:
            self.reply(404, {"message": "Not Found"})  # what an HTTP API answers for an unknown route

    def read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_REQUEST_BYTES:
                    raise ValueError("request body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BYTES:
            raise ValueError("request body too large")
        return self.rfile.read(length) if length > 0 else b""

    def webhook(self, method: str, body: bytes) -> None:
        event = api_gateway_event(method, self.path, list(self.headers.items()), body,
                                  source_ip=self.client_address[0], protocol=self.request_version,
                                  port=self.server.server_address[1])
        try:
            result = self.server.webhook(event, self.server.webhook_context)
        except Exception as exc:  # noqa: BLE001 - API Gateway answers 500 when the function fails
            self.server.timeline.line("post_message failed", f"{type(exc).__name__}: {mask_digits(str(exc))[:200]}")
            self.reply(500, {"message": "Internal Server Error"})
            return
        status, headers, data = http_response(result)
        self.send_response(status)
        headers.setdefault("Content-Type", "application/json")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def outbox_post(self, path: str, body: bytes) -> None:
        """A provider's send request (outbox.py): recorded, answered as that provider answers."""
        headers = {k.lower(): v for k, v in self.headers.items()}
        form = headers.get("content-type", "").split(";")[0].strip().lower() == "application/x-www-form-urlencoded"
        try:
            payload: Any = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True)) if form else json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            self.reply(400, {"error": "invalid_json", "message": "the outbox records JSON (or form-encoded) bodies"})
            return
        answer = self.server.outbox.send(path, headers, payload, form=form)
        self.reply(answer.status, answer.body)

    def reply(self, status: int, payload: Any) -> None:
        data = json.dumps(payload, indent=1 if isinstance(payload, list) else None).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def bind(port: int) -> GatewayServer:
    """Claim the port now (a busy port fails here, before moto starts); listen() comes when ready."""
    server = GatewayServer(("127.0.0.1", port), RequestHandler, bind_and_activate=False)
    try:
        server.server_bind()
    except OSError:
        server.server_close()
        raise
    return server
