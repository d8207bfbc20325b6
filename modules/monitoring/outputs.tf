output "dashboard_name" {
  description = "Name of the CloudWatch dashboard; null when dashboard_enabled is false."
  value       = one(aws_cloudwatch_dashboard.this[*].dashboard_name)
}

output "alarm_names" {
  description = "Names of every alarm of the stack; empty when alarms_enabled is false."
  value = concat(
    [for alarm in aws_cloudwatch_metric_alarm.dlq_depth : alarm.alarm_name],
    aws_cloudwatch_metric_alarm.executions_failed[*].alarm_name,
    aws_cloudwatch_metric_alarm.api_5xx[*].alarm_name,
    [for alarm in aws_cloudwatch_metric_alarm.lambda : alarm.alarm_name],
  )
}

output "alarm_topic_arn" {
  description = "ARN of the alarm e-mail SNS topic; null when alarm_email is null or alarms_enabled is false."
  value       = one(aws_sns_topic.alarms[*].arn)
}

output "alarm_actions" {
  description = "What every alarm notifies when it fires and when it is OK again: the e-mail topic (if any), then alarm_actions."
  value       = local.alarm_actions
}
