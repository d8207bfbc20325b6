# Alarms that mean "a person should look": a message sits in a dead-letter
# queue, a debounce execution failed (its batch is parked), a function errors
# or is throttled, the webhook answers 5xx. And one dashboard for the rest.
# alarms_enabled and dashboard_enabled switch each off (the e-mail topic goes with the alarms).

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name
  partition  = data.aws_partition.current.partition

  create_topic  = var.alarms_enabled && var.alarm_email != null
  alarm_actions = concat(aws_sns_topic.alarms[*].arn, var.alarm_actions)
  # Every alarm of this module is named "<name_prefix>-...": the topic and key grant CloudWatch
  # only for those.
  alarm_arn_pattern = "arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:${var.name_prefix}-*"
}

# --- optional e-mail notification: a topic encrypted with its own key -------

data "aws_iam_policy_document" "alarm_key" {
  #checkov:skip=CKV_AWS_109:This is a KMS key policy: "*" is the key itself, and the account root statement is the standard one that lets IAM policies govern the key.
  #checkov:skip=CKV_AWS_111:This is a KMS key policy: "*" is the key itself; CloudWatch's use of it is limited to this account's alarms by SourceAccount/SourceArn conditions.
  #checkov:skip=CKV_AWS_356:This is a KMS key policy, where the only valid resource is "*" (the key the policy is attached to).
  count = local.create_topic ? 1 : 0

  # Key policies name the key itself as "*".
  statement {
    sid       = "AccountAdministersKey"
    effect    = "Allow"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  # CloudWatch cannot publish to an encrypted topic without these.
  statement {
    sid       = "CloudWatchAlarmsUseKey"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [local.alarm_arn_pattern]
    }
  }
}

resource "aws_kms_key" "alarms" {
  count = local.create_topic ? 1 : 0

  description             = "Encrypts the ${var.name_prefix} alarm topic."
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.alarm_key[0].json
  tags                    = var.tags
}

resource "aws_kms_alias" "alarms" {
  count = local.create_topic ? 1 : 0

  name          = "alias/${var.name_prefix}-alarms"
  target_key_id = aws_kms_key.alarms[0].key_id
}

resource "aws_sns_topic" "alarms" {
  count = local.create_topic ? 1 : 0

  name              = "${var.name_prefix}-alarms"
  kms_master_key_id = aws_kms_key.alarms[0].arn
  tags              = var.tags
}

data "aws_iam_policy_document" "alarm_topic" {
  count = local.create_topic ? 1 : 0

  statement {
    sid       = "CloudWatchAlarmsPublish"
    effect    = "Allow"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms[0].arn]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [local.alarm_arn_pattern]
    }
  }
}

resource "aws_sns_topic_policy" "alarms" {
  count = local.create_topic ? 1 : 0

  arn    = aws_sns_topic.alarms[0].arn
  policy = data.aws_iam_policy_document.alarm_topic[0].json
}

resource "aws_sns_topic_subscription" "email" {
  count = local.create_topic ? 1 : 0

  topic_arn = aws_sns_topic.alarms[0].arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

# --- alarms ------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "dlq_depth" {
  for_each = var.alarms_enabled ? var.dlq_names : {}

  alarm_name          = "${var.name_prefix}-${each.key}-dlq-not-empty"
  alarm_description   = "A message is in the ${each.value} dead-letter queue: it failed every retry. Inspect it, fix the cause, redrive it."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

# count on a resource that had none: Terraform moves the existing alarm to index 0 by itself.
resource "aws_cloudwatch_metric_alarm" "executions_failed" {
  count = var.alarms_enabled ? 1 : 0

  alarm_name          = "${var.name_prefix}-executions-failed"
  alarm_description   = "A debounce execution failed: its batch could not be delivered after every retry (see the state machine's log group and the failed-batch queue)."
  namespace           = "AWS/States"
  metric_name         = "ExecutionsFailed"
  dimensions          = { StateMachineArn = var.state_machine_arn }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags

  lifecycle {
    precondition {
      condition     = length(local.alarm_actions) <= 5
      error_message = "An alarm takes at most 5 actions per state: the alarm_email topic and alarm_actions make ${length(local.alarm_actions)}."
    }
  }
}

# One alarm per (function, metric): <name_prefix>-<label>-errors and <name_prefix>-<label>-throttles.
locals {
  lambda_alarm_metrics = {
    errors = {
      metric_name = "Errors"
      description = "raised errors (see its log group; correlation_id names the conversation)."
    }
    throttles = {
      metric_name = "Throttles"
      description = "was throttled: raise its concurrency or the account limit."
    }
  }

  lambda_alarms = merge([
    for label, function_name in var.function_names : {
      for suffix, metric in local.lambda_alarm_metrics : "${label}-${suffix}" => merge(metric, {
        function_name = function_name
        # Errors less the waits it handed back to the state machine (NotDueYet, counted by Lambda)
        net_of_waits = suffix == "errors" && contains(var.functions_handing_back_waits, label)
      })
    }
  ]...)
}

resource "aws_cloudwatch_metric_alarm" "lambda" {
  for_each = var.alarms_enabled ? local.lambda_alarms : {}

  alarm_name          = "${var.name_prefix}-${each.key}"
  alarm_description   = "${each.value.function_name} ${each.value.description}"
  namespace           = each.value.net_of_waits ? null : "AWS/Lambda"
  metric_name         = each.value.net_of_waits ? null : each.value.metric_name
  dimensions          = each.value.net_of_waits ? null : { FunctionName = each.value.function_name }
  statistic           = each.value.net_of_waits ? null : "Sum"
  period              = each.value.net_of_waits ? null : 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags

  # errors - waits handed back: the raises Lambda counts that are the state machine's Waits
  dynamic "metric_query" {
    for_each = each.value.net_of_waits ? {
      errors = { namespace = "AWS/Lambda", metric_name = "Errors", dimensions = { FunctionName = each.value.function_name } }
      waits  = { namespace = var.metrics_namespace, metric_name = "WaitsHandedBack", dimensions = { service = var.service_name } }
    } : {}

    content {
      id          = metric_query.key
      return_data = false

      metric {
        namespace   = metric_query.value.namespace
        metric_name = metric_query.value.metric_name
        dimensions  = metric_query.value.dimensions
        stat        = "Sum"
        period      = 300
      }
    }
  }

  dynamic "metric_query" {
    for_each = each.value.net_of_waits ? ["unexpected"] : []

    content {
      id          = metric_query.value
      expression  = "errors - FILL(waits, 0)"
      label       = "Errors that are not handed-back waits"
      return_data = true
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "api_5xx" {
  count = var.alarms_enabled ? 1 : 0

  alarm_name          = "${var.name_prefix}-api-5xx"
  alarm_description   = "The webhook answered 5xx: providers retry, but messages may be late or lost if it persists."
  namespace           = "AWS/ApiGateway"
  metric_name         = "5xx"
  dimensions          = { ApiId = var.api_id }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.api_5xx_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

# --- dashboard -----------------------------------------------------------------

locals {
  widgets = [
    {
      title   = "Messages (EMF)"
      metrics = [for name in ["MessagesReceived", "DuplicatesDropped", "BatchesDispatched", "SendFailures", "WaitsHandedBack"] : [var.metrics_namespace, name, "service", var.service_name, { stat = "Sum" }]]
    },
    {
      title = "Batch size and wait after the last message (EMF)"
      metrics = [
        [var.metrics_namespace, "BatchSize", "service", var.service_name, { stat = "Average" }],
        [var.metrics_namespace, "WaitedSeconds", "service", var.service_name, { stat = "p50" }],
        [var.metrics_namespace, "WaitedSeconds", "service", var.service_name, { stat = "p99" }],
      ]
    },
    {
      title = "Lambda invocations and errors"
      # One line per (function, metric). Not flatten(): it would flatten the lines themselves too.
      metrics = [for pair in setproduct(values(var.function_names), ["Invocations", "Errors", "Throttles"]) : ["AWS/Lambda", pair[1], "FunctionName", pair[0], { stat = "Sum" }]]
    },
    {
      title   = "Lambda duration p99"
      metrics = [for label, name in var.function_names : ["AWS/Lambda", "Duration", "FunctionName", name, { stat = "p99" }]]
    },
    {
      title   = "Debounce executions"
      metrics = [for name in ["ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsAborted", "ExecutionsFailed", "ExecutionsTimedOut"] : ["AWS/States", name, "StateMachineArn", var.state_machine_arn, { stat = "Sum" }]]
    },
    {
      title   = "Webhook API"
      metrics = [for name in ["Count", "4xx", "5xx"] : ["AWS/ApiGateway", name, "ApiId", var.api_id, { stat = "Sum" }]]
    },
    {
      title   = "Dead-letter queues"
      metrics = [for label, name in var.dlq_names : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", name, { stat = "Maximum" }]]
    },
    {
      title = "DynamoDB"
      metrics = [
        ["AWS/DynamoDB", "ConsumedWriteCapacityUnits", "TableName", var.table_name, { stat = "Sum" }],
        ["AWS/DynamoDB", "ConsumedReadCapacityUnits", "TableName", var.table_name, { stat = "Sum" }],
        ["AWS/DynamoDB", "ThrottledRequests", "TableName", var.table_name, { stat = "Sum" }],
      ]
    },
  ]
}

resource "aws_cloudwatch_dashboard" "this" {
  count = var.dashboard_enabled ? 1 : 0

  dashboard_name = var.name_prefix
  dashboard_body = jsonencode({
    widgets = [
      for index, widget in local.widgets : {
        type   = "metric"
        x      = (index % 2) * 12
        y      = floor(index / 2) * 6
        width  = 12
        height = 6
        properties = {
          title   = widget.title
          region  = local.region
          view    = "timeSeries"
          stacked = false
          period  = 60
          metrics = widget.metrics
        }
      }
    ]
  })
}
