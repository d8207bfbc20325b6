"""The whole gateway on this machine, no AWS account: `make run` (python -m util.local_gateway).

- AWS is moto, in this process, with Step Functions execution on: the table (keys from
  modules/dynamodb/main.tf), the state machine rendered from modules/step_functions/definition.asl.json,
  the send queue and its DLQ, and Lambda function records whose invocations run the project's
  handlers and the apps' bots in process (bots.py: an example of lambda/examples/, or a path).
- http://127.0.0.1:$GATEWAY_PORT/webhook?appId=APP  hands post_message exactly the API Gateway
  HTTP API (payload format 2.0) event;  /outbox  stands in for the messaging providers: it takes
  each provider's send request and answers as the provider does (outbox.py), and GET lists the
  replies in arrival order;  /  describes this local gateway (JSON).
- A poller consumes the send queue as the Lambda SQS event source mapping does (batches, partial
  batch responses, redelivery after the visibility timeout, DLQ after send_max_receive_count).
- Configuration comes from terraform.tfvars (and variables.tf defaults), overridable from the
  environment (config.py). App `demo` runs lambda/examples/echo_bot and replies to the local outbox.
- The console shows a timeline of what happens, phone numbers masked. Ctrl-C stops.
- `python -m util.local_gateway.send EVENT` posts a provider's webhook to it (send.py);
  `python -m util.local_gateway.invoke BOT EVENT` runs one bot on one batch (invoke.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for _path in (ROOT / "lambda", ROOT):  # the functions' code imports as Lambda sees it: gateway, post_message, ...
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from . import bots  # noqa: E402
from .config import (DEFAULT_PORT, DEMO_APP, ECHO_BOT, EXAMPLES, NOT_SET_LOCALLY, TFVARS_USED,  # noqa: E402
                     LocalConfig, LocalConfigError, function_name_of, lambda_environment, load_example,
                     local_config, terraform_environment, use_fake_aws_credentials)
from .http_api import (LISTEN_BACKLOG, MAX_REQUEST_BYTES, GatewayServer, RequestHandler,  # noqa: E402
                       api_gateway_event, bind, http_response)
from .outbox import Outbox  # noqa: E402
from .pollers import Schedule, SendQueuePoller, sweeper_interval_seconds  # noqa: E402
from .resources import SQS_VISIBILITY_TIMEOUT, Resources, create_resources  # noqa: E402
from .runner import LocalGateway  # noqa: E402
from .timeline import (DeliveryAttempts, Timeline, TimelineHandler, install_timeline_logging,  # noqa: E402
                       retry_policy, watch_replies_queued)
