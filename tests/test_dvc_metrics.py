"""dvc.yaml's metrics are the few numbers experiments are compared on, and each is really written.

`dvc metrics show` and `dvc exp show` print one column per number in the declared metrics files:
at most MAX_COLUMNS of them, so that the table fits a terminal (with `--only-changed`, `--keep`). Every
other number the stages write is a plain output (`outs`) that the report reads.
"""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, run
from test_dvc_deps import command_module, project_imports

MAX_COLUMNS = 40
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def paths(stage: dict, kind: str) -> list[str]:
    """The paths of a stage's `outs`, `metrics` or `plots` (a plot may be `{path: options}`)."""
    return [entry if isinstance(entry, str) else next(iter(entry)) for entry in stage.get(kind, [])]


def declared() -> dict[str, tuple[str, str]]:
    """path -> (stage, kind) for every output of every stage; a path declared twice fails here."""
    found: dict[str, tuple[str, str]] = {}
    for name, stage in STAGES.items():
        for kind in ("outs", "metrics", "plots"):
            for path in paths(stage, kind):
                assert path not in found, f"{path}: declared by {found[path]} and by ({name}, {kind})"
                found[path] = (name, kind)
    return found


def string_constants(files: set[Path]) -> set[str]:
    return {node.value for f in files for node in ast.walk(ast.parse(f.read_text()))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)}


def leaves(data, prefix: str = "") -> dict[str, object]:
    """A metrics file's values by their dotted key: what `dvc exp show` makes a column of."""
    if isinstance(data, dict):
        return {key: value for name, child in data.items() for key, value in leaves(child, f"{prefix}{name}.").items()}
    return {prefix.rstrip("."): data}


def test_every_output_is_declared_once():
    assert declared()


@pytest.mark.parametrize("name", sorted(name for name, stage in STAGES.items() if stage.get("metrics") or stage.get("plots")))
def test_metrics_and_plots_files_are_written_by_the_stage_code(name):
    """Each metrics or plots file's name is a string in the code the stage's command imports."""
    strings = string_constants(project_imports(command_module(STAGES[name])))
    for path in paths(STAGES[name], "metrics") + paths(STAGES[name], "plots"):
        assert Path(path).name in strings, f"stage {name}: nothing in its code writes {Path(path).name}"


def test_the_report_reads_only_declared_outputs():
    from gan_lab.report.loading import input_files

    outputs = declared()
    tracked = run(["git", "ls-files"], ROOT).stdout.splitlines()
    for path in map(str, input_files()):
        assert path in outputs or path in tracked, f"the report reads {path}: no stage writes it, git has none"
        assert outputs.get(path, ("", ""))[0] != "report"


def test_a_real_run_has_few_numeric_metrics_and_every_declared_output(reproduced_project):
    repo = reproduced_project
    for path, (stage, kind) in declared().items():
        assert (repo / path).exists(), f"{path} ({stage} {kind}) missing after `dvc repro`"
    columns = {}
    for path in (p for p, (_, kind) in declared().items() if kind == "metrics"):
        columns |= {f"{path}:{key}": value for key, value in leaves(json.loads((repo / path).read_text())).items()}
    assert all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in columns.values()), columns
    assert len(columns) <= MAX_COLUMNS, f"{len(columns)} metric columns: {sorted(columns)}"

    shown = json.loads(run(["dvc", "metrics", "show", "--json"], repo).stdout)
    files = next(iter(shown.values()))["data"]
    assert sum(len(leaves(entry["data"])) for entry in files.values()) == len(columns)


def test_every_plot_has_its_x_and_y_columns(reproduced_project):
    """Each `plots:` entry, a stage's or the top level's, names columns its CSV really has."""
    import pandas as pd

    pipeline = yaml.safe_load((reproduced_project / "dvc.yaml").read_text())
    entries = [entry for stage in pipeline["stages"].values() for entry in stage.get("plots", [])]
    entries += pipeline.get("plots", [])
    assert entries
    for entry in entries:
        ((name, axes),) = entry.items()
        # A plot is a CSV's own entry (x and y name its columns), or a named one whose x and y map
        # each CSV to its column (DVC's form for overlaying several files).
        columns: dict[str, set] = {}
        for axis in ("x", "y"):
            value = axes[axis]
            if isinstance(value, dict):
                for path, column in value.items():
                    columns.setdefault(path, set()).update(column if isinstance(column, list) else [column])
            elif not isinstance(axes.get("x"), dict) and not isinstance(axes.get("y"), dict):
                columns.setdefault(name, set()).update(value if isinstance(value, list) else [value])
            else:  # a shared x column for every file of a named plot
                for path in axes["y"] if axis == "x" else axes["x"]:
                    columns.setdefault(path, set()).add(value)
        assert columns, name
        for path, wanted in columns.items():
            frame = pd.read_csv(reproduced_project / path)
            assert len(frame) > 0 and wanted <= set(frame.columns), (name, path)
