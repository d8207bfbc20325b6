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

variable "apps" {
  # `any`, not an object type: Terraform silently drops an attribute an object type does not
  # declare, so a misspelt key (`providr = "telegram"`) would deploy the app as Z-API. The
  # validations below refuse unknown keys and bad values by name; main.tf fills in the defaults.
  type        = any
  description = <<-EOT
    The apps the gateway serves: app_id (the webhook's ?appId=, 1-64 letters, digits, '_' or '-') => {
      bot                   = name or ARN of the app's processing Lambda, deployed by you; or
      bot_source            = a folder of this repository holding the bot's handler.py (and optionally
                              requirements.txt), e.g. "lambda/examples/echo_bot": `make build` packages it and
                              Terraform deploys it as <name_prefix>-bot-<app_id> with REPLY_QUEUE_URL set and a
                              role of its own (send queue, its log group); exactly one of the two
      bot_timeout_seconds   = the bot's time budget (default 30, at most 900): a deployed bot's Lambda timeout;
                              process_message's timeout (inline wait + the slowest sync bot + 15 s, at most 900)
                              and the batch lease follow from it, so the gateway never invokes the bot again for
                              a batch while an earlier call can still run
      bot_memory_mb         = memory of a bot_source bot (default 256)
      invocation            = "sync" (default: process_message waits for the bot; one batch of a conversation
                              at a time, in order; failures retried by the state machine, then parked) or
                              "async" (an Event invoke: nothing waits, Lambda retries twice, then its
                              on-failure destination puts the batch on the failed-batch queue; bursts of one
                              conversation may be processed out of order)
      provider              = "zapi" (default), "whatsapp_cloud", "telegram", "evolution", "twilio" or "generic"
      url                   = where replies go: the full send URL (evolution, generic), the API base
                              (whatsapp_cloud: https://graph.facebook.com/v21.0/PHONE_NUMBER_ID; telegram and
                              twilio default to https://api.telegram.org and https://api.twilio.com); not for
                              zapi, whose send URL embeds the instance token: it is the api_url of its secrets
      secrets_parameter     = name of the SSM SecureString ("/...") holding the app's secrets as a JSON object
                              (webhook authentication and outbound credentials, README "Add an app")
      allow_unauthenticated = true to accept webhooks without authentication (generic, or zapi/evolution
                              without a webhook_token); default false: such an app is refused
      debounce              = { mode = "fixed" | "adaptive", quiet_seconds, max_wait_seconds, max_messages,
                                max_bytes, min_quiet_seconds, max_quiet_seconds } (all optional): "fixed" waits
                              quiet_seconds (default debounce_seconds) after the latest message; "adaptive" waits
                              clamp(2.5 x the median of the sender's recent typing gaps (not those across the
                              bot's answer, before a voice note or over max_quiet_seconds), min_quiet_seconds
                              (default quiet_seconds / 5), max_quiet_seconds (default 3 x quiet_seconds)); max_wait_seconds
                              (default 60, or quiet_seconds if longer) caps the wait from a burst's first message;
                              max_messages / max_bytes dispatch a burst at once when it reaches that size
    }
  EOT

  validation {
    condition     = can(keys(var.apps)) ? length(var.apps) > 0 : false
    error_message = "apps must be a map of app id => app object with at least one app, e.g. apps = { demo = { bot = \"demo-echo-bot\", provider = \"generic\", url = \"https://...\", secrets_parameter = \"/debouncer/demo/secrets\" } }."
  }

  # The same alphabet as gateway/settings.py checks at cold start: app ids end up in keys, names and logs.
  validation {
    condition     = alltrue([for id in try(keys(var.apps), []) : can(regex("^[A-Za-z0-9_-]{1,64}$", id))])
    error_message = format("apps: app id %s must be 1-64 characters of letters, digits, '_' or '-'.", try(join(", ", [for id in keys(var.apps) : jsonencode(id) if !can(regex("^[A-Za-z0-9_-]{1,64}$", id))]), "?"))
  }

  validation {
    condition     = alltrue([for id, app in try(var.apps, {}) : can(keys(app)) ? length(setsubtract(keys(app), ["bot", "bot_source", "bot_timeout_seconds", "bot_memory_mb", "invocation", "provider", "url", "secrets_parameter", "allow_unauthenticated", "debounce"])) == 0 : false])
    error_message = format("apps: %s", try(join("; ", [for id, app in var.apps : format("app %s: unknown key(s) %s (an app takes bot or bot_source, bot_timeout_seconds, bot_memory_mb, invocation, provider, url, secrets_parameter, allow_unauthenticated and debounce)", id, try(join(", ", setsubtract(keys(app), ["bot", "bot_source", "bot_timeout_seconds", "bot_memory_mb", "invocation", "provider", "url", "secrets_parameter", "allow_unauthenticated", "debounce"])), "(not an object)")) if !(can(keys(app)) ? length(setsubtract(keys(app), ["bot", "bot_source", "bot_timeout_seconds", "bot_memory_mb", "invocation", "provider", "url", "secrets_parameter", "allow_unauthenticated", "debounce"])) == 0 : false)]), "every app must be an object"))
  }

  validation {
    condition     = alltrue([for id, app in try(var.apps, {}) : (try(app.bot, null) == null ? 0 : 1) + (try(app.bot_source, null) == null ? 0 : 1) == 1 && (try(app.bot, null) == null ? true : can(regex("^\\S+$", app.bot))) && (try(app.bot_source, null) == null ? true : can(regex("^[A-Za-z0-9_][A-Za-z0-9_./-]*$", app.bot_source)) && !strcontains(try(app.bot_source, ""), ".."))])
    error_message = format("apps: %s", try(join("; ", [for id, app in var.apps : format("app %s: set either bot (the name or ARN of an existing Lambda function) or bot_source (a folder of this repository holding handler.py, e.g. lambda/examples/echo_bot, which Terraform deploys), not both", id) if !((try(app.bot, null) == null ? 0 : 1) + (try(app.bot_source, null) == null ? 0 : 1) == 1 && (try(app.bot, null) == null ? true : can(regex("^\\S+$", app.bot))) && (try(app.bot_source, null) == null ? true : can(regex("^[A-Za-z0-9_][A-Za-z0-9_./-]*$", app.bot_source)) && !strcontains(try(app.bot_source, ""), "..")))]), "bad bot"))
  }

  validation {
    condition     = alltrue([for id, app in try(var.apps, {}) : try(app.bot_timeout_seconds, null) == null ? true : try(app.bot_timeout_seconds >= 1 && app.bot_timeout_seconds <= 900 && floor(app.bot_timeout_seconds) == app.bot_timeout_seconds, false)])
    error_message = format("apps: %s", try(join("; ", [for id, app in var.apps : format("app %s: bot_timeout_seconds must be a whole number of seconds, 1-900 (Lambda stops a function at 900 s)", id) if !(try(app.bot_timeout_seconds, null) == null ? true : try(app.bot_timeout_seconds >= 1 && app.bot_timeout_seconds <= 900 && floor(app.bot_timeout_seconds) == app.bot_timeout_seconds, false))]), "bad bot_timeout_seconds"))
  }

  validation {
    condition     = alltrue([for id, app in try(var.apps, {}) : contains(["sync", "async"], try(coalesce(app.invocation, "sync"), "sync"))])
    error_message = format("apps: %s", try(join("; ", [for id, app in var.apps : format("app %s: invocation must be sync (process_message waits for the bot) or async (an Event invoke, retried by Lambda)", id) if !contains(["sync", "async"], try(coalesce(app.invocation, "sync"), "sync"))]), "bad invocation"))
  }

  validation {
    condition     = alltrue([for id, app in try(var.apps, {}) : try(app.bot_memory_mb, null) == null ? true : try(app.bot_source, null) != null && try(app.bot_memory_mb >= 128 && app.bot_memory_mb <= 10240, false)])
    error_message = format("apps: %s", try(join("; ", [for id, app in var.apps : format("app %s: bot_memory_mb (128-10240) sizes a bot Terraform deploys: it takes bot_source", id) if !(try(app.bot_memory_mb, null) == null ? true : try(app.bot_source, null) != null && try(app.bot_memory_mb >= 128 && app.bot_memory_mb <= 10240, false))]), "bad bot_memory_mb"))
  }


  validation {
    condition     = alltrue([for id, app in try(var.apps, {}) : contains(["zapi", "whatsapp_cloud", "telegram", "evolution", "twilio", "generic"], try(coalesce(app.provider, "zapi"), "zapi"))])
    error_message = format("apps: %s", try(join("; ", [for id, app in var.apps : format("app %s: provider %s must be one of zapi, whatsapp_cloud, telegram, evolution, twilio, generic", id, jsonencode(try(app.provider, null))) if !(contains(["zapi", "whatsapp_cloud", "telegram", "evolution", "twilio", "generic"], try(coalesce(app.provider, "zapi"), "zapi")))]), "bad provider"))
  }

  validation {
    condition     = alltrue([for id, app in try(var.apps, {}) : try(app.url, null) == null ? true : can(regex("^https://[^/?#\\s]+", app.url))])
    error_message = format("apps: %s", try(join("; ", [for id, app in var.apps : format("app %s: url must be an https:// URL", id) if !(try(app.url, null) == null ? true : can(regex("^https://[^/?#\\s]+", app.url)))]), "bad url"))
  }

  # Z-API's send URL is .../instances/<id>/token/<token>/send-text: a credential, so it never goes
  # into tfvars, state or the Lambda environment.
  validation {
    condition     = alltrue([for id, app in try(var.apps, {}) : try(coalesce(app.provider, "zapi"), "zapi") != "zapi" ? true : try(app.url, null) == null])
    error_message = format("apps: %s", try(join("; ", [for id, app in var.apps : format("app %s: a zapi app takes no url: its send URL embeds the instance token, so it is the api_url of the app's secrets object (secrets_parameter)", id) if !(try(coalesce(app.provider, "zapi"), "zapi") != "zapi" ? true : try(app.url, null) == null)]), "zapi url"))
  }

  validation {
    condition     = alltrue([for id, app in try(var.apps, {}) : contains(["whatsapp_cloud", "evolution", "generic"], try(coalesce(app.provider, "zapi"), "zapi")) ? try(app.url, null) != null : true])
    error_message = format("apps: %s", try(join("; ", [for id, app in var.apps : format("app %s: a %s app needs url (whatsapp_cloud: https://graph.facebook.com/v21.0/PHONE_NUMBER_ID; evolution: the .../message/sendText/INSTANCE URL; generic: your endpoint)", id, try(coalesce(app.provider, "zapi"), "zapi")) if !(contains(["whatsapp_cloud", "evolution", "generic"], try(coalesce(app.provider, "zapi"), "zapi")) ? try(app.url, null) != null : true)]), "url required"))
  }

  validation {
    condition     = alltrue([for id, app in try(var.apps, {}) : try(app.secrets_parameter, null) == null ? true : can(regex("^/[A-Za-z0-9_./-]+$", app.secrets_parameter))])
    error_message = format("apps: %s", try(join("; ", [for id, app in var.apps : format("app %s: secrets_parameter must be an SSM parameter name starting with /", id) if !(try(app.secrets_parameter, null) == null ? true : can(regex("^/[A-Za-z0-9_./-]+$", app.secrets_parameter)))]), "bad secrets_parameter"))
  }

  validation {
    condition     = alltrue([for id, app in try(var.apps, {}) : can(tobool(try(app.allow_unauthenticated, false)))])
    error_message = format("apps: %s", try(join("; ", [for id, app in var.apps : format("app %s: allow_unauthenticated must be true or false", id) if !(can(tobool(try(app.allow_unauthenticated, false))))]), "bad allow_unauthenticated"))
  }

  # Every provider authenticates its webhooks with a secret of the app's secrets object (whatsapp_cloud
  # app_secret, telegram secret_token, twilio auth_token, zapi/evolution/generic webhook_token), and all
  # but generic need it to send (zapi: its api_url). Only a generic app may go without, when it says so.
  validation {
    condition     = alltrue([for id, app in try(var.apps, {}) : try(app.secrets_parameter, null) != null ? true : try(coalesce(app.provider, "zapi"), "zapi") == "generic" && try(tobool(app.allow_unauthenticated), false)])
    error_message = format("apps: %s", try(join("; ", [for id, app in var.apps : format("app %s (%s) has no secrets_parameter: name the SSM SecureString holding its webhook authentication and credentials (README, Add an app); only a generic app may instead say allow_unauthenticated = true", id, try(coalesce(app.provider, "zapi"), "zapi")) if !(try(app.secrets_parameter, null) != null ? true : try(coalesce(app.provider, "zapi"), "zapi") == "generic" && try(tobool(app.allow_unauthenticated), false))]), "an app without secrets_parameter"))
  }

  validation {
    condition     = alltrue([for id, app in try(var.apps, {}) : can(keys(try(app.debounce, {}))) ? length(setsubtract(keys(try(app.debounce, {})), ["mode", "quiet_seconds", "max_wait_seconds", "max_messages", "max_bytes", "min_quiet_seconds", "max_quiet_seconds"])) == 0 && contains(["fixed", "adaptive"], try(coalesce(app.debounce.mode, "fixed"), "fixed")) : false])
    error_message = format("apps: %s", try(join("; ", [for id, app in var.apps : format("app %s: debounce takes mode (fixed or adaptive), quiet_seconds, max_wait_seconds, max_messages, max_bytes, min_quiet_seconds and max_quiet_seconds", id) if !(can(keys(try(app.debounce, {}))) ? length(setsubtract(keys(try(app.debounce, {})), ["mode", "quiet_seconds", "max_wait_seconds", "max_messages", "max_bytes", "min_quiet_seconds", "max_quiet_seconds"])) == 0 && contains(["fixed", "adaptive"], try(coalesce(app.debounce.mode, "fixed"), "fixed")) : false)]), "bad debounce"))
  }

  validation {
    condition = alltrue([for id, app in try(var.apps, {}) : alltrue([
      try(app.debounce.quiet_seconds, null) == null ? true : try(app.debounce.quiet_seconds >= 0.1 && app.debounce.quiet_seconds <= 300, false),
      try(app.debounce.max_wait_seconds, null) == null ? true : try(app.debounce.max_wait_seconds >= 0.1 && app.debounce.max_wait_seconds <= 86400, false),
      try(app.debounce.min_quiet_seconds, null) == null ? true : try(app.debounce.min_quiet_seconds >= 0.02 && app.debounce.min_quiet_seconds <= 3600, false),
      try(app.debounce.max_quiet_seconds, null) == null ? true : try(app.debounce.max_quiet_seconds >= 0.1 && app.debounce.max_quiet_seconds <= 3600, false),
      try(app.debounce.max_messages, null) == null ? true : try(app.debounce.max_messages >= 1 && app.debounce.max_messages <= 100000 && floor(app.debounce.max_messages) == app.debounce.max_messages, false),
      try(app.debounce.max_bytes, null) == null ? true : try(app.debounce.max_bytes >= 1 && app.debounce.max_bytes <= 6000000 && floor(app.debounce.max_bytes) == app.debounce.max_bytes, false),
    ])])
    error_message = format("apps: %s", try(join("; ", [for id, app in var.apps : format("app %s: debounce quiet_seconds must be 0.1-300, max_wait_seconds 0.1-86400, min_quiet_seconds 0.02-3600, max_quiet_seconds 0.1-3600, max_messages an integer 1-100000 and max_bytes an integer 1-6000000 (a synchronous Lambda invoke carries at most 6 MB)", id) if !(alltrue([
      try(app.debounce.quiet_seconds, null) == null ? true : try(app.debounce.quiet_seconds >= 0.1 && app.debounce.quiet_seconds <= 300, false),
      try(app.debounce.max_wait_seconds, null) == null ? true : try(app.debounce.max_wait_seconds >= 0.1 && app.debounce.max_wait_seconds <= 86400, false),
      try(app.debounce.min_quiet_seconds, null) == null ? true : try(app.debounce.min_quiet_seconds >= 0.02 && app.debounce.min_quiet_seconds <= 3600, false),
      try(app.debounce.max_quiet_seconds, null) == null ? true : try(app.debounce.max_quiet_seconds >= 0.1 && app.debounce.max_quiet_seconds <= 3600, false),
      try(app.debounce.max_messages, null) == null ? true : try(app.debounce.max_messages >= 1 && app.debounce.max_messages <= 100000 && floor(app.debounce.max_messages) == app.debounce.max_messages, false),
      try(app.debounce.max_bytes, null) == null ? true : try(app.debounce.max_bytes >= 1 && app.debounce.max_bytes <= 6000000 && floor(app.debounce.max_bytes) == app.debounce.max_bytes, false),
    ]))]), "debounce out of range"))
  }

  validation {
    condition = alltrue([for id, app in try(var.apps, {}) : alltrue([
      try(app.debounce.min_quiet_seconds <= app.debounce.max_quiet_seconds, true),
      try(coalesce(app.debounce.mode, "fixed") != "fixed" ? true : app.debounce.max_wait_seconds >= app.debounce.quiet_seconds, true),
      try(app.debounce.max_wait_seconds >= app.debounce.min_quiet_seconds, true),
    ])])
    error_message = format("apps: %s", try(join("; ", [for id, app in var.apps : format("app %s: debounce min_quiet_seconds must not exceed max_quiet_seconds, and max_wait_seconds must be at least quiet_seconds (fixed) or min_quiet_seconds (adaptive)", id) if !(alltrue([
      try(app.debounce.min_quiet_seconds <= app.debounce.max_quiet_seconds, true),
      try(coalesce(app.debounce.mode, "fixed") != "fixed" ? true : app.debounce.max_wait_seconds >= app.debounce.quiet_seconds, true),
      try(app.debounce.max_wait_seconds >= app.debounce.min_quiet_seconds, true),
    ]))]), "debounce bounds"))
  }
}

variable "secrets_kms_key_arn" {
  type        = string
  description = "ARN of the customer managed KMS key that encrypts the apps' secrets_parameter SecureStrings, if any. null: they use the AWS managed aws/ssm key and no kms:Decrypt grant is needed."
  default     = null
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
  description = "The least timeout of process_message, which waits out the inline wait and then for each synchronous bot: it is raised to inline_wait_seconds + the longest sync bot_timeout_seconds + 15 s when that is more (the process_message_timeout_seconds output)."
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
  description = "The least time a claimed batch may stay undelivered before another execution or the sweeper takes it over: raised to the state machine's whole retry schedule of process_message attempts plus 60 s when that is longer (the batch_lease_seconds output), so a bot is never invoked twice at once for one batch."
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

variable "alarm_actions" {
  type        = list(string)
  description = "ARNs of existing SNS topics (e.g. the team's on-call topic) that every alarm notifies when it fires and when it is OK again, besides the alarm_email topic. Each topic's access policy, and its KMS key policy if it is encrypted, must let cloudwatch.amazonaws.com publish. At most 5, counting the alarm_email topic."
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for arn in var.alarm_actions : can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\\.fifo)?$", arn))])
    error_message = "alarm_actions must be SNS topic ARNs (arn:aws:sns:<region>:<account>:<topic>)."
  }

  validation {
    condition     = length(var.alarm_actions) == length(distinct(var.alarm_actions)) && length(var.alarm_actions) <= 5
    error_message = "alarm_actions must not repeat a topic and takes at most 5: CloudWatch allows 5 actions per alarm state (the alarm_email topic counts as one)."
  }
}

variable "alarms_enabled" {
  type        = bool
  description = "Create the CloudWatch alarms (dead-letter queues, failed executions, every function's Errors and Throttles, webhook 5xx) and, with alarm_email, the e-mail topic. false: none of them; alarm_email and alarm_actions are then unused."
  default     = true
  nullable    = false
}

variable "dashboard_enabled" {
  type        = bool
  description = "Create the CloudWatch dashboard of the stack (named name_prefix)."
  default     = true
  nullable    = false
}

variable "tracing_enabled" {
  type        = bool
  description = "X-Ray Active tracing on every Lambda function and on the state machine; their roles then may write trace data (xray:PutTraceSegments and the like, which AWS grants on \"*\" only). X-Ray bills the traces recorded and read. false: no tracing and no X-Ray permissions."
  default     = false
  nullable    = false
}
