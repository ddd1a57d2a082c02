"""The whole proposal cycle on a real pipeline's outputs (the tiny DVC project) with an S3 registry:
gate, register, servability, approve, promote, a stopped retrain, and a rollback."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_train_gate_approve_promote_stop_and_roll_back_with_an_s3_registry(tiny_project, s3_env):
    """Must-show 1 of the registry issue on a real pipeline's outputs and an S3 registry."""
    import yaml

    from shoprec.config import load_params
    from shoprec.registry import Registry, S3Store
    from shoprec.release.propose import propose
    from tests.conftest import new_bucket

    project = tiny_project
    registry = Registry(S3Store(f"s3://{new_bucket(s3_env)}/registry"))
    params = load_params(project / "params.yaml")
    # the tiny shop is too small for the ranker to beat every baseline: this test is about the
    # registry cycle, so the baseline lift may be anything; the champion lift keeps its default
    params = params.model_copy(
        update={"gate": params.gate.model_copy(update={"min_lift_over_baselines": -1.0})}
    )

    first = propose(project, params, registry, "ci")
    assert first.gate.passed, first.gate.reasons
    assert first.version == 1
    assert registry.info("two_stage", 1).status == "pending"
    assert registry.check("two_stage", 1, "servability")["passed"] is True
    assert propose(project, params, registry, "ci").gate is None  # same files: not again
    registry.decide("two_stage", 1, "approved", "ana", "first model")
    registry.promote("two_stage", 1, "ana")

    def retrain() -> None:  # new files, same rankings: what a re-run with no real gain gives
        path = project / "models/two_stage/model.json"
        meta = json.loads(path.read_text())
        meta["params"]["retrained"] = meta["params"].get("retrained", 0) + 1
        path.write_text(json.dumps(meta))

    retrain()
    stopped = propose(project, params, registry, "ci")
    assert stopped.version is None and not stopped.gate.passed
    assert any("lift over production (v1)" in r for r in stopped.gate.reasons)
    assert [v.version for v in registry.versions("two_stage")] == [1]

    lenient = params.model_copy(
        update={
            "gate": params.gate.model_copy(
                update={"min_lift_over_production": -0.5, "require_significance": False}
            )
        }
    )
    second = propose(project, lenient, registry, "ci")
    assert second.version == 2
    registry.decide("two_stage", 2, "approved", "ana", "accepted as equal")
    registry.promote("two_stage", 2, "ana")
    assert registry.alias("two_stage")["version"] == 2
    assert registry.rollback("two_stage", "bo", "back to v1") == 1
    assert registry.alias("two_stage")["version"] == 1

    lineage = registry.info("two_stage", 1).manifest["lineage"]
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    outs = {o["path"]: o["md5"] for o in lock["stages"]["features"]["outs"]}
    assert lineage["data"]["features"] == outs
    assert (
        lineage["metrics"]["ndcg@10"]
        == json.loads((project / "metrics/evaluation.json").read_text())["two_stage"]["ndcg@10"]
    )
    actions = [e["action"] for e in registry.audit_log("two_stage")]
    assert actions.count("gate_failed") == 1 and actions[-1] == "rollback"
