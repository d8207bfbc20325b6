# Example values only: no secrets belong in this file (they live in SSM, see README "Add an app").
# examples/minimal.tfvars and examples/complete.tfvars show more.

region      = "us-east-1"
name_prefix = "debouncer"

debounce_seconds = 10

# app_id (the webhook's ?appId=) => the app's bot, provider, reply URL and secrets.
apps = {
  demo = {
    # The example echo bot, deployed by Terraform beside the gateway (`bot = "name-or-arn"` names a
    # Lambda you deploy yourself instead).
    bot_source = "lambda/examples/echo_bot"
    provider   = "zapi"
    # Z-API's send URL holds the instance token, so it lives in the app's SSM SecureString with the
    # other secrets, never here. Create it out of band:
    #   aws ssm put-parameter --type SecureString --name /debouncer/demo/secrets --value \
    #     '{"api_url":"https://api.z-api.io/instances/ID/token/TOKEN/send-text","client_token":"...","webhook_token":"..."}'
    secrets_parameter = "/debouncer/demo/secrets"
    # debounce = { mode = "adaptive", min_quiet_seconds = 2, max_quiet_seconds = 30, max_wait_seconds = 60 }
  }
}

log_level          = "INFO"
log_retention_days = 30

tags = {
  project = "message-debouncer"
}
