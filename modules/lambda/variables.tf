variable "function_name" {
  type        = string
  description = "Name of the Lambda function; also names its IAM role and its log group /aws/lambda/<function_name>."

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,59}$", var.function_name))
    error_message = "function_name must be 1-59 characters of letters, digits, '-' or '_' (the role name adds '-role')."
  }
}

variable "handler" {
  type        = string
  description = "Handler string inside the deployment package, e.g. post_message.handler.lambda_handler."
}

variable "runtime" {
  type        = string
  description = "Lambda runtime identifier, e.g. python3.12."
}

variable "filename" {
  type        = string
  description = "Path of the zip deployment package shared by all functions."
}

variable "source_code_hash" {
  type        = string
  description = "Base64-encoded SHA-256 of the deployment package; a change redeploys the function."
}

variable "environment" {
  type        = map(string)
  description = "Environment variables of the function."
  default     = {}
}

variable "policy_json" {
  type        = string
  description = "IAM policy document (JSON) with the function's own permissions, attached inline to its role in addition to writing its own log group (and X-Ray, with tracing_enabled)."
}

variable "timeout" {
  type        = number
  description = "Function timeout in seconds."
  default     = 10

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900
    error_message = "timeout must be between 1 and 900 seconds."
  }
}

variable "memory_size" {
  type        = number
  description = "Memory of the function in MB."
  default     = 256

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240
    error_message = "memory_size must be between 128 and 10240 MB."
  }
}

variable "reserved_concurrency" {
  type        = number
  description = "Reserved concurrent executions; -1 means no reservation (unreserved account pool)."
  default     = -1

  validation {
    condition     = var.reserved_concurrency >= -1
    error_message = "reserved_concurrency must be -1 (no reservation) or a non-negative number."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Retention in days of the function's CloudWatch log group."
  default     = 30
}

variable "log_kms_key_arn" {
  type        = string
  description = "Optional KMS key ARN that encrypts the log group (its key policy must allow CloudWatch Logs). null uses CloudWatch's default encryption."
  default     = null
}

variable "environment_kms_key_arn" {
  type        = string
  description = "Optional KMS key ARN that encrypts the environment variables. null uses the Lambda service key."
  default     = null
}

variable "tags" {
  type        = map(string)
  description = "Extra tags for the function, role and log group (provider default_tags are applied anyway)."
  default     = {}
}

variable "system_log_level" {
  type        = string
  description = "Level of Lambda's own (system) log events sent to CloudWatch: DEBUG, INFO or WARN. WARN drops the START/END/REPORT lines of every invocation (INFO events) and keeps errors and timeouts."
  default     = "WARN"
  nullable    = false

  validation {
    condition     = contains(["DEBUG", "INFO", "WARN"], var.system_log_level)
    error_message = "system_log_level must be DEBUG, INFO or WARN."
  }
}

variable "application_log_level" {
  type        = string
  description = "Lowest level of the function's own log lines Lambda sends to CloudWatch (AWS_LAMBDA_LOG_LEVEL; the gateway's logger writes at the stricter of it and LOG_LEVEL). Above INFO it also drops the EMF metric lines, which carry no level and count as INFO."
  default     = "INFO"
  nullable    = false

  validation {
    condition     = contains(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"], var.application_log_level)
    error_message = "application_log_level must be TRACE, DEBUG, INFO, WARN, ERROR or FATAL."
  }
}

variable "tracing_enabled" {
  type        = bool
  description = "X-Ray Active tracing: Lambda samples and records the function's invocations, and its role may write trace data (xray:PutTraceSegments and xray:PutTelemetryRecords, on \"*\": X-Ray has no resource-level permissions). false: PassThrough mode and no X-Ray permissions."
  default     = false
  nullable    = false
}
