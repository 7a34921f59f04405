"""Fixtures for the hardening regressions: the S3 fixtures of the event tests, reused."""

from tests.events.conftest import aws_credentials, private_s3, s3, s3_server  # noqa: F401 (fixtures)
