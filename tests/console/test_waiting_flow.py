"""Approving in the console resumes a training flow run that waits for the decision, as
``shoprec registry approve`` does: the flow's own ``wait_for_decision`` pauses a real Prefect
flow run on v3, a reviewer approves it over HTTP, and the run wakes with the decision."""

from __future__ import annotations

import re
import threading
import time

import pytest

from shoprec.config import Params
from tests.console.helpers import client
from tests.prefect_flows import load_flow


def run_state(flow_run_id: str):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as prefect:
        return prefect.read_flow_run(flow_run_id).state


def waiting_runs(registry) -> list[str]:
    return [
        e["flow_run_id"]
        for e in registry.audit_log("itemknn")
        if e["action"] == "awaiting_approval" and e["version"] == 3
    ]


@pytest.mark.slow
def test_approving_in_the_console_resumes_the_waiting_training_flow_run(prefect_api, console):
    from prefect import flow

    server, registry, _ = console
    training = load_flow("training")
    params = Params.model_validate({"promotion": {"approval_timeout_s": 180, "poll_interval_s": 1}})

    @flow(name="shoprec-console-approval")
    def waits_for_v3() -> str:
        training.wait_for_decision(registry, "itemknn", 3, params)
        return registry.info("itemknn", 3).status

    said: dict = {}

    def reviewer():
        try:
            deadline = time.monotonic() + 120
            while not (waiting_runs(registry) and run_state(waiting_runs(registry)[0]).is_paused()):
                if time.monotonic() > deadline:
                    raise AssertionError("the flow run never paused for approval")
                time.sleep(0.25)
            with client(server) as http:
                url = "/models/itemknn/versions/3/approve"
                token = re.search(r'name="csrf_token" value="(\w+)"', http.get(url).text)[1]
                reply = http.post(url, data={"reason": "checked", "csrf_token": token})
                said["page"] = http.get(reply.headers["location"]).text
        except BaseException as exc:  # handed to the test thread below
            said["error"] = exc

    thread = threading.Thread(target=reviewer, daemon=True)
    thread.start()
    status = waits_for_v3()
    thread.join(timeout=150)
    assert not thread.is_alive(), "the reviewer never finished"
    assert "error" not in said, f"the reviewer failed: {said.get('error')}"
    assert status == "approved"
    (run_id,) = waiting_runs(registry)
    assert "resumed the training flow run" in said["page"]
    assert run_state(run_id).is_completed()
    events = registry.audit_log("itemknn")
    (event,) = [e for e in events if e["action"] == "approve" and e["version"] == 3]
    assert (event["by"], event["reason"]) == ("ana", "checked")
