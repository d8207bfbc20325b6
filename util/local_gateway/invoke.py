"""Invoke one bot with one event, without the gateway: `sam local invoke -e` for a bot.

    python -m util.local_gateway.invoke llm_bot lambda/examples/events/batch.json
    python -m util.local_gateway.invoke ../my_bot lambda/examples/events/batch.json

The bot is named as in PROCESSING_LAMBDAS_MAP (an example's name, or a path: util/local_gateway/bots.py)
and its requirements.txt is installed as `make run` installs it. It runs in this process against
moto: REPLY_QUEUE_URL is an emulated send queue, and what the bot puts there is printed, one reply a
line, after what the handler returned. Exit status: 0 when the handler returned, 1 when it raised
(its traceback is printed), 2 for a bad bot or event.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path
from typing import TextIO

from . import bots
from .config import use_fake_aws_credentials


def invoke(bot: str, event: dict, out: TextIO = sys.stdout) -> int:
    import boto3
    from moto import mock_aws

    from util import local_aws

    source = bots.find(bot)
    if source is None:
        raise bots.BotError(f"bot {bot!r}: not a folder of lambda/examples/ nor a path to a bot")
    bots.install_requirements(source, say=lambda text: print(text, file=out))
    saved = {name: os.environ.get(name) for name in
             ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_REGION",
              "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_LAMBDA_FUNCTION_NAME", "AWS_ENDPOINT_URL", "REPLY_QUEUE_URL")}
    use_fake_aws_credentials()
    try:
        with mock_aws(config=local_aws.MOTO_CONFIG):
            sqs = boto3.client("sqs", region_name=local_aws.REGION)
            queue_url = sqs.create_queue(QueueName="local-send")["QueueUrl"]
            os.environ["REPLY_QUEUE_URL"] = queue_url
            handler = bots.load(source)
            try:
                result = handler(event, local_aws.LambdaContext(bots.function_name(bot) if bots.is_path(bot) else bot))
                status = 0
                print(f"returned {json.dumps(result, ensure_ascii=False)}", file=out)
            except Exception as exc:  # noqa: BLE001 - shown as the Lambda runtime would log it
                status = 1
                bots.last_failure()
                print(f"the handler raised:\n{bot_traceback(exc)}", file=out)
            replies = []
            while True:
                got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
                if not got:
                    break
                for message in got:
                    replies.append(message["Body"])
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            print(f"{len(replies)} repl{'y' if len(replies) == 1 else 'ies'} queued", file=out)
            for body in replies:
                print(f"  {body}", file=out)
            return status
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def bot_traceback(exc: BaseException) -> str:
    """The traceback from the bot's handler down (the frames of this tool left out)."""
    here = Path(__file__).resolve().parent
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not Path(f.filename).resolve().is_relative_to(here)]
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames),
             f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__]
    return "".join(lines).rstrip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m util.local_gateway.invoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("bot", help="echo_bot, llm_bot, or a path to your bot's folder or .py file")
    parser.add_argument("event", type=Path, help="a batch, e.g. lambda/examples/events/batch.json")
    args = parser.parse_args(argv)
    try:
        event = json.loads(args.event.read_text(encoding="utf-8"))
        return invoke(args.bot, event)
    except (OSError, ValueError) as exc:  # BotError is a ValueError
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
