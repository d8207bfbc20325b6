output "table_name" {
  description = "Name of the DynamoDB table."
  value       = aws_dynamodb_table.this.name
}

output "table_arn" {
  description = "ARN of the DynamoDB table."
  value       = aws_dynamodb_table.this.arn
}

output "gsi_name" {
  description = "Name of the sparse GSI of pending batches ordered by due time."
  value       = "pending_by_due"
}
