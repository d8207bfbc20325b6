"""The local run put together: moto started, the resources created, the functions' environment set,
the handlers wired to the HTTP server, the queue poller and the sweeper's schedule."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from typing import Any, Callable, TextIO

from . import bots
from .config import ECHO_BOT, NOT_SET_LOCALLY, LocalConfig, function_name_of, lambda_environment, \
    use_fake_aws_credentials
from .http_api import GatewayServer
from .outbox import Outbox
from .pollers import Schedule, SendQueuePoller, sweeper_interval_seconds
from .resources import create_resources
from .timeline import DeliveryAttempts, Timeline, install_timeline_logging, retry_policy, watch_replies_queued


def quiet_moto(log_level: str) -> None:
    """moto logs its internals (a failed state's repr, on every failed execution) through the
    standard logging module; the console says what happened in its own words. LOG_LEVEL=DEBUG lets
    them through."""
    if log_level.upper() != "DEBUG":
        moto = logging.getLogger("moto")
        moto.propagate = False
        if not any(isinstance(h, logging.NullHandler) for h in moto.handlers):
            moto.addHandler(logging.NullHandler())


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
        self.install_bot_requirements()
        quiet_moto(config.log_level)
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
        from gateway.errors import ConfigError
        from gateway.log import SERVICE

        settings.reset()
        aws.reset()
        post_handler.service()  # validate the configuration as a cold start does
        process_handler.dispatcher()
        send_handler.sender()
        sweeper_handler.sweeper()
        for service in ("dynamodb", "stepfunctions", "lambda", "sqs"):
            aws.client(service)  # made once here: creating boto3 clients from many threads at once races

        handlers: dict[str, Callable] = {names["process"]: DeliveryAttempts(
            process_handler.lambda_handler, self.timeline, bot_failure=bots.last_failure,
            **self._retry_policy(resources.state_machine_arn))}
        timeouts = json.loads(os.environ.get("BOT_TIMEOUTS_MAP") or "{}")

        def load(source: bots.BotSource, name: str) -> Callable:
            apps = [app for app, fn in config.processing_lambdas.items() if function_name_of(fn) == name]
            budget = max([float(timeouts.get(app, bots.BOT_TIMEOUT_SECONDS)) for app in apps],
                         default=bots.BOT_TIMEOUT_SECONDS)
            return bots.load(source, timeout_seconds=budget,
                             overran=lambda text: self.timeline.line("bot too slow", text, name))

        echo = load(bots.find(ECHO_BOT), ECHO_BOT)
        lines = []
        files: dict[str, Any] = {}  # function name -> its handler file
        for app, value in sorted(config.processing_lambdas.items()):
            name = function_name_of(value)
            try:
                source = bots.find(value)
            except bots.BotError as exc:  # a bot_source of terraform.tfvars (local_config checked the shell's)
                raise ConfigError(f"app {app}: {exc}") from None
            if files.setdefault(name, source and source.file) != (source and source.file):
                raise ConfigError(f"app {app}: two different bots would both be the function {name!r} locally")
            if name not in handlers:
                if source is None:
                    config.notes.append(f"app {app}: Lambda {name} is not available locally, "
                                        f"the echo bot answers for it (lambda/examples/{ECHO_BOT})")
                handlers[name] = echo if source is None or name == ECHO_BOT else load(source, name)
            where = f"{name} (echo bot)" if source is None else source.label
            lines.append(f"  app {app:<8} {config.providers.get(app, 'zapi'):<14} bot {where:<28} "
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
            "apps": {app: {"processing_lambda": fn, "provider": config.providers.get(app, "zapi"),
                           "api_url": config.api_urls.get(app)}
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

    def install_bot_requirements(self) -> None:
        """pip-install the requirements.txt of every local bot that has one (bots.py)."""
        for value in sorted(set(self.config.processing_lambdas.values())):
            source = bots.find(value)
            if source is not None and source.requirements is not None:
                try:
                    bots.install_requirements(source, say=lambda text: self.timeline.note(text))
                except bots.BotError as exc:
                    from gateway.errors import ConfigError

                    raise ConfigError(str(exc)) from None

    @staticmethod
    def _retry_policy(state_machine_arn: str) -> dict:
        import boto3

        definition = boto3.client("stepfunctions").describe_state_machine(
            stateMachineArn=state_machine_arn)["definition"]
        interval, attempts, backoff = retry_policy(definition)
        return {"interval_seconds": interval, "max_attempts": attempts, "backoff_rate": backoff}

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
