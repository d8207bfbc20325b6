"""util/find_conversation.py: the number a customer names -> the correlation id the logs carry."""

from __future__ import annotations

import re

import pytest
from conftest import fixture_bytes, load_fixture
from helpers import form_body, provider_request

from gateway.log import mask_phone
from gateway.models import conversation_id
from gateway.providers import get_provider
from util import find_conversation
from util.find_conversation import log_groups, main, report, sender_keys
from util.local_aws import ROOT

APP = "bot1"


def sender_of(provider: str, fixture: str) -> str:
    """The sender key the provider module makes of its fixture: what conversation_id hashes."""
    if provider == "twilio":
        request = provider_request(form_body(load_fixture("twilio", fixture)),
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    else:
        request = provider_request(fixture_bytes(provider, fixture))
    [message] = get_provider(provider).normalize(request)
    return message.sender


def ids_printed(text: str) -> list[str]:
    return re.findall(r"^  ([0-9a-f]{20})  key ", text, re.M)


@pytest.mark.parametrize(("provider", "fixture", "typed"), [
    ("zapi", "text.json", "+55 44 99999-9999"),  # phone 5544999999999
    ("whatsapp_cloud", "text.json", "+972 98-765-4321"),  # from 972987654321
    ("evolution", "messages_upsert_conversation.json", "+55 (11) 90000-0001"),  # 5511900000001@s.whatsapp.net
    ("twilio", "whatsapp_inbound_text_profile_name.json", "+55 41 98888-7777"),  # From whatsapp:+5541988887777
])
def test_the_first_id_is_the_one_the_provider_keys_the_typed_number_under(provider, fixture, typed):
    sender = sender_of(provider, fixture)
    expected = conversation_id(APP, sender)
    text = report(APP, typed, provider=provider)
    assert ids_printed(text)[0] == expected
    assert f"/{expected}" in text or f"|{expected}" in text  # in the Logs Insights query
    assert f'"{expected}"' in text  # in the aws logs tail filter pattern
    assert sender.removeprefix("whatsapp:+") not in text  # the number itself is never printed
    assert mask_phone(sender.removeprefix("whatsapp:+")) in text  # masked as the logs mask it


def test_without_a_provider_every_providers_key_is_among_the_ids():
    text = report(APP, "+55 44 99999-9999")
    ids = ids_printed(text)
    assert ids[0] == conversation_id(APP, sender_of("zapi", "text.json"))  # Z-API, the default provider
    assert conversation_id(APP, "whatsapp:+5544999999999") in ids  # Twilio WhatsApp
    assert conversation_id(APP, "+5544999999999") in ids  # Twilio SMS, generic
    query = text.split("Logs Insights", 1)[1]
    assert all(i in query for i in ids)  # one query finds whichever form it is


def test_a_twilio_sms_sender_is_found_by_its_plus_form():
    sender = sender_of("twilio", "sms_inbound_text.json")  # From +541138050810
    assert sender.startswith("+")
    assert conversation_id(APP, sender) in ids_printed(report(APP, "+54 11 3805-0810", provider="twilio"))


def test_a_key_typed_as_the_provider_writes_it_gives_the_same_id():
    evolution = conversation_id(APP, sender_of("evolution", "messages_upsert_conversation.json"))
    assert ids_printed(report(APP, "5511900000001@s.whatsapp.net", provider="evolution"))[0] == evolution
    twilio = conversation_id(APP, "whatsapp:+5541988887777")
    assert ids_printed(report(APP, "whatsapp:+5541988887777", provider="twilio"))[0] == twilio
    group = sender_of("zapi", "group_event.json")  # "<id>-group": used as it is
    assert ids_printed(report(APP, group, provider="zapi")) == [conversation_id(APP, group)]


def test_a_brazilian_mobile_number_is_tried_with_and_without_its_ninth_digit():
    keys = [key for key, providers, _ in sender_keys("+55 44 99999-9999", "zapi")]
    assert keys == ["5544999999999", "554499999999"]
    keys = [key for key, providers, _ in sender_keys("+55 44 9999-9999", "zapi")]
    assert keys == ["554499999999", "5544999999999"]
    assert [key for key, _, _ in sender_keys("+1 415 867 5309", "zapi")] == ["14158675309"]


def test_telegram_is_keyed_by_chat_id_not_by_phone_number():
    chat = sender_of("telegram", "private_text.json")
    assert ids_printed(report(APP, chat, provider="telegram")) == [conversation_id(APP, chat)]
    assert ids_printed(report(APP, "-1001234567890", provider="telegram")) == [conversation_id(APP, "-1001234567890")]
    with pytest.raises(ValueError, match="chat id"):
        report(APP, "+55 44 99999-9999", provider="telegram")


def test_the_log_groups_are_named_as_the_terraform_names_them():
    main_tf = (ROOT / "main.tf").read_text()
    for function in find_conversation.FUNCTIONS:
        assert f'"${{var.name_prefix}}-{function}"' in main_tf
    assert '"${var.name_prefix}-debounce"' in main_tf
    assert 'name              = "/aws/lambda/${var.function_name}"' in (ROOT / "modules/lambda/main.tf").read_text()
    assert '"/aws/vendedlogs/states/${var.name}"' in (ROOT / "modules/step_functions/main.tf").read_text()
    assert log_groups("acme") == ["/aws/lambda/acme-post-message", "/aws/lambda/acme-process-message",
                                  "/aws/lambda/acme-send-message-api", "/aws/lambda/acme-sweeper",
                                  "/aws/vendedlogs/states/acme-debounce"]


def test_the_command_prints_the_id_a_query_and_tail_commands_for_the_prefix(capsys):
    assert main(["--app", APP, "--phone", "+55 44 99999-9999", "--provider", "zapi", "--name-prefix", "acme"]) == 0
    out = capsys.readouterr().out
    expected = conversation_id(APP, "5544999999999")
    assert ids_printed(out)[0] == expected
    assert "| filter @message like /" in out and expected in out.split("| filter", 1)[1]
    assert 'aws logs tail "$g"' in out and "/aws/lambda/acme-process-message" in out
    assert "5544999999999" not in out and "99999-9999" not in out
    with pytest.raises(SystemExit):
        main(["--app", APP, "--phone", "+55 44 99999-9999", "--provider", "telegram"])
    assert "chat id" in capsys.readouterr().err
