"""The local run put together: moto started, the resources created, the functions' environment set,
the handlers wired to the HTTP server, the queue poller and the sweeper's schedule."""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, Callable, TextIO

from .config import ECHO_BOT, EXAMPLES, NOT_SET_LOCALLY, LocalConfig, function_name_of, lambda_environment, \
    load_example, use_fake_aws_credentials
from .http_api import GatewayServer
from .outbox import Outbox
from .pollers import Schedule, SendQueuePoller, sweeper_interval_seconds
from .resources import create_resources
from .timeline import Timeline, install_timeline_logging, watch_replies_queued


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
