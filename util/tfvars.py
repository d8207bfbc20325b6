"""Terraform variable values without Terraform: terraform.tfvars over the defaults in variables.tf.

Parsed with `hcl2` (bc-python-hcl2, pinned in requirements/dev.txt), which wraps every attribute
value in a one-element list; these helpers unwrap it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parent.parent


class HclError(ValueError):
    pass


def _parse(path: Path) -> dict:
    try:
        return hcl2.loads(path.read_text())
    except Exception as exc:  # lark raises several exception types for a syntax error
        raise HclError(f"{path.name}: cannot parse: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


def _unwrap(value: Any) -> Any:
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def parse_tfvars(path: Path) -> dict[str, Any]:
    """`name = value` lines of a .tfvars file."""
    return {name: _unwrap(value) for name, value in _parse(path).items()}


def variable_blocks(path: Path) -> dict[str, dict]:
    """variable name -> its block's attributes (values unwrapped), from a variables.tf."""
    blocks = {}
    for entry in _parse(path).get("variable", []):
        for name, body in entry.items():
            blocks[name] = {k: _unwrap(v) for k, v in body.items() if not k.startswith("__")}
    return blocks


def variable_defaults(path: Path) -> dict[str, Any]:
    """variable name -> its `default`, for the variables that declare one."""
    return {name: block["default"] for name, block in variable_blocks(path).items() if "default" in block}


def load(root: Path = ROOT) -> dict[str, Any]:
    """The root module's variable values as a plan would see them: terraform.tfvars over variables.tf defaults."""
    values = variable_defaults(root / "variables.tf")
    tfvars = root / "terraform.tfvars"
    if tfvars.exists():
        values.update(parse_tfvars(tfvars))
    return values


def root_local(name: str, root: Path = ROOT) -> Any:
    """The value of ``local.<name>`` as main.tf writes it (a literal: a map or list of strings)."""
    for block in _parse(root / "main.tf").get("locals", []):
        if name in block:
            return _unwrap(block[name])
    raise KeyError(f"main.tf has no local {name}")
