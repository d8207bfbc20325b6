variable "name" {
  type        = string
  description = "Name of the state machine; also names its IAM role and log group."

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,59}$", var.name))
    error_message = "name must be 1-59 characters of letters, digits, '-' or '_'."
  }
}

variable "process_message_function_arn" {
  type        = string
  description = "ARN of the process_message Lambda function that the ProcessBatch task invokes."
}

variable "retry_interval_seconds" {
  type        = number
  description = "IntervalSeconds of the ProcessBatch task's Retry (first retry delay, doubled each attempt)."
  default     = 2

  validation {
    condition     = var.retry_interval_seconds >= 1 && floor(var.retry_interval_seconds) == var.retry_interval_seconds
    error_message = "retry_interval_seconds must be a positive integer."
  }
}

variable "retry_max_attempts" {
  type        = number
  description = "MaxAttempts of the ProcessBatch task's Retry."
  default     = 6

  validation {
    condition     = var.retry_max_attempts >= 0 && var.retry_max_attempts <= 99999999 && floor(var.retry_max_attempts) == var.retry_max_attempts
    error_message = "retry_max_attempts must be an integer between 0 and 99999999."
  }
}

variable "workflow_type" {
  type        = string
  description = "Step Functions workflow type: STANDARD or EXPRESS (EXPRESS executions are limited to 5 minutes)."
  default     = "STANDARD"

  validation {
    condition     = contains(["STANDARD", "EXPRESS"], var.workflow_type)
    error_message = "workflow_type must be STANDARD or EXPRESS."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Retention in days of the state machine's CloudWatch log group."
  default     = 30
}

variable "log_kms_key_arn" {
  type        = string
  description = "Optional KMS key ARN that encrypts the log group. null uses CloudWatch's default encryption."
  default     = null
}

variable "tags" {
  type        = map(string)
  description = "Extra tags for the state machine, role and log group (provider default_tags are applied anyway)."
  default     = {}
}

variable "tracing_enabled" {
  type        = bool
  description = "X-Ray tracing of the state machine's executions; its role then may write trace data and read the sampling rules (on \"*\": X-Ray has no resource-level permissions). false: no tracing and no X-Ray permissions."
  default     = false
  nullable    = false
}
