"""Find a customer's conversation in the logs: its correlation id, from an app id and a phone number.

    .venv/bin/python util/find_conversation.py --app bot1 --phone "+55 11 99999-0000"
    .venv/bin/python util/find_conversation.py --app bot1 --phone "+1 415 867-5309" --provider twilio

The logs never carry phone numbers. A conversation's lines carry ``correlation_id`` (the sweeper's
and the timer's: ``conversation``), a hash of the app id and the sender key
(gateway.models.conversation_id); its batch ids and execution names start with it. The sender key
is the number as the app's provider sends it (README "Conversation key and reply target"): Z-API,
the WhatsApp Cloud API and Evolution use the digits, country code first; Twilio ``From`` as it is
("whatsapp:+" and the digits, or "+" and the digits for SMS); Telegram a chat id, not a number;
the generic provider whatever the integration posts. This prints the id of every form the
provider may use (every provider's, when --provider is not given), then one Logs Insights query
and ``aws logs tail`` commands that find any of them. It calls no AWS API, and what it prints
shows no phone number (the keys are masked as the logs mask them).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lambda"))

from gateway.log import mask_phone  # noqa: E402
from gateway.models import conversation_id  # noqa: E402
from gateway.providers import PROVIDER_NAMES, PROVIDERS  # noqa: E402

# The providers that key a phone number by its digits, country code first (WhatsApp's).
DIGITS_PROVIDERS = tuple(name for name, info in PROVIDERS.items() if info.digits_sender)
# The stack's functions (main.tf); modules/lambda names each one's log group "/aws/lambda/<name>".
FUNCTIONS = ("post-message", "process-message", "send-message-api", "sweeper")
TWILIO_WHATSAPP = "whatsapp:"
EVOLUTION_PRIVATE_SUFFIX = "@s.whatsapp.net"
SEPARATORS = re.compile(r"[\s\-.()/]")  # what people type inside a phone number


def log_groups(name_prefix: str) -> list[str]:
    """The function log groups, then the state machine's (it logs errors only; its execution ARNs
    carry the conversation id)."""
    return [f"/aws/lambda/{name_prefix}-{function}" for function in FUNCTIONS] + [
        f"/aws/vendedlogs/states/{name_prefix}-debounce"]


def normalise(phone: str) -> str | None:
    """The digits of a phone number as people write it ("+55 11 99999-0000", "whatsapp:+5511…",
    "5511…@s.whatsapp.net"), country code first; None when it is not one."""
    text = phone.strip()
    if text.lower().startswith(TWILIO_WHATSAPP):
        text = text[len(TWILIO_WHATSAPP):]
    if text.lower().endswith(EVOLUTION_PRIVATE_SUFFIX):
        text = text[: -len(EVOLUTION_PRIVATE_SUFFIX)]
    text = SEPARATORS.sub("", text)
    digits = text[1:] if text.startswith("+") else text
    return digits if digits.isascii() and digits.isdigit() else None


def brazilian_variant(digits: str) -> tuple[str, str] | None:
    """A Brazilian mobile number's other form: WhatsApp keeps some accounts under the number without
    the ninth digit (55, the area code, 8 digits), and the providers pass that on."""
    if digits.startswith("55") and len(digits) == 13 and digits[4] == "9":
        return digits[:4] + digits[5:], "without the Brazilian ninth digit"
    if digits.startswith("55") and len(digits) == 12 and digits[4] in "6789":
        return digits[:4] + "9" + digits[4:], "with the Brazilian ninth digit"
    return None


def sender_keys(phone: str, provider: str | None = None) -> list[tuple[str, tuple[str, ...], str]]:
    """The sender keys under which ``provider`` (or any provider) may have stored the conversation
    of ``phone``: (key, providers, form), the most likely first."""
    wanted = (provider,) if provider else PROVIDER_NAMES
    keys: dict[str, tuple[list[str], str]] = {}

    def add(key: str, name: str, form: str) -> None:
        if name in wanted:
            keys.setdefault(key, ([], form))[0].append(name)

    text = phone.strip()
    if re.fullmatch(r"-\d+", text):  # a Telegram group's chat id
        add(text, "telegram", "Telegram group chat id")
        add(text, "generic", "as given")
        return [(key, tuple(names), form) for key, (names, form) in keys.items()]
    digits = normalise(phone)
    if digits is None:
        # Not a number: a key as the provider writes it (a Z-API "<id>-group", an Evolution group or
        # LID JID, a WhatsApp Cloud BSUID "US.…"), used as it is.
        for name in wanted:
            if name != "telegram":
                add(text, name, "as given")
        return [(key, tuple(names), form) for key, (names, form) in keys.items()]
    forms = [(digits, "")]
    variant = brazilian_variant(digits)
    if variant:
        forms.append((variant[0], f" ({variant[1]})"))
    for number, note in forms:
        for name in DIGITS_PROVIDERS:
            add(number, name, "digits, country code first" + note)
        add(f"{TWILIO_WHATSAPP}+{number}", "twilio", "Twilio WhatsApp, whatsapp:+ and the digits" + note)
    add(f"+{digits}", "twilio", "Twilio SMS, + and the digits")
    add(digits, "generic", "digits, as the integration posts them")
    add(f"+{digits}", "generic", "+ and the digits, as the integration posts them")
    if re.fullmatch(r"\d+", text):  # typed as bare digits: maybe a Telegram chat id
        add(digits, "telegram", "Telegram chat id (a chat's id, never a phone number)")
    return [(key, tuple(names), form) for key, (names, form) in keys.items()]


def shown(key: str) -> str:
    """The key with its number masked as the logs mask it (mask_phone); a prefix shows the form."""
    prefix = re.match(r"(whatsapp:\+|\+|-)?", key).group(0)
    return prefix + mask_phone(key[len(prefix):])


def insights_query(ids: list[str]) -> str:
    """Every line about the conversation(s), in order: ``correlation_id``, ``conversation``, batch
    ids and execution ARNs all contain the id."""
    pattern = "|".join(ids)
    return ("fields @timestamp, @log, level, message, correlation_id, conversation, batch_id, due_reason,"
            " outcome, error, http_status\n"
            f"| filter @message like /{pattern}/\n"
            "| sort @timestamp asc\n"
            "| limit 1000")


def tail_command(ids: list[str], name_prefix: str, since: str = "24h") -> str:
    pattern = " ".join(f'?"{i}"' for i in ids) if len(ids) > 1 else f'"{ids[0]}"'
    return (f"for g in {' '.join(log_groups(name_prefix))}; do\n"
            f"  aws logs tail \"$g\" --since {since} --format short --filter-pattern '{pattern}'\n"
            "done")


def report(app: str, phone: str, *, name_prefix: str = "debouncer", provider: str | None = None) -> str:
    """What the command prints; ValueError when no key can be made of ``phone``."""
    candidates = sender_keys(phone, provider)
    if not candidates:
        raise ValueError(f"no {provider} sender key can be made of {phone!r}: "
                         + ("Telegram keys a conversation by chat id, not by phone number"
                            if provider == "telegram" else "pass the number with its country code"))
    ids = [conversation_id(app, key) for key, _, _ in candidates]
    lines = [f"app {app}, " + (f"provider {provider}" if provider else "any provider (--provider narrows it)")]
    text = phone.strip().lower()
    is_number = normalise(phone) is not None and not re.fullmatch(r"-\d+", text)
    if is_number and provider != "telegram" and not text.startswith(("+", TWILIO_WHATSAPP)) and not text.endswith(EVOLUTION_PRIVATE_SUFFIX):
        digits = normalise(phone)
        lines.append(f"read as country code first ({shown(digits)}): put + and the country code in front "
                     "if the number lacks them")
    lines += ["the conversation is logged under one of these ids, the first the most likely:", ""]
    for conversation, (key, providers, form) in zip(ids, candidates):
        lines.append(f"  {conversation}  key {shown(key)}  {'/'.join(providers)}: {form}")
    if is_number and provider in (None, "whatsapp_cloud", "evolution"):
        lines.append("  (a WhatsApp user who shares no number is keyed by a WhatsApp Cloud BSUID, US.…, or an "
                     "Evolution …@lid JID: pass that as --phone)")
    groups = log_groups(name_prefix)
    lines += ["", f"CloudWatch Logs Insights, log groups {', '.join(groups)}:", ""]
    lines += ["  " + line for line in insights_query(ids).splitlines()]
    lines += ["", "aws logs tail (or one group with --follow, to watch it live):", ""]
    lines += ["  " + line for line in tail_command(ids, name_prefix).splitlines()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip(),
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--app", required=True, help="the app id (appId in the webhook URL)")
    parser.add_argument("--phone", required=True,
                        help='the number as the customer gives it ("+55 11 99999-0000"), or a sender key')
    parser.add_argument("--name-prefix", default="debouncer", help="the stack's name_prefix (default debouncer)")
    parser.add_argument("--provider", choices=PROVIDER_NAMES,
                        help="the app's provider, as in apps.<id>.provider (default: every provider's key forms)")
    args = parser.parse_args(argv)
    try:
        print(report(args.app, args.phone, name_prefix=args.name_prefix, provider=args.provider))
    except ValueError as exc:
        parser.error(str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
