"""``shoprec serve`` with pseudonymised ids and no key refuses to start, in one line."""

from __future__ import annotations

import yaml

from tests.cli.helpers import invoke, one_line_error
from tests.projects import REPO_ROOT


def test_serve_without_the_id_key_refuses_to_start(tmp_path, monkeypatch):
    monkeypatch.delenv("SHOPREC_ID_KEY", raising=False)
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params["privacy"].update(pseudonymise_users=True, key_file=None)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = invoke("serve", "--params", str(tmp_path / "params.yaml"), "--registry", str(tmp_path))
    line = one_line_error(result)
    assert "SHOPREC_ID_KEY" in line and "key" in line
