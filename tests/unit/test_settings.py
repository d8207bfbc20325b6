import json

import pytest

from gateway.errors import ConfigError
from gateway.settings import ProcessorSettings, SenderSettings, WebhookSettings

WEBHOOK_ENV = {
    "TABLE_NAME": "t",
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:sm",
    "PROCESSING_LAMBDAS_MAP": '{"bot1": "bot1-chat-lambda"}',
}


def test_webhook_settings_parse_the_maps_and_default_the_quiet_period():
    settings = WebhookSettings.from_env(WEBHOOK_ENV)
    assert settings.processing_lambdas == {"bot1": "bot1-chat-lambda"}
    assert settings.debounce_seconds == 10


@pytest.mark.parametrize("missing", ["TABLE_NAME", "STATE_MACHINE_ARN", "PROCESSING_LAMBDAS_MAP"])
def test_a_missing_variable_is_named(missing):
    env = {k: v for k, v in WEBHOOK_ENV.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        WebhookSettings.from_env(env)


@pytest.mark.parametrize(
    "raw, problem",
    [("{not json", "not valid JSON"), ('["bot1"]', "JSON object"), ('{"bot1": 3}', "JSON object"), ('{"bot1": ""}', "JSON object")],
)
def test_a_malformed_map_is_refused_with_the_variable_name(raw, problem):
    with pytest.raises(ConfigError, match=f"PROCESSING_LAMBDAS_MAP.*{problem}|{problem}"):
        ProcessorSettings.from_env({**WEBHOOK_ENV, "PROCESSING_LAMBDAS_MAP": raw})


@pytest.mark.parametrize("value", ["0", "301", "ten"])
def test_debounce_seconds_out_of_range_is_refused(value):
    with pytest.raises(ConfigError, match="DEBOUNCE_SECONDS"):
        WebhookSettings.from_env({**WEBHOOK_ENV, "DEBOUNCE_SECONDS": value})


def test_sender_settings_require_http_urls():
    with pytest.raises(ConfigError, match="API_URLS_MAP"):
        SenderSettings.from_env({"API_URLS_MAP": '{"bot1": "ftp://example.com"}'})
    settings = SenderSettings.from_env({"API_URLS_MAP": '{"bot1": "https://example.com/send"}'})
    assert settings.api_urls["bot1"] == "https://example.com/send"
    assert settings.http_timeout_seconds == 10


@pytest.mark.parametrize("variable", ["PROCESSING_LAMBDAS_MAP", "PROVIDERS_MAP", "SECRETS_PARAMETERS_MAP"])
@pytest.mark.parametrize("app_id", ["shop#vip", "bot 1", "bot1\x1f", "é", "a" * 65, "CONV#x"])
def test_an_app_id_outside_the_safe_alphabet_is_refused_at_cold_start_naming_the_variable(variable, app_id):
    """An app id is part of the conversation key: 'shop#vip' + sender '5511999' would share a key
    with 'shop' + sender 'vip#5511999'."""
    value = "zapi" if variable == "PROVIDERS_MAP" else "x"
    env = {**WEBHOOK_ENV, variable: json.dumps({app_id: value})}
    with pytest.raises(ConfigError, match=rf"{variable}.*\^\[A-Za-z0-9_-\]\{{1,64\}}\$"):
        WebhookSettings.from_env(env)


def test_app_ids_of_the_safe_alphabet_are_accepted():
    env = {**WEBHOOK_ENV, "PROCESSING_LAMBDAS_MAP": json.dumps({"Shop_2-b": "x", "a" * 64: "y"})}
    assert set(WebhookSettings.from_env(env).processing_lambdas) == {"Shop_2-b", "a" * 64}


def test_unauthenticated_apps_is_a_json_list_of_app_ids_and_absent_means_a_local_run():
    from gateway.settings import WebhookSettings

    base = {"TABLE_NAME": "t", "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:1:stateMachine:s",
            "PROCESSING_LAMBDAS_MAP": '{"a": "fa", "b": "fb"}'}
    local = WebhookSettings.from_env(base)
    assert local.unauthenticated_apps is None and local.may_skip_authentication("a")
    deployed = WebhookSettings.from_env({**base, "UNAUTHENTICATED_APPS": '["b"]'})
    assert deployed.unauthenticated_apps == frozenset({"b"})
    assert deployed.may_skip_authentication("b") and not deployed.may_skip_authentication("a")
    assert not WebhookSettings.from_env({**base, "UNAUTHENTICATED_APPS": "[]"}).may_skip_authentication("a")
    for bad in ('{"a": true}', '["a", 1]', "[not json", '["a b"]'):
        with pytest.raises(ConfigError, match="UNAUTHENTICATED_APPS"):
            WebhookSettings.from_env({**base, "UNAUTHENTICATED_APPS": bad})


def test_the_default_batch_lease_is_variables_tf_default_and_every_python_default_is_it():
    """900 s, Lambda's longest timeout: Terraform's default (variable "batch_lease_seconds") and the
    Python side's (settings.DEFAULT_LEASE_SECONDS: BATCH_LEASE_SECONDS, ConversationStore, Sweeper)."""
    import inspect
    from pathlib import Path

    import hcl2

    from gateway.settings import DEFAULT_LEASE_SECONDS, SweeperSettings
    from gateway.store import ConversationStore
    from gateway.sweeper import Sweeper

    variables = hcl2.loads((Path(__file__).resolve().parents[2] / "variables.tf").read_text())
    (variable,) = [block["batch_lease_seconds"] for block in variables["variable"] if "batch_lease_seconds" in block]
    default = variable["default"]
    default = default[0] if isinstance(default, list) else default  # python-hcl2 < 5 wraps values in lists
    assert default == DEFAULT_LEASE_SECONDS == 900
    env = {**WEBHOOK_ENV, "FAILED_BATCHES_QUEUE_URL": "https://sqs.example/q"}
    assert ProcessorSettings.from_env(env).batch_lease_seconds == DEFAULT_LEASE_SECONDS
    assert SweeperSettings.from_env(env).batch_lease_seconds == DEFAULT_LEASE_SECONDS
    assert ConversationStore("t").lease_seconds == DEFAULT_LEASE_SECONDS
    assert inspect.signature(Sweeper).parameters["lease_seconds"].default == DEFAULT_LEASE_SECONDS
