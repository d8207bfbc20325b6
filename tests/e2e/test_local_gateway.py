"""`make run` for real: `python -m util.local_gateway` as a subprocess on a free port, driven over HTTP.

Also the pure pieces it is built from: the API Gateway HTTP API event it hands post_message, and
the mapping of a handler's answer back to HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gateway.webhook import parse_event
from helpers import zapi_text
from llm_server import FakeLLM
from util.local_gateway import api_gateway_event, bots, http_response, send

ROOT = Path(__file__).resolve().parents[2]
COMMAND = [sys.executable, "-m", "util.local_gateway"]  # what `make run` runs
PHONE = "5544999999999"
STARTUP_SECONDS = 90  # importing moto and botocore on a busy 2-core machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, payload=None, *, raw: bytes | None = None, headers: dict | None = None,
         timeout: float = 10):
    data = raw if raw is not None else (None if payload is None else json.dumps(payload).encode())
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def poll(condition, timeout: float, interval: float = 0.25):
    """The first truthy value of condition(), or None after timeout (bounded, not a timed assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    return None


class Gateway:
    """One `python -m util.local_gateway` process, its console captured to a file."""

    def __init__(self, tmp: Path, port: int, env: dict[str, str]):
        self.port, self.base = port, f"http://127.0.0.1:{port}"
        self.log = tmp / f"console-{port}-{time.monotonic_ns()}.txt"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DEBOUNCE_", "PROCESSING_",
                                                                          "API_URLS", "TABLE_", "STATE_MACHINE"))}
        full_env.update(GATEWAY_PORT=str(port), PYTHONUNBUFFERED="1", **env)
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(COMMAND, cwd=ROOT, env=full_env,
                                            stdout=out, stderr=subprocess.STDOUT)

    def console(self) -> str:
        return self.log.read_text(errors="replace")

    def ready(self) -> bool:
        def answers():
            if self.process.poll() is not None:
                raise AssertionError(f"the gateway exited with {self.process.returncode}:\n{self.console()}")
            try:
                return http("GET", f"{self.base}/", timeout=2)[0] == 200
            except (urllib.error.URLError, OSError):
                return False

        return bool(poll(answers, STARTUP_SECONDS))

    def interrupt(self, timeout: float = 30) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"the gateway did not stop on SIGINT:\n{self.console()}") from None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    """GIVEN `make run` with a 1 s quiet period, app `demo` on the echo bot, and app `broken` whose
    Lambda does not exist locally and whose messaging API refuses connections."""
    closed_port = free_port()  # nothing listens there
    env = {
        "DEBOUNCE_SECONDS": "1",
        "PROCESSING_LAMBDAS_MAP": json.dumps({"broken": "not-deployed-bot"}),
        "API_URLS_MAP": json.dumps({"broken": f"http://127.0.0.1:{closed_port}/send-text"}),
        "HTTP_TIMEOUT_SECONDS": "2",
        "SEND_RETRY_BASE_SECONDS": "0",  # retry a failed reply at once, not after 30 s, 60 s, ...
    }
    gw = Gateway(tmp_path_factory.mktemp("gateway"), free_port(), env)
    try:
        assert gw.ready(), f"the gateway did not answer within {STARTUP_SECONDS} s:\n{gw.console()}"
        yield gw
    finally:
        gw.kill()


def subprocess_test(test):
    return pytest.mark.e2e(pytest.mark.slow(pytest.mark.timeout(300)(test)))


@subprocess_test
def test_a_burst_posted_over_http_comes_back_as_one_reply_in_the_outbox(gateway):
    # WHEN three Z-API text webhooks arrive within the quiet period
    texts = ["hi", "I have a question", "about my order"]
    for n, text in enumerate(texts):
        status, body = http("POST", f"{gateway.base}/webhook?appId=demo", zapi_text(PHONE, text, f"E2E{n}"))
        assert (status, body["status"]) == (200, "accepted")

    # THEN one reply, holding the three texts in order, reaches the outbox
    def replies():
        items = http("GET", f"{gateway.base}/outbox")[1]
        return [i for i in items if i["body"].get("phone") == PHONE] or None

    found = poll(replies, 60)
    assert found, f"no reply reached the outbox:\n{gateway.console()}"
    time.sleep(2)  # a second batch, if the burst had been split, would have been sent by now
    found = replies()
    assert [r["body"] for r in found] == [{"phone": PHONE, "message": "hi\nI have a question\nabout my order"}]
    assert found[0]["headers"]["content-type"] == "application/json"

    # AND the console told the story, with the phone number masked and no raw JSON logs
    console = gateway.console()
    dispatched = [line for line in console.splitlines() if "batch dispatched" in line]
    assert len(dispatched) == 1 and "3 messages" in dispatched[0]
    for event in ("received", "wait started", "wait extended", "reply queued", "reply sent"):
        assert event in console
    assert "HTTP 200" in console
    assert "9999" in dispatched[0] and PHONE not in console
    assert not [line for line in console.splitlines() if line.lstrip().startswith("{")]  # no raw JSON logs or EMF


@subprocess_test
def test_fifty_simultaneous_webhook_posts_are_all_answered(gateway):
    """Issue 11 item 5: a listen backlog of 5 reset connections when many providers posted at once."""
    senders = 50
    barrier = threading.Barrier(senders)

    def post(n: int):
        barrier.wait()  # every connection is opened at the same moment
        try:
            return http("POST", f"{gateway.base}/webhook?appId=demo",
                        zapi_text(f"551197700{n:04d}", "hi", f"CONC{n}"), timeout=120)[0]
        except OSError as exc:  # ConnectionResetError, or a URLError wrapping one
            return f"{type(exc).__name__}: {exc}"

    with ThreadPoolExecutor(senders) as pool:
        answers = list(pool.map(post, range(senders)))
    assert answers == [200] * senders, [a for a in answers if a != 200]


@subprocess_test
def test_the_webhook_answers_as_the_handler_does_and_unknown_routes_are_404(gateway):
    status, body = http("POST", f"{gateway.base}/webhook", zapi_text(PHONE, "no app"))
    assert status == 400 and body["error"] == "missing_app_id"
    status, body = http("POST", f"{gateway.base}/webhook?appId=nobody", zapi_text(PHONE, "who"))
    assert status == 404 and body["error"] == "unknown_app"
    status, body = http("POST", f"{gateway.base}/webhook?appId=demo", raw=b"{not json")
    assert status == 400 and body["error"] == "invalid_json"
    status, body = http("POST", f"{gateway.base}/nowhere", {})
    assert (status, body) == (404, {"message": "Not Found"})
    status, body = http("POST", f"{gateway.base}/outbox", raw=b"not json")
    assert status == 400


@subprocess_test
def test_an_app_without_a_local_lambda_gets_the_echo_bot_and_a_failing_url_ends_in_the_dlq(gateway):
    assert "not-deployed-bot is not available locally" in gateway.console()
    status, _ = http("POST", f"{gateway.base}/webhook?appId=broken", zapi_text("5511988887777", "ping", "B1"))
    assert status == 200
    # send_max_receive_count (5, variables.tf) receives, 3 s apart: then the DLQ
    assert poll(lambda: "reply dead-lettered" in gateway.console(), 90), gateway.console()
    console = gateway.console()
    assert "reply NOT sent" in console and "will be retried" in console
    assert console.count("reply NOT sent") >= 5
    assert "5511988887777" not in console


@subprocess_test
def test_a_busy_port_is_one_line_naming_the_port_and_the_variable(gateway):
    result = subprocess.run(COMMAND, cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "GATEWAY_PORT": str(gateway.port)})
    assert result.returncode == 1
    assert result.stderr.strip() == f"port {gateway.port} is in use; set GATEWAY_PORT to another port"
    assert result.stdout == ""


@subprocess_test
def test_ctrl_c_stops_cleanly_and_the_port_can_be_used_again(tmp_path):
    port = free_port()
    first = Gateway(tmp_path, port, {"DEBOUNCE_SECONDS": "1"})
    try:
        assert first.ready(), first.console()
        assert first.interrupt() == 0, first.console()
        assert first.console().rstrip().endswith("stopped")
        assert "Traceback" not in first.console()
    finally:
        first.kill()
    again = Gateway(tmp_path, port, {"DEBOUNCE_SECONDS": "1"})
    try:
        assert again.ready(), again.console()
        assert again.interrupt() == 0, again.console()
    finally:
        again.kill()


# --- every provider, your own bot, a failing bot ----------------------------------------------

DOCS = ROOT / "docs" / "local-run.md"
EVENTS = ROOT / "lambda" / "examples" / "events"
PROVIDER_EVENTS = {"zapi": "zapi.json", "whatsapp_cloud": "whatsapp_cloud.json", "telegram": "telegram.json",
                   "evolution": "evolution.json", "twilio": "twilio.txt", "generic": "generic.json"}
# who each event's sender is, as the reply's recipient
RECIPIENTS = {"zapi": "5544999999999", "whatsapp_cloud": "972987654321", "telegram": "408258968",
              "evolution": "5511900000001", "twilio": "whatsapp:+5541988887777", "generic": "5511912345678"}


def documented_provider_setups() -> dict[str, dict]:
    """docs/local-run.md's "Every provider": provider -> the app demo's PROVIDERS_MAP and secrets."""
    text = DOCS.read_text()
    block = text.split("## Every provider", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    setups = {}
    for line in block.splitlines():
        if line.startswith("export "):
            values = dict(word.split("=", 1) for word in shlex.split(line)[1:])
            provider = json.loads(values["PROVIDERS_MAP"])["demo"]
            setups[provider] = json.loads(values["APP_SECRETS_JSON"]).get("demo", {})
    return setups


@pytest.fixture(scope="module")
def bots_gateway(tmp_path_factory):
    """GIVEN `make run` with one app per provider, each set up as docs/local-run.md says for app demo
    (the app named after its provider), app `llm` on the LLM example bot (its API a local stand-in),
    and app `failing` on a bot from another folder, with a requirements.txt, that always raises; the
    state machine retries a failing bot twice, 1 s then 2 s later."""
    setups = documented_provider_setups()
    assert set(setups) == set(PROVIDER_EVENTS), setups
    folder = tmp_path_factory.mktemp("bots") / "failing_bot"
    folder.mkdir()
    (folder / "handler.py").write_text(
        "import requests  # from requirements.txt\n\n"
        "def lambda_handler(event, context):\n"
        "    raise RuntimeError(f'the model is overloaded ({requests.__name__} ok) for {event[\"phone_number\"]}')\n")
    requirements = f"requests>=2  # {uuid.uuid4().hex}: a new file, so make run installs it\n"
    (folder / "requirements.txt").write_text(requirements)
    llm = FakeLLM()
    secrets = {provider: setup for provider, setup in setups.items() if setup}
    env = {
        "DEBOUNCE_SECONDS": "1",
        "PROCESSING_LAMBDAS_MAP": json.dumps({**{p: "echo_bot" for p in setups}, "llm": "llm_bot",
                                              "failing": str(folder)}),
        "PROVIDERS_MAP": json.dumps({p: p for p in setups}),
        "APP_SECRETS_JSON": json.dumps(secrets),
        "RETRY_INTERVAL_SECONDS": "1",
        "RETRY_MAX_ATTEMPTS": "2",
        "LLM_API_URL": llm.url,
    }
    gw = Gateway(tmp_path_factory.mktemp("gateway"), free_port(), env)
    gw.secrets, gw.llm, gw.bot_folder = secrets, llm, folder
    stamp = bots.STAMPS / hashlib.sha256(requirements.encode() + sys.prefix.encode()).hexdigest()[:32]
    try:
        assert gw.ready(), f"the gateway did not answer within {STARTUP_SECONDS} s:\n{gw.console()}"
        yield gw
    finally:
        gw.kill()
        llm.close()
        stamp.unlink(missing_ok=True)


def outbox_items(gateway) -> list[dict]:
    return http("GET", f"{gateway.base}/outbox")[1]


@subprocess_test
def test_each_provider_s_documented_example_is_answered_through_the_outbox(bots_gateway, monkeypatch):
    # WHEN each provider's example webhook is sent with util.local_gateway.send, as the docs say
    monkeypatch.setenv("APP_SECRETS_JSON", json.dumps(bots_gateway.secrets))
    for provider, event in PROVIDER_EVENTS.items():
        assert send.main([str(EVENTS / event), "--app", provider, "--url", bots_gateway.base]) == 0, provider

    # THEN each reply reaches the outbox in its provider's send request, none the DLQ
    def all_answered():
        items = [i for i in outbox_items(bots_gateway) if i["provider"] in PROVIDER_EVENTS]
        return items if len(items) >= len(PROVIDER_EVENTS) else None

    items = poll(all_answered, 60)
    assert items, f"not every provider was answered:\n{json.dumps(outbox_items(bots_gateway), indent=1)}\n" \
                  f"{bots_gateway.console()}"
    assert {i["provider"]: (i["recipient"], i["text"]) for i in items} == {
        provider: (recipient, "hi") for provider, recipient in RECIPIENTS.items()}
    paths = {i["provider"]: i["path"] for i in items}
    assert paths["telegram"] == "/bot***:abc/sendMessage"
    assert paths["twilio"] == "/2010-04-01/Accounts/AC00000000000000000000000000000000/Messages.json"
    assert paths["whatsapp_cloud"] == "/messages"
    console = bots_gateway.console()
    assert "reply NOT sent" not in console and "dead-lettered" not in console
    assert console.count("reply sent") >= len(PROVIDER_EVENTS)
    assert "HTTP 201" in console  # Twilio's and Evolution's answer


@subprocess_test
def test_a_repeated_event_is_a_duplicate_only_when_its_ids_are_kept(bots_gateway, monkeypatch, capsys):
    monkeypatch.setenv("APP_SECRETS_JSON", json.dumps(bots_gateway.secrets))
    event = str(EVENTS / "generic.json")
    for _ in range(2):
        assert send.main([event, "--app", "generic", "--url", bots_gateway.base, "--keep-ids"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert '"duplicates":1' in out[-1].replace(" ", "")
    assert send.main([str(EVENTS / "telegram.json"), "--app", "generic", "--url", bots_gateway.base]) == 1
    assert "is a telegram webhook but app generic is generic" in capsys.readouterr().err


@subprocess_test
def test_the_llm_example_bot_answers_through_the_gateway(bots_gateway):
    status, _ = http("POST", f"{bots_gateway.base}/webhook?appId=llm", zapi_text("5511955554444", "hi", "LLM1"))
    assert status == 200

    def answered():
        return [i for i in outbox_items(bots_gateway) if i["recipient"] == "5511955554444"]

    assert poll(answered, 60), bots_gateway.console()
    assert [i["text"] for i in answered()] == ["Your order ships today."]
    assert bots_gateway.llm.requests[0]["body"]["messages"] == [{"role": "user", "content": "hi"}]


@subprocess_test
def test_a_bot_from_another_folder_runs_with_its_requirements_and_each_failed_attempt_is_one_line(bots_gateway):
    console = bots_gateway.console()
    assert f"installing {bots_gateway.bot_folder / 'requirements.txt'} into " in console
    [app] = [line for line in console.splitlines() if line.startswith("  app failing ")]
    assert f"bot {bots_gateway.bot_folder} " in app and "echo bot" not in app
    status, _ = http("POST", f"{bots_gateway.base}/webhook?appId=failing", zapi_text("5511933332222", "hi", "F1"))
    assert status == 200
    assert poll(lambda: "batch parked" in bots_gateway.console(), 60), bots_gateway.console()
    lines = [line for line in bots_gateway.console().splitlines() if "failing *********2222" in line]
    failures = [line.split("failing *********2222", 1)[1].strip() for line in lines if "bot failed" in line]
    assert failures == [
        f"bot failed (attempt {n} of 3): RuntimeError: the model is overloaded (requests ok) for *********2222 "
        f"(handler.py line 4); {then}"
        for n, then in ((1, "retry in 1 s"), (2, "retry in 2 s"), (3, "no retries left"))]
    console = bots_gateway.console()
    assert "5511933332222" not in console
    for internal in ("Exception=", "FailureEventException", "moto.", "StateFail", "Traceback"):
        assert internal not in console, internal
    assert "sweep done" not in console or "re-armed" in console  # a sweep that did nothing prints nothing


# --- the pure pieces ---------------------------------------------------------------------------


def test_the_event_is_an_http_api_payload_format_2_event():
    body = json.dumps(zapi_text(PHONE, "hi")).encode()
    event = api_gateway_event(
        "POST", "/webhook?appId=demo&tag=a&tag=b%20c",
        [("Host", "127.0.0.1:8080"), ("Content-Type", "application/json"), ("User-Agent", "curl/8.5.0"),
         ("X-Thing", "1"), ("X-Thing", "2"), ("Cookie", "a=1; b=2")],
        body, source_ip="127.0.0.1", port=8080, now=1_700_000_000.5)
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /webhook"
    assert event["rawPath"] == "/webhook"
    assert event["rawQueryString"] == "appId=demo&tag=a&tag=b%20c"
    assert event["queryStringParameters"] == {"appId": "demo", "tag": "a,b c"}
    assert event["headers"]["x-thing"] == "1,2"  # duplicates joined with commas
    assert all(name == name.lower() for name in event["headers"])
    assert event["cookies"] == ["a=1", "b=2"] and "cookie" not in event["headers"]
    assert event["requestContext"]["http"] == {
        "method": "POST", "path": "/webhook", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
        "userAgent": "curl/8.5.0"}
    assert event["requestContext"]["domainName"] == "127.0.0.1"
    assert event["requestContext"]["stage"] == "$default"
    assert event["requestContext"]["timeEpoch"] == 1_700_000_000_500
    assert event["requestContext"]["time"] == "14/Nov/2023:22:13:20 +0000"
    assert (event["body"], event["isBase64Encoded"]) == (body.decode(), False)
    # and post_message reads it back as the same request
    request = parse_event(event)
    assert (request.method, request.query["appId"], request.raw_body) == ("POST", "demo", body)


def test_a_form_post_arrives_base64_encoded_as_http_apis_do():
    form = b"From=whatsapp%3A%2B5511&Body=ol%C3%A1"
    event = api_gateway_event("POST", "/webhook?appId=x", [("Content-Type", "application/x-www-form-urlencoded")],
                              form, source_ip="127.0.0.1")
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == form
    assert parse_event(event).raw_body == form


def test_a_get_without_a_body_has_no_body_and_no_query_map_when_there_is_no_query():
    event = api_gateway_event("GET", "/webhook", [], b"", source_ip="127.0.0.1")
    assert "body" not in event and event["isBase64Encoded"] is False
    assert "queryStringParameters" not in event and event["rawQueryString"] == ""
    assert event["routeKey"] == "GET /webhook"


def test_handler_answers_map_to_http():
    assert http_response({"statusCode": 422, "headers": {"Content-Type": "application/json"}, "body": '{"e":1}'}) == (
        422, {"Content-Type": "application/json"}, b'{"e":1}')
    assert http_response({"statusCode": 200, "body": base64.b64encode(b"\x00\x01").decode(),
                          "isBase64Encoded": True})[2] == b"\x00\x01"
    # payload format 2.0 infers a 200 JSON answer from a result without statusCode
    assert http_response({"ok": True}) == (200, {"Content-Type": "application/json"}, b'{"ok": true}')
