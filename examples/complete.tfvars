# Every kind of app and the settings operators most often change. Values are examples; no secret
# belongs here (each app's secrets live in its SSM SecureString, a JSON object: docs/providers.md).
# Use it with: terraform apply -var-file=examples/complete.tfvars

region      = "us-east-1"
name_prefix = "debouncer"

debounce_seconds = 10         # the quiet period of apps whose debounce says nothing else
workflow_type    = "STANDARD" # or "EXPRESS": cheaper at volume, executions capped at 5 minutes

apps = {
  # Z-API: the send URL holds the instance token, so it is the secrets' api_url.
  # secrets: {"api_url": "https://api.z-api.io/instances/ID/token/TOKEN/send-text", "client_token": "...", "webhook_token": "..."}
  shop = {
    bot               = "shop-chat-bot"
    secrets_parameter = "/debouncer/shop/secrets"
    debounce          = { mode = "adaptive", min_quiet_seconds = 2, max_quiet_seconds = 30, max_wait_seconds = 60 }
  }

  # WhatsApp Cloud API: url is the phone number's API base.
  # secrets: {"app_secret": "...", "verify_token": "...", "access_token": "..."}
  support = {
    bot               = "arn:aws:lambda:us-east-1:123456789012:function:support-bot"
    provider          = "whatsapp_cloud"
    url               = "https://graph.facebook.com/v21.0/123456789012345"
    secrets_parameter = "/debouncer/support/secrets"
    debounce          = { quiet_seconds = 8, max_messages = 20 }
  }

  # Telegram: url defaults to https://api.telegram.org.
  # secrets: {"secret_token": "...", "bot_token": "123456:ABC..."}
  tg = {
    bot               = "tg-bot"
    provider          = "telegram"
    secrets_parameter = "/debouncer/tg/secrets"
  }

  # Evolution API: url is the instance's sendText URL.
  # secrets: {"webhook_token": "...", "apikey": "..."}
  evo = {
    bot               = "evo-bot"
    provider          = "evolution"
    url               = "https://evolution.example.com/message/sendText/my-instance"
    secrets_parameter = "/debouncer/evo/secrets"
  }

  # Twilio (SMS or WhatsApp): url defaults to https://api.twilio.com.
  # secrets: {"auth_token": "...", "account_sid": "AC...", "from": "whatsapp:+15550001111"}
  sms = {
    bot               = "sms-bot"
    provider          = "twilio"
    secrets_parameter = "/debouncer/sms/secrets"
  }

  # Your own sender: {"phone_number", "text", "message_id"} in, {"phone_number", "text"} out.
  # Without a secrets_parameter it must say allow_unauthenticated = true (anyone can post to it).
  internal = {
    bot                   = "internal-bot"
    provider              = "generic"
    url                   = "https://internal.example.com/replies"
    allow_unauthenticated = true
  }
}

# Customer managed KMS key of the apps' SecureStrings (null: aws/ssm, no grant needed).
# secrets_kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/..."

# Alarms: e-mail (confirm the subscription from the e-mail) and/or existing SNS topics.
alarm_email = "ops@example.com"

log_level          = "INFO"
log_retention_days = 30

table_deletion_protection = true

tags = {
  project = "message-debouncer"
  owner   = "platform-team"
}
