"""Build the one Lambda package every function ships: the shared core, the handlers, pinned deps.

    python util/build.py [--skip-deps]

Writes build/package/ and build/lambda.zip, the file Terraform deploys (`filename`, redeployed when
`filebase64sha256` of it changes), and build/bots/<app_id>.zip for each app of terraform.tfvars
whose bot Terraform deploys (`bot_source`). The zip is deterministic: entries sorted, fixed timestamps and
permissions, so two builds of the same code give the same bytes and `terraform plan` shows no change.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "lambda"
PACKAGE = ROOT / "build" / "package"
ZIP = ROOT / "build" / "lambda.zip"
REQUIREMENTS = ROOT / "requirements" / "lambda.txt"
# The code that ships: the core and one folder per function. Examples stay out of the package.
SHIPPED = ("gateway", "post_message", "process_message", "send_message_api", "sweeper")
LAMBDA_PYTHON = "3.12"
# The earliest time a zip entry can carry; any fixed value would do.
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)


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
    # On the PATH, or installed by pyenv but not selected (its shim then refuses to run it).
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = [shutil.which(f"python{LAMBDA_PYTHON}"),
                  *sorted(str(p) for p in pyenv_root.glob(f"versions/{LAMBDA_PYTHON}.*/bin/python{LAMBDA_PYTHON}"))]
    probe = "import sys; print('%d.%d' % sys.version_info[:2])"
    for candidate in filter(None, candidates):
        version = subprocess.run([candidate, "-c", probe], capture_output=True, text=True).stdout.strip()
        if version == LAMBDA_PYTHON:
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


def write_zip(package: Path = PACKAGE, output: Path = ZIP) -> Path:
    """Zip ``package`` into ``output`` with the same bytes for the same files: entries in sorted
    order (POSIX paths), every timestamp ZIP_TIMESTAMP, mode 0644 (0755 if executable), deflated."""
    files = sorted((p for p in package.rglob("*") if p.is_file()), key=lambda p: p.relative_to(package).as_posix())
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(package).as_posix(), date_time=ZIP_TIMESTAMP)
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.create_system = 3  # unix, whatever the building machine
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    partial.replace(output)
    return output


BOTS = ROOT / "build" / "bots"


def bot_sources(root: Path = ROOT) -> dict[str, Path]:
    """app_id -> the bot_source folder of each app in terraform.tfvars that names one."""
    sys.path.insert(0, str(ROOT))
    from util import tfvars

    apps = tfvars.load(root).get("apps") or {}
    return {str(app): root / str(spec["bot_source"]) for app, spec in apps.items()
            if isinstance(spec, dict) and spec.get("bot_source")}


def build_bot(source: Path, output: Path, *, with_dependencies: bool = True) -> Path:
    """A bot's zip (build/bots/<app_id>.zip): its folder, with the packages its requirements.txt
    names installed beside it for the Lambda runtime; as deterministic as the gateway's zip."""
    if not (source / "handler.py").is_file():
        raise SystemExit(f"bot_source {source}: no handler.py (the bot's lambda_handler) in that folder")
    package = output.parent / output.stem / "package"
    if package.exists():
        shutil.rmtree(package)
    shutil.copytree(source, package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "tests", ".deps"))
    requirements = source / "requirements.txt"
    if with_dependencies and requirements.is_file():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--target", str(package),
             "--requirement", str(requirements), "--platform", "manylinux2014_x86_64",
             "--implementation", "cp", "--python-version", LAMBDA_PYTHON, "--only-binary=:all:", "--upgrade"],
            check=True,
        )
        for cache in package.rglob("__pycache__"):
            shutil.rmtree(cache, ignore_errors=True)
    return write_zip(package, output)


def build_bots(root: Path = ROOT, output_dir: Path = BOTS, *, with_dependencies: bool = True) -> dict[str, Path]:
    return {app: build_bot(source, output_dir / f"{app}.zip", with_dependencies=with_dependencies)
            for app, source in bot_sources(root).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-deps", action="store_true", help="copy the code only")
    parser.add_argument("--out", type=Path, default=PACKAGE)
    parser.add_argument("--zip", type=Path, default=ZIP, help="the zip Terraform deploys (default build/lambda.zip)")
    args = parser.parse_args()
    path = build(args.out, with_dependencies=not args.skip_deps)
    files = sum(1 for p in path.rglob("*") if p.is_file())
    archive = write_zip(path, args.zip)
    shown = [p.relative_to(ROOT) if p.is_relative_to(ROOT) else p for p in (path, archive)]
    print(f"built {shown[0]}: {files} files; {shown[1]}: {archive.stat().st_size} bytes")
    for app, bot in build_bots(with_dependencies=not args.skip_deps).items():
        print(f"built the bot of app {app}: {bot.relative_to(ROOT)}: {bot.stat().st_size} bytes")


if __name__ == "__main__":
    main()
