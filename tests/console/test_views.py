"""What the version page reads from a manifest: the gate's paired bootstrap, as a record or
(versions gated before the record existed) from the check's sentence."""

from __future__ import annotations

from shoprec.console.views import paired_difference

SENTENCE = (
    "ndcg@10 0.2100 vs v1 0.2000 on the same 300 users; paired difference +0.0100 "
    "(95% CI +0.0040 to +0.0160)"
)


def _gate(**extra) -> dict:
    check = {"name": "lift over production (v1)", "value": 0.05, "passed": True}
    return {"checks": [{"name": "floor ndcg@10", "passed": True}, {**check, **extra}]}


def test_the_paired_record_is_read_as_it_is():
    record = {"diff": 0.0123, "low": 0.002, "high": 0.02, "confidence": 0.9}
    paired, detail = paired_difference(_gate(paired=record, detail=SENTENCE))
    assert paired["diff"] == 0.0123 and paired["low"] == 0.002 and paired["high"] == 0.02
    assert paired["confidence"] == 90 and paired["name"] == "lift over production (v1)"
    assert detail == SENTENCE


def test_an_older_manifest_without_the_record_is_read_from_the_sentence():
    paired, _ = paired_difference(_gate(detail=SENTENCE))
    assert (paired["diff"], paired["low"], paired["high"]) == (0.01, 0.004, 0.016)
    assert paired["confidence"] == 95 and paired["lift"] == 0.05


def test_no_production_check_means_no_paired_difference():
    assert paired_difference({"checks": [{"name": "floor ndcg@10"}]}) == (None, "")
    assert paired_difference(None) == (None, "")
