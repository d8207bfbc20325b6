"""The Terraform test harness fails loudly without terraform, and finds the provider mirror."""

from __future__ import annotations

import pytest

import harness


def test_no_terraform_binary_fails_with_a_message_that_says_what_is_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("TERRAFORM", str(tmp_path / "no-terraform-here"))
    with pytest.raises(harness.TerraformUnavailable, match="terraform is not on the PATH") as failure:
        harness.Terraform(tmp_path, tmp_path / "terraformrc")
    assert "do not skip" in str(failure.value)


def test_cli_config_uses_the_mirror_when_it_holds_the_aws_provider(tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / "registry.terraform.io" / "hashicorp" / "aws" / "5.100.0" / "linux_amd64").mkdir(parents=True)
    text = harness.write_cli_config(tmp_path / "rc", mirror).read_text()
    assert "filesystem_mirror" in text and f'path    = "{mirror}"' in text
    assert 'include = ["registry.terraform.io/hashicorp/aws"]' in text


def test_cli_config_falls_back_to_the_registry_without_a_mirror(tmp_path):
    empty = tmp_path / "mirror"
    (empty / "registry.terraform.io" / "hashicorp" / "aws").mkdir(parents=True)  # no version inside
    for mirror in (tmp_path / "absent", empty):
        text = harness.write_cli_config(tmp_path / "rc", mirror).read_text()
        assert "provider_installation" not in text  # Terraform's default: the registry


def test_the_provider_override_points_every_service_at_the_endpoint(tmp_path):
    text = harness.write_provider_override(tmp_path, "http://127.0.0.1:1234").read_text()
    for service in ("apigatewayv2", "cloudwatchlogs", "dynamodb", "events", "iam", "lambda", "sfn", "sqs", "sts"):
        assert f'{service:<14} = "http://127.0.0.1:1234"' in text
    for setting in ("skip_credentials_validation", "skip_metadata_api_check", "skip_requesting_account_id"):
        assert f"{setting}" in text


def test_the_provider_override_can_wait_for_variables_without_changing_the_region(tmp_path):
    assert 'region                      = "eu-west-1"\n' in harness.write_provider_override(tmp_path, "http://x", "eu-west-1").read_text()
    text = harness.write_provider_override(tmp_path, "http://x", "eu-west-1", validated_first=("apps", "workflow_type")).read_text()
    assert 'region                      = length([var.apps, var.workflow_type]) > 0 ? "eu-west-1" : "eu-west-1"\n' in text


# Resource type prefix -> the provider's endpoint name for its service.
SERVICE_OF_PREFIX = {
    "aws_apigatewayv2_": "apigatewayv2", "aws_cloudwatch_log_": "cloudwatchlogs", "aws_cloudwatch_event_": "events",
    "aws_cloudwatch_": "cloudwatch", "aws_dynamodb_": "dynamodb", "aws_iam_role": "iam", "aws_kms_": "kms",
    "aws_lambda_": "lambda", "aws_sfn_": "sfn", "aws_sns_": "sns", "aws_sqs_": "sqs", "aws_caller_identity": "sts",
    "aws_ssm_": "ssm",
}  # fmt: skip
LOCAL_ONLY = {"aws_iam_policy_document", "aws_region", "aws_partition"}  # computed by the provider, no API


def test_the_override_covers_every_service_the_configuration_uses():
    import re

    text = "\n".join(p.read_text() for p in [*harness.REPO.glob("*.tf"), *harness.REPO.glob("modules/*/*.tf")])
    types = set(re.findall(r'^(?:resource|data)\s+"(aws_[a-z0-9_]+)"', text, re.M)) - LOCAL_ONLY
    assert types, "no AWS resources found"
    for kind in sorted(types):
        prefix = next((p for p in sorted(SERVICE_OF_PREFIX, key=len, reverse=True) if kind.startswith(p)), None)
        assert prefix, f"{kind}: which service endpoint does it use? add it to SERVICE_OF_PREFIX and the override"
        assert SERVICE_OF_PREFIX[prefix] in harness.ENDPOINT_SERVICES, kind
