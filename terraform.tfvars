# Example values only: no secrets belong in this file.

region      = "us-east-1"
name_prefix = "debouncer"

debounce_seconds = 10

# Per-app debounce policy (README "Adaptive debounce"); apps not listed wait debounce_seconds,
# capped at 60 s after a burst's first message. For example:
# debounce_policies = {
#   demo = { mode = "adaptive", min_quiet_seconds = 2, max_quiet_seconds = 30, max_wait_seconds = 60 }
# }

# app_id => Lambda function (name or ARN) that processes that app's batches.
processing_lambdas_map = {
  demo = "demo-echo-bot"
}

# app_id => URL that replies are POSTed to. Use a real host here; do not paste
# a URL that embeds an instance token (e.g. Z-API's /instances/<id>/token/<token>/):
# tokens belong in SSM, not in tfvars, state or Lambda environment.
api_urls_map = {
  demo = "https://api.example.com/demo/send-text"
}

# app_id => SSM SecureString parameter NAME holding that app's Client-Token.
# Create the parameter out of band, e.g.:
#   aws ssm put-parameter --type SecureString --name /debouncer/demo/client-token --value ...
client_token_parameters = {
  demo = "/debouncer/demo/client-token"
}

log_level          = "INFO"
log_retention_days = 30

tags = {
  project = "message-debouncer"
}
