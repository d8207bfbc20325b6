output "queue_url" {
  description = "URL of the send queue that apps put replies on."
  value       = aws_sqs_queue.this.url
}

output "queue_arn" {
  description = "ARN of the send queue."
  value       = aws_sqs_queue.this.arn
}

output "queue_name" {
  description = "Name of the send queue."
  value       = aws_sqs_queue.this.name
}

output "dlq_url" {
  description = "URL of the send queue's dead-letter queue."
  value       = aws_sqs_queue.dlq.url
}

output "dlq_name" {
  description = "Name of the send queue's dead-letter queue."
  value       = aws_sqs_queue.dlq.name
}

output "dlq_arn" {
  description = "ARN of the send queue's dead-letter queue."
  value       = aws_sqs_queue.dlq.arn
}

output "visibility_timeout_seconds" {
  description = "Visibility timeout of the send queue."
  value       = aws_sqs_queue.this.visibility_timeout_seconds
}
