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
