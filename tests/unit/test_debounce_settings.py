"""DEBOUNCE_POLICIES: parsed and validated at cold start, per app, defaults from DEBOUNCE_SECONDS."""

from __future__ import annotations

import json

import pytest

from gateway.debounce import DebouncePolicy
from gateway.errors import ConfigError
from gateway.settings import ProcessorSettings, WebhookSettings

BASE = {
    "TABLE_NAME": "t",
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:m",
    "PROCESSING_LAMBDAS_MAP": json.dumps({"bot1": "f1", "bot2": "f2"}),
    "DEBOUNCE_SECONDS": "8",
    "FAILED_BATCHES_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/failed-batches",
}


def env(policies=None, **extra):
    values = {**BASE, **extra}
    if policies is not None:
        values["DEBOUNCE_POLICIES"] = policies if isinstance(policies, str) else json.dumps(policies)
    return values


@pytest.mark.parametrize("settings_class", [WebhookSettings, ProcessorSettings])
def test_both_lambdas_read_the_same_policy_per_app(settings_class):
    settings = settings_class.from_env(env({
        "bot1": {"mode": "adaptive", "quiet_seconds": 6, "max_wait_seconds": 45, "max_messages": 20,
                 "max_bytes": 4000, "min_quiet_seconds": 1.5, "max_quiet_seconds": 25},
    }))
    assert settings.policy_for("bot1") == DebouncePolicy(
        quiet_seconds=6, mode="adaptive", max_wait_seconds=45, max_messages=20, max_bytes=4000,
        min_quiet_seconds=1.5, max_quiet_seconds=25,
    )
    assert settings.policy_for("bot2") == DebouncePolicy(quiet_seconds=8, max_wait_seconds=60)


def test_without_the_variable_every_app_is_fixed_debounce_seconds_capped_at_60():
    settings = ProcessorSettings.from_env(env())
    for app in ("bot1", "bot2"):
        policy = settings.policy_for(app)
        assert (policy.mode, policy.quiet_seconds, policy.max_wait_seconds) == ("fixed", 8, 60)
        assert policy.max_messages is None and policy.max_bytes is None


def test_missing_and_null_fields_take_their_defaults():
    # Terraform's jsonencode writes null for an optional attribute that was not set.
    settings = WebhookSettings.from_env(env({"bot1": {"mode": "adaptive", "max_messages": None}}))
    policy = settings.policy_for("bot1")
    assert policy == DebouncePolicy(quiet_seconds=8, mode="adaptive", max_wait_seconds=60)
    assert (policy.min_quiet_seconds, policy.max_quiet_seconds) == (1.6, 24)


def test_a_long_quiet_period_raises_the_default_cap_with_it():
    settings = WebhookSettings.from_env(env(DEBOUNCE_SECONDS="120"))
    assert settings.policy_for("bot1").max_wait_seconds == 120


@pytest.mark.parametrize(
    "policies, message",
    [
        ("{not json", "not valid JSON"),
        ('["bot1"]', "must be a JSON object app_id -> object"),
        ({"bot1": 5}, "must be a JSON object app_id -> object"),
        ({"bot9": {}}, r"DEBOUNCE_POLICIES\['bot9'\]: no app 'bot9' in PROCESSING_LAMBDAS_MAP"),
        ({"bot1": {"mode": "smart"}}, r"DEBOUNCE_POLICIES\['bot1'\]: mode must be one of fixed, adaptive"),
        ({"bot1": {"quiet": 3}}, "unknown field"),
        ({"bot1": {"quiet_seconds": "3"}}, "quiet_seconds must be a number"),
        ({"bot1": {"quiet_seconds": True}}, "quiet_seconds must be a number"),
        ({"bot1": {"max_messages": 2.5}}, "max_messages must be an integer"),
        ({"bot1": {"quiet_seconds": 0}}, "quiet_seconds must be between"),
        ({"bot1": {"max_bytes": 7_000_000}}, "max_bytes must be between"),
        ({"bot1": {"quiet_seconds": 10, "max_wait_seconds": 5}}, "max_wait_seconds must be at least"),
        ({"bot1": {"mode": "adaptive", "min_quiet_seconds": 9, "max_quiet_seconds": 3}}, "min_quiet_seconds"),
    ],
)
@pytest.mark.parametrize("settings_class", [WebhookSettings, ProcessorSettings])
def test_a_bad_policy_fails_at_cold_start_naming_the_variable(settings_class, policies, message):
    with pytest.raises(ConfigError, match="DEBOUNCE_POLICIES") as caught:
        settings_class.from_env(env(policies))
    assert caught.match(message)
