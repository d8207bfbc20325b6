"""Errors the handlers turn into answers in one place."""

from __future__ import annotations


class ConfigError(RuntimeError):
    """A Lambda setting is missing or malformed; raised at cold start, names the variable."""


class GatewayError(Exception):
    """A request the gateway refuses: carries the HTTP status and a machine-readable code."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def body(self) -> dict:
        return {"error": self.code, "message": self.message}


class BadRequest(GatewayError):
    status = 400
    code = "bad_request"


class Unauthorized(GatewayError):
    status = 401
    code = "unauthorized"


class Forbidden(GatewayError):
    status = 403
    code = "forbidden"


class UnknownApp(GatewayError):
    status = 404
    code = "unknown_app"


class PayloadTooLarge(GatewayError):
    status = 413
    code = "payload_too_large"


class UnprocessablePayload(GatewayError):
    status = 422
    code = "unprocessable_payload"


class StoreUnavailable(GatewayError):
    """DynamoDB refused or failed the write: the provider must retry (5xx)."""

    status = 503
    code = "store_unavailable"


class AppInvocationError(RuntimeError):
    """The per-app processing Lambda failed; the state machine retries the batch."""


class SendError(RuntimeError):
    """An outbound reply could not be delivered; `retryable` says whether SQS should retry it."""

    def __init__(self, message: str, *, retryable: bool):
        super().__init__(message)
        self.retryable = retryable


class NotDueYet(Exception):
    """process_message: the batch is not due before the Lambda's inline wait runs out. The state
    machine catches it (by this class name) and waits until the moment in the message, an ISO-8601
    timestamp, then runs process_message again. Not a failure: it is never retried as one."""
