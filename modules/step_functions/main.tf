data "aws_caller_identity" "current" {}

data "aws_iam_policy_document" "assume_role" {
  statement {
    sid     = "StepFunctionsAssumeRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }

    # Confused-deputy protection: only state machines of this account.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = "${var.name}-sfn-role"
  assume_role_policy = data.aws_iam_policy_document.assume_role.json
  tags               = var.tags
}

data "aws_iam_policy_document" "permissions" {
  statement {
    sid     = "InvokeProcessMessage"
    effect  = "Allow"
    actions = ["lambda:InvokeFunction"]
    resources = [
      var.process_message_function_arn,
      "${var.process_message_function_arn}:*",
    ]
  }

  statement {
    sid    = "StateMachineLogDelivery"
    effect = "Allow"
    actions = [
      "logs:CreateLogDelivery",
      "logs:GetLogDelivery",
      "logs:UpdateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:DescribeResourcePolicies",
      "logs:DescribeLogGroups",
    ]
    resources = ["*"]
  }

  # Only with tracing on; X-Ray's actions have no resource types, so "*" is the only resource.
  dynamic "statement" {
    for_each = var.tracing_enabled ? ["XRayWrite"] : []

    content {
      sid    = statement.value
      effect = "Allow"
      actions = [
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
      ]
      resources = ["*"]
    }
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "state-machine-permissions"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.permissions.json
}

# /aws/vendedlogs/ prefix: CloudWatch Logs resource policy size limits do not
# grow with each state machine.
resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_338:Retention is configurable (var.log_retention_days); the 30-day default keeps cost low for a sample.
  name              = "/aws/vendedlogs/states/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

resource "aws_sfn_state_machine" "this" {
  #checkov:skip=CKV_AWS_285:Level ERROR with include_execution_data=false on purpose: execution data carries message text and phone numbers, which must not land in logs.
  #checkov:skip=CKV_AWS_284:X-Ray tracing is switchable (tracing_enabled, off by default): it costs per trace recorded and read, so operators turn it on when they need it.
  name     = var.name
  role_arn = aws_iam_role.this.arn
  type     = var.workflow_type

  definition = templatefile("${path.module}/definition.asl.json", {
    process_message_function_arn = var.process_message_function_arn
    retry_interval_seconds       = var.retry_interval_seconds
    retry_max_attempts           = var.retry_max_attempts
  })

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.this.arn}:*"
    include_execution_data = false
    level                  = "ERROR"
  }

  # Set either way (not left out when off), so that turning tracing off reaches a deployed machine.
  tracing_configuration {
    enabled = var.tracing_enabled
  }

  tags = var.tags

  # Step Functions validates log delivery and Lambda access with the role on create.
  depends_on = [aws_iam_role_policy.this]
}
