"""The bots a local run invokes: where an app's bot is (a folder of lambda/examples/, or a path to a
folder or file of your own), its requirements, and its handler wrapped as the Lambda runtime would
call it (a context whose remaining time counts down; a failure remembered for the console).

An app's bot (`bot` in `apps`, or PROCESSING_LAMBDAS_MAP) is, locally:

- a path (it holds a `/`, or starts with `.` or `~`, or ends with `.py`): a folder holding
  `handler.py` (else `lambda_function.py`, else `app.py`), or one `.py` file; `:name` after it names
  the function (default `lambda_handler`): `../my_bot`, `~/bots/faq/app.py:handler`. A relative
  path is taken from the directory `make run` runs in, else from the repository's root (where a
  `bot_source` of terraform.tfvars is).
- the name of a folder of lambda/examples/ (`echo_bot`, `llm_bot`);
- anything else (a function deployed elsewhere, an ARN): not available locally; the echo bot answers.

A bot's folder is put on sys.path, as Lambda puts the function's root there, so its own modules
import. Its `requirements.txt`, if any, is installed into the virtualenv `make run` runs in, with
every package already installed there pinned to its installed version (a pip constraints file), so a
bot can add packages but never change the gateway's.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import re
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "lambda" / "examples"
HANDLER_FILES = ("handler.py", "lambda_function.py", "app.py")
DEFAULT_FUNCTION = "lambda_handler"
BOT_TIMEOUT_SECONDS = 30  # what the context counts down from: an app's bot_timeout_seconds, by default
STAMPS = Path(sys.prefix) / ".bot-requirements"  # one file per requirements.txt content installed


class BotError(ValueError):
    """An app's bot path that cannot be used; the message names it."""


@dataclass(frozen=True)
class BotSource:
    spec: str  # as configured
    file: Path  # the handler's module
    function: str  # its function's name

    @property
    def folder(self) -> Path:
        return self.file.parent

    @property
    def requirements(self) -> Path | None:
        path = self.folder / "requirements.txt"
        return path if path.is_file() else None

    @property
    def label(self) -> str:
        """How the console names it: relative to the repository when it is inside it."""
        try:
            where = str(self.file.relative_to(ROOT))
        except ValueError:
            where = str(self.file)
        if self.file.name == "handler.py":
            where = where[: -len("/handler.py")]
        return where + ("" if self.function == DEFAULT_FUNCTION else f":{self.function}")


def is_path(value: str) -> bool:
    return not value.startswith("arn:") and ("/" in value or value.startswith((".", "~")) or
                                              value.split(":")[0].endswith(".py"))


def function_name(value: str) -> str:
    """The Lambda function name a path bot gets locally: its folder's name (a file's stem when it is
    not one of HANDLER_FILES), made a valid function name."""
    path = Path(os.path.expanduser(value.split(":")[0].rstrip("/")))
    if path.suffix == ".py":
        path = path.parent if path.name in HANDLER_FILES else path.with_suffix("")
    name = re.sub(r"[^A-Za-z0-9_-]", "-", path.name or "bot")[:64].strip("-")
    return name or "bot"


def find(value: str, cwd: Path | None = None) -> BotSource | None:
    """The local code of an app's bot: a path (BotError when it holds no handler), an example's
    name, or None (not available locally)."""
    if is_path(value):
        return _from_path(value, Path.cwd() if cwd is None else cwd)
    if re.fullmatch(r"[\w-]+", value) and (EXAMPLES / value / "handler.py").is_file():
        return BotSource(value, EXAMPLES / value / "handler.py", DEFAULT_FUNCTION)
    return None


def _from_path(value: str, cwd: Path) -> BotSource:
    raw, _, function = value.partition(":")
    function = function or DEFAULT_FUNCTION
    if not function.isidentifier():
        raise BotError(f"bot {value!r}: {function!r} is not a Python function name")
    path = Path(os.path.expanduser(raw))
    if not path.is_absolute():  # from where make run runs, else from the repository (a bot_source)
        path = next((base / path for base in (cwd, ROOT) if (base / path).exists()), cwd / path)
    if path.is_dir():
        found = next((path / name for name in HANDLER_FILES if (path / name).is_file()), None)
        if found is None:
            raise BotError(f"bot {value!r}: the folder {path} has no {', '.join(HANDLER_FILES[:-1])} "
                           f"or {HANDLER_FILES[-1]}")
        path = found
    elif not path.is_file():
        raise BotError(f"bot {value!r}: no such folder or file ({path})")
    elif path.suffix != ".py":
        raise BotError(f"bot {value!r}: {path.name} is not a .py file")
    return BotSource(value, path.resolve(), function)


# --- requirements -----------------------------------------------------------------------------


def installed_constraints() -> str:
    """`name==version` of every distribution installed here: pip may add packages, not change these."""
    pins = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name and dist.version:
            pins[re.sub(r"[-_.]+", "-", name).lower()] = dist.version
    return "".join(f"{name}=={version}\n" for name, version in sorted(pins.items()))


def install_requirements(source: BotSource, say: Callable[[str], None] = print) -> bool:
    """pip-install the bot's requirements.txt into this virtualenv (once per content of the file);
    True when it ran pip. Raises BotError with pip's output when pip fails."""
    requirements = source.requirements
    if requirements is None:
        return False
    text = requirements.read_bytes()
    stamp = STAMPS / hashlib.sha256(text + sys.prefix.encode()).hexdigest()[:32]
    if stamp.exists():
        return False
    say(f"installing {requirements} into {sys.prefix} ...")
    STAMPS.mkdir(parents=True, exist_ok=True)
    constraints = STAMPS / "constraints.txt"
    constraints.write_text(installed_constraints())
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--requirement", str(requirements), "--constraint", str(constraints)],
        cwd=source.folder, capture_output=True, text=True)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-12:]
        raise BotError(f"pip could not install {requirements} (packages the gateway pins keep their "
                       f"versions):\n    " + "\n    ".join(detail))
    importlib.invalidate_caches()
    stamp.write_text(str(requirements) + "\n")
    return True


# --- the handler --------------------------------------------------------------------------------


class BotContext:
    """The Lambda context a bot is handed: its remaining time counts down from BOT_TIMEOUT_SECONDS."""

    def __init__(self, function_name: str, timeout_seconds: float = BOT_TIMEOUT_SECONDS):
        from util.local_aws import LambdaContext

        base = LambdaContext(function_name)
        self.__dict__.update(base.__dict__)
        self.timeout_seconds = timeout_seconds
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


_last_failure = threading.local()


def last_failure() -> str | None:
    """What the latest bot invoked on this thread raised ("Type: message (file line n)"), then
    forgotten. The bot runs on the thread that invokes it (process_message's), so the caller's
    thread asks right after the invoke failed."""
    value = getattr(_last_failure, "value", None)
    _last_failure.value = None
    return value


def describe(exc: BaseException, folder: Path | None = None) -> str:
    """`Type: message (file.py line n)`, the line being the last one in the bot's folder."""
    text = f"{type(exc).__name__}: {exc}".rstrip(": ") if str(exc) else type(exc).__name__
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if folder is None or Path(f.filename).resolve().is_relative_to(folder)]
    if mine:
        text += f" ({Path(mine[-1].filename).name} line {mine[-1].lineno})"
    return text


def load(source: BotSource, *, timeout_seconds: float = BOT_TIMEOUT_SECONDS,
         overran: Callable[[str], None] | None = None) -> Callable[[dict, Any], Any]:
    """The bot's handler, as the runtime calls it: with a BotContext, its failure remembered."""
    folder = str(source.folder)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    digest = hashlib.sha256(str(source.file).encode()).hexdigest()[:8]
    module_name = "local_bot_" + re.sub(r"\W", "_", source.folder.name) + "_" + digest
    spec = importlib.util.spec_from_file_location(module_name, source.file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    handler = getattr(module, source.function, None)
    if not callable(handler):
        raise BotError(f"bot {source.spec!r}: {source.file.name} has no function {source.function}()")
    return wrap(handler, source.folder, timeout_seconds=timeout_seconds, overran=overran)


def wrap(handler: Callable[[dict, Any], Any], folder: Path | None = None, *,
         timeout_seconds: float = BOT_TIMEOUT_SECONDS,
         overran: Callable[[str], None] | None = None) -> Callable[[dict, Any], Any]:
    """``handler`` called with a BotContext counting down from ``timeout_seconds``; what it raises is
    remembered (last_failure); ``overran`` is told when it ran past its timeout, which Lambda would
    have ended it at (here nothing stops it)."""

    def invoke(event, context):
        bot_context = BotContext(getattr(context, "function_name", "bot"), timeout_seconds)
        _last_failure.value = None
        started = time.monotonic()
        try:
            return handler(event, bot_context)
        except Exception as exc:
            _last_failure.value = describe(exc, folder)
            raise
        finally:
            took = time.monotonic() - started
            if overran is not None and took > timeout_seconds:
                overran(f"the bot ran {took:.1f} s, past its {timeout_seconds:g} s timeout: "
                        f"Lambda would have stopped it (Task timed out) and the batch would be retried")

    invoke.__wrapped__ = handler
    return invoke
