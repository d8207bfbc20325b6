"""In a started moto: the AWS resources the Terraform root module creates, named as it names them."""

from __future__ import annotations

from dataclasses import dataclass

from .config import LocalConfig, function_name_of

SQS_VISIBILITY_TIMEOUT = 3  # short, so a failed reply is retried (and dead-lettered) within seconds


@dataclass
class Resources:
    table: str
    functions: dict[str, str]  # "post" / "process" / "send" -> function name
    state_machine_arn: str
    queue_url: str
    dlq_url: str
    failed_batches_url: str


def create_resources(config: LocalConfig) -> Resources:
    """In a started moto: what the Terraform root module creates, named as it names them."""
    from util import local_aws

    prefix = config.name_prefix
    table = f"{prefix}-messages"
    local_aws.create_table(table)
    functions = {"post": f"{prefix}-post-message", "process": f"{prefix}-process-message",
                 "send": f"{prefix}-send-message-api"}
    arns = {key: local_aws.create_function(name) for key, name in functions.items()}
    for name in sorted({function_name_of(v) for v in config.processing_lambdas.values()} - set(functions.values())):
        local_aws.create_function(name)  # its invocations are routed to a local handler
    state_machine_arn = local_aws.create_state_machine(
        f"{prefix}-debounce", arns["process"],
        retry_interval_seconds=config.retry_interval_seconds, retry_max_attempts=config.retry_max_attempts)
    queue_url, dlq_url = local_aws.create_queue(f"{prefix}-send", max_receive_count=config.max_receive_count,
                                                visibility_timeout=SQS_VISIBILITY_TIMEOUT)
    # Batches whose delivery kept failing are parked here (process_message, FAILED_BATCHES_QUEUE_URL).
    import boto3

    failed_batches_url = boto3.client("sqs", region_name=local_aws.REGION).create_queue(
        QueueName=f"{prefix}-failed-batches")["QueueUrl"]
    return Resources(table, functions, state_machine_arn, queue_url, dlq_url, failed_batches_url)
