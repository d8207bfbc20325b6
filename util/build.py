"""Build the one Lambda package every function ships: the shared core, the handlers, pinned deps.

    python util/build.py [--skip-deps]

Writes build/package/ (Terraform zips it with archive_file and redeploys when its hash changes).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "lambda"
PACKAGE = ROOT / "build" / "package"
REQUIREMENTS = ROOT / "requirements" / "lambda.txt"
# The code that ships: the core and one folder per function. Examples stay out of the package.
SHIPPED = ("gateway", "post_message", "process_message", "send_message_api", "sweeper")
LAMBDA_PYTHON = "3.12"


def build(package: Path = PACKAGE, *, with_dependencies: bool = True, bytecode: bool = True) -> Path:
    if package.exists():
        shutil.rmtree(package)
    package.mkdir(parents=True)
    for name in SHIPPED:
        if (SOURCE / name).is_dir():
            shutil.copytree(SOURCE / name, package / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if with_dependencies:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--target", str(package),
             "--requirement", str(REQUIREMENTS), "--platform", "manylinux2014_x86_64",
             "--implementation", "cp", "--python-version", LAMBDA_PYTHON, "--only-binary=:all:",
             "--upgrade"],
            check=True,
        )
        for cache in package.rglob("__pycache__"):
            shutil.rmtree(cache, ignore_errors=True)
    if bytecode:
        compile_package(package)
    return package


def lambda_python() -> str | None:
    """An interpreter of the runtime's version: bytecode is read only by the version that wrote it."""
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == LAMBDA_PYTHON:
        return sys.executable
    candidate = shutil.which(f"python{LAMBDA_PYTHON}")
    probe = "import sys; print('%d.%d' % sys.version_info[:2])"
    if candidate and subprocess.run([candidate, "-c", probe], capture_output=True, text=True).stdout.strip() == LAMBDA_PYTHON:
        return candidate
    return None


def compile_package(package: Path, python: str | None = None) -> bool:
    """Ship every module's bytecode (``__pycache__/*.cpython-312.pyc``). Lambda's /var/task is
    read-only, so a module without it is compiled again at every cold start (util/bench.py measures
    both). Unchecked-hash .pyc files hold no source timestamp (the zip stays deterministic; the hash
    seed is fixed for the set constants) and cost no stat of the source at import; file names
    recorded as /var/task/..., where Lambda unpacks the zip."""
    python = python or lambda_python()
    if not python:
        print(f"warning: no python{LAMBDA_PYTHON} found; the package ships without bytecode", file=sys.stderr)
        return False
    subprocess.run([python, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash",
                    "-s", str(package), "-p", "/var/task", str(package)],
                   check=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-deps", action="store_true", help="copy the code only")
    parser.add_argument("--out", type=Path, default=PACKAGE)
    args = parser.parse_args()
    path = build(args.out, with_dependencies=not args.skip_deps)
    files = sum(1 for p in path.rglob("*") if p.is_file())
    print(f"built {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {files} files")


if __name__ == "__main__":
    main()
