"""`make run`: python -m util.local_gateway"""

from __future__ import annotations

import errno
import signal
import sys
import threading

from util import tfvars
from util.local_gateway.config import LocalConfigError, local_config
from util.local_gateway.http_api import bind
from util.local_gateway.runner import LocalGateway


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
