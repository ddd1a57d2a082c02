"""The model registry on both backends, a local folder and S3 over HTTP (moto's server):
lifecycle, names, concurrency, an upload killed half-way, tampering."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from shoprec.registry import RegistryError
from tests.conftest import new_bucket
from tests.registries import registry_at, servable


# -- lifecycle ------------------------------------------------------------------------------
def test_register_approve_promote_and_roll_back(registry_uri, fake_model_dir, tmp_path):
    reg = registry_at(registry_uri)
    v1 = reg.register("two_stage", fake_model_dir, "ci", {"metrics": {"ndcg@10": 0.1}})
    assert v1 == 1 and reg.info("two_stage", 1).status == "pending"
    with pytest.raises(RegistryError, match="only an approved version"):
        reg.promote("two_stage", 1, "ana")
    with pytest.raises(RegistryError, match="servability"):
        reg.decide("two_stage", 1, "approved", "ana", "not checked yet")
    servable(reg, 1)
    reg.decide("two_stage", 1, "approved", "ana", "beats EASE")
    assert reg.promote("two_stage", 1, "ana", "first release") == 1
    v2 = servable(reg, reg.register("two_stage", fake_model_dir, "ci"))
    reg.decide("two_stage", v2, "approved", "ana", "better")
    reg.promote("two_stage", v2, "ana")
    assert reg.alias("two_stage")["version"] == 2
    assert reg.rollback("two_stage", "bo", "complaints") == 1
    assert reg.alias("two_stage") == {**reg.alias("two_stage"), "version": 1, "history": []}
    with pytest.raises(RegistryError, match="no earlier version"):
        reg.rollback("two_stage", "bo")

    v3 = servable(reg, reg.register("two_stage", fake_model_dir, "ci"))
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
    for path in fake_model_dir.rglob("*"):
        if path.is_file():
            assert (fetched / path.relative_to(fake_model_dir)).read_bytes() == path.read_bytes()
    assert [v.status for v in reg.versions("two_stage")] == ["approved", "approved", "rejected"]
    assert reg.models() == ["two_stage"]


@pytest.mark.parametrize("name", ["../evil", "a/b", "", "UPPER", "x" * 65, ".hidden", "a b"])
def test_names_that_could_escape_or_confuse_are_refused(registry_uri, fake_model_dir, name):
    reg = registry_at(registry_uri)
    with pytest.raises(RegistryError, match="invalid model name"):
        reg.register(name, fake_model_dir, "ci")
    with pytest.raises(RegistryError, match="invalid"):
        reg.promote("two_stage", 1, "ana", alias=name or "/")


# -- concurrency ----------------------------------------------------------------------------
def test_sixteen_parallel_registrations_and_promotions_lose_no_update(registry_uri, fake_model_dir):
    def register_and_promote(worker: int) -> int:
        reg = registry_at(registry_uri)  # its own client, as separate machines would have
        version = servable(reg, reg.register("two_stage", fake_model_dir, f"worker-{worker}"))
        reg.decide("two_stage", version, "approved", f"worker-{worker}", "parallel test")
        reg.promote("two_stage", version, f"worker-{worker}", "parallel test")
        return version

    with ThreadPoolExecutor(16) as pool:
        versions = list(pool.map(register_and_promote, range(16)))
    assert sorted(versions) == list(range(1, 17))  # every number unique, none skipped
    reg = registry_at(registry_uri)
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


def test_a_tampered_file_fails_verify_and_is_refused_by_loading(
    registry_uri, fake_model_dir, tmp_path
):
    reg = registry_at(registry_uri)
    reg.register("two_stage", fake_model_dir, "ci")
    reg.store.put("two_stage/versions/1/files/arrays.npz", b"tampered")
    assert reg.verify("two_stage", 1) == {"arrays.npz": "sha256 mismatch"}
    with pytest.raises(RegistryError, match="does not match its sha256"):
        reg.download("two_stage", 1, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    reg.store.put("two_stage/versions/1/files/extra.bin", b"smuggled")
    assert reg.verify("two_stage", 1)["extra.bin"] == "not in the manifest"
