"""``dvc.yaml`` code deps cannot drift: each stage lists every shoprec file it imports.

A stage whose code changed but whose ``deps`` miss that file is skipped by ``dvc repro`` (or
restored from the run cache): its outputs go stale silently. The import closure comes from
grimp (the graph import-linter uses), function-level imports included; a listed folder covers
every file under it. ``python -m tests.stages.test_dvc_code_deps`` prints each stage's list.
"""

from __future__ import annotations

import re
from pathlib import Path

import grimp
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"


def _stages() -> dict[str, tuple[str, list[str]]]:
    """Stage name → (pipelines script stage, declared deps)."""
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    out = {}
    for name, stage in spec.items():
        body = stage.get("do", stage)
        script = re.search(r"pipelines/(\w+)\.py", body["cmd"]).group(1)
        out[name] = (script, [str(d) for d in body.get("deps", [])])
    return out


def _module_file(module: str) -> Path:
    path = SRC.joinpath(*module.split("."))
    return (path / "__init__.py") if path.is_dir() else path.with_suffix(".py")


def import_closure(graph: grimp.ImportGraph, stage: str) -> set[str]:
    """Every file ``python pipelines/<stage>.py`` can import from shoprec: the stage module and
    ``shoprec.stages`` (its runner), what they import at any depth, and the packages above."""
    modules: set[str] = set()
    for root in ("shoprec.stages", f"shoprec.stages.{stage}"):
        modules |= {root} | graph.find_upstream_modules(root)
    with_parents = {".".join(m.split(".")[:i]) for m in modules for i in range(1, m.count(".") + 2)}
    return {_module_file(m).relative_to(ROOT).as_posix() for m in with_parents}


def _covered(path: str, deps: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in deps)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("shoprec")


@pytest.mark.parametrize("name", sorted(_stages()))
def test_every_imported_shoprec_file_is_a_dependency(name, graph):
    script, deps = _stages()[name]
    missing = sorted(p for p in import_closure(graph, script) if not _covered(p, deps))
    assert not missing, f"dvc.yaml stage {name!r} imports files it does not list: {missing}"
    assert f"pipelines/{script}.py" in deps


@pytest.mark.parametrize("name", sorted(_stages()))
def test_listed_code_exists(name):
    """A renamed module must not leave a dependency on a path that no longer exists."""
    _, deps = _stages()[name]
    gone = [d for d in deps if d.startswith(("src/", "pipelines/")) and not (ROOT / d).exists()]
    assert not gone, f"dvc.yaml stage {name!r} lists missing code: {gone}"


def test_the_closure_follows_function_level_imports(graph):
    """The check is only as good as the graph: the model table imports the two-stage model
    inside a function (to keep XGBoost out of the baselines' start-up), and it must count."""
    assert "src/shoprec/ranking/two_stage.py" in import_closure(graph, "train")
    assert "src/shoprec/data/sources.py" not in import_closure(graph, "split")


def suggested_deps(graph: grimp.ImportGraph, stage: str) -> list[str]:
    """The closure as dvc.yaml should list it: a folder when the stage imports every module
    in it, the files otherwise."""
    needed = import_closure(graph, stage)
    out: list[str] = []
    for folder in sorted({str(Path(p).parent) for p in needed}, key=len):
        if _covered(folder, out):
            continue
        files = {p.relative_to(ROOT).as_posix() for p in (ROOT / folder).rglob("*.py")}
        if folder != "src/shoprec" and files <= needed:
            out.append(folder)
    out += sorted(p for p in needed if not _covered(p, out))
    return [f"pipelines/{stage}.py", *sorted(out)]


if __name__ == "__main__":  # pragma: no cover - a helper for editing dvc.yaml
    g = grimp.build_graph("shoprec")
    for stage_name, (stage_script, _) in sorted(_stages().items()):
        print(f"{stage_name}:")
        for dep in suggested_deps(g, stage_script):
            print(f"  - {dep}")
