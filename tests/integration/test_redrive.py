"""util/redrive.py on moto: a batch parked by process_message is listed, then replayed to its app."""

from __future__ import annotations

import io
import json
import time

import boto3
import pytest

from conftest import World
from gateway.dispatch import FailedBatchQueue
from gateway.errors import AppInvocationError
from gateway.models import Batch
from helpers import api_event, zapi_text
from util import local_aws
from util.local_aws import LambdaContext
from util.redrive import main, redrive

PHONE = "5544999999999"
DEPLOYED = ("FAILED_BATCHES_QUEUE_URL", "TABLE_NAME", "PROCESSING_LAMBDAS_MAP")


def run(world, seq, **extra):
    event = {"app_id": "bot1", "sender": PHONE, "seq": seq, "wait_until": "2020-01-01T00:00:00Z", **extra}
    return world.process_handler.lambda_handler(event, LambdaContext("process_message"))


@pytest.fixture
def parked(world, monkeypatch):
    """A batch the app failed on, parked by process_message as the state machine's Catch has it
    park one (its timers disarmed, so only the test runs process_message)."""
    monkeypatch.setattr(world.post_handler.service().scheduler, "start", lambda *a, **k: True)
    world.post(api_event(zapi_text(PHONE, "doomed")))
    time.sleep(1.2)  # past the 1 s quiet period
    world.bot_failures["bot1"] = 1
    with pytest.raises(AppInvocationError):
        run(world, 1)
    result = run(world, 1, park=True, error={"Error": "AppInvocationError", "Cause": "bot crashed"})
    assert result["action"] == "parked"
    assert world.bot_events["bot1"] == []
    world.batch_id = result["batch_id"]
    return world


def on_queue(world) -> tuple[int, int]:
    """(visible, in flight) messages of the failed-batch queue."""
    attributes = boto3.client("sqs", region_name="us-east-1").get_queue_attributes(
        QueueUrl=world.failed_batches_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_a_dry_run_then_the_real_run_redrives_the_batch(parked):
    out = io.StringIO()
    listed = redrive(parked.failed_batches_url, World.TABLE, World.BOT_FUNCTIONS, dry_run=True, out=out)
    assert listed == {"redriven": 0, "failed": 0, "listed": 1}
    assert parked.batch_id in out.getvalue() and "app=bot1" in out.getvalue()
    assert parked.bot_events["bot1"] == []  # listed only
    assert on_queue(parked) == (1, 0)  # visible again at once, not held for a minute

    out = io.StringIO()
    counts = redrive(parked.failed_batches_url, World.TABLE, World.BOT_FUNCTIONS, out=out)
    assert counts == {"redriven": 1, "failed": 0, "listed": 0}
    [event] = parked.bot_events["bot1"]
    assert event["batch_id"] == parked.batch_id and event["message"] == "doomed"
    assert f"{parked.batch_id}  redriven" in out.getvalue()
    assert on_queue(parked) == (0, 0)


def test_a_batch_that_fails_again_is_back_on_the_queue_visible_when_the_run_ends(parked):
    parked.bot_failures["bot1"] = 1
    out = io.StringIO()
    counts = redrive(parked.failed_batches_url, World.TABLE, World.BOT_FUNCTIONS, out=out)
    assert counts == {"redriven": 0, "failed": 1, "listed": 0}
    assert f"{parked.batch_id}  still failing" in out.getvalue() and "bot crashed" in out.getvalue()
    assert "back on the queue" in out.getvalue()
    assert on_queue(parked) == (1, 0)  # the next run finds it

    counts = redrive(parked.failed_batches_url, World.TABLE, World.BOT_FUNCTIONS, out=io.StringIO())
    assert counts == {"redriven": 1, "failed": 0, "listed": 0}
    assert [e["batch_id"] for e in parked.bot_events["bot1"]] == [parked.batch_id]
    assert on_queue(parked) == (0, 0)


def test_an_app_without_a_lambda_fails_and_stays_on_the_queue(parked):
    counts = redrive(parked.failed_batches_url, World.TABLE, {"bot2": "bot2-chat-lambda"}, out=io.StringIO())
    assert counts["failed"] == 1 and on_queue(parked) == (1, 0)


def test_an_empty_queue_says_so(world):
    for dry_run in (True, False):
        out = io.StringIO()
        assert redrive(world.failed_batches_url, World.TABLE, World.BOT_FUNCTIONS, dry_run=dry_run,
                       out=out) == {"redriven": 0, "failed": 0, "listed": 0}
        assert "no failed batches on the queue" in out.getvalue()


def test_a_dry_run_lists_every_batch_once_and_leaves_every_one_visible(world):
    queue = FailedBatchQueue(world.failed_batches_url)
    batches = [Batch("bot1", f"55449999{i:05d}", 1, 2, epoch=1700000000) for i in range(23)]  # three receives' worth
    for batch in batches:
        queue.put(batch, {"Error": "AppInvocationError"}, failed_at=1700000000)
    out = io.StringIO()
    assert redrive(world.failed_batches_url, World.TABLE, World.BOT_FUNCTIONS, dry_run=True,
                   out=out)["listed"] == 23
    listed = [line.split()[0] for line in out.getvalue().splitlines() if "app=bot1" in line]
    assert sorted(listed) == sorted(b.batch_id for b in batches)
    assert on_queue(world) == (23, 0)
    assert redrive(world.failed_batches_url, World.TABLE, World.BOT_FUNCTIONS, dry_run=True,
                   out=io.StringIO())["listed"] == 23  # and again


def test_an_unreadable_record_is_reported_and_left_on_the_queue(world):
    boto3.client("sqs", region_name="us-east-1").send_message(QueueUrl=world.failed_batches_url, MessageBody="{oops")
    out = io.StringIO()
    assert redrive(world.failed_batches_url, World.TABLE, World.BOT_FUNCTIONS, out=out)["failed"] == 1
    assert "unreadable record" in out.getvalue() and on_queue(world) == (1, 0)


# --- the command: settings from the deployed process_message function ------------------------

@pytest.fixture
def deployed(parked, monkeypatch):
    """The process_message function carries its settings in its environment, as main.tf sets them;
    the operator's shell has none of them."""
    environment = {"TABLE_NAME": World.TABLE, "FAILED_BATCHES_QUEUE_URL": parked.failed_batches_url,
                   "PROCESSING_LAMBDAS_MAP": json.dumps(World.BOT_FUNCTIONS), "LOG_LEVEL": "INFO"}
    boto3.client("lambda", region_name="us-east-1").update_function_configuration(
        FunctionName=World.PROCESS_FUNCTION, Environment={"Variables": environment})
    assert World.PROCESS_FUNCTION == "debouncer-process-message"  # what --name-prefix debouncer names
    for name in DEPLOYED:
        monkeypatch.delenv(name, raising=False)
    return parked


def test_the_command_reads_its_settings_from_the_deployed_function_dry_run_then_real_run(deployed, capsys):
    assert main(["--name-prefix", "debouncer", "--dry-run"]) == 0
    captured = capsys.readouterr()
    assert deployed.batch_id in captured.out
    assert "read from debouncer-process-message" in captured.err
    assert deployed.bot_events["bot1"] == []

    assert main([]) == 0  # --name-prefix defaults to debouncer
    assert f"{deployed.batch_id}  redriven" in capsys.readouterr().out
    assert [e["batch_id"] for e in deployed.bot_events["bot1"]] == [deployed.batch_id]
    assert on_queue(deployed) == (0, 0)

    assert main([]) == 0
    assert "no failed batches on the queue" in capsys.readouterr().out


def test_flags_and_environment_variables_override_the_deployed_settings(deployed, monkeypatch, capsys):
    deployed.bot_failures["bot1"] = 5  # the deployed map's bot1 Lambda would fail
    monkeypatch.setenv("PROCESSING_LAMBDAS_MAP", json.dumps({"bot1": "bot1-chat-lambda"}))
    assert main(["--processing-lambdas", json.dumps({"bot1": "bot2-chat-lambda"})]) == 0  # the flag wins
    assert [e["batch_id"] for e in deployed.bot_events["bot2"]] == [deployed.batch_id]
    assert "FAILED_BATCHES_QUEUE_URL, TABLE_NAME read from debouncer-process-message" in capsys.readouterr().err


def test_the_command_exits_1_when_a_batch_fails_again(deployed, capsys):
    deployed.bot_failures["bot1"] = 1
    assert main(["--function", World.PROCESS_FUNCTION]) == 1
    assert "still failing" in capsys.readouterr().out
    assert on_queue(deployed) == (1, 0)


def test_a_function_without_the_settings_or_no_function_is_a_clear_error(world, monkeypatch, capsys):
    for name in DEPLOYED:
        monkeypatch.delenv(name, raising=False)
    local_aws.create_function("bare-process-message")  # no environment at all
    with pytest.raises(SystemExit):
        main(["--name-prefix", "bare", "--dry-run"])
    assert "bare-process-message has no FAILED_BATCHES_QUEUE_URL, TABLE_NAME, PROCESSING_LAMBDAS_MAP" in \
        capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--name-prefix", "nowhere", "--dry-run"])
    err = capsys.readouterr().err
    assert "could not read the settings of nowhere-process-message" in err and "--queue-url" in err
