# The least a deployment needs: one app. Everything else takes its default (variables.tf,
# docs/reference.md). Use it with: terraform apply -var-file=examples/minimal.tfvars
# No secret belongs in a tfvars file: they live in the app's SSM SecureString.

apps = {
  shop = {
    bot = "shop-chat-bot" # your processing Lambda (name or ARN), deployed beside the gateway
    # Z-API (the default provider). Create the parameter out of band:
    #   aws ssm put-parameter --type SecureString --name /debouncer/shop/secrets --value \
    #     '{"api_url":"https://api.z-api.io/instances/ID/token/TOKEN/send-text","client_token":"...","webhook_token":"..."}'
    secrets_parameter = "/debouncer/shop/secrets"
  }
}
