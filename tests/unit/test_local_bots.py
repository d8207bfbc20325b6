"""`make run` runs a bot from any folder (a path in PROCESSING_LAMBDAS_MAP), with its own modules and
its requirements.txt, and hands it a Lambda context whose time runs out."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from util.local_gateway import bots
from util.local_gateway.config import LocalConfigError, function_name_of, local_config

ROOT = Path(__file__).resolve().parents[2]


def make_bot(folder: Path, body: str = "def lambda_handler(event, context):\n    return {'ok': True}\n",
             file: str = "handler.py") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / file).write_text(body)
    return folder


def test_an_example_s_name_and_a_path_find_their_code_and_a_deployed_function_has_none(tmp_path):
    assert bots.find("echo_bot").file == ROOT / "lambda" / "examples" / "echo_bot" / "handler.py"
    assert bots.find("llm_bot").label == "lambda/examples/llm_bot"
    assert bots.find("shop-bot") is None and bots.find("arn:aws:lambda:us-east-1:1:function:x") is None
    make_bot(tmp_path / "bots" / "faq")
    make_bot(tmp_path / "bots" / "sam", "def handler(event, context):\n    return 1\n", file="app.py")
    assert bots.find("bots/faq", cwd=tmp_path).file == tmp_path / "bots" / "faq" / "handler.py"
    assert bots.find(str(tmp_path / "bots" / "faq")).function == "lambda_handler"
    sam = bots.find("./bots/sam:handler", cwd=tmp_path)
    assert (sam.file.name, sam.function) == ("app.py", "handler")
    assert bots.find("bots/sam/app.py:handler", cwd=tmp_path).file == sam.file
    # a bot_source of terraform.tfvars is relative to the repository, wherever make run runs
    assert bots.find("lambda/examples/echo_bot", cwd=tmp_path).file == bots.find("echo_bot").file


@pytest.mark.parametrize("value, problem", [
    ("./nowhere", "no such folder or file"),
    ("./empty", "has no handler.py, lambda_function.py or app.py"),
    ("./empty/notes.txt", "is not a .py file"),
    ("./faq:not-a-name", "is not a Python function name"),
])
def test_a_path_that_holds_no_bot_says_why(tmp_path, value, problem):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("")
    make_bot(tmp_path / "faq")
    with pytest.raises(bots.BotError, match=problem):
        bots.find(value, cwd=tmp_path)


@pytest.mark.parametrize("value, name", [
    ("path/to/my_bot", "my_bot"), ("path/to/my_bot/", "my_bot"), ("./bots/faq/app.py:handler", "faq"),
    ("../bots/support.py", "support"), ("~/my bots/v2.0", "v2-0"),
    ("arn:aws:lambda:us-east-1:111122223333:function:shop:live", "shop"), ("shop-bot", "shop-bot"),
])
def test_a_path_bot_is_the_function_named_after_its_folder(value, name):
    assert function_name_of(value) == name


def test_the_bot_imports_its_own_modules_and_gets_a_context_whose_time_runs_out(tmp_path):
    folder = make_bot(tmp_path / "mine", "from prompts import GREETING\n\n"
                                        "def lambda_handler(event, context):\n"
                                        "    return [GREETING, context.get_remaining_time_in_millis(), context.function_name]\n")
    (folder / "prompts.py").write_text("GREETING = 'hello'\n")
    handler = bots.load(bots.find(str(folder)), timeout_seconds=2)
    greeting, remaining, name = handler({}, type("Ctx", (), {"function_name": "mine"})())
    assert (greeting, name) == ("hello", "mine") and 1500 < remaining <= 2000


def test_what_the_bot_raised_is_remembered_with_its_line_and_a_slow_bot_is_reported(tmp_path):
    folder = make_bot(tmp_path / "slow", "import time\n\n"
                                        "def lambda_handler(event, context):\n"
                                        "    time.sleep(0.3)\n"
                                        "    raise ValueError('no answer')\n")
    told = []
    handler = bots.load(bots.find(str(folder)), timeout_seconds=0.1, overran=told.append)
    with pytest.raises(ValueError):
        handler({}, None)
    assert bots.last_failure() == "ValueError: no answer (handler.py line 5)"
    assert bots.last_failure() is None  # read once
    assert len(told) == 1 and "past its 0.1 s timeout" in told[0]


def test_processing_lambdas_map_takes_a_path_and_refuses_one_without_a_bot(tmp_path, monkeypatch):
    make_bot(tmp_path / "my_bot")
    make_bot(tmp_path / "other" / "my_bot")
    make_bot(tmp_path / "other" / "echo_bot")
    monkeypatch.chdir(tmp_path)
    config = local_config(env={"PROCESSING_LAMBDAS_MAP": '{"demo": "./my_bot", "shop": "my_bot/"}'})
    assert config.processing_lambdas["demo"] == "./my_bot"
    with pytest.raises(LocalConfigError, match="app demo: bot './nothing': no such folder"):
        local_config(env={"PROCESSING_LAMBDAS_MAP": '{"demo": "./nothing"}'})
    with pytest.raises(LocalConfigError, match="would both be the function 'my_bot'"):
        local_config(env={"PROCESSING_LAMBDAS_MAP": '{"demo": "./my_bot", "shop": "other/my_bot"}'})
    with pytest.raises(LocalConfigError, match="would both be the function 'echo_bot'"):  # demo keeps the example
        local_config(env={"PROCESSING_LAMBDAS_MAP": '{"shop": "other/echo_bot"}'})


@pytest.mark.slow
def test_the_bot_s_requirements_are_installed_once_and_never_change_the_gateway_s_packages(tmp_path, monkeypatch):
    monkeypatch.setattr(bots, "STAMPS", tmp_path / "stamps")
    folder = make_bot(tmp_path / "needs_requests")
    (folder / "requirements.txt").write_text("requests>=2\n")  # installed already: no network needed
    said = []
    assert bots.install_requirements(bots.find(str(folder)), say=said.append) is True
    assert said == [f"installing {folder / 'requirements.txt'} into {sys.prefix} ..."]
    constraints = (tmp_path / "stamps" / "constraints.txt").read_text().splitlines()
    assert "requests==2.34.2" in constraints and any(line.startswith("moto==") for line in constraints)
    assert bots.install_requirements(bots.find(str(folder)), say=said.append) is False  # same file: done
    assert len(said) == 1


@pytest.mark.slow
def test_requirements_pip_cannot_install_stop_the_start_with_pip_s_words(tmp_path, monkeypatch):
    monkeypatch.setattr(bots, "STAMPS", tmp_path / "stamps")
    folder = make_bot(tmp_path / "broken")
    (folder / "requirements.txt").write_text("./no-such-package-folder\n")
    started = time.monotonic()
    with pytest.raises(bots.BotError, match="pip could not install") as error:
        bots.install_requirements(bots.find(str(folder)), say=lambda text: None)
    assert "no-such-package-folder" in str(error.value) and time.monotonic() - started < 60
    assert [p.name for p in (tmp_path / "stamps").iterdir()] == ["constraints.txt"]  # no stamp: pip runs again
