variable "name" {
  type        = string
  description = "Name of the HTTP API; also names its access log group."
}

variable "lambda_function_name" {
  type        = string
  description = "Name of the post_message Lambda function that API Gateway is allowed to invoke."
}

variable "lambda_invoke_arn" {
  type        = string
  description = "Invoke ARN of the post_message Lambda function (integration URI)."
}

variable "throttling_burst_limit" {
  type        = number
  description = "Burst limit (requests) of the $default stage's default route settings."
  default     = 100

  validation {
    condition     = var.throttling_burst_limit >= 0
    error_message = "throttling_burst_limit must be non-negative."
  }
}

variable "throttling_rate_limit" {
  type        = number
  description = "Steady-state rate limit (requests per second) of the $default stage's default route settings."
  default     = 50

  validation {
    condition     = var.throttling_rate_limit >= 0
    error_message = "throttling_rate_limit must be non-negative."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Retention in days of the access log group."
  default     = 30
}

variable "log_kms_key_arn" {
  type        = string
  description = "Optional KMS key ARN that encrypts the access log group. null uses CloudWatch's default encryption."
  default     = null
}

variable "tags" {
  type        = map(string)
  description = "Extra tags for the API, stage and log group (provider default_tags are applied anyway)."
  default     = {}
}
