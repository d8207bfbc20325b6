"""What the monthly bill of util.cost counts from the Terraform and the code, not from a run.

* CloudWatch alarms and dashboards: every ``aws_cloudwatch_metric_alarm`` / ``aws_cloudwatch_dashboard``
  of the root module and of every module it calls, each multiplied out (``count``, ``for_each`` over
  a map handed in by ``main.tf``, a ``for`` over such maps or over a module's instances, a
  ``merge`` of them); a resource switched by a toggle (``var.alarms_enabled ? ... : {}``) is counted
  as created, the bill's own toggles switch it off, and a filtered ``for`` (``... if app.x != null``)
  counts every element: an upper bound, like the toggles;
* the custom metrics: the EMF metric names of lambda/gateway/metrics.py (one dimension set each);
* the scheduled runs of the sweeper: its EventBridge rule's ``rate(...)``, over a 30-day month;
* the bytes of one API Gateway access log line: the format in modules/api_gateway, filled with
  typical values;
* the deployed settings the run and the bill need (memory sizes, quiet period, inline waits, the
  system log level): terraform.tfvars over variables.tf, as util/tfvars reads them.

Parsed with ``hcl2`` (util/tfvars); an expression this module cannot size raises, so a new kind of
alarm cannot be missed silently.
"""

from __future__ import annotations

import ast
import json
import math
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from util.cost.bill import Inventory

ROOT = Path(__file__).resolve().parents[2]
MONTH_MINUTES = 30 * 24 * 60  # a 30-day month: 43,200 minutes


class InventoryError(ValueError):
    pass


def _unwrap(value: Any) -> Any:
    return value[0] if isinstance(value, list) and len(value) == 1 else value


@cache
def _parse(path: Path) -> dict:
    import hcl2

    return hcl2.loads(path.read_text())


def _blocks(doc: dict, kind: str) -> dict[str, Any]:
    """name -> body of every top-level block of one kind (locals merged into one dict)."""
    out: dict[str, Any] = {}
    for entry in doc.get(kind, []):
        out.update(entry)
    return out


def _resources(doc: dict) -> list[tuple[str, str, dict]]:
    return [(rtype, name, body) for entry in doc.get("resource", []) for rtype, named in entry.items()
            for name, body in named.items()]


# --------------------------------------------------------------------------- sizing expressions


@dataclass
class Scope:
    """Where ``var.X`` and ``local.X`` of one module resolve: its locals, and the arguments its caller
    hands it (evaluated in the caller's scope); the root's variables are terraform.tfvars over
    variables.tf."""

    name: str
    locals: dict[str, Any]
    vars: dict[str, Any]
    parent: "Scope | None" = None
    modules: dict[str, Any] | None = None  # the root's module calls: ``module.X`` is X's instances

    def lookup(self, kind: str, name: str) -> tuple[Any, "Scope"]:
        if kind == "module":
            body = (self.modules or {}).get(name)
            if body is None or "for_each" not in body:
                raise InventoryError(f"{self.name}: module.{name} is not a module called with for_each here")
            return body["for_each"], self
        if kind == "local":
            if name not in self.locals:
                raise InventoryError(f"{self.name}: local.{name} is not defined")
            return self.locals[name], self
        if name not in self.vars:
            raise InventoryError(f"{self.name}: var.{name} has no value here")
        return self.vars[name], (self.parent or self)


def _split_top(text: str, separators: str) -> list[tuple[str, str]]:
    """``text`` cut at the separators that are outside brackets and strings: [(piece, separator after it)].
    Strings are HCL's (double quotes) and those of the Python reprs hcl2 writes nested objects as
    (single quotes)."""
    pieces, depth, quote, start, i = [], 0, "", 0, 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and ch in separators:
            pieces.append((text[start:i], ch))
            start = i + 1
        i += 1
    pieces.append((text[start:], ""))
    return pieces


def _strip_interpolation(text: str) -> str:
    text = text.strip()
    if text.startswith("${") and text.endswith("}"):
        inner = text[2:-1]
        if inner.count("{") == inner.count("}"):
            return inner.strip()
    return text


def size(expr: Any, scope: Scope) -> int:
    """How many instances ``count`` / ``for_each`` = ``expr`` makes. A conditional counts its larger
    branch (a toggle's "on"); a ``for`` over maps (or over a module's instances) counts the product of
    their sizes, with every element passing its ``if`` (an upper bound); ``merge`` of maps the sum of
    theirs (an upper bound when keys repeat)."""
    expr = _unwrap(expr)
    if isinstance(expr, bool):
        raise InventoryError(f"{scope.name}: cannot size a boolean")
    if isinstance(expr, (int, float)):
        return int(expr)
    if isinstance(expr, (dict, list)):
        return len(expr)
    text = _strip_interpolation(str(expr))
    for rule in _SIZE_RULES:
        found = rule(text, scope)
        if found is not None:
            return found
    raise InventoryError(f"{scope.name}: cannot size {text[:120]!r}")


# Each rule sizes one kind of expression text, or returns None for the next rule to try.

def _size_conditional(text: str, scope: Scope) -> int | None:
    question = _split_top(text, "?")
    if len(question) != 2:
        return None
    branches = _split_top(question[1][0], ":")
    if len(branches) != 2:
        raise InventoryError(f"{scope.name}: cannot read the conditional {text!r}")
    return max(size(branches[0][0].strip(), scope), size(branches[1][0].strip(), scope))


def _size_constant(text: str, scope: Scope) -> int | None:
    if text in ("{}", "[]"):
        return 0
    return int(text) if re.fullmatch(r"\d+", text) else None


def _size_reference(text: str, scope: Scope) -> int | None:
    reference = re.fullmatch(r"(var|local|module)\.(\w+)", text)
    if not reference:
        return None
    value, where = scope.lookup(reference.group(1), reference.group(2))
    return size(value, where)


def _size_merge(text: str, scope: Scope) -> int | None:
    call = re.fullmatch(r"merge\((.*)\)", text, re.S)
    if not call:
        return None
    arguments = [piece.strip() for piece, _ in _split_top(call.group(1), ",") if piece.strip()]
    if arguments and not any(a.endswith("...") for a in arguments):  # merge([for ...]...): a for, below
        return sum(size(a, scope) for a in arguments)
    return None


def _size_written_out(text: str, scope: Scope) -> int | None:
    """An object or tuple written out."""
    if not (text and text[0] in "{[" and not re.match(r"[{\[]\s*for\s", text)):
        return None
    try:
        return len(ast.literal_eval(text))
    except (ValueError, SyntaxError) as exc:
        raise InventoryError(f"{scope.name}: cannot size {text[:120]!r}") from exc


def _size_for(text: str, scope: Scope) -> int | None:
    if not re.search(r"\bfor\s", text):
        return None
    collections = re.findall(r"\bfor\s+\w+\s*(?:,\s*\w+\s*)?\s+in\s+((?:var|local|module)\.\w+)\s*:", text)
    if not collections:
        raise InventoryError(f"{scope.name}: cannot read the for expression {text[:120]!r}")
    return math.prod(size(c, scope) for c in collections)


_SIZE_RULES = (_size_conditional, _size_constant, _size_reference, _size_merge, _size_written_out, _size_for)


def _instances(body: dict, scope: Scope) -> int:
    if "count" in body:
        return size(body["count"], scope)
    if "for_each" in body:
        return size(body["for_each"], scope)
    return 1


@cache
def module_scopes(root: Path = ROOT) -> tuple[tuple[Path, Scope], ...]:
    """(file, scope) of the root module's main.tf and of each local module main.tf calls, with the
    arguments of its call."""
    from util import tfvars

    main = _parse(root / "main.tf")
    root_scope = Scope("main.tf", _blocks(main, "locals"), tfvars.load(root), modules=_blocks(main, "module"))
    scopes = [(root / "main.tf", root_scope)]
    for name, body in _blocks(main, "module").items():
        source = str(_unwrap(body.get("source", "")))
        if not source.startswith("./"):
            continue
        path = (root / source / "main.tf").resolve()
        if not path.exists():
            continue
        arguments = {k: v for k, v in body.items() if not k.startswith("__")}
        doc = _parse(path)
        defaults = {}
        variables = root / source / "variables.tf"
        if variables.exists():
            for entry in _parse(variables).get("variable", []):
                for var, block in entry.items():
                    if "default" in block:
                        defaults[var] = block["default"]
        scopes.append((path, Scope(f"module.{name}", _blocks(doc, "locals"), {**defaults, **arguments}, root_scope)))
    return tuple(scopes)


def resources_of(rtype: str, root: Path = ROOT) -> list[tuple[str, str, dict, Scope]]:
    """(file, resource name, body, scope) of every resource of ``rtype`` in the stack."""
    found = []
    for path, scope in module_scopes(root):
        for kind, name, body in _resources(_parse(path)):
            if kind == rtype:
                found.append((str(path.relative_to(root)), name, body, scope))
    return found


# --------------------------------------------------------------------------- what the bill counts


@dataclass(frozen=True)
class Alarms:
    standard: int  # period >= 60 s: $0.10 a month each
    high_resolution: int  # period < 60 s: $0.30
    by_resource: dict[str, int]

    @property
    def total(self) -> int:
        return self.standard + self.high_resolution


def alarms(root: Path = ROOT) -> Alarms:
    standard = high = 0
    by_resource = {}
    for path, name, body, scope in resources_of("aws_cloudwatch_metric_alarm", root):
        n = _instances(body, scope)
        period = _unwrap(body.get("period", 60))
        if isinstance(period, (int, float)) and period < 60:
            high += n
        else:
            standard += n
        by_resource[f"{path}:{name}"] = n
    return Alarms(standard, high, by_resource)


def dashboards(root: Path = ROOT) -> int:
    return sum(_instances(body, scope) for _, _, body, scope in resources_of("aws_cloudwatch_dashboard", root))


METRICS_FILE = ROOT / "lambda" / "gateway" / "metrics.py"


def custom_metric_names(path: Path = METRICS_FILE) -> list[str]:
    """The EMF metric names the functions emit (``METRIC_NAMES`` of lambda/gateway/metrics.py), read
    with ast: each is one custom metric (one dimension set, ``service``, the same in every function)."""
    tree = ast.parse(path.read_text())
    constants = {}
    names = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target = node.targets[0].id
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                constants[target] = node.value.value
            elif target == "METRIC_NAMES" and isinstance(node.value, (ast.Tuple, ast.List)):
                names = [constants[e.id] if isinstance(e, ast.Name) else e.value for e in node.value.elts]
    if names is None:
        raise InventoryError(f"{path.name}: no METRIC_NAMES")
    if "add_dimension" in path.read_text():
        raise InventoryError(f"{path.name}: metrics with more dimension sets: each combination is a metric")
    return names


def schedule_runs_per_month(expression: str) -> int:
    """Runs in a 30-day month of an EventBridge ``rate(N unit)`` schedule."""
    match = re.fullmatch(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)", expression.strip())
    if not match:
        raise InventoryError(f"cannot count the runs of schedule {expression!r}")
    minutes = int(match.group(1)) * {"minute": 1, "hour": 60, "day": 1440}[match.group(2).rstrip("s")]
    return MONTH_MINUTES // minutes


def scheduled_rules(root: Path = ROOT) -> dict[str, int]:
    """EventBridge rule name -> runs per month, for every scheduled rule of the stack."""
    return {name: schedule_runs_per_month(str(_unwrap(body["schedule_expression"])))
            for _, name, body, _ in resources_of("aws_cloudwatch_event_rule", root) if "schedule_expression" in body}


def sweeps_per_month(root: Path = ROOT) -> int:
    rules = scheduled_rules(root)
    if "sweeper" not in rules:
        raise InventoryError("main.tf has no scheduled rule named sweeper")
    return rules["sweeper"]


API_GATEWAY_FILE = ROOT / "modules" / "api_gateway" / "main.tf"
# Typical values of the $context variables an access log line may hold (a webhook POST answered 200).
ACCESS_LOG_SAMPLE = {
    "$context.requestId": "Ab1Cd2Ef3Gh4IjK=", "$context.identity.sourceIp": "203.0.113.90",
    "$context.requestTime": "12/Mar/2026:10:00:00 +0000", "$context.httpMethod": "POST",
    "$context.routeKey": "POST /webhook", "$context.status": "200", "$context.responseLength": "2",
    "$context.integrationErrorMessage": "-", "$context.protocol": "HTTP/1.1",
    "$context.requestTimeEpoch": "1773309600000", "$context.integrationLatency": "35",
    "$context.responseLatency": "40", "$context.path": "/webhook",
}
UNKNOWN_CONTEXT_VALUE_BYTES = 16


def access_log_format(path: Path = API_GATEWAY_FILE) -> dict[str, str]:
    """key -> $context variable of the stage's access log format (``format = jsonencode({...})``)."""
    text = path.read_text()
    match = re.search(r"format\s*=\s*jsonencode\(\{(.*?)\}\)", text, re.S)
    if not match:
        raise InventoryError(f"{path.name}: no access log format")
    return dict(re.findall(r"(\w+)\s*=\s*\"(\$context\.[\w.]+)\"", match.group(1)))


def access_log_line_bytes(path: Path = API_GATEWAY_FILE) -> int:
    """One access log line (one webhook request) as API Gateway writes it: the format as JSON with
    typical values (16 bytes for a variable without one)."""
    line = {key: ACCESS_LOG_SAMPLE.get(variable, "x" * UNKNOWN_CONTEXT_VALUE_BYTES)
            for key, variable in access_log_format(path).items()}
    return len(json.dumps(line, separators=(",", ":")).encode()) + 1  # and its newline


# --------------------------------------------------------------------------- deployed settings


@dataclass(frozen=True)
class Deployed:
    lambda_memory_mb: int  # every function but process_message
    process_message_memory_mb: int
    debounce_seconds: float  # the quiet period of an app without a policy of its own
    inline_wait_seconds: dict[str, float]  # workflow type -> process_message's inline wait
    workflow_type: str


def deployed(root: Path = ROOT) -> Deployed:
    from util import tfvars

    values = tfvars.load(root)
    shared = int(values["lambda_memory_mb"])
    inline = values.get("inline_wait_seconds")
    # main.tf's local.inline_wait_seconds: the variable, else 1 s for EXPRESS and 15 s for STANDARD
    waits = {"STANDARD": 15.0, "EXPRESS": 1.0} if inline is None else {"STANDARD": float(inline), "EXPRESS": float(inline)}
    return Deployed(shared, int(values.get("process_message_memory_mb", shared)), float(values["debounce_seconds"]),
                    waits, str(values.get("workflow_type", "STANDARD")))


def max_wait_seconds(quiet_seconds: float) -> float:
    """The default max-wait cap of a burst (main.tf's debounce_policies): 60 s or the quiet period."""
    return max(60.0, quiet_seconds)


PLATFORM_LOG_BYTES_PER_INVOCATION = 350  # START, END and REPORT lines of the Lambda runtime
# Lambda's system log level per setting: START, END and REPORT are INFO events, so at WARN (the
# functions' logging_config, variable lambda_system_log_level) a normal invocation writes none;
# what still gets logged (errors, timeouts, out-of-memory) is rare and not counted here. The
# original design logs them as text (350 bytes per invocation).
PLATFORM_LOG_BYTES_BY_SYSTEM_LEVEL = {"DEBUG": PLATFORM_LOG_BYTES_PER_INVOCATION,
                                      "INFO": PLATFORM_LOG_BYTES_PER_INVOCATION, "WARN": 0}


def lambda_memory_mb() -> dict[str, int]:
    """Each function's memory as deployed (terraform.tfvars over variables.tf): process_message has its
    own (process_message_memory_mb), every other function lambda_memory_mb; key "*" is the latter."""
    from util import tfvars

    values = tfvars.load()
    shared = int(values["lambda_memory_mb"])
    return {"*": shared, "process_message": int(values.get("process_message_memory_mb", shared))}


def memory_of(memory_mb: int | dict[str, int], function: str) -> int:
    """``function``'s memory: ``memory_mb`` itself, or its entry (else its "*") in lambda_memory_mb()'s form."""
    return memory_mb if isinstance(memory_mb, int) else memory_mb.get(function, memory_mb["*"])


def platform_log_bytes_per_invocation() -> int:
    """START/END/REPORT bytes per invocation at the deployed lambda_system_log_level (terraform.tfvars
    over the default in variables.tf)."""
    from util import tfvars

    return PLATFORM_LOG_BYTES_BY_SYSTEM_LEVEL[tfvars.load()["lambda_system_log_level"]]


# --------------------------------------------------------------------------- the bill's inventory


def bill_inventory() -> Inventory:
    """What the monthly bill counts from the Terraform and the code, as the bill takes it."""
    counted = alarms()
    return Inventory(
        dashboards=dashboards(), alarms_standard=counted.standard,
        alarms_high_resolution=counted.high_resolution, custom_metrics=len(custom_metric_names()),
        sweeps_per_month=sweeps_per_month(), access_log_line_bytes=access_log_line_bytes())
