"""DVC's promise, checked: the whole pipeline on tiny params, twice from scratch, gives identical outputs,
and a following `dvc repro` has nothing to do."""
from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from conftest import make_dvc_project, run

# Wall-clock figures: timing.json, speed.json (two of its numbers, the training stages' DVC metrics) and
# throughput.csv, quality.csv (its train_seconds column; its scores are compared below), and the report,
# whose results table quotes them.
UNHASHED = ("timing.json", "speed.json", "throughput.csv", "quality.csv", "report.md")


def locked_outputs(repo) -> dict[str, str]:
    """path -> md5 of every output DVC recorded in dvc.lock, except the wall-clock ones."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    hashes = {}
    for stage in lock["stages"].values():
        for out in stage.get("outs", []):
            if not out["path"].endswith(UNHASHED):
                hashes[out["path"]] = out["md5"]
    return hashes


@pytest.fixture(scope="module")
def two_runs(reproduced_project, tmp_path_factory):
    second = make_dvc_project(tmp_path_factory.mktemp("run2") / "repo")
    run(["dvc", "repro"], second, timeout=1200)
    return [reproduced_project, second]


def test_two_runs_from_scratch_give_identical_outputs(two_runs):
    first, second = (locked_outputs(repo) for repo in two_runs)
    stages = yaml.safe_load((two_runs[0] / "dvc.yaml").read_text())["stages"]
    assert first == second
    assert len(first) >= len(stages)  # every stage has at least one hashed output
    for name in ("cnn", "transformer", "combined"):
        scores = [pd.read_csv(repo / "reports" / name / "quality.csv").drop(columns="train_seconds") for repo in two_runs]
        pd.testing.assert_frame_equal(*scores)


def test_nothing_to_do_after_repro(two_runs):
    repo = two_runs[0]
    assert json.loads(run(["dvc", "status", "--json"], repo).stdout or "{}") == {}
    result = run(["dvc", "repro"], repo)
    assert "Data and pipelines are up to date" in result.stdout or "didn't change" in result.stdout
    assert "Running stage" not in result.stdout

