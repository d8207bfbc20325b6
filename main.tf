data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  # `make build` (util/build.py) writes one deterministic zip of every function's code and its
  # dependencies; it serves all the handlers. A new build with other bytes redeploys them.
  lambda_package = "${path.root}/build/lambda.zip"
  # try(): `terraform validate` and `destroy` work before any build (a fresh clone, `make clean`);
  # an apply without the zip stops at the check below and at the Lambda API's own refusal.
  lambda_package_hash = try(filebase64sha256(local.lambda_package), null)

  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name
  partition  = data.aws_partition.current.partition

  function_names = {
    post_message     = "${var.name_prefix}-post-message"
    process_message  = "${var.name_prefix}-process-message"
    send_message_api = "${var.name_prefix}-send-message-api"
  }

  send_message_timeout_seconds = min(900, max(var.send_message_timeout_seconds, var.send_batch_size * var.http_timeout_seconds + 5))

  # var.apps with its defaults filled in (variables.tf validates it); the functions read these as
  # the JSON maps PROCESSING_LAMBDAS_MAP, API_URLS_MAP, PROVIDERS_MAP, SECRETS_PARAMETERS_MAP and
  # DEBOUNCE_POLICIES, which gateway/settings.py checks again at cold start.
  default_api_urls = {
    telegram = "https://api.telegram.org"
    twilio   = "https://api.twilio.com"
  }
  apps = {
    for id, app in var.apps : id => {
      bot                   = try(app.bot, null)
      bot_source            = try(app.bot_source, null)
      bot_timeout_seconds   = try(coalesce(app.bot_timeout_seconds, 30), 30)
      bot_memory_mb         = try(coalesce(app.bot_memory_mb, 256), 256)
      invocation            = try(coalesce(app.invocation, "sync"), "sync")
      provider              = try(coalesce(app.provider, "zapi"), "zapi")
      url                   = try(coalesce(try(app.url, null), try(local.default_api_urls[app.provider], null)), null)
      secrets_parameter     = try(app.secrets_parameter, null)
      allow_unauthenticated = try(tobool(app.allow_unauthenticated), false)
      # every field present (null when left out), quiet_seconds defaulted: main.tf's policies read them
      debounce = try(app.debounce, null) == null ? null : {
        mode              = try(app.debounce.mode, null)
        quiet_seconds     = coalesce(try(app.debounce.quiet_seconds, null), var.debounce_seconds)
        max_wait_seconds  = try(app.debounce.max_wait_seconds, null)
        max_messages      = try(app.debounce.max_messages, null)
        max_bytes         = try(app.debounce.max_bytes, null)
        min_quiet_seconds = try(app.debounce.min_quiet_seconds, null)
        max_quiet_seconds = try(app.debounce.max_quiet_seconds, null)
      }
    }
  }

  # Bots Terraform deploys from a folder of this repository (bot_source), packaged by `make build`.
  deployed_bots = { for id, app in local.apps : id => app if app.bot_source != null }
  bot_packages  = { for id, app in local.deployed_bots : id => "${path.root}/build/bots/${id}.zip" }

  processing_lambdas_map = { for id, app in local.apps : id => app.bot_source != null ? module.bot_lambda[id].function_name : app.bot }
  bot_invocations_map    = { for id, app in local.apps : id => app.invocation }
  bot_timeouts_map       = { for id, app in local.apps : id => app.bot_timeout_seconds }
  api_urls_map           = { for id, app in local.apps : id => app.url if app.url != null }
  providers_map          = { for id, app in local.apps : id => app.provider }
  secrets_parameters     = { for id, app in local.apps : id => app.secrets_parameter if app.secrets_parameter != null }
  unauthenticated_apps   = sort([for id, app in local.apps : id if app.allow_unauthenticated])

  # bot may be a plain function name or a full ARN.
  processing_lambda_arns = distinct([
    for id, fn in local.processing_lambdas_map :
    startswith(fn, "arn:") ? fn : "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${fn}"
  ])
  # The bots invoked asynchronously: Lambda's retries and on-failure destination are configured on
  # them (their event invoke config), whoever deployed them.
  async_bots = { for id, app in local.apps : id => local.processing_lambdas_map[id] if app.invocation == "async" }

  # Each app's secrets object (webhook authentication and outbound credentials, a Z-API app's send
  # URL), read by post_message and send_message_api.
  secrets_parameter_arns = distinct([
    for name in values(local.secrets_parameters) :
    "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter/${trimprefix(name, "/")}"
  ])

  # Every app's debounce policy with its defaults filled in from debounce_seconds, as the Lambdas
  # fill them (gateway/settings.py); an app without one gets fixed debounce_seconds, 60 s cap.
  debounce_policies = {
    for id, app in local.apps : id => {
      mode              = coalesce(app.debounce.mode, "fixed")
      quiet_seconds     = app.debounce.quiet_seconds
      max_wait_seconds  = coalesce(app.debounce.max_wait_seconds, max(60, app.debounce.quiet_seconds))
      max_messages      = app.debounce.max_messages
      max_bytes         = app.debounce.max_bytes
      min_quiet_seconds = coalesce(app.debounce.min_quiet_seconds, app.debounce.quiet_seconds / 5)
      max_quiet_seconds = coalesce(app.debounce.max_quiet_seconds, 3 * app.debounce.quiet_seconds)
    } if app.debounce != null
  }

  inline_wait_seconds = var.inline_wait_seconds != null ? var.inline_wait_seconds : (var.workflow_type == "EXPRESS" ? 1 : 15)

  # The bots' time budgets decide process_message's timeout and the batch lease, so that no bot is
  # invoked again for a batch while an earlier call can still run: an attempt of process_message
  # outlives the synchronous bot it waits for (its inline wait, the bot, 15 s to claim and record),
  # and the lease outlives the state machine's whole retry schedule of such attempts.
  sync_bot_timeout_seconds        = max(0, [for app in values(local.apps) : app.bot_timeout_seconds if app.invocation == "sync"]...)
  process_message_timeout_seconds = max(var.process_message_timeout_seconds, local.inline_wait_seconds + local.sync_bot_timeout_seconds + 15)
  retry_interval_seconds          = 2
  retry_max_attempts              = 6
  retry_schedule_seconds = (
    (local.retry_max_attempts + 1) * local.process_message_timeout_seconds
    + local.retry_interval_seconds * (pow(2, local.retry_max_attempts) - 1)
  )
  batch_lease_seconds = max(var.batch_lease_seconds, local.retry_schedule_seconds + 60)

  common_environment = {
    POWERTOOLS_SERVICE_NAME      = "debouncer"
    POWERTOOLS_METRICS_NAMESPACE = var.metrics_namespace
    LOG_LEVEL                    = var.log_level
  }

  # Lambda's filter for the functions' own lines: never above INFO, where Lambda puts the EMF
  # metric lines (they carry no level).
  lambda_application_log_level = var.log_level == "DEBUG" ? "DEBUG" : "INFO"
}

module "dynamodb" {
  source = "./modules/dynamodb"

  name                        = "${var.name_prefix}-messages"
  deletion_protection_enabled = var.table_deletion_protection
  kms_key_arn                 = var.dynamodb_kms_key_arn
}

module "sqs" {
  source = "./modules/sqs"

  name                             = "${var.name_prefix}-send"
  consumer_timeout_seconds         = local.send_message_timeout_seconds
  consumer_batching_window_seconds = var.send_batching_window_seconds
  max_receive_count                = var.send_max_receive_count
}

# --- failed batches: a batch whose delivery failed after every retry waits here
# with what a redrive needs (util/redrive.py); the monitoring alarms on its depth.

resource "aws_sqs_queue" "failed_batches" {
  name                      = "${var.name_prefix}-failed-batches"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

# --- process_message: claims a due batch and invokes the app's Lambda -------

data "aws_iam_policy_document" "process_message" {
  statement {
    sid    = "TableReadWrite"
    effect = "Allow"
    actions = [
      "dynamodb:GetItem",
      "dynamodb:BatchGetItem", # the TEXT items of a batch's long texts
      "dynamodb:Query",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
    ]
    resources = [module.dynamodb.table_arn]
  }

  statement {
    sid       = "ParkFailedBatches"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.failed_batches.arn]
  }

  statement {
    sid       = "InvokeProcessingLambdas"
    effect    = "Allow"
    actions   = ["lambda:InvokeFunction"]
    resources = local.processing_lambda_arns
  }
}

module "process_message_lambda" {
  source = "./modules/lambda"

  function_name      = local.function_names.process_message
  handler            = "process_message.handler.lambda_handler"
  runtime            = var.lambda_runtime
  filename           = local.lambda_package
  source_code_hash   = local.lambda_package_hash
  timeout            = local.process_message_timeout_seconds
  memory_size        = var.process_message_memory_mb
  log_retention_days = var.log_retention_days
  log_kms_key_arn    = var.logs_kms_key_arn
  policy_json        = data.aws_iam_policy_document.process_message.json

  application_log_level = local.lambda_application_log_level
  system_log_level      = var.lambda_system_log_level
  tracing_enabled       = var.tracing_enabled

  environment = merge(local.common_environment, {
    TABLE_NAME               = module.dynamodb.table_name
    PROCESSING_LAMBDAS_MAP   = jsonencode(local.processing_lambdas_map)
    DEBOUNCE_SECONDS         = tostring(var.debounce_seconds)
    DEBOUNCE_POLICIES        = jsonencode(local.debounce_policies)
    FAILED_BATCHES_QUEUE_URL = aws_sqs_queue.failed_batches.url
    INLINE_WAIT_SECONDS      = tostring(local.inline_wait_seconds)
    BATCH_LEASE_SECONDS      = tostring(local.batch_lease_seconds)
    BOT_INVOCATIONS_MAP      = jsonencode(local.bot_invocations_map)
    BOT_TIMEOUTS_MAP         = jsonencode(local.bot_timeouts_map)
  })
}

# --- bots: the apps' bot_source folders, deployed beside the gateway ---------
# Each is its own function and role: it may put replies on the send queue and, invoked
# asynchronously, its failures reach the failed-batch queue (the on-failure destination).

data "aws_iam_policy_document" "bot" {
  for_each = local.deployed_bots

  statement {
    sid       = "SendReplies"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [module.sqs.queue_arn]
  }

  dynamic "statement" {
    for_each = each.value.invocation == "async" ? [aws_sqs_queue.failed_batches.arn] : []

    content {
      sid       = "OnFailureDestination"
      effect    = "Allow"
      actions   = ["sqs:SendMessage"]
      resources = [statement.value]
    }
  }
}

module "bot_lambda" {
  source   = "./modules/lambda"
  for_each = local.deployed_bots

  function_name      = "${var.name_prefix}-bot-${each.key}"
  handler            = "handler.lambda_handler"
  runtime            = var.lambda_runtime
  filename           = local.bot_packages[each.key]
  source_code_hash   = try(filebase64sha256(local.bot_packages[each.key]), null)
  timeout            = each.value.bot_timeout_seconds
  memory_size        = each.value.bot_memory_mb
  log_retention_days = var.log_retention_days
  log_kms_key_arn    = var.logs_kms_key_arn
  policy_json        = data.aws_iam_policy_document.bot[each.key].json

  application_log_level = local.lambda_application_log_level
  system_log_level      = var.lambda_system_log_level
  tracing_enabled       = var.tracing_enabled

  environment = merge(local.common_environment, {
    POWERTOOLS_SERVICE_NAME = "bot-${each.key}"
    APP_ID                  = each.key
    REPLY_QUEUE_URL         = module.sqs.queue_url
  })
}

check "bot_packages_are_built" {
  assert {
    condition     = alltrue([for id, path in local.bot_packages : fileexists(path)])
    error_message = "A bot_source app's build/bots/<app_id>.zip is missing: run `make build` (or `make deploy`, which builds first) before terraform apply."
  }
}

# An asynchronously invoked bot: Lambda retries a failed event twice, then sends it (the whole
# batch event, batch_id included) to the failed-batch queue, where util/redrive.py replays it.
# For a bot you deploy yourself, its role needs sqs:SendMessage on that queue
# (the failed_batches_queue_arn output).
resource "aws_lambda_function_event_invoke_config" "async_bot" {
  for_each = local.async_bots

  function_name                = each.value
  maximum_retry_attempts       = 2
  maximum_event_age_in_seconds = 21600

  destination_config {
    on_failure {
      destination = aws_sqs_queue.failed_batches.arn
    }
  }

  depends_on = [module.bot_lambda]
}

# --- state machine: wait until due, then process_message --------------------

module "step_functions" {
  source = "./modules/step_functions"

  name                         = "${var.name_prefix}-debounce"
  process_message_function_arn = module.process_message_lambda.function_arn
  workflow_type                = var.workflow_type
  retry_interval_seconds       = local.retry_interval_seconds
  retry_max_attempts           = local.retry_max_attempts
  log_retention_days           = var.log_retention_days
  log_kms_key_arn              = var.logs_kms_key_arn
  tracing_enabled              = var.tracing_enabled
}

# What the values of several variables must agree on; `terraform plan` stops at the first that does not.
resource "terraform_data" "configuration_checks" {
  lifecycle {
    # Lambda stops a function at 900 s.
    precondition {
      condition     = local.process_message_timeout_seconds <= 900
      error_message = "process_message waits for a synchronous bot: inline_wait_seconds (${local.inline_wait_seconds}) + the longest sync bot_timeout_seconds (${local.sync_bot_timeout_seconds}) + 15 s must be at most 900 s (Lambda's longest timeout). Shorten the bot's budget or give it invocation = \"async\"."
    }

    # An EXPRESS execution is cut off after 5 minutes. Its longest Wait is the max-wait cap of a burst;
    # add one delivery attempt. (With every Retry spent, a stuck delivery can still run over; the
    # sweeper then re-arms the conversation.)
    precondition {
      condition = var.workflow_type == "STANDARD" || alltrue([
        for wait in concat([max(60, var.debounce_seconds)], [for p in values(local.debounce_policies) : p.max_wait_seconds]) :
        wait + local.process_message_timeout_seconds <= 300
      ])
      error_message = "workflow_type = EXPRESS stops executions after 5 minutes: each app's max_wait_seconds (60 s by default) plus process_message's timeout (${local.process_message_timeout_seconds} s: the inline wait, the longest sync bot_timeout_seconds and 15 s) must be at most 300 s. Use STANDARD, shorter waits, or invocation = \"async\" for slow bots."
    }

    precondition {
      condition     = local.batch_lease_seconds <= 86400
      error_message = "The batch lease (${local.batch_lease_seconds} s: the state machine's retry schedule of process_message attempts) may be at most 86400 s: shorten the sync bots' bot_timeout_seconds."
    }

    # modules/lambda names each function exactly: at most 64 characters.
    precondition {
      condition     = alltrue([for id in keys(local.deployed_bots) : length("${var.name_prefix}-bot-${id}") <= 64])
      error_message = "A deployed bot is named <name_prefix>-bot-<app_id>, at most 64 characters: shorten the name_prefix or the app ids of the bot_source apps."
    }
  }
}

check "lambda_package_is_built" {
  assert {
    condition     = local.lambda_package_hash != null
    error_message = "build/lambda.zip is missing: run `make build` (or `make deploy`, which builds first) before terraform apply."
  }
}

check "inline_wait_fits_in_process_message" {
  assert {
    condition     = local.inline_wait_seconds + 10 <= local.process_message_timeout_seconds
    error_message = "inline_wait_seconds plus 10 s for the delivery must fit in process_message_timeout_seconds."
  }
}

# --- post_message: webhook -> DynamoDB + (re)start the debounce execution ---
# The state machine references process_message only, so post_message may
# reference the state machine without a cycle.

data "aws_iam_policy_document" "post_message" {
  # Append is one UpdateItem (after one PutItem of a long text's TEXT item); GetItem tells a
  # duplicate from a full inline buffer, and sealing that buffer into a chunk is a transaction of
  # PutItem + UpdateItem.
  statement {
    sid       = "TableAppend"
    effect    = "Allow"
    actions   = ["dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:PutItem"]
    resources = [module.dynamodb.table_arn]
  }

  statement {
    sid       = "StartDebounceExecution"
    effect    = "Allow"
    actions   = ["states:StartExecution"]
    resources = [module.step_functions.state_machine_arn]
  }

  dynamic "statement" {
    for_each = length(local.secrets_parameter_arns) > 0 ? [local.secrets_parameter_arns] : []

    content {
      sid       = "ReadAppSecrets"
      effect    = "Allow"
      actions   = ["ssm:GetParameter"]
      resources = statement.value
    }
  }

  dynamic "statement" {
    for_each = var.secrets_kms_key_arn == null || length(local.secrets_parameter_arns) == 0 ? [] : [var.secrets_kms_key_arn]

    content {
      sid       = "DecryptAppSecrets"
      effect    = "Allow"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["ssm.${local.region}.amazonaws.com"]
      }
    }
  }
}

module "post_message_lambda" {
  source = "./modules/lambda"

  function_name      = local.function_names.post_message
  handler            = "post_message.handler.lambda_handler"
  runtime            = var.lambda_runtime
  filename           = local.lambda_package
  source_code_hash   = local.lambda_package_hash
  timeout            = var.post_message_timeout_seconds
  memory_size        = var.lambda_memory_mb
  log_retention_days = var.log_retention_days
  log_kms_key_arn    = var.logs_kms_key_arn
  policy_json        = data.aws_iam_policy_document.post_message.json

  application_log_level = local.lambda_application_log_level
  system_log_level      = var.lambda_system_log_level
  tracing_enabled       = var.tracing_enabled

  environment = merge(local.common_environment, {
    TABLE_NAME             = module.dynamodb.table_name
    STATE_MACHINE_ARN      = module.step_functions.state_machine_arn
    DEBOUNCE_SECONDS       = tostring(var.debounce_seconds)
    DEBOUNCE_POLICIES      = jsonencode(local.debounce_policies)
    PROCESSING_LAMBDAS_MAP = jsonencode(local.processing_lambdas_map)
    PROVIDERS_MAP          = jsonencode(local.providers_map)
    SECRETS_PARAMETERS_MAP = jsonencode(local.secrets_parameters)
    UNAUTHENTICATED_APPS   = jsonencode(local.unauthenticated_apps)
  })
}

module "api_gateway" {
  source = "./modules/api_gateway"

  name                   = "${var.name_prefix}-webhook"
  lambda_function_name   = module.post_message_lambda.function_name
  lambda_invoke_arn      = module.post_message_lambda.invoke_arn
  throttling_burst_limit = var.api_throttling_burst_limit
  throttling_rate_limit  = var.api_throttling_rate_limit
  log_retention_days     = var.log_retention_days
  log_kms_key_arn        = var.logs_kms_key_arn
}

# --- send_message_api: SQS replies -> HTTP POST to the app's API ------------

data "aws_iam_policy_document" "send_message_api" {
  # What the SQS event source mapping needs (the AWSLambdaSQSQueueExecutionRole actions).
  statement {
    sid    = "ConsumeSendQueue"
    effect = "Allow"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:GetQueueAttributes",
    ]
    resources = [module.sqs.queue_arn]
  }

  # Retry backoff: a failed reply's visibility timeout grows with its receive count.
  statement {
    sid       = "BackOffFailedReplies"
    effect    = "Allow"
    actions   = ["sqs:ChangeMessageVisibility"]
    resources = [module.sqs.queue_arn]
  }

  # A reply that can never be sent (4xx, malformed, no URL) is dead-lettered without retries.
  statement {
    sid       = "DeadLetterUnsendableReplies"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [module.sqs.dlq_arn]
  }

  dynamic "statement" {
    for_each = length(local.secrets_parameter_arns) > 0 ? [local.secrets_parameter_arns] : []

    content {
      sid       = "ReadAppCredentials"
      effect    = "Allow"
      actions   = ["ssm:GetParameter"]
      resources = statement.value
    }
  }

  dynamic "statement" {
    for_each = var.secrets_kms_key_arn == null || length(local.secrets_parameter_arns) == 0 ? [] : [var.secrets_kms_key_arn]

    content {
      sid       = "DecryptAppCredentials"
      effect    = "Allow"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["ssm.${local.region}.amazonaws.com"]
      }
    }
  }
}

module "send_message_api_lambda" {
  source = "./modules/lambda"

  function_name      = local.function_names.send_message_api
  handler            = "send_message_api.handler.lambda_handler"
  runtime            = var.lambda_runtime
  filename           = local.lambda_package
  source_code_hash   = local.lambda_package_hash
  timeout            = local.send_message_timeout_seconds
  memory_size        = var.lambda_memory_mb
  log_retention_days = var.log_retention_days
  log_kms_key_arn    = var.logs_kms_key_arn
  policy_json        = data.aws_iam_policy_document.send_message_api.json

  application_log_level = local.lambda_application_log_level
  system_log_level      = var.lambda_system_log_level
  tracing_enabled       = var.tracing_enabled

  environment = merge(local.common_environment, {
    API_URLS_MAP            = jsonencode(local.api_urls_map)
    PROVIDERS_MAP           = jsonencode(local.providers_map)
    SECRETS_PARAMETERS_MAP  = jsonencode(local.secrets_parameters)
    HTTP_TIMEOUT_SECONDS    = tostring(var.http_timeout_seconds)
    SEND_QUEUE_URL          = module.sqs.queue_url
    SEND_DLQ_URL            = module.sqs.dlq_url
    SEND_RETRY_BASE_SECONDS = tostring(var.send_retry_base_seconds)
  })
}

# --- sweeper: every minute, re-arm conversations whose timer was lost --------
# (a StartExecution that failed after the message was stored, an execution that
# died with its batch claimed). It reads only the sparse index pending_by_due.

data "aws_iam_policy_document" "sweeper" {
  statement {
    sid       = "QueryOverdueConversations"
    effect    = "Allow"
    actions   = ["dynamodb:Query"]
    resources = ["${module.dynamodb.table_arn}/index/pending_by_due"]
  }

  statement {
    sid       = "ReadConversation"
    effect    = "Allow"
    actions   = ["dynamodb:GetItem"]
    resources = [module.dynamodb.table_arn]
  }

  statement {
    sid       = "RearmDebounceExecution"
    effect    = "Allow"
    actions   = ["states:StartExecution"]
    resources = [module.step_functions.state_machine_arn]
  }
}

module "sweeper_lambda" {
  source = "./modules/lambda"

  function_name      = "${var.name_prefix}-sweeper"
  handler            = "sweeper.handler.lambda_handler"
  runtime            = var.lambda_runtime
  filename           = local.lambda_package
  source_code_hash   = local.lambda_package_hash
  timeout            = 120
  memory_size        = var.lambda_memory_mb
  log_retention_days = var.log_retention_days
  log_kms_key_arn    = var.logs_kms_key_arn
  policy_json        = data.aws_iam_policy_document.sweeper.json

  application_log_level = local.lambda_application_log_level
  system_log_level      = var.lambda_system_log_level
  tracing_enabled       = var.tracing_enabled

  environment = merge(local.common_environment, {
    TABLE_NAME          = module.dynamodb.table_name
    STATE_MACHINE_ARN   = module.step_functions.state_machine_arn
    SWEEP_GRACE_SECONDS = tostring(var.sweep_grace_seconds)
    BATCH_LEASE_SECONDS = tostring(local.batch_lease_seconds)
  })
}

resource "aws_cloudwatch_event_rule" "sweeper" {
  name                = "${var.name_prefix}-sweeper"
  description         = "Re-arm debounce conversations whose timer was lost."
  schedule_expression = "rate(1 minute)"
}

resource "aws_cloudwatch_event_target" "sweeper" {
  rule = aws_cloudwatch_event_rule.sweeper.name
  arn  = module.sweeper_lambda.function_arn
}

resource "aws_lambda_permission" "sweeper_schedule" {
  statement_id  = "AllowEventBridgeSchedule"
  action        = "lambda:InvokeFunction"
  function_name = module.sweeper_lambda.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.sweeper.arn
}

# In the root module, not modules/sqs: the function's policy needs the queue
# ARN, and the mapping needs the function. function_arn is only known once the
# role's SQS permissions are attached, which CreateEventSourceMapping checks.
resource "aws_lambda_event_source_mapping" "send_queue" {
  event_source_arn                   = module.sqs.queue_arn
  function_name                      = module.send_message_api_lambda.function_arn
  batch_size                         = var.send_batch_size
  maximum_batching_window_in_seconds = var.send_batching_window_seconds
  function_response_types            = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.send_max_concurrency
  }
}

# --- monitoring: alarms, dashboard, optional alarm e-mail ---------------------

module "monitoring" {
  source = "./modules/monitoring"

  name_prefix       = var.name_prefix
  metrics_namespace = var.metrics_namespace
  service_name      = local.common_environment.POWERTOOLS_SERVICE_NAME
  state_machine_arn = module.step_functions.state_machine_arn
  api_id            = module.api_gateway.api_id
  table_name        = module.dynamodb.table_name
  alarm_email       = var.alarm_email
  alarm_actions     = var.alarm_actions
  alarms_enabled    = var.alarms_enabled
  dashboard_enabled = var.dashboard_enabled

  # Every Lambda of the stack: the function table at the end of this file.
  function_names               = local.lambda_functions
  functions_handing_back_waits = ["process-message"]

  dlq_names = {
    send           = module.sqs.dlq_name
    failed-batches = aws_sqs_queue.failed_batches.name
  }
}

# --- the function table: every Lambda function of the stack ------------------
# Label => function name. Monitoring gives each an Errors and a Throttles alarm
# (<name_prefix>-<label>-errors / -throttles) and dashboard graphs. A new module
# "*_lambda" goes here too: tests/terraform/test_observability_tf.py fails otherwise.

locals {
  lambda_functions = merge({
    post-message     = module.post_message_lambda.function_name
    process-message  = module.process_message_lambda.function_name
    send-message-api = module.send_message_api_lambda.function_name
    sweeper          = module.sweeper_lambda.function_name
  }, { for id, bot in module.bot_lambda : "bot-${id}" => bot.function_name })
}
