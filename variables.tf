variable "region" {
  type        = string
  description = "AWS region to deploy into."
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must look like an AWS region code, e.g. us-east-1."
  }
}

variable "name_prefix" {
  type        = string
  description = "Prefix of every resource name (table, functions, queues, state machine, API)."
  default     = "debouncer"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,23}$", var.name_prefix)) && !endswith(var.name_prefix, "-")
    error_message = "name_prefix must be 1-24 characters of lowercase letters, digits and dashes, starting with a letter or digit and not ending with a dash."
  }
}

variable "debounce_seconds" {
  type        = number
  description = "Quiet period in seconds: a conversation's batch is processed once no new message arrived for this long."
  default     = 10

  validation {
    condition     = var.debounce_seconds >= 1 && var.debounce_seconds <= 300 && floor(var.debounce_seconds) == var.debounce_seconds
    error_message = "debounce_seconds must be an integer between 1 and 300."
  }
}

variable "debounce_policies" {
  type = map(object({
    mode              = optional(string, "fixed")
    quiet_seconds     = optional(number)
    max_wait_seconds  = optional(number)
    max_messages      = optional(number)
    max_bytes         = optional(number)
    min_quiet_seconds = optional(number)
    max_quiet_seconds = optional(number)
  }))
  description = <<-EOT
    Per-app debounce policy, app_id => object; apps not listed (and fields left out) use the defaults.
    mode: "fixed" waits quiet_seconds (default debounce_seconds) after the latest message; "adaptive"
    waits clamp(2.5 x the median of the sender's recent gaps, min_quiet_seconds (default
    quiet_seconds / 5), max_quiet_seconds (default 3 x quiet_seconds)). max_wait_seconds (default
    60, or quiet_seconds if longer) caps the wait counted from the burst's first message;
    max_messages / max_bytes (default none) dispatch a burst at once when it reaches that size.
    With workflow_type = "EXPRESS" keep max_wait_seconds well under 5 minutes.
  EOT
  default     = {}

  # The same alphabet as gateway/settings.py checks at cold start: app ids end up in names and logs.
  validation {
    condition     = alltrue([for app in keys(var.debounce_policies) : can(regex("^[A-Za-z0-9_-]{1,64}$", app))])
    error_message = "debounce_policies: every app id must be 1-64 characters of letters, digits, '_' or '-'."
  }

  validation {
    condition     = alltrue([for p in values(var.debounce_policies) : contains(["fixed", "adaptive"], p.mode)])
    error_message = "debounce_policies: mode must be \"fixed\" or \"adaptive\"."
  }

  validation {
    condition = alltrue([for p in values(var.debounce_policies) : alltrue([
      p.quiet_seconds == null ? true : p.quiet_seconds >= 0.1 && p.quiet_seconds <= 300,
      p.max_wait_seconds == null ? true : p.max_wait_seconds >= 0.1 && p.max_wait_seconds <= 86400,
      p.min_quiet_seconds == null ? true : p.min_quiet_seconds >= 0.02 && p.min_quiet_seconds <= 3600,
      p.max_quiet_seconds == null ? true : p.max_quiet_seconds >= 0.1 && p.max_quiet_seconds <= 3600,
    ])])
    error_message = "debounce_policies: quiet_seconds must be 0.1-300, max_wait_seconds 0.1-86400, min_quiet_seconds 0.02-3600 and max_quiet_seconds 0.1-3600."
  }

  validation {
    condition = alltrue([for p in values(var.debounce_policies) : alltrue([
      p.max_messages == null ? true : p.max_messages >= 1 && p.max_messages <= 100000 && floor(p.max_messages) == p.max_messages,
      p.max_bytes == null ? true : p.max_bytes >= 1 && p.max_bytes <= 6000000 && floor(p.max_bytes) == p.max_bytes,
    ])])
    error_message = "debounce_policies: max_messages must be an integer 1-100000 and max_bytes an integer 1-6000000 (a synchronous Lambda invoke carries at most 6 MB)."
  }

  validation {
    condition = alltrue([for p in values(var.debounce_policies) : alltrue([
      p.min_quiet_seconds == null || p.max_quiet_seconds == null ? true : p.min_quiet_seconds <= p.max_quiet_seconds,
      p.max_wait_seconds == null || p.quiet_seconds == null || p.mode != "fixed" ? true : p.max_wait_seconds >= p.quiet_seconds,
      p.max_wait_seconds == null || p.min_quiet_seconds == null ? true : p.max_wait_seconds >= p.min_quiet_seconds,
    ])])
    error_message = "debounce_policies: min_quiet_seconds must not exceed max_quiet_seconds, and max_wait_seconds must be at least quiet_seconds (fixed) or min_quiet_seconds (adaptive)."
  }
}

variable "processing_lambdas_map" {
  type        = map(string)
  description = "app_id => name (or ARN) of the Lambda function that processes that app's batches. process_message may invoke only these."

  # The same alphabet as gateway/settings.py checks at cold start: app ids end up in names and logs.
  validation {
    condition     = alltrue([for app in keys(var.processing_lambdas_map) : can(regex("^[A-Za-z0-9_-]{1,64}$", app))])
    error_message = "processing_lambdas_map: every app id must be 1-64 characters of letters, digits, '_' or '-'."
  }

  validation {
    condition     = length(var.processing_lambdas_map) > 0 && alltrue([for v in values(var.processing_lambdas_map) : length(trimspace(v)) > 0])
    error_message = "processing_lambdas_map must have at least one entry and no empty function names."
  }
}

variable "api_urls_map" {
  type        = map(string)
  description = "app_id => HTTPS URL that send_message_api POSTs that app's replies to. Do not embed secrets here (they end up in state and environment); keep client tokens in SSM."

  # The same alphabet as gateway/settings.py checks at cold start: app ids end up in names and logs.
  validation {
    condition     = alltrue([for app in keys(var.api_urls_map) : can(regex("^[A-Za-z0-9_-]{1,64}$", app))])
    error_message = "api_urls_map: every app id must be 1-64 characters of letters, digits, '_' or '-'."
  }

  validation {
    condition     = alltrue([for v in values(var.api_urls_map) : startswith(v, "https://")])
    error_message = "Every api_urls_map value must be an https:// URL."
  }
}

variable "client_token_parameters" {
  type        = map(string)
  description = "app_id => name of the SSM SecureString parameter holding that app's Z-API Client-Token. Only the names are in Terraform; the values are set out of band."
  default     = {}

  # The same alphabet as gateway/settings.py checks at cold start: app ids end up in names and logs.
  validation {
    condition     = alltrue([for app in keys(var.client_token_parameters) : can(regex("^[A-Za-z0-9_-]{1,64}$", app))])
    error_message = "client_token_parameters: every app id must be 1-64 characters of letters, digits, '_' or '-'."
  }

  validation {
    condition     = alltrue([for v in values(var.client_token_parameters) : startswith(v, "/")])
    error_message = "client_token_parameters values must be SSM parameter names starting with '/'."
  }
}

variable "client_token_kms_key_arn" {
  type        = string
  description = "ARN of the customer managed KMS key that encrypts the client-token and secrets_parameters parameters, if any. null: they use the AWS managed aws/ssm key and no kms:Decrypt grant is needed."
  default     = null
}

variable "providers_map" {
  type        = map(string)
  description = "app_id => messaging provider of that app: zapi, whatsapp_cloud, telegram, evolution, twilio or generic. An app that is absent uses zapi."
  default     = {}

  # The same alphabet as gateway/settings.py checks at cold start: app ids end up in names and logs.
  validation {
    condition     = alltrue([for app in keys(var.providers_map) : can(regex("^[A-Za-z0-9_-]{1,64}$", app))])
    error_message = "providers_map: every app id must be 1-64 characters of letters, digits, '_' or '-'."
  }

  validation {
    condition     = alltrue([for v in values(var.providers_map) : contains(["zapi", "whatsapp_cloud", "telegram", "evolution", "twilio", "generic"], v)])
    error_message = "Every providers_map value must be one of zapi, whatsapp_cloud, telegram, evolution, twilio, generic."
  }
}

variable "secrets_parameters" {
  type        = map(string)
  description = "app_id => name of the SSM SecureString parameter holding that app's secrets as a JSON object (webhook secrets and outbound credentials; see README, Providers and authentication). Only the names are in Terraform; the values are set out of band."
  default     = {}

  # The same alphabet as gateway/settings.py checks at cold start: app ids end up in names and logs.
  validation {
    condition     = alltrue([for app in keys(var.secrets_parameters) : can(regex("^[A-Za-z0-9_-]{1,64}$", app))])
    error_message = "secrets_parameters: every app id must be 1-64 characters of letters, digits, '_' or '-'."
  }

  validation {
    condition     = alltrue([for v in values(var.secrets_parameters) : startswith(v, "/")])
    error_message = "secrets_parameters values must be SSM parameter names starting with '/'."
  }
}

variable "lambda_runtime" {
  type        = string
  description = "Python runtime of the Lambda functions."
  default     = "python3.12"

  validation {
    condition     = can(regex("^python3\\.[0-9]+$", var.lambda_runtime))
    error_message = "lambda_runtime must be a Python runtime such as python3.12."
  }
}

variable "lambda_memory_mb" {
  type        = number
  description = "Memory in MB of all functions except process_message (process_message_memory_mb)."
  default     = 256

  validation {
    condition     = var.lambda_memory_mb >= 128 && var.lambda_memory_mb <= 10240
    error_message = "lambda_memory_mb must be between 128 and 10240."
  }
}

variable "process_message_memory_mb" {
  type        = number
  description = "Memory in MB of process_message, which mostly sleeps (the inline wait) and is billed per GB-second. 192: the smallest size with 25 % headroom over its measured peak (util/measure_process_memory.py: ~142 MB on Lambda for a burst that fills one 6 MB invoke with 32 KB texts holding an emoji; 128 would run out; bursts of 2 and 4 such parts ~161 and ~168 MB: a burst is read window by window and each part handed out as it fills, so the peak follows the part, not the burst)."
  default     = 192

  validation {
    condition     = var.process_message_memory_mb >= 128 && var.process_message_memory_mb <= 10240
    error_message = "process_message_memory_mb must be between 128 and 10240."
  }
}

variable "post_message_timeout_seconds" {
  type        = number
  description = "Timeout of post_message (called by API Gateway, whose integration limit is 30 s)."
  default     = 10

  validation {
    condition     = var.post_message_timeout_seconds >= 1 && var.post_message_timeout_seconds <= 29
    error_message = "post_message_timeout_seconds must be between 1 and 29."
  }
}

variable "process_message_timeout_seconds" {
  type        = number
  description = "Timeout of process_message, which synchronously invokes the app's processing Lambda."
  default     = 60

  validation {
    condition     = var.process_message_timeout_seconds >= 1 && var.process_message_timeout_seconds <= 900
    error_message = "process_message_timeout_seconds must be between 1 and 900."
  }
}

variable "send_message_timeout_seconds" {
  type        = number
  description = "Minimum timeout of send_message_api; raised to send_batch_size x http_timeout_seconds + 5 (max 900) if that is larger, so a whole batch of sequential POSTs fits."
  default     = 30

  validation {
    condition     = var.send_message_timeout_seconds >= 1 && var.send_message_timeout_seconds <= 900
    error_message = "send_message_timeout_seconds must be between 1 and 900."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Retention in days of every CloudWatch log group of the stack."
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "logs_kms_key_arn" {
  type        = string
  description = "Optional customer managed KMS key ARN for all log groups (its key policy must allow CloudWatch Logs). null uses CloudWatch's default encryption."
  default     = null
}

variable "log_level" {
  type        = string
  description = "LOG_LEVEL of the Lambda functions (Powertools logger). Lambda's application log level is DEBUG for DEBUG and INFO otherwise (the EMF metric lines count as INFO there), and the functions log at the stricter of LOG_LEVEL and Lambda's level, so WARNING, ERROR and CRITICAL silence the INFO lines."
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING, ERROR or CRITICAL."
  }
}

variable "lambda_system_log_level" {
  type        = string
  description = "Level of Lambda's own log events for every function (logging_config system_log_level): WARN drops the START/END/REPORT lines of each invocation and keeps errors and timeouts; INFO brings them back (about 350 bytes per invocation); DEBUG adds more."
  default     = "WARN"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARN"], var.lambda_system_log_level)
    error_message = "lambda_system_log_level must be DEBUG, INFO or WARN."
  }
}

variable "table_deletion_protection" {
  type        = bool
  description = "Whether DynamoDB deletion protection is on for the table."
  default     = false
}

variable "dynamodb_kms_key_arn" {
  type        = string
  description = "Optional customer managed KMS key ARN for the table. null uses the AWS managed key alias/aws/dynamodb."
  default     = null
}

variable "send_max_receive_count" {
  type        = number
  description = "Receives of a reply message before it moves to the send DLQ."
  default     = 5

  validation {
    condition     = var.send_max_receive_count >= 1 && var.send_max_receive_count <= 1000
    error_message = "send_max_receive_count must be between 1 and 1000."
  }
}

variable "send_batch_size" {
  type        = number
  description = "Messages per send_message_api invocation (SQS event source batch size)."
  default     = 10

  validation {
    condition     = var.send_batch_size >= 1 && var.send_batch_size <= 10
    error_message = "send_batch_size must be between 1 and 10 (larger batches need a batching window)."
  }
}

variable "send_batching_window_seconds" {
  type        = number
  description = "maximum_batching_window_in_seconds of the SQS event source mapping."
  default     = 0

  validation {
    condition     = var.send_batching_window_seconds >= 0 && var.send_batching_window_seconds <= 300
    error_message = "send_batching_window_seconds must be between 0 and 300."
  }
}

variable "send_max_concurrency" {
  type        = number
  description = "Maximum concurrent send_message_api invocations the SQS event source may start (protects the messaging API)."
  default     = 5

  validation {
    condition     = var.send_max_concurrency >= 2 && var.send_max_concurrency <= 1000
    error_message = "send_max_concurrency must be between 2 and 1000."
  }
}

variable "http_timeout_seconds" {
  type        = number
  description = "HTTP timeout in seconds of each POST that send_message_api makes."
  default     = 10

  validation {
    condition     = var.http_timeout_seconds >= 1 && var.http_timeout_seconds <= 120
    error_message = "http_timeout_seconds must be between 1 and 120."
  }
}

variable "api_throttling_burst_limit" {
  type        = number
  description = "Burst limit of the webhook API's $default stage."
  default     = 100

  validation {
    condition     = var.api_throttling_burst_limit >= 0
    error_message = "api_throttling_burst_limit must be non-negative."
  }
}

variable "api_throttling_rate_limit" {
  type        = number
  description = "Steady-state requests per second of the webhook API's $default stage."
  default     = 50

  validation {
    condition     = var.api_throttling_rate_limit >= 0
    error_message = "api_throttling_rate_limit must be non-negative."
  }
}

variable "workflow_type" {
  type        = string
  description = "Step Functions workflow type of the debounce state machine: STANDARD or EXPRESS (EXPRESS caps an execution at 5 minutes)."
  default     = "STANDARD"

  validation {
    condition     = contains(["STANDARD", "EXPRESS"], var.workflow_type)
    error_message = "workflow_type must be STANDARD or EXPRESS."
  }
}

variable "metrics_namespace" {
  type        = string
  description = "CloudWatch namespace of the functions' business metrics (EMF; POWERTOOLS_METRICS_NAMESPACE)."
  default     = "Debouncer"

  validation {
    condition     = can(regex("^[A-Za-z0-9._/#:-]{1,255}$", var.metrics_namespace)) && !startswith(var.metrics_namespace, "AWS/")
    error_message = "metrics_namespace must be 1-255 characters of letters, digits and . _ / # : - and must not start with AWS/."
  }
}

variable "alarm_email" {
  type        = string
  description = "E-mail address that alarms are sent to through a KMS-encrypted SNS topic (the address must confirm the subscription). null: no topic; alarms show in the CloudWatch console only."
  default     = null
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to every resource through the provider's default_tags."
  default = {
    project = "message-debouncer"
  }
}

variable "batch_lease_seconds" {
  description = "How long a claimed batch may stay undelivered before another execution or the sweeper takes it over. Longer than the state machine's whole retry schedule."
  type        = number
  default     = 900

  validation {
    condition     = var.batch_lease_seconds >= 60 && var.batch_lease_seconds <= 86400
    error_message = "batch_lease_seconds must be between 60 and 86400."
  }
}

variable "sweep_grace_seconds" {
  description = "How long past its due time a conversation may stay undispatched before the sweeper re-arms it."
  type        = number
  default     = 60

  validation {
    condition     = var.sweep_grace_seconds >= 0 && var.sweep_grace_seconds <= 3600
    error_message = "sweep_grace_seconds must be between 0 and 3600."
  }
}

variable "send_retry_base_seconds" {
  description = "First retry delay of a reply whose send failed transiently (timeout, 5xx, 429); doubles per receive, capped at 900 s."
  type        = number
  default     = 30

  validation {
    condition     = var.send_retry_base_seconds >= 0 && var.send_retry_base_seconds <= 900
    error_message = "send_retry_base_seconds must be between 0 and 900."
  }
}

variable "inline_wait_seconds" {
  description = "A burst's execution wakes at the due time its first message computed; process_message waits out up to this many more seconds itself (later messages moved the due time) instead of another Wait state. null: 15 with STANDARD (cheaper than the 3 state transitions of a second wait below ~24 s at the default 192 MB of process_message_memory_mb; ~36 s at 128 MB, ~18 s at 256 MB), 1 with EXPRESS (its Wait is billed at 64 MB, process_message at process_message_memory_mb; 1 s absorbs a rounded-up timestamp). Must stay below process_message_timeout_seconds."
  type        = number
  default     = null

  validation {
    condition     = var.inline_wait_seconds == null ? true : var.inline_wait_seconds >= 0 && var.inline_wait_seconds <= 600
    error_message = "inline_wait_seconds must be between 0 and 600."
  }
}
