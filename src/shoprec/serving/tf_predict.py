"""TF Serving's REST predict API over the exported TensorFlow SavedModels.

Each configured model is a TF Serving *base path*: ``<base>/<version>/saved_model.pb``; like
TF Serving (its default "latest" version policy) the highest numeric version is loaded, with
``tf.saved_model.load``, and served under the model's name:

- ``POST /v1/models/{name}[/versions/{version}]:predict``: the row format
  ``{"instances": [...]}`` (each instance an object of named inputs, or a bare value when the
  signature has one input) answers ``{"predictions": [...]}`` (per instance an object of named
  outputs, or a bare value when there is one output); the columnar format ``{"inputs": {...}}``
  (or a bare value for one input) answers ``{"outputs": ...}``. ``signature_name`` picks the
  signature (default ``serving_default``). Strings in, strings out (``{"b64": ...}`` for bytes
  that are not UTF-8, both ways); non-finite floats come out as ``null``.
- ``GET /v1/models/{name}[/versions/{version}]``: the model's version status;
  ``GET /v1/models/{name}[/versions/{version}]/metadata``: its signatures.

Errors are shoprec's ``{"error": ..., "detail": ...}``: 404 for an unknown model or version,
400 for a body the signature cannot take (TF Serving answers 400 there too). TensorFlow is
imported only when a SavedModel is loaded: a service without one never imports it.
"""

# no `from __future__ import annotations`: FastAPI reads the endpoint annotations at runtime
import base64
import binascii
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from shoprec.serving import contract

log = logging.getLogger(__name__)
DEFAULT_SIGNATURE = "serving_default"
PREDICT_METHOD = "tensorflow/serving/predict"
MAX_BATCH = 1024  # instances (rows) per request
MAX_VALUES = 1_000_000  # values per input
MAX_RANK = 32
SavedModelPaths = dict[str, Path]  # TF Serving model name -> base path


class BadRequest(Exception):
    """A body the signature cannot take: a 400 with this message."""


# -- the HTTP contract ----------------------------------------------------------------------------
class RowPredictions(BaseModel):
    predictions: list[Any] = Field(
        description="one entry per instance: an object of named outputs, or a bare value when "
        "the signature has one output"
    )


class ColumnarOutputs(BaseModel):
    outputs: Any = Field(
        description="an object of named outputs, or a bare value when the signature has one"
    )


class VersionState(BaseModel):
    error_code: Literal["OK"]
    error_message: str


class ModelVersionStatus(BaseModel):
    version: str
    state: Literal["AVAILABLE"]
    status: VersionState


class ModelStatus(BaseModel):
    model_version_status: list[ModelVersionStatus]


class ModelSpec(BaseModel):
    name: str
    signature_name: str
    version: str


class ModelMetadata(BaseModel):
    model_spec: ModelSpec
    metadata: dict[str, Any] = Field(
        description='{"signature_def": {"signature_def": {name: {inputs, outputs, method_name}}}}'
    )


UNKNOWN_MODEL = {404: contract.error("no such model, or not that version of it")}
BAD_BODY = {400: contract.error("the body is not a predict request this signature can take")}
# FastAPI adds a 422 to every route with parameters; a str path parameter is never refused,
# but the shape it documents must be the service's
NEVER_INVALID = {422: contract.error("never sent: the path parameters are any strings")}
PREDICT_REQUEST = {
    "title": "PredictRequest",
    "description": "TF Serving's predict body: exactly one of instances (row format) and "
    "inputs (columnar format); their values must fit the signature's inputs (else a 400)",
    "type": "object",
    "properties": {
        "signature_name": {"type": "string", "description": f"default {DEFAULT_SIGNATURE!r}"},
        "instances": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_BATCH,
            "items": {},
            "description": "one entry per example: an object of named inputs, or a bare value "
            "when the signature has one input",
        },
        "inputs": {
            "not": {"type": "null"},
            "description": "an object of named inputs (each with the batch as its first "
            "dimension), or a bare value when the signature has one input",
        },
    },
    "oneOf": [{"required": ["instances"]}, {"required": ["inputs"]}],
}
PREDICT_BODY = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": PREDICT_REQUEST}}}
}


# -- loading --------------------------------------------------------------------------------------
def latest_version(base: str | Path) -> tuple[int, Path] | None:
    """``(version, folder)`` of the highest numeric ``<base>/<version>/`` holding a
    ``saved_model.pb`` (TF Serving's default version policy), or None."""
    base = Path(base)
    if not base.is_dir():
        return None
    found = [
        (int(child.name), child)
        for child in base.iterdir()
        if child.name.isdigit() and (child / "saved_model.pb").is_file()
    ]
    return max(found) if found else None


def _dtype_name(dtype) -> str:
    from tensorflow.core.framework import types_pb2

    return types_pb2.DataType.Name(dtype.as_datatype_enum)


def _tensor_info(spec) -> dict:
    if spec.shape.rank is None:
        shape = {"dim": [], "unknown_rank": True}
    else:
        dims = [{"size": str(-1 if d is None else d), "name": ""} for d in spec.shape.as_list()]
        shape = {"dim": dims, "unknown_rank": False}
    return {"dtype": _dtype_name(spec.dtype), "tensor_shape": shape, "name": spec.name or ""}


@dataclass
class Signature:
    function: Any  # a ConcreteFunction taking the inputs by name, returning a dict of tensors
    inputs: dict[str, Any]  # name -> tf.TensorSpec
    outputs: dict[str, Any]

    def describe(self) -> dict:
        return {
            "inputs": {k: _tensor_info(v) for k, v in self.inputs.items()},
            "outputs": {k: _tensor_info(v) for k, v in self.outputs.items()},
            "method_name": PREDICT_METHOD,
        }


@dataclass
class LoadedModel:
    name: str
    version: int
    path: Path
    signatures: dict[str, Signature]
    handle: Any = None  # the loaded object: keeps the signatures' variables alive

    @classmethod
    def load(cls, name: str, version: int, path: Path) -> "LoadedModel":
        import tensorflow as tf

        handle = tf.saved_model.load(str(path))
        signatures = {}
        for key, function in handle.signatures.items():
            _, named = function.structured_input_signature
            outputs = function.structured_outputs
            if not isinstance(outputs, dict):  # signatures return dicts; be safe
                outputs = {"output_0": outputs}
            signatures[key] = Signature(function, dict(named), dict(outputs))
        return cls(name, version, path, signatures, handle)

    def signature(self, key: str | None) -> Signature:
        key = key or DEFAULT_SIGNATURE
        if key not in self.signatures:
            raise BadRequest(
                f"{self.name} has no signature {key!r} (it has {sorted(self.signatures)})"
            )
        return self.signatures[key]

    def predict(self, body: dict) -> dict:
        """Answer one parsed predict body (raises :class:`BadRequest`)."""
        import tensorflow as tf

        signature = self.signature(body.get("signature_name"))
        rows = "instances" in body
        if rows:
            values = _row_inputs(body["instances"], signature.inputs)
        else:
            values = _columnar_inputs(body["inputs"], signature.inputs)
        try:
            tensors = {
                key: tf.constant(value, dtype=signature.inputs[key].dtype)
                for key, value in values.items()
            }
            result = signature.function(**tensors)
        except (tf.errors.OpError, ValueError, TypeError) as exc:
            message = getattr(exc, "message", None) or str(exc)
            raise BadRequest(f"the model cannot run on these inputs: {message.strip()}") from exc
        if not isinstance(result, dict):
            result = {"output_0": result}
        outputs = {key: np.asarray(value.numpy()) for key, value in result.items()}
        if not rows:
            if len(outputs) == 1:
                return {"outputs": _json_values(next(iter(outputs.values())))}
            return {"outputs": {key: _json_values(value) for key, value in outputs.items()}}
        batch = len(body["instances"])
        for key, value in outputs.items():
            if value.ndim == 0 or value.shape[0] != batch:
                raise BadRequest(
                    f"output {key!r} has shape {list(value.shape)}: not one entry per instance "
                    f"({batch}); ask in the columnar format (inputs)"
                )
        columns = {key: _json_values(value) for key, value in outputs.items()}
        if len(columns) == 1:
            return {"predictions": next(iter(columns.values()))}
        return {"predictions": [{key: columns[key][i] for key in columns} for i in range(batch)]}

    def status(self) -> dict:
        return {
            "model_version_status": [
                {
                    "version": str(self.version),
                    "state": "AVAILABLE",
                    "status": {"error_code": "OK", "error_message": ""},
                }
            ]
        }

    def metadata(self) -> dict:
        return {
            "model_spec": {"name": self.name, "signature_name": "", "version": str(self.version)},
            "metadata": {
                "signature_def": {
                    "signature_def": {k: s.describe() for k, s in sorted(self.signatures.items())}
                }
            },
        }


# -- JSON to arrays and back ----------------------------------------------------------------------
def _nested(value, where: str, depth: int = 0) -> tuple[list, tuple[int, ...]]:
    """The leaves (row-major) and the shape of a JSON value of nested lists; ragged is an
    error."""
    if not isinstance(value, list):
        return [value], ()
    if depth >= MAX_RANK:
        raise BadRequest(f"{where}: nested deeper than {MAX_RANK} levels")
    if not value:
        return [], (0,)
    leaves: list = []
    shape: tuple[int, ...] | None = None
    for entry in value:
        sub_leaves, sub_shape = _nested(entry, where, depth + 1)
        if shape is None:
            shape = sub_shape
        elif sub_shape != shape:
            raise BadRequest(
                f"{where}: ragged (entries of shapes {list(shape)} and {list(sub_shape)})"
            )
        leaves.extend(sub_leaves)
        if len(leaves) > MAX_VALUES:
            raise BadRequest(f"{where}: more than {MAX_VALUES} values")
    return leaves, (len(value), *shape)


def _string_leaf(leaf, where: str) -> bytes:
    if isinstance(leaf, str):
        return leaf.encode("utf-8", errors="surrogatepass")
    if isinstance(leaf, dict) and set(leaf) == {"b64"} and isinstance(leaf["b64"], str):
        try:
            return base64.b64decode(leaf["b64"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadRequest(f"{where}: not base64 ({exc})") from exc
    raise BadRequest(f"{where}: expects strings (or {{'b64': ...}}), got {_kind(leaf)}")


def _kind(leaf) -> str:
    return "an object" if isinstance(leaf, dict) else type(leaf).__name__


def _to_array(value, spec, where: str) -> np.ndarray:
    """A JSON value as the array ``spec`` (a ``tf.TensorSpec``) takes; its shape checked."""
    leaves, shape = _nested(value, where)
    dtype = spec.dtype
    if dtype.name == "string":
        array = np.empty(len(leaves), dtype=object)
        array[:] = [_string_leaf(leaf, where) for leaf in leaves]
    elif dtype.is_bool:
        if not all(isinstance(leaf, bool) for leaf in leaves):
            raise BadRequest(f"{where}: expects true/false")
        array = np.asarray(leaves, dtype=bool)
    elif dtype.is_integer:
        bad = [leaf for leaf in leaves if not isinstance(leaf, int) or isinstance(leaf, bool)]
        if bad:
            raise BadRequest(f"{where}: expects integers, got {_kind(bad[0])}")
        if leaves and (min(leaves) < dtype.min or max(leaves) > dtype.max):
            raise BadRequest(f"{where}: a value is out of the range of {dtype.name}")
        array = np.asarray(leaves, dtype=dtype.as_numpy_dtype)
    elif dtype.is_floating:
        bad = [
            leaf for leaf in leaves if not isinstance(leaf, int | float) or isinstance(leaf, bool)
        ]
        if bad:
            raise BadRequest(f"{where}: expects numbers, got {_kind(bad[0])}")
        array = np.asarray(leaves, dtype=np.float64).astype(dtype.as_numpy_dtype)
    else:
        raise BadRequest(f"{where}: inputs of type {dtype.name} are not supported over JSON")
    array = array.reshape(shape)
    if not spec.shape.is_compatible_with(shape):
        expected = (
            "any" if spec.shape.rank is None else [-1 if d is None else d for d in spec.shape]
        )
        raise BadRequest(f"{where}: shape {list(shape)}, the signature takes {expected}")
    if shape and shape[0] > MAX_BATCH:
        raise BadRequest(f"{where}: more than {MAX_BATCH} rows in one request")
    return array


def _row_inputs(instances, specs: dict) -> dict[str, np.ndarray]:
    if not isinstance(instances, list) or not instances:
        raise BadRequest("'instances' must be a non-empty list")
    if len(instances) > MAX_BATCH:
        raise BadRequest(f"more than {MAX_BATCH} instances in one request")
    named = [isinstance(instance, dict) for instance in instances]
    if any(named) and not all(named):
        raise BadRequest("'instances' mixes objects of named inputs and bare values")
    names = sorted(specs)
    if not all(named):
        if len(specs) != 1:
            raise BadRequest(
                f"the signature has {len(specs)} inputs {names}: each instance must be an "
                "object naming them"
            )
        columns = {names[0]: instances}
    else:
        for i, instance in enumerate(instances):
            _check_names(instance, specs, f"instance {i}")
        columns = {key: [instance[key] for instance in instances] for key in names}
    return {key: _to_array(columns[key], specs[key], f"input {key!r}") for key in names}


def _columnar_inputs(inputs, specs: dict) -> dict[str, np.ndarray]:
    names = sorted(specs)
    if isinstance(inputs, dict):
        _check_names(inputs, specs, "'inputs'")
        return {key: _to_array(inputs[key], specs[key], f"input {key!r}") for key in names}
    if len(specs) != 1:
        raise BadRequest(
            f"the signature has {len(specs)} inputs {names}: 'inputs' must be an object naming them"
        )
    return {names[0]: _to_array(inputs, specs[names[0]], f"input {names[0]!r}")}


def _check_names(given: dict, specs: dict, where: str) -> None:
    missing = sorted(set(specs) - set(given))
    unknown = sorted(set(given) - set(specs))
    if missing:
        raise BadRequest(
            f"{where} misses input {missing[0]!r} (the signature takes {sorted(specs)})"
        )
    if unknown:
        raise BadRequest(
            f"{where} has unknown input {unknown[0]!r} (the signature takes {sorted(specs)})"
        )


def _json_values(array: np.ndarray):
    """An output array as JSON: bytes decoded (``{"b64": ...}`` when not UTF-8), non-finite
    floats as null."""
    if array.dtype == object or array.dtype.kind == "S":
        return _clean(array.tolist())
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        return _clean(array.astype(np.float64).tolist())
    if array.dtype.kind == "f":
        return array.astype(np.float64).tolist()
    return array.tolist()


def _clean(value):
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _parse_body(raw: bytes) -> dict:
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object with 'instances' or 'inputs'")
    if ("instances" in body) == ("inputs" in body):
        raise BadRequest(
            "the body must have exactly one of 'instances' (rows) or 'inputs' (columns)"
        )
    if "inputs" in body and body["inputs"] is None:
        raise BadRequest("'inputs' is null")
    if "signature_name" in body and not isinstance(body["signature_name"], str):
        raise BadRequest("'signature_name' must be a string")
    return body


# -- the models and their routes ------------------------------------------------------------------
class SavedModels:
    """The served SavedModels by name (the latest version of each base path)."""

    def __init__(self, models: SavedModelPaths | None = None) -> None:
        self.models: dict[str, LoadedModel] = {}
        for name, base in (models or {}).items():
            found = latest_version(base)
            if found is None:
                why = "no such folder" if not Path(base).exists() else "no <version>/saved_model.pb"
                log.info("TF Serving model %s not served: %s (%s)", name, base, why)
                continue
            version, path = found
            try:
                self.models[name] = LoadedModel.load(name, version, path)
            except Exception:
                log.exception("TF Serving model %s: cannot load %s", name, path)
                continue
            log.info("TF Serving model %s: version %d from %s", name, version, path)

    def find(self, name: str, version: str | None = None) -> LoadedModel | None:
        model = self.models.get(name)
        if model is None or (version is not None and version != str(model.version)):
            return None
        return model

    def router(self) -> APIRouter:
        return _router(self)


def _unknown(name: str, version: str | None) -> JSONResponse:
    what = f"{name!r}" if version is None else f"{name!r} version {version!r}"
    return JSONResponse({"error": "unknown model", "detail": f"no model {what} is served"}, 404)


def _router(models: SavedModels) -> APIRouter:
    router = APIRouter(tags=["TF Serving"])

    async def predict(request: Request, name: str, version: str | None) -> JSONResponse:
        model = models.find(name, version)
        if model is None:
            return _unknown(name, version)
        try:
            body = _parse_body(await request.body())
            answer = await run_in_threadpool(model.predict, body)
        except BadRequest as exc:
            return JSONResponse({"error": "bad predict request", "detail": str(exc)}, 400)
        return JSONResponse(answer)

    predict_docs = {
        "response_model": None,
        "responses": {
            200: {
                "description": "predictions (row format) or outputs (columnar format)",
                "model": RowPredictions | ColumnarOutputs,
            },
            **BAD_BODY,
            **UNKNOWN_MODEL,
            **NEVER_INVALID,
        },
        "openapi_extra": PREDICT_BODY,
    }

    @router.post("/v1/models/{name}:predict", **predict_docs)
    async def predict_latest(request: Request, name: str) -> JSONResponse:
        """TF Serving's predict: ``{"instances": [...]}`` or ``{"inputs": ...}`` in,
        ``{"predictions": [...]}`` or ``{"outputs": ...}`` out."""
        return await predict(request, name, None)

    @router.post("/v1/models/{name}/versions/{version}:predict", **predict_docs)
    async def predict_version(request: Request, name: str, version: str) -> JSONResponse:
        """TF Serving's predict on one version (the one served: the latest)."""
        return await predict(request, name, version)

    status_docs = {"response_model": ModelStatus, "responses": {**UNKNOWN_MODEL, **NEVER_INVALID}}

    @router.get("/v1/models/{name}", **status_docs)
    async def status_latest(name: str):
        """TF Serving's model status."""
        model = models.find(name)
        return _unknown(name, None) if model is None else model.status()

    @router.get("/v1/models/{name}/versions/{version}", **status_docs)
    async def status_version(name: str, version: str):
        """TF Serving's model status, of one version."""
        model = models.find(name, version)
        return _unknown(name, version) if model is None else model.status()

    metadata_docs = {
        "response_model": ModelMetadata,
        "responses": {**UNKNOWN_MODEL, **NEVER_INVALID},
    }

    @router.get("/v1/models/{name}/metadata", **metadata_docs)
    async def metadata_latest(name: str):
        """TF Serving's model metadata: the signatures, their inputs and outputs."""
        model = models.find(name)
        return _unknown(name, None) if model is None else model.metadata()

    @router.get("/v1/models/{name}/versions/{version}/metadata", **metadata_docs)
    async def metadata_version(name: str, version: str):
        """TF Serving's model metadata, of one version."""
        model = models.find(name, version)
        return _unknown(name, version) if model is None else model.metadata()

    return router


def tf_predict_router(models: SavedModelPaths | None) -> APIRouter:
    """The TF Serving REST routes over the SavedModels found at these base paths."""
    return SavedModels(models).router()
