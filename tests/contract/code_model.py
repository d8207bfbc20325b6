"""What each Lambda function's code does, read from its source (ast) without running it, and what
Terraform gives it (hcl2).

Code side: starting at the handler function, follow every call that can be resolved statically —
functions of the same module, imported names, ``self.method()``, methods of attributes whose class
is known from ``self.x = ... ClassName(...)``, return annotations (``def service() -> WebhookService``),
and, for a receiver of unknown type, every package method of that name (except names that builtin
containers also have, like ``append``). Module-level code of every imported module counts as run.
In the reached code it collects

* boto3 calls: ``<client>.<operation>(...)`` where ``<client>`` is made by a client factory
  (``boto3.client("svc")``, or a package function that returns ``boto3.client(service, ...)`` such
  as ``aws.client("svc")``), directly, through a property, an attribute or a local variable;
* environment variables: ``os.environ.get/[]``, ``os.getenv``, ``env.get/[]`` on a mapping named
  ``env``, and ``helper(env, "NAME", ...)`` calls (``_required``, ``_json_map``, ``_number``...).

Over-approximation is the safe side: a call the analysis cannot rule out is counted as made.
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import hcl2

REPO = Path(__file__).resolve().parents[2]
LAMBDA_DIR = REPO / "lambda"

ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]{2,}$")

# Method names of builtin types: a call like ``items.append(x)`` on an unknown receiver is not taken
# for a call of a package method with the same name.
BUILTIN_METHODS = {
    name
    for kind in (list, dict, set, frozenset, str, bytes, int, float, tuple, bytearray)
    for name in dir(kind)
} | {"read", "write", "close", "join", "encode", "decode", "format", "strip", "split"}

IAM_PREFIX = {"stepfunctions": "states", "logs": "logs", "events": "events"}
# boto3 operation -> IAM action name, where the action is not the operation in CamelCase.
IAM_ACTION = {
    ("lambda", "invoke"): "InvokeFunction",
    ("lambda", "invoke_async"): "InvokeAsync",
    ("sqs", "send_message_batch"): "SendMessage",
    ("sqs", "delete_message_batch"): "DeleteMessage",
    ("sqs", "change_message_visibility_batch"): "ChangeMessageVisibility",
    ("dynamodb", "transact_get_items"): "GetItem",
}
TRANSACT_ITEM_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                         "ConditionCheck": "ConditionCheckItem"}
# Client methods that are not API operations.
CLIENT_HELPERS = {"get_paginator", "get_waiter", "can_paginate", "close", "exceptions", "meta"}


def camel(operation: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in operation.split("_"))


def iam_actions(service: str, operation: str, function: ast.AST | None = None) -> set[str]:
    """IAM actions a boto3 call needs. A DynamoDB transaction needs the action of each of its item
    operations: the kinds of item (Put/Update/Delete/ConditionCheck) built in the calling function."""
    prefix = IAM_PREFIX.get(service, service)
    if (service, operation) == ("dynamodb", "transact_write_items"):
        kinds = {
            key.value
            for node in ast.walk(function) if isinstance(node, ast.Dict)
            for key in node.keys
            if isinstance(key, ast.Constant) and key.value in TRANSACT_ITEM_ACTIONS
        } if function is not None else set(TRANSACT_ITEM_ACTIONS)
        return {f"{prefix}:{TRANSACT_ITEM_ACTIONS[kind]}" for kind in kinds or TRANSACT_ITEM_ACTIONS}
    return {f"{prefix}:{IAM_ACTION.get((service, operation), camel(operation))}"}


# --------------------------------------------------------------------------- the package


@dataclass
class ClassInfo:
    module: "Module"
    node: ast.ClassDef
    methods: dict[str, ast.FunctionDef] = field(default_factory=dict)
    properties: set[str] = field(default_factory=set)

    @property
    def qualname(self) -> str:
        return f"{self.module.name}.{self.node.name}"


@dataclass
class Module:
    name: str
    path: Path
    tree: ast.Module
    functions: dict[str, ast.FunctionDef] = field(default_factory=dict)
    classes: dict[str, ClassInfo] = field(default_factory=dict)
    imports: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # local name -> (module, attr)

    @property
    def package(self) -> str:
        return self.name if self.path.name == "__init__.py" else self.name.rpartition(".")[0]


class Package:
    """Every module under lambda/, indexed."""

    def __init__(self, root: Path = LAMBDA_DIR):
        self.root = root
        self.modules: dict[str, Module] = {}
        for path in sorted(root.rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if not parts:
                continue
            name = ".".join(parts)
            self.modules[name] = self._index(Module(name, path, ast.parse(path.read_text(), str(path))))

    def _index(self, module: Module) -> Module:
        for node in module.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                module.functions[node.name] = node
            elif isinstance(node, ast.ClassDef):
                info = ClassInfo(module, node)
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        info.methods[item.name] = item
                        if any(_decorator_name(d) in ("property", "cached_property") for d in item.decorator_list):
                            info.properties.add(item.name)
                module.classes[node.name] = info
        for node in ast.walk(module.tree):
            if isinstance(node, ast.ImportFrom):
                base = self._absolute(module, node.module, node.level)
                for alias in node.names:
                    local = alias.asname or alias.name
                    if f"{base}.{alias.name}" in self.modules or self._is_module_path(f"{base}.{alias.name}"):
                        module.imports[local] = (f"{base}.{alias.name}", None)
                    else:
                        module.imports[local] = (base, alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    module.imports[alias.asname or alias.name.split(".")[0]] = (alias.name, None)
        return module

    def _is_module_path(self, dotted: str) -> bool:
        relative = Path(*dotted.split("."))
        return (self.root / relative.with_suffix(".py")).is_file() or (self.root / relative / "__init__.py").is_file()

    @staticmethod
    def _absolute(module: Module, name: str | None, level: int) -> str:
        if level == 0:
            return name or ""
        base = module.package.split(".")
        if level > 1:
            base = base[: len(base) - (level - 1)]
        return ".".join([*base, name] if name else base)

    def resolve(self, module: Module, name: str):
        """A name in ``module``'s global scope -> ("function", Module, node) | ("class", ClassInfo) |
        ("module", Module) | None (not ours)."""
        if name in module.functions:
            return ("function", module, module.functions[name])
        if name in module.classes:
            return ("class", module.classes[name])
        if name in module.imports:
            target, attr = module.imports[name]
            if attr is None:
                return ("module", self.modules[target]) if target in self.modules else None
            source = self.modules.get(target)
            if source is not None:
                return self.resolve(source, attr)
        return None

    def imported_modules(self, start: Module) -> list[Module]:
        """``start`` and every package module it imports, transitively (their top-level code runs)."""
        seen: dict[str, Module] = {}
        todo = [start]
        while todo:
            module = todo.pop()
            if module.name in seen:
                continue
            seen[module.name] = module
            parts = module.name.split(".")
            for i in range(1, len(parts)):  # importing a.b.c runs a/__init__ and a/b/__init__
                parent = self.modules.get(".".join(parts[:i]))
                if parent is not None:
                    todo.append(parent)
            for target, _ in module.imports.values():
                if target in self.modules:
                    todo.append(self.modules[target])
        return list(seen.values())

    def methods_named(self, name: str) -> Iterator[tuple[ClassInfo, ast.FunctionDef]]:
        for module in self.modules.values():
            for info in module.classes.values():
                if name in info.methods:
                    yield info, info.methods[name]


def _decorator_name(node: ast.AST) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


# --------------------------------------------------------------------------- reachability


@dataclass(frozen=True)
class BotoCall:
    service: str
    operation: str
    where: str  # module:line
    actions: frozenset[str]


@dataclass
class Usage:
    """What the code of one handler does."""

    handler: str
    boto_calls: set[BotoCall] = field(default_factory=set)
    env_reads: dict[str, str] = field(default_factory=dict)  # NAME -> first place it is read
    reached: set[str] = field(default_factory=set)

    @property
    def actions(self) -> set[str]:
        return {action for call in self.boto_calls for action in call.actions}


class Analyzer:
    def __init__(self, package: Package | None = None):
        self.package = package or Package()

    # -- entry point

    def usage(self, handler: str) -> Usage:
        module_name, _, function_name = handler.rpartition(".")
        module = self.package.modules[module_name]
        usage = Usage(handler)
        self._todo: list[tuple[Module, ClassInfo | None, ast.AST]] = []
        self._seen: set[int] = set()
        for imported in self.package.imported_modules(module):
            body = [n for n in imported.tree.body
                    if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
            self._visit_body(imported, None, ast.Module(body=body, type_ignores=[]), usage)
            for info in imported.classes.values():  # class bodies (dataclass defaults) run at import
                body = [n for n in info.node.body if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
                self._visit_body(imported, info, ast.Module(body=body, type_ignores=[]), usage)
        self._schedule(module, None, module.functions[function_name])
        while self._todo:
            where, cls, node = self._todo.pop()
            self._visit_body(where, cls, node, usage)
        return usage

    def _schedule(self, module: Module, cls: ClassInfo | None, node: ast.AST) -> None:
        if id(node) not in self._seen:
            self._seen.add(id(node))
            self._todo.append((module, cls, node))

    # -- one function body

    def _visit_body(self, module: Module, cls: ClassInfo | None, function: ast.AST, usage: Usage) -> None:
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            owner = f"{cls.qualname}." if cls else f"{module.name}."
            usage.reached.add(owner + function.name)
            for decorator in function.decorator_list:
                self._call_targets_of(module, cls, function, decorator, usage)
        local_constants = _string_assignments(function)
        called = set()
        for node in ast.walk(function):
            if isinstance(node, ast.Call):
                called.add(id(node.func))
                self._call(module, cls, function, node, usage, local_constants)
            elif isinstance(node, ast.Subscript):
                self._env_subscript(module, function, node, usage)
        for node in ast.walk(function):
            if id(node) not in called and isinstance(node, (ast.Name, ast.Attribute)) and isinstance(node.ctx, ast.Load):
                self._reference(module, cls, function, node)

    def _call(self, module, cls, function, node: ast.Call, usage: Usage, local_constants) -> None:
        func = node.func
        # boto3: <client>.<operation>(...)
        if isinstance(func, ast.Attribute):
            service = self._client_service(module, cls, function, func.value)
            if service:
                if func.attr not in CLIENT_HELPERS:
                    self._boto(module, function, node, service, func.attr, usage)
                elif func.attr == "get_paginator" and node.args and isinstance(node.args[0], ast.Constant):
                    self._boto(module, function, node, service, node.args[0].value, usage)
                return
        self._env_call(module, function, node, usage, local_constants)
        self._call_targets_of(module, cls, function, func, usage)

    def _reference(self, module, cls, function, node) -> None:
        """A function or method named without being called (a callback such as
        ``record_handler=self.send_record``) may be called by whoever receives it."""
        if isinstance(node, ast.Name):
            resolved = self.package.resolve(module, node.id)
            if resolved and resolved[0] == "function":
                self._schedule(resolved[1], None, resolved[2])
            return
        for info in self._types_of(module, cls, function, node.value):
            for target_module, target_cls, target in self._method(info, node.attr):
                if node.attr not in target_cls.properties:
                    self._schedule(target_module, target_cls, target)

    def _boto(self, module, function, node, service, operation, usage) -> None:
        usage.boto_calls.add(BotoCall(service, operation, f"{module.name}:{node.lineno}",
                                      frozenset(iam_actions(service, operation, function))))

    def _call_targets_of(self, module: Module, cls: ClassInfo | None, function, func: ast.AST, usage: Usage) -> None:
        """Schedule every package function ``func`` (a callee expression) may be."""
        for target_module, target_cls, target in self._callees(module, cls, function, func):
            self._schedule(target_module, target_cls, target)

    def _callees(self, module, cls, function, func) -> Iterator[tuple[Module, ClassInfo | None, ast.AST]]:
        if isinstance(func, ast.Call):  # decorator with arguments, or f(...)(...)
            yield from self._callees(module, cls, function, func.func)
            return
        if isinstance(func, ast.Name):
            resolved = self.package.resolve(module, func.id)
            if resolved is None:
                nested = _nested_function(function, func.id)
                if nested is not None:
                    yield module, cls, nested
                return
            if resolved[0] == "function":
                yield resolved[1], None, resolved[2]
            elif resolved[0] == "class":
                yield from self._constructor(resolved[1])
            return
        if not isinstance(func, ast.Attribute):
            return
        for info in self._types_of(module, cls, function, func.value):
            yield from self._method(info, func.attr)
        receiver = func.value
        if isinstance(receiver, ast.Name):
            resolved = self.package.resolve(module, receiver.id)
            if resolved and resolved[0] == "module":
                target = resolved[1]
                if func.attr in target.functions:
                    yield target, None, target.functions[func.attr]
                elif func.attr in target.classes:
                    yield from self._constructor(target.classes[func.attr])
                return
            if resolved and resolved[0] == "class":
                yield from self._method(resolved[1], func.attr)
                return
        if not self._types_of(module, cls, function, func.value) and func.attr not in BUILTIN_METHODS:
            # receiver of unknown type: any package method of that name (class hierarchy analysis)
            for info, method in self.package.methods_named(func.attr):
                yield info.module, info, method

    def _constructor(self, info: ClassInfo):
        for name in ("__init__", "__post_init__"):
            if name in info.methods:
                yield info.module, info, info.methods[name]

    def _method(self, info: ClassInfo, name: str):
        for candidate in self._mro(info):
            if name in candidate.methods:
                yield candidate.module, candidate, candidate.methods[name]
                return

    def _mro(self, info: ClassInfo) -> list[ClassInfo]:
        chain = [info]
        for base in info.node.bases:
            if isinstance(base, ast.Name):
                resolved = self.package.resolve(info.module, base.id)
                if resolved and resolved[0] == "class":
                    chain += self._mro(resolved[1])
        return chain

    # -- types of expressions (package classes only)

    def _types_of(self, module, cls, function, expr) -> list[ClassInfo]:
        if isinstance(expr, ast.Name):
            if expr.id in ("self", "cls") and cls is not None:
                return [cls]
            resolved = self.package.resolve(module, expr.id)
            if resolved and resolved[0] == "class":
                return []  # Class.method: handled by the caller
            return self._classes_in_assignments(module, _assignments(function, expr.id))
        if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name) and expr.value.id == "self" and cls:
            found: list[ClassInfo] = []
            for info in self._mro(cls):
                found += self._classes_in_assignments(info.module, _self_assignments(info, expr.attr))
                if expr.attr in info.properties:
                    found += self._classes_returned(info.module, info.methods[expr.attr])
            return found
        if isinstance(expr, ast.Call):
            return [info for target_module, _, target in self._callees(module, cls, function, expr.func)
                    for info in self._classes_returned(target_module, target)]
        return []

    def _classes_in_assignments(self, module: Module, values: list[ast.AST]) -> list[ClassInfo]:
        found = []
        for value in values:
            for node in ast.walk(value):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                    resolved = self.package.resolve(module, node.func.id)
                    if resolved and resolved[0] == "class":
                        found.append(resolved[1])
        return found

    def _classes_returned(self, module: Module, function) -> list[ClassInfo]:
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return []
        if function.name == "__init__":
            return []
        found = []
        annotation = function.returns
        if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
            annotation = ast.parse(annotation.value, mode="eval").body
        for node in ast.walk(annotation) if annotation is not None else ():
            if isinstance(node, ast.Name):
                resolved = self.package.resolve(module, node.id)
                if resolved and resolved[0] == "class":
                    found.append(resolved[1])
        return found

    # -- boto3 clients

    def _client_service(self, module, cls, function, expr, depth: int = 0) -> str | None:
        """The AWS service of a boto3 client expression, or None if ``expr`` is not one."""
        if depth > 4:
            return None
        if isinstance(expr, ast.Call):
            service = _literal_client(expr)
            if service:
                return service
            for target_module, target_cls, target in self._callees(module, cls, function, expr.func):
                if _is_client_factory(target) and expr.args and isinstance(expr.args[0], ast.Constant):
                    return expr.args[0].value
                for returned in _returns(target):
                    service = self._client_service(target_module, target_cls, target, returned, depth + 1)
                    if service:
                        return service
            return None
        if isinstance(expr, ast.Name):
            for value in _assignments(function, expr.id) + _module_assignments(module, expr.id):
                service = self._client_service(module, cls, function, value, depth + 1)
                if service:
                    return service
            return None
        if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name) and expr.value.id == "self" and cls:
            for info in self._mro(cls):
                if expr.attr in info.properties:
                    method = info.methods[expr.attr]
                    for returned in _returns(method):
                        service = self._client_service(info.module, info, method, returned, depth + 1)
                        if service:
                            return service
                for value in _self_assignments(info, expr.attr):
                    service = self._client_service(info.module, info, function, value, depth + 1)
                    if service:
                        return service
        return None

    # -- environment variables

    def _env_call(self, module, function, node: ast.Call, usage: Usage, local_constants) -> None:
        func = node.func
        name_arg = None
        if isinstance(func, ast.Attribute) and func.attr in ("get", "pop", "setdefault") and _is_environ(func.value, function):
            name_arg = node.args[0] if node.args else None
        elif isinstance(func, ast.Attribute) and func.attr == "getenv" and _is_name(func.value, "os"):
            name_arg = node.args[0] if node.args else None
        elif node.args and isinstance(node.args[0], ast.Name) and node.args[0].id == "env":
            for arg in node.args[1:]:  # helper(env, "NAME", ...), or helper(env, name) with name = "NAME"
                for name in _env_names(arg, local_constants):
                    usage.env_reads.setdefault(name, f"{module.name}:{node.lineno}")
            return
        for name in _env_names(name_arg, local_constants):
            usage.env_reads.setdefault(name, f"{module.name}:{node.lineno}")

    def _env_subscript(self, module, function, node: ast.Subscript, usage: Usage) -> None:
        if _is_environ(node.value, function):
            for name in _env_names(node.slice, _string_assignments(function)):
                usage.env_reads.setdefault(name, f"{module.name}:{node.lineno}")


def _env_names(arg, local_constants: dict[str, set[str]]) -> set[str]:
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and ENV_NAME.match(arg.value):
        return {arg.value}
    if isinstance(arg, ast.Name):
        return {v for v in local_constants.get(arg.id, set()) if ENV_NAME.match(v)}
    return set()


def _is_name(node, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _is_environ(node, function) -> bool:
    """``os.environ``, or a mapping named ``env`` (the settings loaders' ``env = os.environ if ...``)."""
    if isinstance(node, ast.Attribute) and node.attr == "environ" and _is_name(node.value, "os"):
        return True
    return _is_name(node, "env")


CLIENT_METHODS = ("client", "create_client")  # boto3 / a botocore session


def _literal_client(call: ast.Call) -> str | None:
    """``boto3.client("svc", ...)`` / ``session.client("svc")`` with a literal service name."""
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr in CLIENT_METHODS and call.args:
        first = call.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            if _is_name(func.value, "boto3") or "session" in ast.unparse(func.value).lower():
                return first.value
    return None


def _is_client_factory(function) -> bool:
    """A function that returns ``boto3.client(<its first parameter>, ...)`` (or botocore's
    ``session.create_client(...)``)."""
    if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)) or not function.args.args:
        return False
    param = function.args.args[0].arg
    for returned in _returns(function):
        if (isinstance(returned, ast.Call) and isinstance(returned.func, ast.Attribute)
                and returned.func.attr in CLIENT_METHODS and returned.args and _is_name(returned.args[0], param)):
            return True
    return False


def _returns(function) -> list[ast.AST]:
    if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return []
    return [node.value for node in ast.walk(function) if isinstance(node, ast.Return) and node.value is not None]


def _assignments(function, name: str) -> list[ast.AST]:
    values = []
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and any(_is_name(t, name) for t in node.targets):
            values.append(node.value)
        elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and _is_name(node.target, name) and node.value:
            values.append(node.value)
    return values


def _module_assignments(module: Module, name: str) -> list[ast.AST]:
    return [node.value for node in module.tree.body
            if isinstance(node, ast.Assign) and any(_is_name(t, name) for t in node.targets)]


def _self_assignments(info: ClassInfo, attr: str) -> list[ast.AST]:
    values = []
    for method in info.methods.values():
        for node in ast.walk(method):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
            for target in targets:
                if isinstance(target, ast.Attribute) and target.attr == attr and _is_name(target.value, "self"):
                    if node.value is not None:
                        values.append(node.value)
    return values


def _string_assignments(function) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found.setdefault(target.id, set()).add(node.value.value)
    return found


def _nested_function(function, name: str):
    for node in ast.walk(function):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name and node is not function:
            return node
    return None


# --------------------------------------------------------------------------- Terraform


def parse_tf_dir(directory: Path) -> dict[str, list]:
    merged: dict[str, list] = {}
    for path in sorted(directory.glob("*.tf")):
        with path.open() as handle:
            for block_type, blocks in hcl2.load(handle).items():
                merged.setdefault(block_type, []).extend(blocks)
    return merged


def _one(value):
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def _strings(value) -> list[str]:
    """Flatten hcl2's nested lists of strings."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


@dataclass
class Statement:
    sid: str
    actions: set[str]
    resources: list[str]
    conditional: bool  # a dynamic block: present only for some variable values
    conditions: list[dict]


@dataclass
class TerraformFunction:
    name: str  # the module block's name, e.g. post_message_lambda
    handler: str
    environment: set[str]
    statements: list[Statement]
    event_sources: list[str]  # event_source_arn expressions of its event source mappings

    @property
    def granted(self) -> set[str]:
        return {a for s in self.statements for a in s.actions}


class TerraformRoot:
    def __init__(self, root: Path = REPO):
        self.root = root
        self.parsed = parse_tf_dir(root)
        self.modules = {name: body for block in self.parsed.get("module", []) for name, body in block.items()}
        self.locals = {k: v for block in self.parsed.get("locals", []) for k, v in block.items() if not k.startswith("__")}
        self.policy_documents = {
            name: body
            for block in self.parsed.get("data", []) for kind, named in block.items() if kind == "aws_iam_policy_document"
            for name, body in named.items()
        }
        self.resources = [(kind, name, body) for block in self.parsed.get("resource", [])
                          for kind, named in block.items() for name, body in named.items()]

    def common_environment(self) -> set[str]:
        common = self.locals.get("common_environment")
        return set(_one(common)) if common else set()

    def environment_names(self, expression: str) -> set[str]:
        names = set(re.findall(r"'([A-Z][A-Z0-9_]*)':", expression))
        if "local.common_environment" in expression:
            names |= self.common_environment()
        return names

    def functions(self) -> list[TerraformFunction]:
        """Every module call with a ``handler`` argument (a Lambda function of ours). The bots a
        ``for_each`` call deploys from the apps' bot_source folders are the apps' code, not ours."""
        found = []
        for name, body in self.modules.items():
            if "handler" not in body or "for_each" in body:
                continue
            environment = self.environment_names(_one(body.get("environment", [""])) or "")
            policy_ref = _one(body.get("policy_json", [""])) or ""
            match = re.search(r"data\.aws_iam_policy_document\.([A-Za-z0-9_-]+)\.json", policy_ref)
            statements = self.statements(match.group(1)) if match else []
            sources = [
                _one(res.get("event_source_arn", [""]))
                for kind, _, res in self.resources
                if kind == "aws_lambda_event_source_mapping"
                and re.search(rf"module\.{re.escape(name)}\.function_(arn|name)", _one(res.get("function_name", [""])) or "")
            ]
            found.append(TerraformFunction(name, _one(body["handler"]), environment, statements, sources))
        return found

    def statements(self, document: str) -> list[Statement]:
        body = self.policy_documents[document]
        result = [self._statement(s, conditional=False) for s in body.get("statement", [])]
        for dynamic in body.get("dynamic", []):
            for content in dynamic.get("statement", {}).get("content", []):
                result.append(self._statement(content, conditional=True))
        return result

    @staticmethod
    def _statement(raw: dict, *, conditional: bool) -> Statement:
        effect = _one(raw.get("effect", ["Allow"]))
        assert effect == "Allow", "Deny statements are not expected in function policies"
        return Statement(
            sid=_one(raw.get("sid", [""])) or "",
            actions=set(_strings(raw.get("actions", []))),
            resources=_strings(raw.get("resources", [])),
            conditional=conditional,
            conditions=raw.get("condition", []),
        )
