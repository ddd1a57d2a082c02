"""The model registry on both backends: a local folder, and S3 over HTTP against a local
S3-compatible server (moto's, started here). Lifecycle, concurrency, faults, tampering, names."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from shoprec.registry import LocalStore, Registry, RegistryError, S3Store
from tests.conftest import CREDENTIALS, client_credentials, free_port, new_bucket


@pytest.fixture(params=["local", "s3"])
def uri(request, tmp_path):
    """A fresh, empty registry location on each backend."""
    if request.param == "local":
        return str(tmp_path / "registry")
    endpoint = request.getfixturevalue("s3_env")
    return f"s3://{new_bucket(endpoint)}/models"


def registry_at(uri: str) -> Registry:
    return Registry(S3Store(uri) if uri.startswith("s3://") else LocalStore(uri))


def servable(reg: Registry, version: int, name: str = "two_stage") -> int:
    """These tests upload random bytes, not a model; the round-trip check itself runs on a
    real model in test_servability_*."""
    reg.record_check(name, version, "servability", {"passed": True, "users": 0})
    return version


@pytest.fixture
def model_dir(tmp_path) -> Path:
    folder = tmp_path / "model"
    (folder / "history").mkdir(parents=True)
    (folder / "card.json").write_text('{"model": "two_stage"}\n')
    (folder / "arrays.npz").write_bytes(os.urandom(4096))
    (folder / "history" / "ids.npz").write_bytes(os.urandom(1024))
    return folder


# -- lifecycle ------------------------------------------------------------------------------
def test_register_approve_promote_and_roll_back(uri, model_dir, tmp_path):
    reg = registry_at(uri)
    v1 = reg.register("two_stage", model_dir, "ci", {"metrics": {"ndcg@10": 0.1}})
    assert v1 == 1 and reg.info("two_stage", 1).status == "pending"
    with pytest.raises(RegistryError, match="only an approved version"):
        reg.promote("two_stage", 1, "ana")
    with pytest.raises(RegistryError, match="servability"):
        reg.decide("two_stage", 1, "approved", "ana", "not checked yet")
    servable(reg, 1)
    reg.decide("two_stage", 1, "approved", "ana", "beats EASE")
    assert reg.promote("two_stage", 1, "ana", "first release") == 1
    v2 = servable(reg, reg.register("two_stage", model_dir, "ci"))
    reg.decide("two_stage", v2, "approved", "ana", "better")
    reg.promote("two_stage", v2, "ana")
    assert reg.alias("two_stage")["version"] == 2
    assert reg.rollback("two_stage", "bo", "complaints") == 1
    assert reg.alias("two_stage") == {**reg.alias("two_stage"), "version": 1, "history": []}
    with pytest.raises(RegistryError, match="no earlier version"):
        reg.rollback("two_stage", "bo")

    v3 = servable(reg, reg.register("two_stage", model_dir, "ci"))
    reg.decide("two_stage", v3, "rejected", "ana", "worse")
    with pytest.raises(RegistryError, match="already rejected"):
        reg.decide("two_stage", v3, "approved", "ana", "changed my mind")
    with pytest.raises(RegistryError, match="is rejected"):
        reg.promote("two_stage", v3, "ana")

    events = reg.audit_log("two_stage")
    actions = [
        (e["action"], e.get("version")) for e in events if e["action"] != "check_servability"
    ]
    assert actions == [
        ("register", 1),
        ("approve", 1),
        ("promote", 1),
        ("register", 2),
        ("approve", 2),
        ("promote", 2),
        ("rollback", 1),
        ("register", 3),
        ("reject", 3),
    ]
    assert reg.verify("two_stage", 1) == {}
    fetched = reg.download("two_stage", 1, tmp_path / "fetched")
    for path in model_dir.rglob("*"):
        if path.is_file():
            assert (fetched / path.relative_to(model_dir)).read_bytes() == path.read_bytes()
    assert [v.status for v in reg.versions("two_stage")] == ["approved", "approved", "rejected"]
    assert reg.models() == ["two_stage"]


@pytest.mark.parametrize("name", ["../evil", "a/b", "", "UPPER", "x" * 65, ".hidden", "a b"])
def test_names_that_could_escape_or_confuse_are_refused(uri, model_dir, name):
    reg = registry_at(uri)
    with pytest.raises(RegistryError, match="invalid model name"):
        reg.register(name, model_dir, "ci")
    with pytest.raises(RegistryError, match="invalid"):
        reg.promote("two_stage", 1, "ana", alias=name or "/")


# -- concurrency ----------------------------------------------------------------------------
def test_sixteen_parallel_registrations_and_promotions_lose_no_update(uri, model_dir):
    def register_and_promote(worker: int) -> int:
        reg = registry_at(uri)  # its own client, as separate machines would have
        version = servable(reg, reg.register("two_stage", model_dir, f"worker-{worker}"))
        reg.decide("two_stage", version, "approved", f"worker-{worker}", "parallel test")
        reg.promote("two_stage", version, f"worker-{worker}", "parallel test")
        return version

    with ThreadPoolExecutor(16) as pool:
        versions = list(pool.map(register_and_promote, range(16)))
    assert sorted(versions) == list(range(1, 17))  # every number unique, none skipped
    reg = registry_at(uri)
    alias = reg.alias("two_stage")
    promotions = [e for e in reg.audit_log("two_stage") if e["action"] == "promote"]
    assert len(promotions) == 16
    # Each promotion records the version it replaced. Following those links from the start
    # must visit all 16 versions in exactly the order the alias history holds them.
    after = {e["previous"]: e["version"] for e in promotions}
    assert len(after) == 16  # no two promotions replaced the same version: no lost update
    chain, current = [], None
    while current in after:
        current = after[current]
        chain.append(current)
    assert chain == [*alias["history"], alias["version"]]
    assert sorted(chain) == list(range(1, 17))


# -- faults ---------------------------------------------------------------------------------
def test_an_upload_killed_half_way_never_lists_as_complete(s3_env, tmp_path):
    uri = f"s3://{new_bucket(s3_env)}/models"
    big = tmp_path / "big"
    big.mkdir()
    for i in range(300):
        (big / f"part-{i:03d}.bin").write_bytes(os.urandom(64 * 1024))
    code = (
        "import sys; from shoprec.registry import Registry, S3Store; "
        "Registry(S3Store(sys.argv[1])).register('two_stage', sys.argv[2], 'ci')"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, uri, str(big)], env=dict(os.environ))
    reg = registry_at(uri)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len(reg.store.list("two_stage/versions/1/files/")) >= 5:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    uploaded = reg.store.list("two_stage/versions/1/files/")
    assert 5 <= len(uploaded) < 300, "the kill must land mid-upload"
    info = reg.info("two_stage", 1)
    assert not info.complete and info.status == "incomplete"
    assert reg.verify("two_stage", 1) == {"manifest.json": "missing: the upload never finished"}
    with pytest.raises(RegistryError, match="incomplete"):
        reg.download("two_stage", 1, tmp_path / "out")
    with pytest.raises(RegistryError, match="incomplete"):
        reg.decide("two_stage", 1, "approved", "ana", "oops")
    # the next registration gets a fresh number; the dead one is never reused
    small = tmp_path / "small"
    small.mkdir()
    (small / "model.json").write_text("{}")
    assert reg.register("two_stage", small, "ci") == 2


def test_a_tampered_file_fails_verify_and_is_refused_by_loading(uri, model_dir, tmp_path):
    reg = registry_at(uri)
    reg.register("two_stage", model_dir, "ci")
    reg.store.put("two_stage/versions/1/files/arrays.npz", b"tampered")
    assert reg.verify("two_stage", 1) == {"arrays.npz": "sha256 mismatch"}
    with pytest.raises(RegistryError, match="does not match its sha256"):
        reg.download("two_stage", 1, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    reg.store.put("two_stage/versions/1/files/extra.bin", b"smuggled")
    assert reg.verify("two_stage", 1)["extra.bin"] == "not in the manifest"


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


# -- the command line -----------------------------------------------------------------------
def test_the_cli_runs_the_whole_cycle_against_s3(s3_env, model_dir, tmp_path):
    uri = f"s3://{new_bucket(s3_env)}/models"
    env = {**os.environ, "SHOPREC_REGISTRY_URI": uri}
    project = tmp_path / "project"  # a project folder without DVC outputs
    project.mkdir()
    shutil.copy(Path(__file__).resolve().parents[1] / "params.yaml", project)

    def cli(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [sys.executable, "-m", "shoprec", "registry", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=project,
            check=False,
        )
        assert (proc.returncode == 0) == ok, proc.stderr
        assert "Traceback" not in proc.stderr
        return proc

    assert (
        "registered two_stage v1"
        in cli("register", "two_stage", str(model_dir), "--by", "ci").stdout
    )
    assert "is pending" in cli("promote", "two_stage", "1", "--by", "ana", ok=False).stderr
    assert (
        "servability"
        in cli("approve", "two_stage", "1", "--by", "a", "--reason", "x", ok=False).stderr
    )
    servable(registry_at(uri), 1)
    cli("approve", "two_stage", "1", "--by", "ana", "--reason", "good")
    promoted = cli("promote", "two_stage", "1", "--by", "ana").stdout
    assert "production → v1" in promoted and "data not pushed" in promoted
    listing = cli("list").stdout
    assert "approved" in listing and "production" in listing
    cli("verify", "two_stage", "1")
    lineage = cli("lineage", "two_stage", "1").stdout
    assert '"action": "promote"' in lineage and '"data"' in lineage and '"commit"' in lineage
    registry_at(uri).store.put("two_stage/versions/1/files/card.json", b"{}")
    failed = cli("verify", "two_stage", "1", ok=False)
    assert "sha256 mismatch" in failed.stderr and failed.stderr.strip().count("\n") == 0
    assert (
        "invalid model name"
        in cli("register", "../x", str(model_dir), "--by", "ci", ok=False).stderr
    )


# -- servability ----------------------------------------------------------------------------
def test_servability_round_trips_a_real_model_through_a_fresh_process(uri, tmp_path):
    from shoprec.data.synthetic import generate_shop
    from shoprec.features.interactions import build_interactions
    from shoprec.release.propose import check_servability
    from shoprec.training.model_table import create_model

    events, items = generate_shop(users=120, items=80, days=14, seed=1)
    history = build_interactions(events, items["item_id"], {"view": 1, "purchase": 5})
    folder = create_model("itemknn", neighbors=20).fit(history).save(tmp_path / "itemknn")
    reg = registry_at(uri)
    version = reg.register("itemknn", folder, "ci")
    result = check_servability(reg, "itemknn", version, folder)
    assert result == {"passed": True, "users": 20, "k": 10}
    reg.decide("itemknn", version, "approved", "ana", "servable")
    with pytest.raises(RegistryError, match="already recorded"):
        check_servability(reg, "itemknn", version, folder)
