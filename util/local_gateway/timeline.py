"""The console: one line per event, phone numbers masked, made from the functions' log records
(their JSON output is muted), plus a 'reply queued' line for each reply a bot puts on the queue."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from typing import TextIO


class Timeline:
    """One line per event: time since start, the conversation (app + masked phone), what happened."""

    LABELS = {
        "message stored": "received",
        "duplicate ignored": "duplicate ignored",
        "batch dispatched": "batch dispatched",
        "reply sent": "reply sent",
        "reply not sent": "reply NOT sent",
        "reply dead-lettered without retry": "reply dead-lettered",
        "webhook refused": "webhook refused",
        "webhook ignored": "webhook ignored",
        "batch parked on the failed-batch queue": "batch parked",
    }
    # Logged on every run, shown only when the run did something (the sweeper runs every minute).
    IDLE = {"sweep done": ("rearmed", "failed")}
    # "message stored" says what became of the burst's timer ("timer"): a line of its own here.
    TIMER = {"started": "wait started", "extended": "wait extended"}  # "failed" has its ERROR line
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
        who = re.sub(r"\*{10,}", "*********", who)  # a long sender id (whatsapp:+55...) keeps the column
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
        if message in self.IDLE and not any(fields.get(name) for name in self.IDLE[message]):
            return
        who = self._who(fields)
        what = self.LABELS.get(message, message)
        if record.levelno >= logging.WARNING and message not in self.LABELS:
            what = f"{record.levelname.lower()}: {message}"
        self.line(what, self._detail(message, fields, record), who, at=record.created)
        if message == "message stored" and fields.get("timer") in self.TIMER:  # the same line says what the timer did
            self.line(self.TIMER[fields["timer"]], self._detail("timer", fields, record), who, at=record.created)

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
            if message == "timer":
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
            if message == "batch parked on the failed-batch queue":
                return "its retries are spent: it waits on the failed-batch queue; the conversation goes on"
            if message == "sweep done":
                return f"re-armed {fields['rearmed']} conversation(s)" + (
                    f", {fields['failed']} failed" if fields.get("failed") else "")
        except (KeyError, TypeError, ValueError):
            pass  # a field was renamed: fall back to showing them all
        detail = " ".join(f"{k}={v}" for k, v in fields.items() if k not in self.IDENTITY)
        if record.exc_info and record.exc_info[0] is not None:
            detail += f" [{record.exc_info[0].__name__}: {record.exc_info[1]}]"
        return mask_digits(detail)


def mask_digits(text: str) -> str:
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


def retry_policy(definition: str, state: str = "ProcessBatch") -> tuple[int, int, float]:
    """(IntervalSeconds, MaxAttempts, BackoffRate) of the state machine's Retry that retries a task
    failure (States.TaskFailed: the bot raised) in ``state``."""
    retries = json.loads(definition)["States"][state].get("Retry", [])
    for retry in retries:
        if "States.TaskFailed" in retry.get("ErrorEquals", []) or "States.ALL" in retry.get("ErrorEquals", []):
            return (int(retry.get("IntervalSeconds", 1)), int(retry.get("MaxAttempts", 3)),
                    float(retry.get("BackoffRate", 2.0)))
    return 1, 0, 2.0


def _seconds(value: float) -> str:
    return f"{value:g}" if value < 1e6 else f"{value:.0f}"


class DeliveryAttempts:
    """process_message's handler, wrapped: one console line per failed attempt to deliver a batch,
    `bot failed (attempt n of m): <error>; retry in N s`, with the schedule of the state machine's
    Retry (attempt m is the last: then the batch is parked). NotDueYet is the wait, not a failure."""

    def __init__(self, handler, timeline: Timeline, *, interval_seconds: float, max_attempts: int,
                 backoff_rate: float, bot_failure=lambda: None):
        self.handler, self.timeline = handler, timeline
        self.interval, self.retries, self.backoff = interval_seconds, max_attempts, backoff_rate
        self.bot_failure = bot_failure  # what the bot raised, as the bot's wrapper remembered it
        self._failed: dict[tuple, int] = {}  # (app, sender, seq) -> attempts failed so far
        self._lock = threading.Lock()

    def __call__(self, event: dict, context):
        from gateway.errors import AppInvocationError, NotDueYet

        key = (event.get("app_id"), event.get("sender"), event.get("seq"))
        if event.get("park"):
            with self._lock:
                self._failed.pop(key, None)
            return self.handler(event, context)
        try:
            result = self.handler(event, context)
        except NotDueYet:
            raise
        except Exception as exc:
            with self._lock:
                attempt = self._failed[key] = self._failed.get(key, 0) + 1
            total = self.retries + 1
            if isinstance(exc, AppInvocationError):
                what, error = "bot failed", self.bot_failure() or bot_error(str(exc))
            else:
                what, error = "batch not delivered", f"{type(exc).__name__}: {exc}"
            if attempt < total:
                then = f"retry in {_seconds(self.interval * self.backoff ** (attempt - 1))} s"
            else:
                then = "no retries left"
            try:
                who = self.timeline.conversation(str(key[0]), str(key[1]))
            except Exception:  # noqa: BLE001 - an event without app or sender
                who = "-"
            error = mask_digits(" ".join(error.split()))
            self.timeline.line(f"{what} (attempt {attempt} of {total}): {error[:300]}; {then}", who=who)
            raise
        with self._lock:
            self._failed.pop(key, None)
        return result


def bot_error(message: str) -> str:
    """`Type: message` out of process_message's AppInvocationError text, which carries the bot's
    Lambda error payload (`<fn> failed: Unhandled: {"errorType": ..., "errorMessage": ...}`)."""
    start = message.find("{")
    if start >= 0:
        try:
            payload = json.loads(message[start:])
            return f"{payload.get('errorType', 'Error')}: {payload.get('errorMessage', '')}".rstrip(": ")
        except ValueError:
            kind = re.search(r'"errorType":\s*"([^"]*)"', message)
            text = re.search(r'"errorMessage":\s*"((?:[^"\\]|\\.)*)', message)
            if kind or text:
                return f"{kind.group(1) if kind else 'Error'}: {text.group(1) if text else ''}".rstrip(": ")
    return message
