output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "alarm_names" {
  description = "Names of every alarm of the stack."
  value = concat(
    [for alarm in aws_cloudwatch_metric_alarm.dlq_depth : alarm.alarm_name],
    [aws_cloudwatch_metric_alarm.executions_failed.alarm_name, aws_cloudwatch_metric_alarm.api_5xx.alarm_name],
    [for alarm in aws_cloudwatch_metric_alarm.lambda : alarm.alarm_name],
  )
}

output "alarm_topic_arn" {
  description = "ARN of the alarm e-mail SNS topic; null when alarm_email is null."
  value       = one(aws_sns_topic.alarms[*].arn)
}
