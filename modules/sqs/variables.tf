variable "name" {
  type        = string
  description = "Name of the send queue; the dead-letter queue is named <name>-dlq."

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,76}$", var.name))
    error_message = "name must be 1-76 characters of letters, digits, '-' or '_' (the DLQ adds '-dlq')."
  }
}

variable "consumer_timeout_seconds" {
  type        = number
  description = "Timeout in seconds of the Lambda function that consumes the queue; the visibility timeout is 6x this plus the batching window."

  validation {
    condition     = var.consumer_timeout_seconds >= 1 && var.consumer_timeout_seconds <= 900
    error_message = "consumer_timeout_seconds must be between 1 and 900."
  }
}

variable "consumer_batching_window_seconds" {
  type        = number
  description = "maximum_batching_window_in_seconds of the consumer's event source mapping, added to the visibility timeout."
  default     = 0

  validation {
    condition     = var.consumer_batching_window_seconds >= 0 && var.consumer_batching_window_seconds <= 300
    error_message = "consumer_batching_window_seconds must be between 0 and 300."
  }
}

variable "max_receive_count" {
  type        = number
  description = "Receives of a message before SQS moves it to the dead-letter queue."
  default     = 5

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "max_receive_count must be between 1 and 1000."
  }
}

variable "message_retention_seconds" {
  type        = number
  description = "Retention in seconds of messages in the send queue (the DLQ always keeps 14 days)."
  default     = 345600

  validation {
    condition     = var.message_retention_seconds >= 60 && var.message_retention_seconds <= 1209600
    error_message = "message_retention_seconds must be between 60 and 1209600."
  }
}

variable "tags" {
  type        = map(string)
  description = "Extra tags for the queues (provider default_tags are applied anyway)."
  default     = {}
}
