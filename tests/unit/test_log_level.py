"""LOG_LEVEL is honoured even where Lambda's application log level (AWS_LAMBDA_LOG_LEVEL) is INFO."""

from __future__ import annotations

import logging

import pytest

from gateway.log import get_logger


@pytest.mark.parametrize(
    ("log_level", "lambda_level", "expected"),
    [
        ("WARNING", "INFO", logging.WARNING),  # the deployment keeps Lambda at INFO for the EMF lines
        ("INFO", "WARN", logging.WARNING),  # Lambda's filter is stricter: no point formatting INFO lines
        ("DEBUG", "DEBUG", logging.DEBUG),
        ("INFO", None, logging.INFO),
        (None, None, logging.INFO),
    ],
)
def test_the_stricter_of_log_level_and_lambdas_level_applies(monkeypatch, log_level, lambda_level, expected):
    for name, value in (("LOG_LEVEL", log_level), ("AWS_LAMBDA_LOG_LEVEL", lambda_level)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    logger = get_logger(f"level-test-{log_level}-{lambda_level}")
    assert logger.log_level == expected
    assert logger.isEnabledFor(logging.INFO) is (expected <= logging.INFO)
