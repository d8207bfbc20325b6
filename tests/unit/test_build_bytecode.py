"""util/build.py ships the package's bytecode: /var/task is read-only, so a module without its .pyc
is compiled again at every cold start. The .pyc files must not make the package differ between
two builds of the same code (the zip Terraform deploys is deterministic)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from util import build


def _package(folder: Path) -> Path:
    build.build(folder, with_dependencies=False, bytecode=False)
    assert build.compile_package(folder, sys.executable)  # this interpreter's version: it imports below
    return folder


def test_every_module_ships_its_bytecode_and_two_builds_are_byte_identical(tmp_path) -> None:
    first, second = _package(tmp_path / "a"), _package(tmp_path / "b")
    sources = sorted(p.relative_to(first) for p in first.rglob("*.py"))
    compiled = sorted(p.relative_to(first) for p in first.rglob("*.pyc"))
    assert sources and len(compiled) == len(sources)
    for name in compiled:  # no timestamp, no build path, no hash-seed-dependent set order in them
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert b"/var/task/gateway/" in (first / next(n for n in compiled if n.parts[0] == "gateway")).read_bytes()


def test_a_read_only_run_imports_the_shipped_bytecode_without_compiling(tmp_path) -> None:
    package = _package(tmp_path / "pkg")
    env = {**os.environ, "PYTHONPATH": str(package), "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, "-v", "-c", "import gateway.errors"], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    errors_py = package / "gateway" / "errors.py"
    loaded = [line for line in proc.stderr.splitlines() if "code object from" in line and "gateway" in line]
    assert any("errors" in line and ".pyc" in line for line in loaded), loaded
    assert not any(f"code object from '{errors_py}'" in line for line in proc.stderr.splitlines())
