data "aws_iam_policy_document" "assume_role" {
  statement {
    sid     = "LambdaAssumeRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = "${var.function_name}-role"
  assume_role_policy = data.aws_iam_policy_document.assume_role.json
  tags               = var.tags
}

# Created here (not by Lambda on first invoke) so retention and KMS apply and
# the role can be scoped to this one log group.
resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_338:Retention is configurable (var.log_retention_days); the 30-day default keeps cost low for a sample.
  name              = "/aws/lambda/${var.function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "logs_and_tracing" {
  statement {
    sid       = "WriteOwnLogGroup"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  # Only with tracing on. X-Ray's write actions have no resource types: AWS grants them on "*" only.
  dynamic "statement" {
    for_each = var.tracing_enabled ? ["XRayWrite"] : []

    content {
      sid       = statement.value
      effect    = "Allow"
      actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
      resources = ["*"]
    }
  }
}

resource "aws_iam_role_policy" "logs_and_tracing" {
  name   = "logs-and-tracing"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.logs_and_tracing.json
}

resource "aws_iam_role_policy" "permissions" {
  name   = "function-permissions"
  role   = aws_iam_role.this.id
  policy = var.policy_json
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_117:The functions call only public AWS endpoints and the public messaging API; no VPC resources to reach.
  #checkov:skip=CKV_AWS_116:Invoked synchronously (API Gateway, Step Functions with Retry, SQS event source with its own DLQ); an async DLQ would never be used.
  #checkov:skip=CKV_AWS_272:Code signing is out of scope for this sample; the package is built and deployed from the same pipeline.
  function_name                  = var.function_name
  role                           = aws_iam_role.this.arn
  handler                        = var.handler
  runtime                        = var.runtime
  filename                       = var.filename
  source_code_hash               = var.source_code_hash
  timeout                        = var.timeout
  memory_size                    = var.memory_size
  reserved_concurrent_executions = var.reserved_concurrency
  kms_key_arn                    = var.environment_kms_key_arn

  dynamic "environment" {
    for_each = length(var.environment) > 0 ? [var.environment] : []

    content {
      variables = environment.value
    }
  }

  # Active: Lambda samples and records invocations in X-Ray. PassThrough (what AWS gives a function
  # without the setting) is set rather than the block left out, so that turning tracing off turns
  # it off on a deployed function too.
  tracing_config {
    mode = var.tracing_enabled ? "Active" : "PassThrough"
  }

  # JSON format, so that Lambda filters by level. The system level WARN drops the platform's
  # INFO events (START, END and REPORT of every invocation, the init report); errors, timeouts
  # and out-of-memory still show. Durations stay in Lambda's own metrics. The application level
  # becomes AWS_LAMBDA_LOG_LEVEL, which Powertools Logger takes over LOG_LEVEL; Lambda reads a
  # line without a "level" key (the EMF metric lines) as INFO.
  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.this.name
    system_log_level      = var.system_log_level
    application_log_level = var.application_log_level
  }

  tags = var.tags

  # The log group must exist before the first invocation, and the role's
  # policies must be attached before anything (e.g. an SQS event source
  # mapping, which validates the role) uses the function's ARN.
  depends_on = [
    aws_cloudwatch_log_group.this,
    aws_iam_role_policy.logs_and_tracing,
    aws_iam_role_policy.permissions,
  ]
}
