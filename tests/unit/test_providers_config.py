"""PROVIDERS_MAP, SECRETS_PARAMETERS_MAP and APP_SECRETS_JSON: parsed at cold start, read once, never
shown; the provider registry, and the Terraform's provider lists held to it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import boto3
import pytest
from helpers import provider_request
from moto import mock_aws

from gateway.errors import ConfigError
from gateway.providers import (PROVIDER_NAMES, PROVIDERS, URL_DEFAULTED, URL_IN_SECRETS, URL_REQUIRED,
                               get_provider)
from gateway.secrets import CredentialStore, SecretsError
from gateway.settings import DEFAULT_PROVIDER, SenderSettings, WebhookSettings

WEBHOOK_ENV = {"TABLE_NAME": "t", "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:s",
               "PROCESSING_LAMBDAS_MAP": '{"a": "fa", "b": "fb"}'}
SENDER_ENV = {"API_URLS_MAP": '{"a": "https://example.test/send"}'}


@pytest.mark.parametrize("cls,env", [(WebhookSettings, WEBHOOK_ENV), (SenderSettings, SENDER_ENV)])
def test_providers_map_defaults_to_zapi_and_validates_names(cls, env):
    settings = cls.from_env({**env, "PROVIDERS_MAP": json.dumps({"a": "telegram"})})
    assert settings.provider_for("a") == "telegram"
    assert settings.provider_for("b") == "zapi"
    assert cls.from_env(env).providers == {}
    with pytest.raises(ConfigError, match=r"PROVIDERS_MAP\['a'\] must be one of zapi, whatsapp_cloud"):
        cls.from_env({**env, "PROVIDERS_MAP": '{"a": "whatsapp"}'})
    with pytest.raises(ConfigError, match="PROVIDERS_MAP is not valid JSON"):
        cls.from_env({**env, "PROVIDERS_MAP": "{a: zapi}"})


def test_every_provider_name_is_accepted():
    env = {**WEBHOOK_ENV, "PROVIDERS_MAP": json.dumps({f"app{i}": n for i, n in enumerate(PROVIDER_NAMES)})}
    assert set(WebhookSettings.from_env(env).providers.values()) == set(PROVIDER_NAMES)


def test_app_secrets_json_is_validated_without_echoing_values():
    with pytest.raises(ConfigError, match="APP_SECRETS_JSON") as caught:
        WebhookSettings.from_env({**WEBHOOK_ENV, "APP_SECRETS_JSON": '{"a": {"app_secret": 5, "x": "hunter2"}}'})
    assert "hunter2" not in str(caught.value)
    with pytest.raises(ConfigError, match="APP_SECRETS_JSON is not valid JSON") as caught:
        WebhookSettings.from_env({**WEBHOOK_ENV, "APP_SECRETS_JSON": '{"a": {"app_secret": hunter2}}'})
    assert "hunter2" not in str(caught.value)


def test_secrets_do_not_appear_in_the_settings_repr():
    settings = SenderSettings.from_env({**SENDER_ENV,
                                        "APP_SECRETS_JSON": '{"a": {"bot_token": "hunter2", "client_token": "zapi-tok"}}'})
    assert "hunter2" not in repr(settings) and "zapi-tok" not in repr(settings)


def test_local_secrets_come_from_app_secrets_json():
    settings = SenderSettings.from_env({**SENDER_ENV, "APP_SECRETS_JSON": '{"a": {"client_token": "ct", "webhook_token": "wt"}}'})
    store = CredentialStore(settings)
    assert dict(store.secrets("a")) == {"client_token": "ct", "webhook_token": "wt"}
    assert dict(store.secrets("nobody")) == {}


@mock_aws
def test_ssm_parameters_are_read_once_and_cached():
    ssm = boto3.client("ssm", region_name="us-east-1")
    ssm.put_parameter(Name="/debouncer/a/secrets", Type="SecureString",
                      Value=json.dumps({"app_secret": "from-ssm", "access_token": "tok"}))
    ssm.put_parameter(Name="/debouncer/a/client-token", Type="SecureString", Value="zapi-ct")
    settings = WebhookSettings.from_env({
        **WEBHOOK_ENV,
        "SECRETS_PARAMETERS_MAP": '{"a": "/debouncer/a/secrets", "b": "/debouncer/b/missing"}',
        "APP_SECRETS_JSON": '{"a": {"app_secret": "local", "verify_token": "v"}}',
    })
    store = CredentialStore(settings)
    assert dict(store.secrets("a")) == {"app_secret": "from-ssm", "access_token": "tok", "verify_token": "v"}
    ssm.put_parameter(Name="/debouncer/a/secrets", Type="SecureString", Value='{"app_secret": "rotated"}',
                      Overwrite=True)
    assert store.secrets("a")["app_secret"] == "from-ssm"  # once per cold start
    assert CredentialStore(settings).secrets("a")["app_secret"] == "rotated"  # the next cold start

    with pytest.raises(SecretsError, match="/debouncer/b/missing could not be read: ParameterNotFound"):
        store.secrets("b")
    ssm.put_parameter(Name="/debouncer/b/missing", Type="SecureString", Value='{"secret_token": "t"}')
    assert store.secrets("b") == {"secret_token": "t"}  # a failure is not cached


@mock_aws
def test_a_malformed_parameter_is_an_error_that_does_not_show_its_value():
    ssm = boto3.client("ssm", region_name="us-east-1")
    ssm.put_parameter(Name="/p/plain", Type="SecureString", Value="hunter2")
    ssm.put_parameter(Name="/p/nested", Type="SecureString", Value='{"app_secret": {"v": "hunter2"}}')
    settings = SenderSettings.from_env({**SENDER_ENV, "SECRETS_PARAMETERS_MAP": '{"a": "/p/plain", "b": "/p/nested"}'})
    store = CredentialStore(settings)
    for app in ("a", "b"):
        with pytest.raises(SecretsError) as caught:
            store.secrets(app)
        assert "hunter2" not in str(caught.value)


def test_parse_event_rebuilds_the_public_url_twilio_signs():
    from helpers import API_DOMAIN, api_event

    from gateway.webhook import parse_event

    event = api_event({"a": 1}, query={"token": "t"})
    assert parse_event(event).url == f"https://{API_DOMAIN}/webhook?token=t&appId=bot1"
    del event["requestContext"]["domainName"]
    event["headers"]["host"] = "hooks.example.com"
    event["rawQueryString"] = ""
    assert parse_event(event).url == "https://hooks.example.com/webhook"
    del event["headers"]["host"]
    assert parse_event(event).url == ""


# --- the provider registry is the one list of providers: the Terraform validations follow it ---------

TF_ROOT = Path(__file__).resolve().parents[2]
# `app.provider` with its default filled in, as variables.tf and main.tf write it
APP_PROVIDER = r'try\(coalesce\(app\.provider, "(?P<default>\w+)"\), "(?P=default)"\)'


def _tf(name: str) -> str:
    return (TF_ROOT / name).read_text()


def _names(info_test) -> list[str]:
    return [name for name, info in PROVIDERS.items() if info_test(info)]


def test_every_provider_list_of_the_terraform_is_the_registry_s():
    variables = _tf("variables.tf")
    lists = [re.findall(r'"([^"]*)"', found.group(1))
             for found in re.finditer(r"contains\((\[[^\]]*\]), " + APP_PROVIDER, variables)]
    every, needs_url = list(PROVIDER_NAMES), _names(lambda info: info.url == URL_REQUIRED)
    assert every in lists and needs_url in lists  # provider must be one of ...; a ... app needs url
    assert all(names in (every, needs_url) for names in lists), lists
    assert f"must be one of {', '.join(PROVIDER_NAMES)}" in variables
    described = re.search(r"^\s*provider\s+=\s+(\"\w+\" \(default\).*)$", variables, re.MULTILINE).group(1)
    assert re.findall(r'"(\w+)"', described) == every


def test_every_provider_the_terraform_compares_an_app_s_provider_with_is_registered():
    for name in ("variables.tf", "main.tf"):
        text = _tf(name)
        assert set(re.findall(APP_PROVIDER, text)) == {DEFAULT_PROVIDER}, name
        compared = re.findall(APP_PROVIDER + r'\s*[!=]=\s*"(\w+)"', text)
        assert {value for _, value in compared} <= set(PROVIDER_NAMES), name
    # a zapi app takes no url: its send URL is the api_url of its secrets
    no_url = re.findall(APP_PROVIDER + r'\s*!=\s*"(\w+)"\s*\?\s*true\s*:\s*try\(app\.url, null\) == null', _tf("variables.tf"))
    assert sorted({value for _, value in no_url}) == _names(lambda info: info.url == URL_IN_SECRETS)


def test_the_default_api_urls_of_main_tf_are_for_the_providers_that_default_their_url():
    from util import tfvars

    assert "local.default_api_urls[app.provider]" in _tf("main.tf")
    assert sorted(tfvars.root_local("default_api_urls", TF_ROOT)) == _names(lambda info: info.url == URL_DEFAULTED)


def test_the_registry_s_facts_match_its_providers():
    from gateway.errors import Unauthorized

    for name, info in PROVIDERS.items():
        provider = get_provider(name)
        assert (provider.name, type(provider).__name__) == (name, info.cls)
        assert provider.text_limit is None or provider.text_limit >= 1600
        assert info.url in (URL_IN_SECRETS, URL_REQUIRED, URL_DEFAULTED)
        # shared_token: nothing but the app's webhook_token authenticates a webhook, so without one it is open
        unsigned = provider_request({"a": 1})
        if info.shared_token:
            provider.authenticate(unsigned, {})
            with pytest.raises(Unauthorized):
                provider.authenticate(unsigned, {"webhook_token": "t"})
        else:
            with pytest.raises(Unauthorized):
                provider.authenticate(unsigned, {})
