"""params.yaml: defaults, the data-source variants, and one readable line per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from shoprec.config import (
    FilesSource,
    OnlineRetailSource,
    Params,
    SyntheticSource,
    load_params,
    parse_params,
)
from shoprec.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def config_error(raw: object) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_params(raw)
    message = str(caught.value)
    assert "\n" not in message, message
    return message


def test_defaults_parse():
    for empty in (None, {}):
        params = parse_params(empty)
        assert isinstance(params.data, SyntheticSource)
        assert params.split.strategy == "temporal"
        assert params.split.test_days == 14
        assert params.features.event_weights == {"view": 1.0, "addtocart": 3.0, "purchase": 5.0}
        assert params.features.transform == "log1p"
        assert params.train.models == ["most_popular", "itemknn", "ease"]
        assert params.models.ease.l2 == 500.0
        assert params.targets.repeat_purchases is False
        assert params == Params()


def test_online_retail_and_files_sources():
    retail = parse_params({"data": {"source": "online_retail", "path": "x.csv.gz"}})
    assert isinstance(retail.data, OnlineRetailSource)
    assert retail.data.path == Path("x.csv.gz")
    files = parse_params({"data": {"source": "files", "events": "e.parquet", "items": "i.csv"}})
    assert isinstance(files.data, FilesSource)
    assert files.data.events == Path("e.parquet") and files.data.items == Path("i.csv")
    synthetic = parse_params({"data": {"source": "synthetic", "users": 10, "seed": 3}})
    assert synthetic.data.users == 10 and synthetic.data.seed == 3


def test_overrides_are_applied():
    params = parse_params(
        {
            "split": {"strategy": "leave_last_out", "min_holdout_events": 2},
            "models": {"itemknn": {"neighbors": 5, "shrinkage": 0}},
            "evaluation": {"ks": [1, 2]},
            "targets": {"relevant_event_types": ["purchase"]},
        }
    )
    assert params.split.strategy == "leave_last_out"
    assert params.split.min_holdout_events == 2
    assert params.models.itemknn.neighbors == 5
    assert params.models.ease.l2 == 500.0  # untouched siblings keep their defaults
    assert params.evaluation.ks == [1, 2]


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"models": {"ease": {"l2": -1}}}, "models.ease.l2"),
        ({"split": {"strategy": "random"}}, "split.strategy"),
        ({"split": {"test_days": 0}}, "split.test_days"),
        ({"nonsense": 1}, "nonsense"),
        ({"models": {"itemknn": {"neighbours": 5}}}, "models.itemknn.neighbours"),
        ({"data": {"source": "bogus"}}, "data"),
        ({"features": {"transform": "sqrt"}}, "features.transform"),
        ({"features": {"event_weights": {"click": 1.0}}}, "features.event_weights.click"),
        ({"evaluation": {"ks": []}}, "evaluation.ks"),
        ({"evaluation": {"bootstrap": {"confidence": 1.5}}}, "evaluation.bootstrap.confidence"),
        ({"train": {"models": ["two_tower_xl"]}}, "train.models.0"),
    ],
)
def test_bad_values_name_the_dotted_key(raw, key):
    message = config_error(raw)
    assert f"{key}:" in message


def test_bad_data_source_keys_are_named_as_the_user_wrote_them():
    # pydantic puts the union member into the path (data.files.items); we show data.items
    message = config_error({"data": {"source": "files", "events": "e.csv"}})
    assert "data.items: Field required" in message
    assert "events" not in message
    message = config_error({"data": {"source": "online_retail", "path": "x", "extra": 1}})
    assert "data.extra:" in message
    message = config_error({"data": {"source": "synthetic", "users": -5}})
    assert "data.users:" in message and "(got -5)" in message
    assert "data.source: required" in config_error({"data": {"users": 5}})
    message = config_error({"data": {"source": "bogus"}})
    assert "data:" in message and "bogus" in message


def test_top_level_must_be_a_mapping():
    assert "mapping" in config_error([1, 2, 3])


def test_missing_file_is_a_config_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="no such parameters file"):
        load_params(tmp_path / "absent.yaml")


def test_invalid_yaml_is_one_readable_line(tmp_path: Path):
    path = tmp_path / "params.yaml"
    path.write_text("split:\n  test_days: [1, 2\nmodels: {\n")
    with pytest.raises(ConfigError) as caught:
        load_params(path)
    message = str(caught.value)
    assert "\n" not in message, message
    assert str(path) in message and "YAML" in message
    assert "line" in message


def test_bad_value_in_a_file_names_file_and_key(tmp_path: Path):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"models": {"ease": {"l2": -1}}}))
    with pytest.raises(ConfigError) as caught:
        load_params(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    assert "models.ease.l2" in message and "\n" not in message


def test_empty_file_gives_the_defaults(tmp_path: Path):
    path = tmp_path / "params.yaml"
    path.write_text("# nothing set\n")
    assert load_params(path) == Params()


def test_repository_params_yaml_loads():
    params = load_params(REPO / "params.yaml")
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    assert params.split.strategy == raw["split"]["strategy"]
    assert params.evaluation.ks == raw["evaluation"]["ks"]
    assert params.data.source == raw["data"]["source"]
    assert dict(params.features.event_weights) == raw["features"]["event_weights"]
