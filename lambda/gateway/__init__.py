"""Shared core of the message debouncer gateway, shipped in every function's package.

Pure logic (debounce policy, payload normalising, batching) lives in modules without boto3;
AWS access lives in small adapters (store, scheduler, aws) whose clients are made lazily.
"""
