data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  # `make build` (util/build.py) writes one deterministic zip of every function's code and its
  # dependencies; it serves all the handlers. A new build with other bytes redeploys them.
  lambda_package      = "${path.root}/build/lambda.zip"
  lambda_package_hash = filebase64sha256(local.lambda_package)

  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name
  partition  = data.aws_partition.current.partition

  function_names = {
    post_message     = "${var.name_prefix}-post-message"
    process_message  = "${var.name_prefix}-process-message"
    send_message_api = "${var.name_prefix}-send-message-api"
  }

  send_message_timeout_seconds = min(900, max(var.send_message_timeout_seconds, var.send_batch_size * var.http_timeout_seconds + 5))

  # Values of processing_lambdas_map may be plain function names or full ARNs.
  processing_lambda_arns = distinct([
    for fn in values(var.processing_lambdas_map) :
    startswith(fn, "arn:") ? fn : "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${fn}"
  ])

  client_token_parameter_arns = distinct([
    for name in values(var.client_token_parameters) :
    "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter/${trimprefix(name, "/")}"
  ])

  # Per-app secrets objects (webhook secrets and outbound credentials), read by post_message and
  # send_message_api; send_message_api also reads the Z-API client-token parameters.
  secrets_parameter_arns = distinct([
    for name in values(var.secrets_parameters) :
    "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter/${trimprefix(name, "/")}"
  ])
  sender_parameter_arns = distinct(concat(local.client_token_parameter_arns, local.secrets_parameter_arns))

  # Every app's debounce policy with its defaults filled in from debounce_seconds, as the Lambdas
  # fill them (gateway/settings.py); an app without an entry gets fixed debounce_seconds, 60 s cap.
  debounce_policies = {
    for app, p in var.debounce_policies : app => {
      mode              = p.mode
      quiet_seconds     = coalesce(p.quiet_seconds, var.debounce_seconds)
      max_wait_seconds  = coalesce(p.max_wait_seconds, max(60, coalesce(p.quiet_seconds, var.debounce_seconds)))
      max_messages      = p.max_messages
      max_bytes         = p.max_bytes
      min_quiet_seconds = coalesce(p.min_quiet_seconds, coalesce(p.quiet_seconds, var.debounce_seconds) / 5)
      max_quiet_seconds = coalesce(p.max_quiet_seconds, 3 * coalesce(p.quiet_seconds, var.debounce_seconds))
    }
  }

  inline_wait_seconds = var.inline_wait_seconds != null ? var.inline_wait_seconds : (var.workflow_type == "EXPRESS" ? 1 : 15)

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
  timeout            = var.process_message_timeout_seconds
  memory_size        = var.process_message_memory_mb
  log_retention_days = var.log_retention_days
  log_kms_key_arn    = var.logs_kms_key_arn
  policy_json        = data.aws_iam_policy_document.process_message.json

  application_log_level = local.lambda_application_log_level
  system_log_level      = var.lambda_system_log_level

  environment = merge(local.common_environment, {
    TABLE_NAME               = module.dynamodb.table_name
    PROCESSING_LAMBDAS_MAP   = jsonencode(var.processing_lambdas_map)
    DEBOUNCE_SECONDS         = tostring(var.debounce_seconds)
    DEBOUNCE_POLICIES        = jsonencode(local.debounce_policies)
    FAILED_BATCHES_QUEUE_URL = aws_sqs_queue.failed_batches.url
    INLINE_WAIT_SECONDS      = tostring(local.inline_wait_seconds)
    BATCH_LEASE_SECONDS      = tostring(var.batch_lease_seconds)
  })
}

# --- state machine: wait until due, then process_message --------------------

module "step_functions" {
  source = "./modules/step_functions"

  name                         = "${var.name_prefix}-debounce"
  process_message_function_arn = module.process_message_lambda.function_arn
  workflow_type                = var.workflow_type
  log_retention_days           = var.log_retention_days
  log_kms_key_arn              = var.logs_kms_key_arn
}

# An EXPRESS execution is cut off after 5 minutes. Its longest Wait is the max-wait cap of a burst;
# add one delivery attempt. (With every Retry spent, a stuck delivery can still run over; the
# sweeper then re-arms the conversation.)
check "express_executions_fit_in_five_minutes" {
  assert {
    condition = var.workflow_type == "STANDARD" || alltrue([
      for wait in concat([max(60, var.debounce_seconds)], [for p in values(local.debounce_policies) : p.max_wait_seconds]) :
      wait + var.process_message_timeout_seconds <= 300
    ])
    error_message = "workflow_type = EXPRESS stops executions after 5 minutes: each app's max_wait_seconds (60 s by default) plus process_message_timeout_seconds must be at most 300 s; use STANDARD for longer waits."
  }
}

check "inline_wait_fits_in_process_message" {
  assert {
    condition     = local.inline_wait_seconds + 10 <= var.process_message_timeout_seconds
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
    for_each = var.client_token_kms_key_arn == null || length(local.secrets_parameter_arns) == 0 ? [] : [var.client_token_kms_key_arn]

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

  environment = merge(local.common_environment, {
    TABLE_NAME             = module.dynamodb.table_name
    STATE_MACHINE_ARN      = module.step_functions.state_machine_arn
    DEBOUNCE_SECONDS       = tostring(var.debounce_seconds)
    DEBOUNCE_POLICIES      = jsonencode(local.debounce_policies)
    PROCESSING_LAMBDAS_MAP = jsonencode(var.processing_lambdas_map)
    PROVIDERS_MAP          = jsonencode(var.providers_map)
    SECRETS_PARAMETERS_MAP = jsonencode(var.secrets_parameters)
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
    for_each = length(local.sender_parameter_arns) > 0 ? [local.sender_parameter_arns] : []

    content {
      sid       = "ReadAppCredentials"
      effect    = "Allow"
      actions   = ["ssm:GetParameter"]
      resources = statement.value
    }
  }

  dynamic "statement" {
    for_each = var.client_token_kms_key_arn == null ? [] : [var.client_token_kms_key_arn]

    content {
      sid       = "DecryptClientTokens"
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

  environment = merge(local.common_environment, {
    API_URLS_MAP                = jsonencode(var.api_urls_map)
    CLIENT_TOKEN_PARAMETERS_MAP = jsonencode(var.client_token_parameters)
    PROVIDERS_MAP               = jsonencode(var.providers_map)
    SECRETS_PARAMETERS_MAP      = jsonencode(var.secrets_parameters)
    HTTP_TIMEOUT_SECONDS        = tostring(var.http_timeout_seconds)
    SEND_QUEUE_URL              = module.sqs.queue_url
    SEND_DLQ_URL                = module.sqs.dlq_url
    SEND_RETRY_BASE_SECONDS     = tostring(var.send_retry_base_seconds)
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

  environment = merge(local.common_environment, {
    TABLE_NAME          = module.dynamodb.table_name
    STATE_MACHINE_ARN   = module.step_functions.state_machine_arn
    SWEEP_GRACE_SECONDS = tostring(var.sweep_grace_seconds)
    BATCH_LEASE_SECONDS = tostring(var.batch_lease_seconds)
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

  function_names = {
    post-message     = module.post_message_lambda.function_name
    process-message  = module.process_message_lambda.function_name
    send-message-api = module.send_message_api_lambda.function_name
  }

  dlq_names = {
    send           = module.sqs.dlq_name
    failed-batches = aws_sqs_queue.failed_batches.name
  }
}
