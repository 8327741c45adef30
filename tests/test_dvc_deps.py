"""dvc.yaml's code deps cannot drift from the imports: every project file a stage's command imports,
transitively, is covered by one of the stage's deps (the file itself or a folder above it).

The imports are read with `ast`, not executed: every `import` / `from ... import` anywhere in a file
counts (inside functions and `if TYPE_CHECKING:` too), and importing `a.b.c` runs `a/__init__.py` and
`a/b/__init__.py`, so those count as well.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def module_file(name: str) -> Path | None:
    """The project file of module `name`, or None for anything outside the project (numpy, keras...)."""
    parts = name.split(".")
    for candidate in (ROOT.joinpath(*parts).with_suffix(".py"), ROOT.joinpath(*parts, "__init__.py")):
        if candidate.is_file():
            return candidate
    return None


def imported_names(path: Path, package: str) -> set[str]:
    """Every module name `path` may import, `from a import b` giving both `a` and `a.b`."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names |= {module} | {f"{module}.{alias.name}" for alias in node.names}
    return names


def project_imports(module: str) -> set[Path]:
    """The project files that `python -m module` loads, found by following imports transitively."""
    seen: set[Path] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        path = module_file(name)
        if path is None or path in seen:
            continue
        seen.add(path)
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # the packages' __init__.py files
        package = name if path.name == "__init__.py" else ".".join(parts[:-1])
        todo += imported_names(path, package)
    return seen


def covered(path: Path, deps: list[str]) -> bool:
    relative = path.relative_to(ROOT)
    return any(relative == Path(dep) or Path(dep) in relative.parents for dep in deps)


def command_module(stage: dict) -> str | None:
    words = stage["cmd"].split()
    return words[2] if words[:2] == ["python", "-m"] else None


PYTHON_STAGES = {name: stage for name, stage in STAGES.items() if command_module(stage)}


def test_every_stage_runs_a_project_module():
    assert set(PYTHON_STAGES) == set(STAGES)
    assert {"train_cnn", "train_transformer", "train_combined", "train_classifier", "attention_sweep",
            "evaluate", "report"} <= set(STAGES)


@pytest.mark.parametrize("name", sorted(PYTHON_STAGES))
def test_deps_cover_every_imported_project_file(name):
    stage = PYTHON_STAGES[name]
    files = project_imports(command_module(stage))
    assert module_file(command_module(stage)) in files
    missing = sorted(str(f.relative_to(ROOT)) for f in files if not covered(f, stage["deps"]))
    assert not missing, f"stage {name}: imports {', '.join(missing)}, not covered by its deps in dvc.yaml"


@pytest.mark.parametrize("name", sorted(PYTHON_STAGES))
def test_code_deps_exist(name):
    code = [dep for dep in PYTHON_STAGES[name]["deps"] if dep.split("/")[0] in ("gan_lab", "stages")]
    assert [dep for dep in code if not (ROOT / dep).exists()] == []


def test_the_walk_follows_lazy_relative_and_package_imports(tmp_path, monkeypatch):
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "sub" / "__init__.py").write_text("from . import leaf\n")
    (tmp_path / "pkg" / "sub" / "leaf.py").write_text("import numpy\n")
    (tmp_path / "pkg" / "lazy.py").write_text("")
    (tmp_path / "main.py").write_text("def f():\n    from pkg import lazy\nfrom pkg.sub import leaf\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    found = {str(p.relative_to(tmp_path)) for p in project_imports("main")}
    assert found == {"main.py", "pkg/__init__.py", "pkg/lazy.py", "pkg/sub/__init__.py", "pkg/sub/leaf.py"}
