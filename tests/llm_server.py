"""A local HTTP server standing in for an OpenAI-style chat-completions API (the LLM example bot's)."""

from __future__ import annotations

import json

from http_server import RecordingServer


class FakeLLM(RecordingServer):
    """A chat-completions endpoint, serving from construction: records each request (its body as
    JSON), answers ``content`` (or a scripted status) after ``delay_seconds``."""

    def __init__(self):
        super().__init__()
        self.content = "Your order ships today."
        self.url += "/v1/chat/completions"
        self.thread.start()

    def record(self, path: str, headers: dict, body: bytes) -> dict:
        return {"path": path, "headers": headers, "body": json.loads(body)}

    def answer(self, status: int) -> dict:
        if status == 200:
            return {"choices": [{"index": 0, "message": {"role": "assistant", "content": self.content}}]}
        return {"error": {"message": "overloaded"}}

    def close(self) -> None:
        self.__exit__(None, None, None)
