"""The one price table of util.cost: every AWS price item the deployment can incur, and the billing
units the pricing shares.

Published list prices, us-east-1, USD (checked 2026; DynamoDB on-demand after the November 2024
price cut). Free tiers are ignored. Each item is either priced by the per-1M table and the monthly
bill (util/cost/bill.py) or listed there as not counted, with the reason (bill.NOT_COUNTED);
tests/unit/test_cost.py fails when an item is neither.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Price:
    usd: float  # USD per unit
    count: str | None  # the per-message count it multiplies in the per-1M table (Priced.counts); None: not per message
    line: str  # the bill line it is added to
    per: float = 1.0  # the count is in units of 1/per (log bytes, priced per GB)
    unit: str = ""  # what one unit is, for the reader


# A run is billed a line of the per-1M table when it has the count (a STANDARD run has transitions,
# an EXPRESS run executions and their duration); the order is that table's.
PRICES = {
    "api_gateway_http_per_request": Price(1.00 / 1e6, "api_requests", "API Gateway (HTTP API)", unit="request"),  # first 300 M/month
    "lambda_per_request": Price(0.20 / 1e6, "lambda_invocations", "Lambda requests", unit="invocation"),
    "lambda_per_gb_second": Price(0.0000166667, "lambda_gb_seconds", "Lambda duration", unit="GB-second"),  # x86
    "dynamodb_per_wru": Price(0.625 / 1e6, "wru", "DynamoDB writes", unit="write request unit"),  # on-demand
    "dynamodb_per_rru": Price(0.125 / 1e6, "rru", "DynamoDB reads", unit="read request unit"),  # on-demand
    "cloudwatch_logs_per_gb": Price(0.50, "log_bytes", "CloudWatch Logs", per=1e9, unit="GB ingested"),  # standard class
    "sqs_per_request": Price(0.40 / 1e6, "sqs_requests", "SQS requests", unit="request (64 KB chunk)"),  # standard queue
    "sfn_standard_per_transition": Price(0.025 / 1000, "transitions", "Step Functions transitions", unit="state transition"),
    "sfn_express_per_request": Price(1.00 / 1e6, "express_executions", "Step Functions requests", unit="execution"),
    # first 1,000 h; billed in 100 ms and 64 MB steps
    "sfn_express_per_gb_second": Price(0.00001667, "express_gb_seconds", "Step Functions duration", unit="GB-second"),
    # --- the monthly bill's own items (no per-message count in the per-1M table)
    "xray_per_trace_recorded": Price(5.00 / 1e6, None, "X-Ray traces recorded", unit="trace"),
    "cloudwatch_dashboard_per_month": Price(3.00, None, "CloudWatch dashboard", unit="dashboard-month"),
    "cloudwatch_alarm_per_month": Price(0.10, None, "CloudWatch alarms", unit="standard-resolution alarm metric-month"),
    "cloudwatch_high_resolution_alarm_per_month": Price(0.30, None, "CloudWatch alarms",
                                                        unit="high-resolution alarm metric-month"),
    "cloudwatch_custom_metric_per_month": Price(0.30, None, "CloudWatch custom metrics", unit="metric-month"),  # first 10,000
    "kms_key_per_month": Price(1.00, None, "KMS key", unit="customer managed key-month"),
    # --- listed as not counted (bill.NOT_COUNTED says why)
    "xray_per_trace_retrieved": Price(0.50 / 1e6, None, "X-Ray traces retrieved or scanned", unit="trace"),
    "kms_per_request": Price(0.03 / 1e4, None, "KMS requests", unit="request"),
    "cloudwatch_logs_storage_per_gb_month": Price(0.03, None, "CloudWatch Logs storage", unit="GB-month (compressed)"),
    "cloudwatch_logs_insights_per_gb_scanned": Price(0.005, None, "CloudWatch Logs Insights", unit="GB scanned"),
    "dynamodb_storage_per_gb_month": Price(0.25, None, "DynamoDB storage", unit="GB-month"),
    "dynamodb_pitr_per_gb_month": Price(0.20, None, "DynamoDB point-in-time recovery", unit="GB-month"),
    "data_transfer_out_per_gb": Price(0.09, None, "Data transfer out to the internet", unit="GB (after 100 GB/month)"),
    "sns_email_per_notification": Price(2.00 / 1e5, None, "SNS e-mail notifications", unit="notification (after 1,000)"),
    "sns_per_publish": Price(0.50 / 1e6, None, "SNS publishes", unit="request"),
}

# Express duration is billed in 64 MB steps; the execution's state is a few hundred bytes, so the
# smallest step is what an execution is billed at.
EXPRESS_MEMORY_MB = 64
