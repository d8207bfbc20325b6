variable "name" {
  type        = string
  description = "Name of the DynamoDB table that holds conversations, buffered messages and batch claims."
}

variable "deletion_protection_enabled" {
  type        = bool
  description = "Whether DynamoDB deletion protection is enabled on the table."
  default     = false
}

variable "kms_key_arn" {
  type        = string
  description = "ARN of a customer managed KMS key for server-side encryption. null uses the AWS managed key alias/aws/dynamodb."
  default     = null
}

variable "tags" {
  type        = map(string)
  description = "Extra tags for the table (provider default_tags are applied anyway)."
  default     = {}
}
