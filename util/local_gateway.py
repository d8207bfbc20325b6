"""The whole gateway on this machine, no AWS account: `make run` (or `python util/local_gateway.py`).

- AWS is moto, in this process, with Step Functions execution on: the table (keys from
  modules/dynamodb/main.tf), the state machine rendered from modules/step_functions/definition.asl.json,
  the send queue and its DLQ, and Lambda function records whose invocations run the project's
  handlers in process.
- http://127.0.0.1:$GATEWAY_PORT/webhook?appId=APP  hands post_message exactly the API Gateway
  HTTP API (payload format 2.0) event;  /outbox  stands in for the messaging provider: it records
  every POST, and GET returns them in arrival order;  /  describes this local gateway (JSON).
- A poller consumes the send queue as the Lambda SQS event source mapping does (batches, partial
  batch responses, redelivery after the visibility timeout, DLQ after send_max_receive_count).
- Configuration comes from terraform.tfvars (and variables.tf defaults), overridable with
  DEBOUNCE_SECONDS, PROCESSING_LAMBDAS_MAP and API_URLS_MAP (JSON, as the Lambda env vars).
  App `demo` always runs lambda/examples/echo_bot and replies to the local outbox.
- The console shows a timeline of what happens, phone numbers masked. Ctrl-C stops.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import importlib.util
import itertools
import json
import logging
import os
import re
import signal
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, TextIO
from urllib.parse import parse_qsl, urlsplit

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT / "lambda", ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from util import tfvars  # noqa: E402

DEFAULT_PORT = 8080
EXAMPLES = ROOT / "lambda" / "examples"
ECHO_BOT = "echo_bot"  # the local function name of lambda/examples/echo_bot
DEMO_APP = "demo"
MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit; post_message enforces its own
SQS_VISIBILITY_TIMEOUT = 3  # short, so a failed reply is retried (and dead-lettered) within seconds
POLL_INTERVAL = 0.2
# Content types an HTTP API passes to Lambda as text; any other body arrives base64-encoded
# (e.g. form posts such as Twilio's), and post_message decodes it.
TEXT_TYPES = re.compile(r"^(text/.*|application/(json|xml|javascript)|application/[\w.+-]+\+(json|xml))$")


# The root module variables the local run reads itself from terraform.tfvars (or variables.tf
# defaults); the other values main.tf passes to the functions follow it (lambda_environment).
TFVARS_USED = ("name_prefix", "debounce_seconds", "processing_lambdas_map", "api_urls_map", "log_level",
               "send_max_receive_count", "send_batch_size", "http_timeout_seconds", "providers_map")


class LocalConfigError(ValueError):
    pass


# --- configuration ------------------------------------------------------------------------------


@dataclass
class LocalConfig:
    port: int
    name_prefix: str
    debounce_seconds: str
    processing_lambdas: dict[str, str]
    api_urls: dict[str, str]
    providers: dict[str, str]  # app_id -> messaging provider; absent: zapi
    log_level: str
    max_receive_count: int
    send_batch_size: int
    http_timeout_seconds: str
    retry_interval_seconds: int
    retry_max_attempts: int
    terraform: dict[str, Any] = field(default_factory=dict)  # every root variable's value
    shell: dict[str, str] = field(default_factory=dict)  # the environment it was made from
    notes: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def outbox_url(self) -> str:
        return f"{self.base_url}/outbox"


def _json_map_env(env: dict[str, str], name: str) -> dict[str, str]:
    raw = env.get(name, "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise LocalConfigError(f"{name} is not valid JSON: {exc.msg}") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) and k and v
                                              for k, v in value.items()):
        raise LocalConfigError(f"{name} must be a JSON object of non-empty strings, e.g. '{{\"demo\": \"...\"}}'")
    return value


def local_config(env: dict[str, str] | None = None, root: Path = ROOT) -> LocalConfig:
    """terraform.tfvars (over variables.tf defaults), then the local overrides from the environment."""
    env = dict(os.environ if env is None else env)
    values = tfvars.load(root)
    module_defaults = tfvars.variable_defaults(root / "modules" / "step_functions" / "variables.tf")
    raw_port = env.get("GATEWAY_PORT", "").strip() or str(DEFAULT_PORT)
    if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
        raise LocalConfigError(f"GATEWAY_PORT must be a TCP port number, got {raw_port!r}")
    port = int(raw_port)
    outbox = f"http://127.0.0.1:{port}/outbox"
    lambdas = {str(k): str(v) for k, v in (values.get("processing_lambdas_map") or {}).items()}
    urls = {str(k): str(v) for k, v in (values.get("api_urls_map") or {}).items()}
    providers = {str(k): str(v) for k, v in (values.get("providers_map") or {}).items()}
    lambdas[DEMO_APP], urls[DEMO_APP], providers[DEMO_APP] = ECHO_BOT, outbox, "zapi"
    lambdas.update(_json_map_env(env, "PROCESSING_LAMBDAS_MAP"))
    urls.update(_json_map_env(env, "API_URLS_MAP"))
    providers.update(_json_map_env(env, "PROVIDERS_MAP"))
    notes = []
    for app in sorted(set(lambdas) - set(urls)):
        urls[app] = outbox
        notes.append(f"app {app} has no URL in api_urls_map: its replies go to the local outbox")
    return LocalConfig(
        port=port,
        name_prefix=str(values.get("name_prefix") or "debouncer"),
        debounce_seconds=env.get("DEBOUNCE_SECONDS", "").strip() or str(values.get("debounce_seconds", 10)),
        processing_lambdas=lambdas,
        api_urls=urls,
        providers=providers,
        log_level=env.get("LOG_LEVEL", "").strip() or str(values.get("log_level") or "INFO"),
        max_receive_count=int(values.get("send_max_receive_count", 5)),
        send_batch_size=int(values.get("send_batch_size", 10)),
        http_timeout_seconds=env.get("HTTP_TIMEOUT_SECONDS", "").strip() or str(values.get("http_timeout_seconds", 10)),
        retry_interval_seconds=int(module_defaults.get("retry_interval_seconds", 2)),
        retry_max_attempts=int(module_defaults.get("retry_max_attempts", 6)),
        terraform=values,
        shell=env,
        notes=notes,
    )


def function_name_of(value: str) -> str:
    """A processing_lambdas_map value may be a name or an ARN (possibly qualified)."""
    if value.startswith("arn:"):
        return value.split(":function:")[-1].split(":")[0]
    return value


def load_example(name: str) -> Callable[[dict, Any], Any] | None:
    """lambda/examples/<name>/handler.py's lambda_handler, if that folder exists."""
    path = EXAMPLES / name / "handler.py"
    if not re.fullmatch(r"[\w-]+", name) or not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location(f"local_examples_{name.replace('-', '_')}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.lambda_handler


# --- the API Gateway HTTP API event --------------------------------------------------------------


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


# --- the console timeline ------------------------------------------------------------------------


class Timeline:
    """One line per event: time since start, the conversation (app + masked phone), what happened."""

    LABELS = {
        "message stored": "received",
        "duplicate ignored": "duplicate ignored",
        "wait started": "wait started",
        "wait extended": "wait extended",
        "batch dispatched": "batch dispatched",
        "reply sent": "reply sent",
        "reply not sent": "reply NOT sent",
        "reply dead-lettered without retry": "reply dead-lettered",
        "webhook refused": "webhook refused",
        "webhook ignored": "webhook ignored",
    }
    # Record fields that say which conversation a line is about, not what happened.
    IDENTITY = {"app_id", "conversation", "sender", "recipient", "message_id", "batch_id", "seq"}
    _STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}

    def __init__(self, out: TextIO, start: float | None = None):
        self.out = out
        self.start = time.time() if start is None else start
        self._lock = threading.Lock()
        self._conversations: dict[str, str] = {}

    def conversation(self, app_id: str, phone: str) -> str:
        from gateway.log import mask_phone
        from gateway.models import conversation_id

        label = f"{app_id} {mask_phone(phone)}"
        self._conversations[conversation_id(app_id, phone)] = label
        return label

    def line(self, what: str, detail: str = "", who: str = "-", at: float | None = None) -> None:
        t = (time.time() if at is None else at) - self.start
        with self._lock:
            self.out.write(f"{t:9.3f}s  {who:<22} {what:<20} {detail}".rstrip() + "\n")
            self.out.flush()

    def note(self, text: str) -> None:
        with self._lock:
            self.out.write(text + "\n")
            self.out.flush()

    def record(self, record: logging.LogRecord) -> None:
        fields = {k: v for k, v in record.__dict__.items() if k not in self._STANDARD}
        message = record.getMessage()
        who = self._who(fields)
        what = self.LABELS.get(message, message)
        if record.levelno >= logging.WARNING and what == message:
            what = f"{record.levelname.lower()}: {message}"
        self.line(what, self._detail(message, fields, record), who, at=record.created)

    def _who(self, fields: dict) -> str:
        from gateway.log import mask_phone

        conversation = str(fields.get("conversation", ""))
        masked = fields.get("sender") or fields.get("recipient")
        if conversation in self._conversations:
            return self._conversations[conversation]
        if fields.get("app_id") and masked:
            label = f"{fields['app_id']} {masked}"
            if conversation:
                self._conversations[conversation] = label
            return label
        if fields.get("app_id"):
            return f"{fields['app_id']} {conversation[:8]}".strip()
        return mask_phone(str(fields["phone"])) if fields.get("phone") else "-"

    def _detail(self, message: str, fields: dict, record: logging.LogRecord) -> str:
        try:
            if message == "message stored":
                return f"message #{fields['seq']}"
            if message in ("wait started", "wait extended"):
                return f"fires in {float(fields['wait_seconds']):.1f} s"
            if message == "batch dispatched":
                size = int(fields["batch_size"])
                return (f"{size} message{'s' if size != 1 else ''} to its bot, "
                        f"waited {float(fields['waited_seconds']):.1f} s after the last one")
            if message == "reply sent":
                return f"HTTP {fields['http_status']}"
            if message == "reply not sent":
                return f"{fields['error']}" + (" (will be retried)" if fields.get("retryable") else " (not retryable)")
            if message == "reply dead-lettered without retry":
                return f"{fields['error']} (not retryable; moved to the DLQ)"
            if message == "webhook refused":
                return f"HTTP {fields['status']} {fields['error']}"
            if message == "webhook ignored":
                return str(fields["reason"])
        except (KeyError, TypeError, ValueError):
            pass  # a field was renamed: fall back to showing them all
        detail = " ".join(f"{k}={v}" for k, v in fields.items() if k not in self.IDENTITY)
        if record.exc_info and record.exc_info[0] is not None:
            detail += f" [{record.exc_info[0].__name__}: {record.exc_info[1]}]"
        return _mask_digits(detail)


def _mask_digits(text: str) -> str:
    """Phone-number-like digit runs in free text (e.g. an error detail) are masked too."""
    from gateway.log import mask_phone

    return re.sub(r"\+?\d{8,}", lambda m: mask_phone(m.group()), text)


class TimelineHandler(logging.Handler):
    def __init__(self, timeline: Timeline):
        super().__init__(logging.DEBUG)
        self.timeline = timeline

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.timeline.record(record)
        except Exception:  # noqa: BLE001 - a console line must never break a handler
            self.handleError(record)


def install_timeline_logging(timeline: Timeline, service: str) -> None:
    """The handlers log JSON through Powertools (one stdlib logger named after the service): mute
    that stdout output and pretty-print the same records instead."""
    logger = logging.getLogger(service)
    for handler in logger.handlers:
        handler.setLevel(logging.CRITICAL + 1)
    logger.addHandler(TimelineHandler(timeline))


def watch_replies_queued(session, queue_url: str, timeline: Timeline) -> None:
    """A 'reply queued' line whenever any in-process client (a bot) puts a reply on the send queue."""

    def remember(params, context, **_):
        context["local_gateway_params"] = params

    def after(http_response, parsed, model, context, **_):
        params = context.get("local_gateway_params") or {}
        if http_response.status_code >= 300 or params.get("QueueUrl") != queue_url:
            return
        bodies = [params.get("MessageBody")] if model.name == "SendMessage" else [
            e.get("MessageBody") for e in params.get("Entries", [])]
        for body in bodies:
            try:
                reply = json.loads(body)
                who = timeline.conversation(str(reply["app_id"]), str(reply["phone_number"]))
            except (TypeError, ValueError, KeyError):
                who = "-"
            timeline.line("reply queued", "", who)

    for operation in ("SendMessage", "SendMessageBatch"):
        session.events.register(f"before-parameter-build.sqs.{operation}", remember)
        session.events.register(f"after-call.sqs.{operation}", after)


# --- the outbox -----------------------------------------------------------------------------------


class Outbox:
    def __init__(self):
        self._items: list[dict] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def record(self, headers: dict[str, str], body: Any) -> dict:
        with self._lock:
            item = {
                "id": f"local-{next(self._ids)}",
                "received_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                "headers": headers,
                "body": body,
            }
            self._items.append(item)
            return item

    def items(self) -> list[dict]:
        with self._lock:
            return list(self._items)


# --- the SQS event source mapping ------------------------------------------------------------------


class SendQueuePoller(threading.Thread):
    """Consumes the send queue as the Lambda event source mapping does, with ReportBatchItemFailures."""

    def __init__(self, sqs, queue_url: str, queue_arn: str, handler: Callable[[dict, Any], dict],
                 context, timeline: Timeline, *, batch_size: int, max_receive_count: int):
        super().__init__(name="send-queue-poller")
        self.sqs, self.queue_url, self.queue_arn = sqs, queue_url, queue_arn
        self.handler, self.context, self.timeline = handler, context, timeline
        self.batch_size, self.max_receive_count = batch_size, max_receive_count
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                worked = self.poll_once()
            except Exception as exc:  # noqa: BLE001 - keep consuming, as the event source mapping does
                self.timeline.line("queue poll failed", f"{type(exc).__name__}: {_mask_digits(str(exc))[:200]}")
                worked = False
            if not worked:
                self.stopping.wait(POLL_INTERVAL)

    def poll_once(self) -> bool:
        # Short polling: moto requests are serialised, a long poll would hold everyone up.
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=self.batch_size, WaitTimeSeconds=0,
            AttributeNames=["All"], MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return False
        event = {"Records": [self.sqs_record(m) for m in messages]}
        try:
            result = self.handler(event, self.context) or {}
            failed = {f.get("itemIdentifier") for f in result.get("batchItemFailures", [])}
        except Exception as exc:  # noqa: BLE001 - the whole batch failed, as in AWS
            self.timeline.line("send handler failed", f"{type(exc).__name__}: {_mask_digits(str(exc))[:200]}")
            failed = {m["MessageId"] for m in messages}
        for message in messages:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
                continue
            receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
            if receives >= self.max_receive_count:
                self.timeline.line("reply dead-lettered",
                                   f"moved to the DLQ after {receives} attempts", self._who(message))
        return True

    def _who(self, message: dict) -> str:
        try:
            reply = json.loads(message["Body"])
            return self.timeline.conversation(str(reply["app_id"]), str(reply["phone_number"]))
        except (TypeError, ValueError, KeyError):
            return "-"

    def sqs_record(self, message: dict) -> dict:
        attributes = message.get("Attributes", {})
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": {
                "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
                "SentTimestamp": attributes.get("SentTimestamp", str(int(time.time() * 1000))),
                "SenderId": attributes.get("SenderId", "AIDAIENQZJOLO23YVJ4VO"),
                "ApproximateFirstReceiveTimestamp": attributes.get(
                    "ApproximateFirstReceiveTimestamp", str(int(time.time() * 1000))),
            },
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": "us-east-1",
        }


def sweeper_interval_seconds(root: Path = ROOT) -> float:
    """The sweeper rule's rate in main.tf (`rate(1 minute)`), in seconds."""
    text = (root / "main.tf").read_text()
    rule = re.search(r'resource\s+"aws_cloudwatch_event_rule"\s+"sweeper"\s*\{(.*?)\n\}', text, re.S)
    rate = rule and re.search(r'schedule_expression\s*=\s*"rate\((\d+) (minute|minutes|hour|hours)\)"', rule.group(1))
    if not rate:
        return 60.0
    return int(rate.group(1)) * (3600 if rate.group(2).startswith("hour") else 60)


class Schedule(threading.Thread):
    """An EventBridge schedule rule: invokes a handler with a Scheduled Event every `every` seconds."""

    def __init__(self, name: str, every: float, handler: Callable[[dict, Any], Any], context, timeline: Timeline):
        super().__init__(name=name)
        self.every, self.handler, self.context, self.timeline = every, handler, context, timeline
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.every):
            event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
                     "source": "aws.events", "account": "123456789012", "region": "us-east-1",
                     "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "resources": [], "detail": {}}
            try:
                self.handler(event, self.context)
            except Exception as exc:  # noqa: BLE001 - the next tick tries again, as EventBridge would
                self.timeline.line(f"{self.name} failed", f"{type(exc).__name__}: {_mask_digits(str(exc))[:200]}")


# --- HTTP ------------------------------------------------------------------------------------------


class GatewayServer(ThreadingHTTPServer):
    daemon_threads = True

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
        elif path == "/outbox" and method == "POST":
            self.outbox_post(body)
        elif path == "/outbox" and method == "GET":
            self.reply(200, self.server.outbox.items())
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
            self.server.timeline.line("post_message failed", f"{type(exc).__name__}: {_mask_digits(str(exc))[:200]}")
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

    def outbox_post(self, body: bytes) -> None:
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            self.reply(400, {"error": "invalid_json", "message": "the outbox records JSON bodies"})
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        item = self.server.outbox.record(headers, payload)
        self.reply(200, {"id": item["id"]})

    def reply(self, status: int, payload: Any) -> None:
        data = json.dumps(payload, indent=1 if isinstance(payload, list) else None).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


# --- putting it together ---------------------------------------------------------------------------


def bind(port: int) -> GatewayServer:
    """Claim the port now (a busy port fails here, before moto starts); listen() comes when ready."""
    server = GatewayServer(("127.0.0.1", port), RequestHandler, bind_and_activate=False)
    try:
        server.server_bind()
    except OSError:
        server.server_close()
        raise
    return server


def use_fake_aws_credentials() -> None:
    """Whatever the shell holds, a local run never reaches an AWS account."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_LAMBDA_FUNCTION_NAME", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_SESSION_TOKEN="testing",
                      AWS_DEFAULT_REGION="us-east-1", AWS_REGION="us-east-1")


# Set by main.tf for a deployment, deliberately not locally: SSM parameter names (no SSM here; use
# CLIENT_TOKENS_MAP or APP_SECRETS_JSON in your shell instead).
NOT_SET_LOCALLY = ("CLIENT_TOKEN_PARAMETERS_MAP", "SECRETS_PARAMETERS_MAP")


def terraform_environment(root: Path = ROOT) -> dict[str, str]:
    """NAME -> Terraform expression, for every variable main.tf puts in a function's environment."""
    text = (root / "main.tf").read_text()
    blocks = re.findall(r"common_environment = \{(.*?)\n  \}", text, re.S)
    blocks += re.findall(r"environment = merge\(local\.common_environment, \{(.*?)\}\)", text, re.S)
    return {name: expr.strip() for block in blocks for name, expr in re.findall(r"^\s*([A-Z_]+)\s*=\s*(.+)$", block, re.M)}


def _terraform_string(value: Any) -> str:
    """tostring() of a variable's value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def lambda_environment(config: LocalConfig, resources: "Resources",
                       root: Path = ROOT) -> tuple[dict[str, str], list[str]]:
    """What main.tf puts in the functions' environment (one process here, so one environment), with
    the local resources; then (environment, names main.tf sets that have no local value).

    A value main.tf takes from a variable comes from terraform.tfvars, or from the shell when it sets
    the same name (DEBOUNCE_SECONDS=3, SEND_RETRY_BASE_SECONDS=1, ...); the app maps are merged."""
    tf, shell = config.terraform, config.shell
    resource_values = {
        "module.dynamodb.table_name": resources.table,
        "module.step_functions.state_machine_arn": resources.state_machine_arn,
        "aws_sqs_queue.failed_batches.url": resources.failed_batches_url,
        "module.sqs.queue_url": resources.queue_url,
        "module.sqs.dlq_url": resources.dlq_url,
    }
    local = {
        "PROCESSING_LAMBDAS_MAP": json.dumps({app: function_name_of(fn) for app, fn in config.processing_lambdas.items()}),
        "API_URLS_MAP": json.dumps(config.api_urls),
        "PROVIDERS_MAP": json.dumps(config.providers),
        "DEBOUNCE_SECONDS": config.debounce_seconds,
        "HTTP_TIMEOUT_SECONDS": config.http_timeout_seconds,
        "LOG_LEVEL": config.log_level,
        # main.tf fills in each policy's optional fields; the settings loader applies the same defaults.
        "DEBOUNCE_POLICIES": shell.get("DEBOUNCE_POLICIES", "").strip() or json.dumps(tf.get("debounce_policies") or {}),
        "REPLY_QUEUE_URL": resources.queue_url,  # for the example bots
        # main.tf's local.inline_wait_seconds: var.inline_wait_seconds, else 15 (the local machine is STANDARD)
        "INLINE_WAIT_SECONDS": shell.get("INLINE_WAIT_SECONDS", "").strip()
        or (_terraform_string(tf["inline_wait_seconds"]) if tf.get("inline_wait_seconds") is not None else "15"),
    }
    env: dict[str, str] = {}
    unresolved = []
    for name, expression in terraform_environment(root).items():
        variable = re.fullmatch(r"(?:tostring\()?var\.(\w+)\)?", expression)
        encoded = re.fullmatch(r"jsonencode\(var\.(\w+)\)", expression)
        literal = re.fullmatch(r'"([^"$]*)"', expression)
        if name in NOT_SET_LOCALLY or name in local:
            continue
        if expression in resource_values:
            env[name] = resource_values[expression]
        elif literal:
            env[name] = literal.group(1)
        elif variable and variable.group(1) in tf:
            env[name] = shell.get(name, "").strip() or _terraform_string(tf[variable.group(1)])
        elif encoded and encoded.group(1) in tf:
            env[name] = shell.get(name, "").strip() or json.dumps(tf[encoded.group(1)])
        else:
            unresolved.append(name)
    env.update(local)
    return env, unresolved


@dataclass
class Resources:
    table: str
    functions: dict[str, str]  # "post" / "process" / "send" -> function name
    state_machine_arn: str
    queue_url: str
    dlq_url: str
    failed_batches_url: str


def create_resources(config: LocalConfig) -> Resources:
    """In a started moto: what the Terraform root module creates, named as it names them."""
    from util import local_aws

    prefix = config.name_prefix
    table = f"{prefix}-messages"
    local_aws.create_table(table)
    functions = {"post": f"{prefix}-post-message", "process": f"{prefix}-process-message",
                 "send": f"{prefix}-send-message-api"}
    arns = {key: local_aws.create_function(name) for key, name in functions.items()}
    for name in sorted({function_name_of(v) for v in config.processing_lambdas.values()} - set(functions.values())):
        local_aws.create_function(name)  # its invocations are routed to a local handler
    state_machine_arn = local_aws.create_state_machine(
        f"{prefix}-debounce", arns["process"],
        retry_interval_seconds=config.retry_interval_seconds, retry_max_attempts=config.retry_max_attempts)
    queue_url, dlq_url = local_aws.create_queue(f"{prefix}-send", max_receive_count=config.max_receive_count,
                                                visibility_timeout=SQS_VISIBILITY_TIMEOUT)
    # Batches whose delivery kept failing are parked here (process_message, FAILED_BATCHES_QUEUE_URL).
    import boto3

    failed_batches_url = boto3.client("sqs", region_name=local_aws.REGION).create_queue(
        QueueName=f"{prefix}-failed-batches")["QueueUrl"]
    return Resources(table, functions, state_machine_arn, queue_url, dlq_url, failed_batches_url)


class LocalGateway:
    def __init__(self, config: LocalConfig, server: GatewayServer, out: TextIO = sys.stdout):
        self.config, self.server, self.out = config, server, out
        self.timeline = Timeline(out)
        self._contexts: list[Any] = []

    def start(self) -> None:
        import boto3
        from moto import mock_aws

        from util import local_aws

        config, prefix = self.config, self.config.name_prefix
        use_fake_aws_credentials()
        mock = mock_aws(config=local_aws.MOTO_CONFIG)
        mock.start()
        self._contexts.append(mock)
        serial = local_aws.serialize_moto_requests()
        serial.__enter__()
        self._contexts.append(serial)

        boto3.setup_default_session()
        resources = create_resources(config)
        table, names, state_machine_arn = resources.table, resources.functions, resources.state_machine_arn
        queue_url, dlq_url = resources.queue_url, resources.dlq_url
        environment, unresolved = lambda_environment(config, resources)
        os.environ.update(environment)
        config.notes += [f"main.tf sets {name} for the functions; the local run has no value for it" for name in unresolved]
        for name in NOT_SET_LOCALLY:
            os.environ.pop(name, None)
        # The EMF metric lines (Powertools Metrics prints them) would drown the timeline; no CloudWatch here.
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
        watch_replies_queued(boto3.DEFAULT_SESSION, queue_url, self.timeline)

        import post_message.handler as post_handler
        import process_message.handler as process_handler
        import send_message_api.handler as send_handler
        import sweeper.handler as sweeper_handler
        from gateway import aws, settings
        from gateway.log import SERVICE

        settings.reset()
        aws.reset()
        post_handler.service()  # validate the configuration as a cold start does
        process_handler.dispatcher()
        send_handler.sender()
        sweeper_handler.sweeper()
        for service in ("dynamodb", "stepfunctions", "lambda", "sqs"):
            aws.client(service)  # made once here: creating boto3 clients from many threads at once races

        handlers: dict[str, Callable] = {names["process"]: process_handler.lambda_handler}
        echo = load_example(ECHO_BOT)
        lines = []
        for app, value in sorted(config.processing_lambdas.items()):
            name = function_name_of(value)
            if name not in handlers:
                example = echo if name == ECHO_BOT else load_example(name)
                if example is None:
                    example = echo
                    config.notes.append(f"app {app}: Lambda {name} is not available locally, "
                                        f"the echo bot answers for it (lambda/examples/{ECHO_BOT})")
                handlers[name] = example
            where = f"lambda/examples/{name}" if (EXAMPLES / name / "handler.py").is_file() else f"{name} (echo bot)"
            lines.append(f"  app {app:<8} {config.providers.get(app, 'zapi'):<9} bot {where:<28} "
                         f"replies -> {config.api_urls.get(app)}")
        routes = local_aws.route_lambda_invocations(handlers)
        routes.__enter__()
        self._contexts.append(routes)

        install_timeline_logging(self.timeline, SERVICE)
        sqs = aws.client("sqs")
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.poller = SendQueuePoller(
            sqs, queue_url, queue_arn, send_handler.lambda_handler, local_aws.LambdaContext(names["send"]),
            self.timeline, batch_size=config.send_batch_size, max_receive_count=config.max_receive_count)
        self.sweeper = Schedule("sweeper", sweeper_interval_seconds(), sweeper_handler.lambda_handler,
                                local_aws.LambdaContext(f"{prefix}-sweeper"), self.timeline)

        self.server.webhook = post_handler.lambda_handler
        self.server.webhook_context = local_aws.LambdaContext(names["post"])
        self.server.outbox = Outbox()
        self.server.timeline = self.timeline
        self.server.info = {
            "webhook": f"{config.base_url}/webhook?appId=APP",
            "outbox": config.outbox_url,
            "debounce_seconds": float(config.debounce_seconds),
            "apps": {app: {"processing_lambda": fn, "api_url": config.api_urls.get(app)}
                     for app, fn in config.processing_lambdas.items()},
            "table": table, "state_machine_arn": state_machine_arn, "send_queue_url": queue_url,
            "send_dlq_url": dlq_url, "failed_batches_queue_url": resources.failed_batches_url,
        }
        self.server.server_activate()
        self.poller.start()
        self.sweeper.start()
        self.server_thread = threading.Thread(target=self.server.serve_forever, name="http", kwargs={"poll_interval": 0.2})
        self.server_thread.start()

        self.timeline.start = time.time()  # the timeline counts from "ready"
        self.timeline.note(
            f"debouncer gateway on {config.base_url}  (AWS emulated in process by moto; Ctrl-C stops)\n"
            f"  webhook  POST {config.base_url}/webhook?appId=APP\n"
            f"  outbox   GET  {config.outbox_url}\n"
            f"  quiet period {float(config.debounce_seconds):g} s; table {table}, state machine {prefix}-debounce, "
            f"queue {prefix}-send (+ DLQ after {config.max_receive_count} receives)\n" + "\n".join(lines))
        for note in config.notes:
            self.timeline.note(f"  note: {note}")
        self.timeline.note("")

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.server_thread.join(timeout=5)
        self.poller.stopping.set()
        self.sweeper.stopping.set()
        self.poller.join(timeout=15)
        self.sweeper.join(timeout=15)
        while self._contexts:
            context = self._contexts.pop()
            if hasattr(context, "stop"):
                context.stop()
            else:
                context.__exit__(None, None, None)


def main() -> int:
    try:
        config = local_config()
    except (LocalConfigError, tfvars.HclError) as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 1
    busy = f"port {config.port} is in use; set GATEWAY_PORT to another port"
    try:
        server = bind(config.port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(busy, file=sys.stderr)
            return 1
        raise
    stopping = threading.Event()

    def on_signal(signum, frame):
        stopping.set()
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # a second Ctrl-C ends it at once

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    local = LocalGateway(config, server)
    try:
        local.start()
    except Exception as exc:
        from gateway.errors import ConfigError

        server.server_close()
        if isinstance(exc, ConfigError):
            print(f"configuration error: {exc}", file=sys.stderr)
            return 1
        if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:  # another one listened first
            print(busy, file=sys.stderr)
            return 1
        raise
    while not stopping.wait(0.5):
        pass
    print("\nstopping ...", flush=True)
    local.stop()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
