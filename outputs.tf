output "webhook_url" {
  description = "URL to register as the webhook (POST events, GET verification handshake)."
  value       = module.api_gateway.webhook_url
}

output "send_queue_url" {
  description = "URL of the SQS queue that processing apps put their replies on."
  value       = module.sqs.queue_url
}

output "send_queue_arn" {
  description = "ARN of the send queue (grant sqs:SendMessage on it to the processing apps' roles)."
  value       = module.sqs.queue_arn
}

output "send_dlq_url" {
  description = "URL of the send queue's dead-letter queue."
  value       = module.sqs.dlq_url
}

output "table_name" {
  description = "Name of the DynamoDB table."
  value       = module.dynamodb.table_name
}

output "state_machine_arn" {
  description = "ARN of the debounce state machine."
  value       = module.step_functions.state_machine_arn
}

output "post_message_function_name" {
  description = "Name of the post_message Lambda function."
  value       = module.post_message_lambda.function_name
}

output "process_message_function_name" {
  description = "Name of the process_message Lambda function."
  value       = module.process_message_lambda.function_name
}

output "send_message_api_function_name" {
  description = "Name of the send_message_api Lambda function."
  value       = module.send_message_api_lambda.function_name
}

output "failed_batches_queue_url" {
  description = "Batches whose delivery failed after every retry; replay them with util/redrive.py."
  value       = aws_sqs_queue.failed_batches.url
}

output "failed_batches_queue_arn" {
  description = "ARN of the failed-batch queue: the on-failure destination of async bots (a bot you deploy yourself needs sqs:SendMessage on it)."
  value       = aws_sqs_queue.failed_batches.arn
}

output "bot_function_names" {
  description = "app_id => name of the bot Lambda Terraform deployed from the app's bot_source."
  value       = { for id, bot in module.bot_lambda : id => bot.function_name }
}

output "process_message_timeout_seconds" {
  description = "process_message's timeout: process_message_timeout_seconds, or more to wait for the slowest synchronous bot (its bot_timeout_seconds, the inline wait and 15 s)."
  value       = local.process_message_timeout_seconds
}

output "batch_lease_seconds" {
  description = "How long a claimed batch stays with its execution: batch_lease_seconds, or more to cover the state machine's retry schedule of process_message attempts."
  value       = local.batch_lease_seconds
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard of the stack."
  value       = module.monitoring.dashboard_name
}

output "alarm_topic_arn" {
  description = "ARN of the alarm e-mail SNS topic (null when alarm_email is null)."
  value       = module.monitoring.alarm_topic_arn
}

output "alarm_names" {
  description = "Names of every CloudWatch alarm of the stack (empty when alarms_enabled is false)."
  value       = module.monitoring.alarm_names
}

output "alarm_actions" {
  description = "The SNS topics every alarm notifies, on ALARM and on OK: the alarm_email topic (if any), then alarm_actions."
  value       = module.monitoring.alarm_actions
}
