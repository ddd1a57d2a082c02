"""The object stores behind the registry and batch scoring (storage.py): an unreachable
endpoint, missing credentials, a missing bucket and a wrong credential are each one readable
error, after bounded retries."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from shoprec.registry import Registry, RegistryError, S3Store
from tests.conftest import CREDENTIALS, client_credentials, free_port


def test_an_unreachable_endpoint_is_one_readable_error_after_bounded_retries(monkeypatch):
    for key, value in {
        **CREDENTIALS,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
    }.items():
        monkeypatch.setenv(key, value)
    started = time.monotonic()
    with pytest.raises(RegistryError, match="failed: Could not connect"):
        Registry(S3Store("s3://shoprec-nowhere/models", timeout_s=1.0)).models()
    assert time.monotonic() - started < 30


def test_missing_credentials_and_a_missing_bucket_are_readable_errors(
    s3_env, monkeypatch, tmp_path
):
    with pytest.raises(RegistryError, match="NoSuchBucket"):
        Registry(S3Store("s3://shoprec-no-such-bucket/models")).models()
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(RegistryError, match="no AWS credentials"):
        Registry(S3Store("s3://shoprec-any/models")).models()


@pytest.fixture
def s3_with_auth(tmp_path):
    """A second local S3 server (moto's, in its own process) that checks credentials: one IAM
    user with an S3 policy, then authentication switched on through moto's HTTP admin API."""
    import boto3
    import requests

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{endpoint}/moto-api/", timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        session = {"endpoint_url": endpoint, **client_credentials()}
        iam = boto3.client("iam", **session)
        iam.create_user(UserName="shoprec-ci")
        iam.put_user_policy(
            UserName="shoprec-ci",
            PolicyName="s3",
            PolicyDocument='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
            '"Action": "s3:*", "Resource": "*"}]}',
        )
        key = iam.create_access_key(UserName="shoprec-ci")["AccessKey"]
        boto3.client("s3", **session).create_bucket(Bucket="shoprec-auth")
        requests.post(f"{endpoint}/moto-api/reset-auth", data=b"0", timeout=5).raise_for_status()
        yield endpoint, key["AccessKeyId"], key["SecretAccessKey"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_wrong_credential_is_one_readable_error(s3_with_auth, monkeypatch):
    endpoint, key_id, secret = s3_with_auth
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")

    def registry_as(key: str, secret_key: str) -> Registry:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret_key)
        return Registry(S3Store("s3://shoprec-auth/models"))

    assert registry_as(key_id, secret).models() == []  # the right key works
    started = time.monotonic()
    with pytest.raises(RegistryError, match=r"credentials were not accepted \(SignatureDoes"):
        registry_as(key_id, "not-the-secret").models()
    with pytest.raises(RegistryError, match=r"credentials were not accepted \(InvalidAccessKey"):
        registry_as("AKIANOSUCHKEY0000000", secret).models()
    assert time.monotonic() - started < 30
    # the command line: one line, exit 1, and the secret is not printed
    proc = subprocess.run(
        [sys.executable, "-m", "shoprec", "registry", "list", "--registry", "s3://shoprec-auth/m"],
        capture_output=True,
        text=True,
        env={**os.environ, "AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": "wrong-secret"},
        check=False,
    )
    assert proc.returncode == 1
    assert "credentials were not accepted (SignatureDoesNotMatch)" in proc.stderr
    assert "wrong-secret" not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
