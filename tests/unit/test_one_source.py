"""Facts Terraform repeats from the Python core, tied to their one Python source.

Terraform cannot import the core, so main.tf and variables.tf state the app-id alphabet, the
debounce policy's defaults and its bounds again; these tests fail when either side changes alone.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway import debounce, settings
from gateway.debounce import DebouncePolicy

REPO = Path(__file__).resolve().parents[2]
MAIN_TF = (REPO / "main.tf").read_text()
VARIABLES_TF = (REPO / "variables.tf").read_text()


def _number(text: str) -> float:
    return float(text)


def test_variables_tf_checks_app_ids_with_the_settings_pattern():
    regexes = set(re.findall(r'can\(regex\("([^"]+)", id\)\)', VARIABLES_TF))
    assert regexes == {settings.APP_ID_REGEX}


@pytest.mark.parametrize("app_id", ["bot1", "a" * 64, "my-app_2"])
def test_the_pattern_accepts_what_terraform_accepts(app_id):
    assert settings.APP_ID_PATTERN.fullmatch(app_id)


@pytest.mark.parametrize("app_id", ["", "a" * 65, "bot#1", "bot 1", "bót"])
def test_the_pattern_refuses_what_terraform_refuses(app_id):
    assert not settings.APP_ID_PATTERN.fullmatch(app_id)


def test_main_tf_fills_in_the_policy_defaults_debounce_py_fills_in():
    caps = re.findall(r"max\(([\d.]+), (?:app\.debounce\.quiet_seconds|var\.debounce_seconds)\)", MAIN_TF)
    assert caps and {_number(c) for c in caps} == {debounce.DEFAULT_MAX_WAIT_SECONDS}
    divisors = re.findall(r"app\.debounce\.min_quiet_seconds, app\.debounce\.quiet_seconds / ([\d.]+)\)", MAIN_TF)
    assert [_number(d) for d in divisors] == [debounce.MIN_QUIET_DIVISOR]
    factors = re.findall(r"app\.debounce\.max_quiet_seconds, ([\d.]+) \* app\.debounce\.quiet_seconds\)", MAIN_TF)
    assert [_number(f) for f in factors] == [debounce.MAX_QUIET_FACTOR]
    # and what Python makes of a bare quiet period is what those expressions give
    policy = DebouncePolicy(quiet_seconds=90)
    assert (policy.max_wait_seconds, policy.min_quiet_seconds, policy.max_quiet_seconds) == (
        max(_number(caps[0]), 90), 90 / _number(divisors[0]), _number(factors[0]) * 90)


def test_the_default_quiet_period_is_variables_tf_default():
    (default,) = re.findall(r'variable "debounce_seconds" \{[^}]*?default\s*=\s*([\d.]+)', VARIABLES_TF)
    assert _number(default) == debounce.DEFAULT_QUIET_SECONDS
    assert settings.WebhookSettings.from_env({"TABLE_NAME": "t", "STATE_MACHINE_ARN": "arn:x",
                                              "PROCESSING_LAMBDAS_MAP": '{"bot1": "f"}'}).debounce_seconds \
        == debounce.DEFAULT_QUIET_SECONDS


def test_variables_tf_bounds_the_policy_fields_as_settings_does():
    bounds = {key: (_number(low), _number(high)) for key, low, high in re.findall(
        r"app\.debounce\.(\w+) >= ([\d.]+) && app\.debounce\.\1 <= ([\d.]+)", VARIABLES_TF)}
    assert bounds == {key: (low, high) for key, (low, high, _) in settings.POLICY_FIELDS.items()}
