# Single-table design: pk/sk for conversations, messages and batch claims.
# The sparse GSI pending_by_due only holds items that carry sweep_bucket,
# i.e. conversations with a pending batch, ordered by due time.
resource "aws_dynamodb_table" "this" {
  name                        = var.name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = var.deletion_protection_enabled

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  attribute {
    name = "sweep_bucket"
    type = "S"
  }

  attribute {
    name = "due_at"
    type = "N"
  }

  global_secondary_index {
    name               = "pending_by_due"
    hash_key           = "sweep_bucket"
    range_key          = "due_at"
    projection_type    = "INCLUDE"
    non_key_attributes = ["app_id", "sender"]
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = var.tags
}
