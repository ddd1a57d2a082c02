"""TF Serving's REST predict API over real HTTP: the sequential model and the two-tower user
tower exported as TF Serving base paths (``<name>/1/saved_model.pb``), answered by the service
exactly as ``tf.saved_model.load`` answers in a fresh process that imports no shoprec."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from shoprec.models.two_tower.saving import METADATA_FILE, SAVEDMODEL_DIR
from shoprec.registry import LocalStore, Registry
from shoprec.serving.app import ServiceSettings, create_app
from shoprec.serving.reloader import ModelHolder
from tests.e2e.test_serving import Server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings(
        "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    ),
]
SAVED_MODEL_CLI = Path(sys.executable).parent / "saved_model_cli"


@pytest.fixture(scope="module")
def exported(sequential_fit, two_tower_fit, tmp_path_factory) -> dict[str, Path]:
    """TF Serving base paths: the sequential model's export and the two-tower model's saved
    folder (its user tower SavedModel, as ``model.save`` writes it)."""
    from shoprec.models.sequential.export import export_savedmodel

    root = tmp_path_factory.mktemp("tf_serving")
    export_savedmodel(sequential_fit[0], root / "sequential" / "1", k=20)
    tower_dir = two_tower_fit[0].tower.save(root / "two_tower_model")
    meta = json.loads((tower_dir / METADATA_FILE).read_text())
    assert meta["files"]["user_tower_savedmodel"] == f"{SAVEDMODEL_DIR}/1"
    return {"sequential": root / "sequential", "two_tower": tower_dir / SAVEDMODEL_DIR}


@pytest.fixture(scope="module")
def api(exported, tmp_path_factory):
    """The service (an empty registry: the recommendation routes are not ready, the TF
    Serving routes are) with both SavedModels and one base path that is not there."""
    registry = Registry(LocalStore(tmp_path_factory.mktemp("registry")))
    holder = ModelHolder(registry, "two_stage", "production", None)
    models = {**exported, "missing": exported["sequential"].parent / "not-there"}
    app = create_app(holder, ServiceSettings(poll_interval_s=60.0), savedmodels=models)
    with Server(app) as client:
        yield client


def fresh_process(path: Path, inputs: dict) -> dict:
    """``serving_default`` of the SavedModel at ``path`` in a new Python that imports only
    TensorFlow, NumPy and json: the outputs as JSON lists (bytes decoded)."""
    script = f"""
import json, sys
import numpy as np
import tensorflow as tf
model = tf.saved_model.load({str(path)!r})
function = model.signatures["serving_default"]
specs = function.structured_input_signature[1]
inputs = json.loads({json.dumps(inputs)!r})
out = function(**{{k: tf.constant(v, dtype=specs[k].dtype) for k, v in inputs.items()}})
def plain(a):
    a = a.numpy()
    return a.astype(str).tolist() if a.dtype == object else a.astype(np.float64).tolist()
print(json.dumps({{k: plain(v) for k, v in out.items()}}))
assert not any(m.startswith("shoprec") for m in sys.modules)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def sequential_inputs(sequential_fit, n: int = 4) -> dict[str, list]:
    """Recent items and event types of ``n`` known shoppers, padded with "" on the left."""
    model = sequential_fit[0]
    names = np.array(["", "view", "addtocart", "purchase"])
    items = model.sequence_items[:n]
    ids = np.where(items >= 0, model.history.item_ids[np.maximum(items, 0)], "")
    return {"item_ids": ids.tolist(), "event_types": names[model.sequence_events[:n]].tolist()}


def two_tower_inputs(model_dir: Path, n: int = 3) -> dict[str, list]:
    """Made-up user inputs of the shapes the user tower's signature takes."""
    import tensorflow as tf

    specs = tf.saved_model.load(str(model_dir)).signatures["serving_default"]
    specs = specs.structured_input_signature[1]
    rng = np.random.default_rng(0)
    inputs: dict[str, list] = {}
    for key, spec in specs.items():
        shape = [n, *[d for d in spec.shape.as_list()[1:]]]
        if spec.dtype == tf.string:
            inputs[key] = [f"user-{i}" for i in range(n)]
        elif spec.dtype.is_integer:
            inputs[key] = rng.integers(0, 5, size=shape).tolist()
        else:
            inputs[key] = rng.random(size=shape).round(3).tolist()
    return inputs


def rows(columns: dict[str, list]) -> list[dict]:
    n = len(next(iter(columns.values())))
    return [{k: v[i] for k, v in columns.items()} for i in range(n)]


def test_the_exports_are_tf_serving_base_paths_with_a_serving_default(exported):
    for base in exported.values():
        assert (base / "1" / "saved_model.pb").is_file()
        shown = subprocess.run(
            [str(SAVED_MODEL_CLI), "show", "--all", "--dir", str(base / "1")],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        assert "signature_def['serving_default']" in shown.stdout, shown.stdout[-2000:]


def test_sequential_instances_and_inputs_match_a_fresh_tf_process(api, exported, sequential_fit):
    columns = sequential_inputs(sequential_fit)
    expected = fresh_process(exported["sequential"] / "1", columns)

    reply = api.post("/v1/models/sequential:predict", json={"instances": rows(columns)})
    assert reply.status_code == 200, reply.text
    predictions = reply.json()["predictions"]
    assert [p["item_ids"] for p in predictions] == expected["item_ids"]
    np.testing.assert_allclose(
        [p["scores"] for p in predictions], expected["scores"], rtol=1e-5, atol=1e-6
    )

    reply = api.post(
        "/v1/models/sequential/versions/1:predict",
        json={"signature_name": "serving_default", "inputs": columns},
    )
    assert reply.status_code == 200, reply.text
    outputs = reply.json()["outputs"]
    assert outputs["item_ids"] == expected["item_ids"]
    np.testing.assert_allclose(outputs["scores"], expected["scores"], rtol=1e-5, atol=1e-6)
    # the input items are excluded, the top 20 come back
    assert all(len(row) == 20 for row in outputs["item_ids"])
    for given, answered in zip(columns["item_ids"], outputs["item_ids"], strict=True):
        assert not set(given) & set(answered)


def test_the_user_tower_answers_one_bare_vector_per_instance(api, exported):
    columns = two_tower_inputs(exported["two_tower"] / "1")
    expected = fresh_process(exported["two_tower"] / "1", columns)
    (output,) = expected.values()  # one output: bare values, not objects

    reply = api.post("/v1/models/two_tower:predict", json={"instances": rows(columns)})
    assert reply.status_code == 200, reply.text
    np.testing.assert_allclose(reply.json()["predictions"], output, rtol=1e-5, atol=1e-6)
    reply = api.post("/v1/models/two_tower:predict", json={"inputs": columns})
    assert reply.status_code == 200, reply.text
    np.testing.assert_allclose(reply.json()["outputs"], output, rtol=1e-5, atol=1e-6)


def test_model_status_and_metadata(api):
    status = api.get("/v1/models/sequential")
    assert status.status_code == 200
    assert status.json() == {
        "model_version_status": [
            {
                "version": "1",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }
    assert api.get("/v1/models/sequential/versions/1").status_code == 200
    meta = api.get("/v1/models/sequential/metadata").json()
    assert meta["model_spec"] == {"name": "sequential", "signature_name": "", "version": "1"}
    signature = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["inputs"]["item_ids"]["dtype"] == "DT_STRING"
    assert signature["inputs"]["item_ids"]["tensor_shape"]["dim"] == [
        {"size": "-1", "name": ""},
        {"size": "-1", "name": ""},
    ]
    assert set(signature["outputs"]) == {"item_ids", "scores"}
    assert signature["outputs"]["scores"]["dtype"] == "DT_FLOAT"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/models/nope:predict",
        "/v1/models/missing:predict",  # configured, but its folder is not there
        "/v1/models/sequential/versions/2:predict",
        "/v1/models/sequential/versions/one:predict",
    ],
)
def test_an_unknown_model_or_version_is_a_404(api, path):
    reply = api.post(path, json={"instances": [{"item_ids": ["a"], "event_types": ["view"]}]})
    assert reply.status_code == 404, reply.text
    assert reply.json()["error"] == "unknown model"
    status_path = path.removesuffix(":predict")
    assert api.get(status_path).status_code == 404
    assert api.get(status_path + "/metadata").status_code == 404


GOOD = {"item_ids": ["a", "b"], "event_types": ["view", "view"]}


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (b"{}", "exactly one of"),
        (json.dumps({"instances": [GOOD], "inputs": GOOD}).encode(), "exactly one of"),
        (json.dumps({"instances": []}).encode(), "non-empty list"),
        (json.dumps({"instances": "abc"}).encode(), "non-empty list"),
        (json.dumps({"instances": [["a"]]}).encode(), "object naming them"),
        (json.dumps({"instances": [GOOD, ["a"]]}).encode(), "mixes"),
        (json.dumps({"instances": [{"item_ids": ["a"]}]}).encode(), "misses input 'event_types'"),
        (json.dumps({"instances": [{**GOOD, "extra": [1]}]}).encode(), "unknown input 'extra'"),
        (json.dumps({"inputs": {"item_ids": ["a"]}}).encode(), "misses input"),
        (json.dumps({"inputs": None}).encode(), "null"),
        (json.dumps({"inputs": [["a"]]}).encode(), "object naming them"),
        # shapes: one sequence per instance, a batch of sequences in the columnar format
        (json.dumps({"instances": [{"item_ids": "a", "event_types": "view"}]}).encode(), "shape"),
        (json.dumps({"inputs": GOOD}).encode(), "shape [2]"),
        (
            json.dumps(
                {"inputs": {"item_ids": [["a"], ["b", "c"]], "event_types": [["v"]]}}
            ).encode(),
            "ragged",
        ),
        (
            json.dumps({"inputs": {"item_ids": [[1]], "event_types": [["view"]]}}).encode(),
            "strings",
        ),
        (
            json.dumps(
                {"inputs": {"item_ids": [[{"b64": "!!"}]], "event_types": [["x"]]}}
            ).encode(),
            "base64",
        ),
        (json.dumps({"signature_name": "nope", "inputs": GOOD}).encode(), "no signature 'nope'"),
        (json.dumps({"signature_name": 3, "inputs": GOOD}).encode(), "must be a string"),
        # the model itself refuses: two sequences of items, three of event types
        (
            json.dumps(
                {"inputs": {"item_ids": [["a"], ["b"]], "event_types": [["view"]] * 3}}
            ).encode(),
            "cannot run",
        ),
    ],
)
def test_a_bad_body_is_a_clear_400_never_a_500(api, body, says):
    reply = api.post(
        "/v1/models/sequential:predict", content=body, headers={"content-type": "application/json"}
    )
    assert reply.status_code == 400, reply.text
    answer = reply.json()
    assert answer["error"] == "bad predict request"
    assert says in answer["detail"], answer


def test_a_bad_number_for_the_user_tower_is_a_400(api, exported):
    columns = two_tower_inputs(exported["two_tower"] / "1", n=1)
    ints = next(
        k for k, v in columns.items() if isinstance(v[0], list) and isinstance(v[0][0], int)
    )
    for bad, says in [(0.5, "integers"), (2**40, "out of the range"), (True, "integers")]:
        instance = {**rows(columns)[0], ints: [bad] * len(columns[ints][0])}
        reply = api.post("/v1/models/two_tower:predict", json={"instances": [instance]})
        assert reply.status_code == 400, reply.text
        assert says in reply.json()["detail"]


def test_the_openapi_document_lists_every_status(api):
    paths = api.get("/openapi.json").json()["paths"]
    predict = paths["/v1/models/{name}:predict"]["post"]
    assert {"200", "400", "404"} <= set(predict["responses"])
    assert predict["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    for path in ("/v1/models/{name}", "/v1/models/{name}/metadata"):
        assert {"200", "404"} <= set(paths[path]["get"]["responses"])
