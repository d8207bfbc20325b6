variable "name_prefix" {
  type        = string
  description = "Prefix of the dashboard, alarm, topic and key names (alarms are named <name_prefix>-<what>)."

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.name_prefix))
    error_message = "name_prefix must be 1-64 characters of letters, digits, '-' or '_'."
  }
}

variable "metrics_namespace" {
  type        = string
  description = "CloudWatch namespace of the functions' EMF business metrics (POWERTOOLS_METRICS_NAMESPACE)."
}

variable "service_name" {
  type        = string
  description = "Value of the EMF metrics' service dimension (POWERTOOLS_SERVICE_NAME)."
}

variable "function_names" {
  type        = map(string)
  description = "Short label => Lambda function name; each gets an Errors and a Throttles alarm and dashboard graphs."

  validation {
    condition     = length(var.function_names) > 0
    error_message = "function_names must name at least one function."
  }
}

variable "state_machine_arn" {
  type        = string
  description = "ARN of the debounce state machine (ExecutionsFailed alarm)."
}

variable "api_id" {
  type        = string
  description = "ID of the webhook HTTP API (5xx alarm)."
}

variable "table_name" {
  type        = string
  description = "Name of the DynamoDB table (dashboard: consumed capacity and throttles)."
}

variable "dlq_names" {
  type        = map(string)
  description = "Short label => name of an SQS dead-letter queue; each gets an alarm when it holds any message."
}

variable "api_5xx_threshold" {
  type        = number
  description = "The API 5xx alarm fires when more than this many 5xx answers occur in 5 minutes."
  default     = 0

  validation {
    condition     = var.api_5xx_threshold >= 0
    error_message = "api_5xx_threshold must be non-negative."
  }
}

variable "alarm_email" {
  type        = string
  description = "E-mail address notified of alarms through a KMS-encrypted SNS topic; nothing arrives until the address confirms the subscription from the e-mail AWS sends it. null: no topic; the alarms still show in the console."
  default     = null

  validation {
    condition     = var.alarm_email == null ? true : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be an e-mail address or null."
  }
}

variable "alarm_actions" {
  type        = list(string)
  description = "ARNs of existing SNS topics that every alarm notifies when it fires and when it is OK again, besides the alarm_email topic. Each topic's access policy (and its KMS key's, if encrypted) must let cloudwatch.amazonaws.com publish."
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for arn in var.alarm_actions : can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\\.fifo)?$", arn))])
    error_message = "alarm_actions must be SNS topic ARNs (arn:aws:sns:<region>:<account>:<topic>)."
  }

  validation {
    condition     = length(var.alarm_actions) <= 5
    error_message = "alarm_actions takes at most 5 topics: CloudWatch allows 5 actions per alarm state (the alarm_email topic counts as one)."
  }
}

variable "alarms_enabled" {
  type        = bool
  description = "Create the alarms (and the alarm_email topic). false: no alarms, no topic; alarm_email and alarm_actions are then unused."
  default     = true
  nullable    = false
}

variable "dashboard_enabled" {
  type        = bool
  description = "Create the CloudWatch dashboard."
  default     = true
  nullable    = false
}

variable "tags" {
  type        = map(string)
  description = "Extra tags for the alarms, topic and key (provider default_tags are applied anyway)."
  default     = {}
}

variable "functions_handing_back_waits" {
  type        = list(string)
  description = "Labels of function_names whose raised NotDueYet (a wait handed back to the state machine, counted by Lambda's Errors) the code counts as the WaitsHandedBack metric: their errors alarm fires on Errors minus those."
  default     = []
  nullable    = false
}
